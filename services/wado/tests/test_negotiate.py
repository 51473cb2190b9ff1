"""Accept negotiation (PS3.18 §8.7): q-values, multipart types, transfer syntaxes, defaults."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from dicomcommon.errors import DicomwebError, NotAcceptable
from dicomcommon.web.negotiation import parse_accept
from wado import retrieve
from wado.negotiate import Choice, choices

EVRLE = "1.2.840.10008.1.2.1"


def request_with(accept: str | None = None, query: str = "") -> Request:
    headers = [(b"accept", accept.encode())] if accept is not None else []
    return Request({"type": "http", "headers": headers, "query_string": query.encode()})


def test_missing_accept_means_multipart_dicom_in_explicit_vr_little_endian() -> None:
    assert choices(request_with(), retrieve.OFFER)[0] == Choice(True, "application/dicom", EVRLE)


def test_dicomweb_client_default_for_instances_is_explicit_vr_little_endian() -> None:
    wanted = choices(request_with('multipart/related; type="application/dicom"'), retrieve.OFFER)
    assert wanted == [Choice(True, "application/dicom", EVRLE)]


def test_transfer_syntax_star_asks_for_the_stored_bytes() -> None:
    accept = "multipart/related; type=application/dicom; transfer-syntax=*"
    assert choices(request_with(accept), retrieve.OFFER)[0].as_stored


def test_single_part_dicom_is_offered_for_one_instance_only() -> None:
    accept = "application/dicom; transfer-syntax=*"
    assert choices(request_with(accept), retrieve.OFFER) == [
        Choice(False, "application/dicom", "*")
    ]
    with pytest.raises(NotAcceptable):
        choices(request_with(accept), retrieve.SERIES_OFFER)


def test_ranges_are_ordered_by_q_value_and_q_zero_is_refused() -> None:
    accept = (
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2;q=0.5, '
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.5, '
        "application/dicom; q=0"
    )
    wanted = choices(request_with(accept), retrieve.OFFER)
    assert [c.transfer_syntax for c in wanted] == ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2"]


def test_accept_query_parameter_overrides_the_header() -> None:
    request = request_with("image/png", query="accept=application/dicom")
    assert choices(request, retrieve.OFFER) == [Choice(False, "application/dicom", EVRLE)]


def test_unoffered_media_type_is_not_acceptable() -> None:
    with pytest.raises(NotAcceptable):
        choices(request_with("image/png, text/html"), retrieve.OFFER)


@pytest.mark.parametrize("accept", ["application/dicom; q=high", "application/dicom; q=2"])
def test_malformed_q_value_is_a_bad_request(accept: str) -> None:
    with pytest.raises(DicomwebError) as raised:
        parse_accept([accept])
    assert raised.value.status == 400


def test_malformed_transfer_syntax_is_a_bad_request() -> None:
    with pytest.raises(DicomwebError) as raised:
        choices(request_with("application/dicom; transfer-syntax=jpeg"), retrieve.OFFER)
    assert raised.value.status == 400


def test_commas_inside_quoted_parameters_do_not_split_ranges() -> None:
    ranges = parse_accept(['multipart/related; type="a,b", application/dicom'])
    assert [r.media_type.essence for r in ranges] == ["multipart/related", "application/dicom"]
