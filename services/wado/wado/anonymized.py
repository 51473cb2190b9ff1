"""WADO-URI ``anonymize=yes`` (PS3.18 §9.4.1): the instance de-identified by the PS3.15 Annex E
Basic Application Level Confidentiality Profile with the Clean Pixel Data Option.

We do not clean pixels; instead we only release objects whose pixels carry no identity: an
image whose Burned In Annotation (0028,0301) is ``NO`` and that has no Overlay Data
(60xx,3000), or an object without pixel data or an encapsulated document. Anything else is
answered ``409 Conflict`` (the request is well formed; the object's own state forbids it),
which PS3.18 allows ("the server may return an error if it cannot or refuses to anonymize").
UIDs are replaced by the keyed hash of ``dicomcommon.dicom.anonymize`` with the WADO setting
``DICOMWEB_WADO_ANONYMIZE_UID_SECRET``. The de-identification is recorded in the object
(Patient Identity Removed, De-identification Method Code Sequence, PS3.15 E.1.1).
"""

from __future__ import annotations

import io

import pydicom
from pydicom.multival import MultiValue

from dicomcommon.dicom import anonymize
from dicomcommon.errors import Conflict
from wado import transcode
from wado.index import InstanceDetail
from wado.transcode import TranscodeError

BURNED_IN_ANNOTATION = "00280301"
OVERLAY_DATA = tuple(f"{0x6000 + 2 * i:04X}3000" for i in range(16))  # (60xx,3000)
KEYS = (BURNED_IN_ANNOTATION, *OVERLAY_DATA)
CLEAN_PIXEL_DATA_CODE = ("113101", "Clean Pixel Data Option")  # PS3.16 CID 7050


class PixelsMayIdentify(Conflict):
    """The pixel data could carry identity (burned-in text or overlays), which the Clean
    Pixel Data Option would have to remove and we do not."""


def check_releasable(detail: InstanceDetail, is_document: bool) -> None:
    """409 unless the object's pixels (or document) are known to carry no identity."""
    uid = detail.instance.sop_instance_uid
    if is_document:
        raise PixelsMayIdentify(f"anonymize=yes: the encapsulated document of {uid} may identify")
    if not detail.instance.has_pixel_data:
        return
    values = detail.metadata.get(BURNED_IN_ANNOTATION, {}).get("Value") or [""]
    if str(values[0]).strip().upper() != "NO":
        raise PixelsMayIdentify(
            f"anonymize=yes: {uid} does not declare Burned In Annotation NO, so its pixels may"
            " identify the patient and cleaning them is not supported"
        )
    overlays = [k for k in OVERLAY_DATA if k in detail.metadata or k in detail.bulk_data]
    if overlays:
        raise PixelsMayIdentify(f"anonymize=yes: {uid} has overlay data ({overlays[0]})")


def anonymized(data: bytes, transfer_syntax: str | None, uid_secret: str) -> bytes:
    """The Part 10 file ``data`` de-identified, in ``transfer_syntax`` (None: as stored);
    blocking, run it in a worker thread."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        anonymize.anonymize(ds, (), uid_secret)
        _record_clean_pixel_data(ds)
        out = io.BytesIO()
        pydicom.dcmwrite(out, ds, enforce_file_format=True)
    except Exception as exc:  # pydicom raises anything on odd data: wrap at the boundary
        raise TranscodeError(f"cannot anonymize the instance: {exc}") from exc
    if transfer_syntax is None:
        return out.getvalue()
    return transcode.transcode(out.getvalue(), transfer_syntax)


def _record_clean_pixel_data(ds: pydicom.Dataset) -> None:
    """The option is met (the pixels were verified clean), so it is recorded too (E.1.1)."""
    item = pydicom.Dataset()
    item.CodeValue, item.CodeMeaning = CLEAN_PIXEL_DATA_CODE
    item.CodingSchemeDesignator = "DCM"
    ds.DeidentificationMethodCodeSequence.append(item)
    method = ds.DeidentificationMethod
    values = list(method) if isinstance(method, MultiValue) else [str(method)]
    ds.DeidentificationMethod = [*values, CLEAN_PIXEL_DATA_CODE[1]]
