"""JPEG 2000 through imagecodecs (``wado.jpeg2k``): the pixels of every JPEG 2000 template of
the bench corpus are those pylibjpeg-openjpeg decoded before, on one thread or two, and the
thread count setting reaches the decoder in the app's process and in its worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames
from pydicom.pixels.decoders.base import get_decoder

from bench.corpus import TEMPLATES
from wado import decoders, jpeg2k, pixels
from wado.app import create_app
from wado.render_workers import RenderWorkers
from wado.settings import Settings


def _jpeg2k_templates() -> list[str]:
    return [
        name
        for name in TEMPLATES
        if pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True).file_meta.get(
            "TransferSyntaxUID"
        )
        in jpeg2k.SYNTAXES
    ]


@pytest.fixture
def threads() -> Iterator[Callable[[int], None]]:
    """Sets this process's decode threads; puts back one thread after the test."""
    yield decoders.prefer_fastest
    decoders.prefer_fastest(1)


def test_the_bench_corpus_has_lossless_and_lossy_jpeg2k_templates() -> None:
    syntaxes = {
        pydicom.dcmread(get_testdata_file(n)).file_meta.TransferSyntaxUID
        for n in _jpeg2k_templates()
    }
    assert syntaxes == jpeg2k.SYNTAXES


@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("name", _jpeg2k_templates())
def test_frames_decode_as_pylibjpeg_decoded_them(
    name: str, count: int, threads: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = pydicom.dcmread(get_testdata_file(name))
    syntax = ds.file_meta.TransferSyntaxUID
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    description = pixels.describe(ds.to_json_dict())
    threads(count)
    asked = _recording_thread_counts(monkeypatch)
    ours = pixels.decode_frame([frame], description, syntax)
    before, _ = get_decoder(syntax).as_array(ds, index=0, decoding_plugin="pylibjpeg")
    assert asked == [count if len(frame) >= jpeg2k.THREADED_FROM_BYTES else 1]
    got = np.frombuffer(ours, dtype=before.dtype.newbyteorder("<")).reshape(before.shape)
    if syntax == pydicom.uid.JPEG2000Lossless:
        assert (got == before).all()
    else:  # lossy: decoders may round the inverse wavelet transform differently
        assert np.abs(got.astype(np.int64) - before.astype(np.int64)).max() <= 1


def test_small_codestreams_decode_on_one_thread(threads: Callable[[int], None]) -> None:
    threads(4)
    assert jpeg2k.threads_for(bytes(jpeg2k.THREADED_FROM_BYTES - 1)) == 1
    assert jpeg2k.threads_for(bytes(jpeg2k.THREADED_FROM_BYTES)) == 4


def test_the_setting_reaches_the_decoder_of_the_app(
    threads: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DICOMWEB_WADO_DECODE_THREADS", "3")
    create_app(Settings())
    assert jpeg2k.threads_for(bytes(jpeg2k.THREADED_FROM_BYTES)) == 3


async def test_the_setting_reaches_the_decoder_of_each_worker_process() -> None:
    workers = RenderWorkers(1, decode_threads=3)
    try:
        big = bytes(jpeg2k.THREADED_FROM_BYTES)
        assert await workers.run(jpeg2k.threads_for, big) == 3
    finally:
        workers.close()


def _recording_thread_counts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ``numthreads`` of each decode from now on; the decodes themselves still happen."""
    asked: list[int] = []
    decode = imagecodecs.jpeg2k_decode

    def recording(data: bytes, **options: Any) -> Any:
        asked.append(options["numthreads"])
        return decode(data, **options)

    monkeypatch.setattr(imagecodecs, "jpeg2k_decode", recording)
    return asked
