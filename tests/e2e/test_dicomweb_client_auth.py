"""End to end with authentication: dicomweb-client carrying a bearer token (a
``requests.Session`` with the Authorization header, as a viewer's backend would) stores, finds,
retrieves frames and deletes through the gateway; without a token, or with a reader's token
for a store, it is refused."""

from __future__ import annotations

import pytest
import requests
from dicomweb_client.api import DICOMwebClient

from dicomstack.stack import Stack
from tests import instances
from tests.tokens import token_for

pytestmark = pytest.mark.e2e


def _client(stack: Stack, token: str | None) -> DICOMwebClient:
    session = requests.Session()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return DICOMwebClient(url=stack.dicomweb_url, session=session)


def test_dicomweb_client_with_a_bearer_token(auth_stack: Stack) -> None:
    admin = _client(auth_stack, token_for(auth_stack, "admin"))
    reader = _client(auth_stack, token_for(auth_stack, "reader"))
    ds = instances.fresh("CT_small.dcm")
    study, series, sop = ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID

    with pytest.raises(requests.HTTPError) as refused:
        reader.store_instances([ds])
    assert refused.value.response.status_code == 403
    admin.store_instances([ds])

    [found] = reader.search_for_studies(search_filters={"StudyInstanceUID": study})
    assert found["0020000D"]["Value"] == [study]
    [frame] = reader.retrieve_instance_frames(study, series, sop, frame_numbers=[1])
    assert len(frame) == ds.Rows * ds.Columns * ds.BitsAllocated // 8

    with pytest.raises(requests.HTTPError) as anonymous:
        _client(auth_stack, None).search_for_studies()
    assert anonymous.value.response.status_code == 401

    admin.delete_study(study)
    assert reader.search_for_studies(search_filters={"StudyInstanceUID": study}) == []
