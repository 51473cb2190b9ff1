"""DIMSE against the real stack, with pynetdicom as the SCU over TCP: C-ECHO, C-STORE on STOW's
path (found through QIDO and the change feed), bad data sets, and who may associate."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, VerificationPresentationContexts
from pynetdicom.association import Association

from dicomcommon.settings import NatsSettings, StorageSettings
from dicomstack.ports import free_ports
from dicomstack.stack import Stack
from dimse import statuses
from dimse.app import create_app
from dimse.settings import Settings
from tests import instances
from tests.integration import changefeed_client as feed

pytestmark = pytest.mark.integration

CALLED = "DICOMWEB"


def _associate(host: str, port: int, calling: str = "MODALITY1") -> Association:
    ae = AE(ae_title=calling)
    ae.requested_contexts = [*VerificationPresentationContexts, *StoragePresentationContexts[:100]]
    return ae.associate(host, port, ae_title=CALLED)


@pytest.fixture
def association(stack: Stack) -> Iterator[Association]:
    assoc = _associate(*stack.dimse_address)
    assert assoc.is_established
    yield assoc
    assoc.release()


def _c_store(assoc: Association, ds: Dataset) -> int:
    status = assoc.send_c_store(ds)
    return int(status.Status)


def _qido_instances(stack: Stack, ds: Dataset) -> list[dict]:  # type: ignore[type-arg]
    response = httpx.get(
        f"{stack.dicomweb_url}/instances", params={"SOPInstanceUID": ds.SOPInstanceUID}
    )
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else []


def test_c_echo_succeeds(association: Association) -> None:
    assert int(association.send_c_echo().Status) == statuses.SUCCESS


def test_c_store_is_found_through_qido_and_the_change_feed(
    stack: Stack, association: Association
) -> None:
    after = feed.latest_sequence(stack.dicomweb_url)
    study = instances.fresh().StudyInstanceUID
    stored = [instances.fresh(study=study), instances.fresh("MR_small.dcm", study=study)]
    assert [_c_store(association, ds) for ds in stored] == [statuses.SUCCESS] * 2
    for ds in stored:  # searchable at once: the response waited for the indexer
        [found] = _qido_instances(stack, ds)
        assert found["0020000D"]["Value"] == [study]
    feed.wait_for(stack.dicomweb_url, after, {ds.SOPInstanceUID for ds in stored})
    url = f"{stack.dicomweb_url}/studies/{study}/series/{stored[0].SeriesInstanceUID}"
    url += f"/instances/{stored[0].SOPInstanceUID}"
    retrieved = httpx.get(url, headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert retrieved.status_code == 200


def test_c_store_without_study_uid_fails_and_stores_nothing(
    stack: Stack, association: Association
) -> None:
    ds = instances.fresh()
    del ds.StudyInstanceUID  # STOW's failure reason for it: 0xA900, the same number in DIMSE
    assert _c_store(association, ds) == statuses.DATASET_DOES_NOT_MATCH_SOP_CLASS
    assert _qido_instances(stack, ds) == []


@pytest.fixture(scope="module")
def guarded(stack: Stack) -> Iterator[tuple[str, int]]:
    """A second DIMSE process on the stack's NATS and storage that knows one calling AE."""
    [port] = free_ports("127.0.0.1", 1)
    settings = Settings(
        nats=NatsSettings(url=stack.nats_url),
        storage=StorageSettings.model_validate(stack.storage.model_dump()),
        port=port,
        calling_aes={"MODALITY1": {"permissions": ["find"], "hosts": ["127.0.0.1"]}},
    )
    app = create_app(settings)
    started, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            started.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    try:
        assert started.wait(30)
        yield "127.0.0.1", port
    finally:
        stop.set()
        thread.join(30)


def test_unknown_calling_ae_is_rejected_at_association(guarded: tuple[str, int]) -> None:
    assoc = _associate(*guarded, calling="STRANGER")
    assert assoc.is_rejected
    assert assoc.acceptor.primitive.result_source == 0x01
    assert assoc.acceptor.primitive.diagnostic == 0x03  # calling AE title not recognized


def test_known_calling_ae_without_store_permission_is_refused(
    stack: Stack, guarded: tuple[str, int]
) -> None:
    assoc = _associate(*guarded, calling="MODALITY1")
    assert assoc.is_established
    try:
        assert int(assoc.send_c_echo().Status) == statuses.SUCCESS
        ds = instances.fresh()
        assert _c_store(assoc, ds) == statuses.NOT_AUTHORIZED
    finally:
        assoc.release()
    assert _qido_instances(stack, ds) == []
