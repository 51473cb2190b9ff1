"""The decoder order ``decoders.prefer_fastest`` sets, and that every plugin stays usable."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels.decoders.base import get_decoder

from wado import decoders


def _order(syntax: str) -> list[str]:
    # pydicom tries plugins in the order of this mapping (no public accessor for the order)
    return list(get_decoder(pydicom.uid.UID(syntax))._validate_plugins())


@pytest.mark.parametrize("syntax", sorted(decoders.FIRST))
def test_the_preferred_plugin_is_tried_first_and_the_others_stay(syntax: str) -> None:
    first = decoders.FIRST[syntax]
    before = set(_order(syntax)) - {first}  # ours (wado.jpeg, wado.jpeg2k) join at first
    decoders.prefer_fastest()
    decoders.prefer_fastest()  # idempotent
    after = _order(syntax)
    assert set(after) - {first} == before
    assert after[0] == first


@pytest.mark.parametrize(
    "name",
    ["MR_small_jp2klossless.dcm", "emri_small_jpeg_ls_lossless.dcm", "SC_rgb_jpeg_dcmtk.dcm"],
)
def test_pixels_decode_the_same_with_the_preferred_plugin(name: str) -> None:
    ds = pydicom.dcmread(get_testdata_file(name))
    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    decoders.prefer_fastest()
    preferred, _ = decoder.as_array(ds, index=0)
    by_gdcm, _ = decoder.as_array(ds, index=0, decoding_plugin="gdcm")
    assert preferred.shape == by_gdcm.shape
    if name == "SC_rgb_jpeg_dcmtk.dcm":  # lossy: decoders may round YCbCr differently
        assert abs(preferred.astype(int) - by_gdcm.astype(int)).max() <= 2
    else:
        assert (preferred == by_gdcm).all()
