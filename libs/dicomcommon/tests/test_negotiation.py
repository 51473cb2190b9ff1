"""The one Accept parser (PS3.18 §8.7, §8.3.3.1; RFC 9110 §12.5.1)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from dicomcommon.errors import DicomwebError, NotAcceptable
from dicomcommon.web import negotiation
from dicomcommon.web.multipart import MediaType


def request_with(*accept: str, query: str = "") -> Request:
    headers = [(b"accept", value.encode()) for value in accept]
    return Request({"type": "http", "headers": headers, "query_string": query.encode()})


def essences(*accept: str) -> list[str]:
    return [r.media_type.essence for r in negotiation.parse_accept(list(accept))]


def test_ranges_come_best_q_first_and_equal_q_keep_the_clients_order() -> None:
    assert essences("a/x;q=0.5, b/y, c/z;q=0.9, d/w") == ["b/y", "d/w", "c/z", "a/x"]


def test_commas_inside_quoted_parameters_do_not_split_ranges() -> None:
    ranges = negotiation.parse_accept(['multipart/related; type="a/b, c/d"; q=0.3, x/y'])
    assert [r.media_type.params.get("type") for r in ranges] == [None, "a/b, c/d"]


@pytest.mark.parametrize("q", ["2", "1.5", "-1", "x", ".5", "0.1234", "nan", "\uff11"])
def test_a_bad_or_out_of_range_q_is_a_400(q: str) -> None:
    with pytest.raises(DicomwebError) as caught:
        negotiation.parse_accept([f"application/json; q={q}"])
    assert caught.value.status == 400


@pytest.mark.parametrize("padding", [0, 300])  # remembered, and too long to be
def test_a_repeated_accept_list_parses_the_same_and_a_bad_one_fails_each_time(
    padding: int,
) -> None:
    accept = "a/x;q=0.5, b/y" + ", c/z;q=0.1" * (padding // 10)
    first = essences(accept)
    assert essences(accept) == first and first[:2] == ["b/y", "a/x"]
    for _ in range(2):
        with pytest.raises(DicomwebError):
            negotiation.parse_accept([accept + ", d/w;q=9"])


def test_q_zero_is_never_chosen() -> None:
    ranges = negotiation.parse_accept(["a/x;q=0, b/y;q=0.1"])
    assert negotiation.acceptable(ranges, lambda m: m.essence) == ["b/y"]


def test_every_accept_query_parameter_overrides_the_header() -> None:
    request = request_with("a/x", query="accept=b/y&accept=c/z")
    assert negotiation.accept_values(request) == ["b/y", "c/z"]
    assert negotiation.accept_values(request, query_parameter=False) == ["a/x"]


@pytest.mark.parametrize("headers", [(), ("",), (" ",)])
def test_no_accept_means_anything(headers: tuple[str, ...]) -> None:
    assert negotiation.accept_values(request_with(*headers)) == ["*/*"]


def test_nothing_offered_is_a_406() -> None:
    with pytest.raises(NotAcceptable):
        negotiation.negotiate(request_with("image/png"), lambda m: None)


@pytest.mark.parametrize(
    ("media_range", "covered"),
    [
        ("*/*", True),
        ("image/*", True),
        ("image/jpeg", True),
        ("image/png", False),
        ("text/*", False),
    ],
)
def test_wildcards_cover_their_types(media_range: str, covered: bool) -> None:
    (found,) = negotiation.parse_accept([media_range])
    assert found.covers("image/jpeg") is covered


def test_transfer_syntax_is_a_uid_or_star() -> None:
    def syntax(value: str) -> str | None:
        return negotiation.transfer_syntax_of(MediaType.parse(value))

    assert syntax("application/dicom") is None
    assert syntax("application/dicom; transfer-syntax=*") == "*"
    assert (
        syntax('application/dicom; transfer-syntax="1.2.840.10008.1.2.1"') == "1.2.840.10008.1.2.1"
    )
    with pytest.raises(DicomwebError):
        syntax("application/dicom; transfer-syntax=../etc")
