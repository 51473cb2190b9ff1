"""The lenient UID check of read paths: ASCII digits and dots only, 1 to 64 characters."""

from __future__ import annotations

import pytest

from dicomcommon.dicom.uids import is_safe_uid, require_uid
from dicomcommon.errors import DicomwebError


@pytest.mark.parametrize("value", ["1", "1.2.840.10008.1.2", "1.02.3", "." * 64, "9" * 64])
def test_digits_and_dots_up_to_64_are_safe(value: str) -> None:
    assert is_safe_uid(value)
    assert require_uid(value, "SOPInstanceUID") == value


@pytest.mark.parametrize(
    "value", ["", "9" * 65, "1.2.a", "1.2 ", "1.2\n", "1.2.\u0663", "1.2.\u00b2", "1;2", "1/2"]
)
def test_anything_else_is_refused(value: str) -> None:
    assert not is_safe_uid(value)
    with pytest.raises(DicomwebError):
        require_uid(value, "SOPInstanceUID")
