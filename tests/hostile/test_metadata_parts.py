"""STOW-RS of DICOM JSON and Native DICOM Model XML metadata built to exhaust the parser:
documents past the size limit, nesting without end, millions of values, and data sets that are
not data sets. Each fails (per instance or for the request) and stores nothing."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest

from dicomstack.stack import Stack
from tests.hostile import attacks

B = "metadata-boundary"
JSON = f'multipart/related; type="application/dicom+json"; boundary={B}'
XML = f'multipart/related; type="application/dicom+xml"; boundary={B}'
FAILED = "00081198"
SIZE_LIMIT = 64 << 20  # the STOW default for one metadata document


def _body(document: bytes, media: str) -> bytes:
    head = f"--{B}\r\nContent-Type: {media}\r\n\r\n".encode()
    return head + document + f"\r\n--{B}--\r\n".encode()


def _data_set(study: str, **extra: object) -> dict[str, object]:
    def uid() -> str:
        return f"2.25.{uuid.uuid4().int}"

    return {
        "00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.7"]},
        "00080018": {"vr": "UI", "Value": [uid()]},
        "0020000D": {"vr": "UI", "Value": [study]},
        "0020000E": {"vr": "UI", "Value": [uid()]},
        **extra,
    }


def _study() -> str:
    return f"2.25.{uuid.uuid4().int}"


def _store(stack: Stack, document: bytes, media: str) -> httpx.Response:
    content_type = JSON if media == "application/dicom+json" else XML
    return attacks.store(stack, _body(document, media), content_type)


def test_json_document_past_the_limit_fails_without_parsing(stack: Stack) -> None:
    study = _study()
    big = "x" * (SIZE_LIMIT + (1 << 20))
    document = orjson.dumps([_data_set(study, **{"00081030": {"vr": "LO", "Value": [big]}})])
    response = attacks.refused(_store(stack, document, "application/dicom+json"), 409)
    assert len(response.json()[FAILED]["Value"]) == 1
    attacks.nothing_stored(stack, study)


def test_json_nested_without_end_is_refused(stack: Stack) -> None:
    document = b"[" * 200_000 + b"]" * 200_000
    attacks.refused(_store(stack, document, "application/dicom+json"), 409)


def test_json_sequences_nested_hundreds_deep(stack: Stack) -> None:
    """300 sequences, each the only attribute of its parent's one item (900 JSON levels)."""
    study = _study()
    depth = 300
    item = b'{"00080100":{"vr":"SH","Value":["X"]}}'
    nested = b'{"00400275":{"vr":"SQ","Value":[' * depth + item + b"]}}" * depth
    head = orjson.dumps([_data_set(study)])[:-2]  # without the closing "}]"
    document = head + b',"00400275":{"vr":"SQ","Value":[' + nested + b"]}}]"
    response = _store(stack, document, "application/dicom+json")
    attacks.no_server_error(response.status_code, response.text)
    count = attacks.instances_of_study(stack, study)
    assert (response.status_code, count) in ((200, 1), (409, 0)), response.text[:300]


def test_json_array_of_a_million_non_data_sets_is_bounded(stack: Stack) -> None:
    """Each array entry that is not a data set is a failure; the answer stays bounded."""
    document = b"[" + b",".join([b"0"] * 1_000_000) + b"]"
    response = _store(stack, document, "application/dicom+json")
    attacks.refused(response, 409, 413)
    assert len(response.content) < 64 << 20


def test_json_value_with_two_hundred_thousand_entries(stack: Stack) -> None:
    study = _study()
    values = ["A"] * 200_000
    document = orjson.dumps([_data_set(study, **{"00081030": {"vr": "LO", "Value": values}})])
    response = _store(stack, document, "application/dicom+json")
    attacks.no_server_error(response.status_code, response.text)
    count = attacks.instances_of_study(stack, study)
    assert (response.status_code, count) in ((200, 1), (409, 0)), response.text[:300]


@pytest.mark.parametrize(
    "document",
    [b"{}", b"null", b'"text"', b"[[]]", b'[{"00080018": 5}]', b"\xff\xfe", b"[1e999999]"],
)
def test_json_that_is_not_a_data_set_fails(stack: Stack, document: bytes) -> None:
    attacks.refused(_store(stack, document, "application/dicom+json"), 409)


def test_xml_document_past_the_limit_fails(stack: Stack) -> None:
    study = _study()
    document = (
        b'<?xml version="1.0"?><NativeDicomModel><DicomAttribute tag="00081030" vr="LO">'
        b'<Value number="1">' + b"x" * (SIZE_LIMIT + (1 << 20)) + b"</Value></DicomAttribute>"
        b"</NativeDicomModel>"
    )
    attacks.refused(_store(stack, document, "application/dicom+xml"), 409)
    attacks.nothing_stored(stack, study)


def test_xml_nested_without_end_is_refused(stack: Stack) -> None:
    depth = 100_000
    document = b"<NativeDicomModel>" + b"<a>" * depth + b"</a>" * depth + b"</NativeDicomModel>"
    attacks.refused(_store(stack, document, "application/dicom+xml"), 409)


def test_xml_entity_expansion_in_utf16_is_refused(stack: Stack) -> None:
    laughs = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
            for p, c in zip("abcdefg", "bcdefgh", strict=True)
        )
        + ']><NativeDicomModel><DicomAttribute tag="00081030" vr="LO"><Value number="1">&h;'
        "</Value></DicomAttribute></NativeDicomModel>"
    )
    attacks.refused(_store(stack, laughs.encode("utf-16"), "application/dicom+xml"), 409)


def test_xml_with_thirty_thousand_attributes(stack: Stack) -> None:
    study = _study()
    attributes = b"".join(
        b'<DicomAttribute tag="%08X" vr="LO"><Value number="1">v</Value></DicomAttribute>'
        % (0x60011000 + i % 0xFF)
        for i in range(30_000)
    )
    document = (
        b"<NativeDicomModel>"
        b'<DicomAttribute tag="00080016" vr="UI"><Value number="1">1.2.840.10008.5.1.4.1.1.7'
        b'</Value></DicomAttribute><DicomAttribute tag="00080018" vr="UI"><Value number="1">'
        + _study().encode()
        + b'</Value></DicomAttribute><DicomAttribute tag="0020000D" vr="UI"><Value number="1">'
        + study.encode()
        + b'</Value></DicomAttribute><DicomAttribute tag="0020000E" vr="UI"><Value number="1">'
        + _study().encode()
        + b"</Value></DicomAttribute>"
        + attributes
        + b"</NativeDicomModel>"
    )
    response = _store(stack, document, "application/dicom+xml")
    attacks.no_server_error(response.status_code, response.text)
    count = attacks.instances_of_study(stack, study)
    assert (response.status_code, count) in ((200, 1), (409, 0)), response.text[:300]
