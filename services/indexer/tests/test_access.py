"""The study access API's own rules: admins only, and a well-formed groups document."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from dicomcommon.errors import DicomwebError, Forbidden
from dicomcommon.principal import SCOPE_KEY, Permission, Principal
from indexer import access


def _request(principal: Principal) -> Request:
    scope = {"type": "http", "method": "GET", "headers": [], SCOPE_KEY: principal,
             "path_params": {"study": "1.2.3"}}  # fmt: skip
    return Request(scope)


@pytest.mark.parametrize("handler", [access.read_access, access.change_access])
async def test_only_admins_read_or_change_study_access(handler: access.Handler) -> None:
    reader = Principal("reader", permissions=frozenset({Permission.READ, Permission.WRITE}))
    with pytest.raises(Forbidden):
        await handler(_request(reader))


def test_groups_are_distinct_and_sorted() -> None:
    assert access.parse_groups(b'{"groups": ["b", "a", "b"]}') == ["a", "b"]
    assert access.parse_groups(b'{"groups": []}') == []


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b'{"groups": null}', b'{"groups": ["ok", "bad\\u0000"]}',
     b'{"groups": [' + b",".join(b'"g%d"' % i for i in range(257)) + b"]}"],
)  # fmt: skip
def test_a_malformed_document_is_a_400(body: bytes) -> None:
    with pytest.raises(DicomwebError) as raised:
        access.parse_groups(body)
    assert raised.value.status == 400
