"""Nothing a C-STORE answered with Success is lost: SIGKILL the indexer while a modality
stores over one association, let the launcher's supervisor restart it, and every instance
answered with Success (or a coercion warning) is found by QIDO."""

from __future__ import annotations

import threading
import time

import httpx
from pynetdicom import build_context
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from dicomstack.stack import Stack
from dimse import statuses
from tests import instances
from tests.integration.dimse_peers import DIMSE_MARKS, associate
from tests.polling import eventually

pytestmark = DIMSE_MARKS

_ANSWERED = (statuses.SUCCESS, statuses.WARNING_COERCION)


def _restart_when_crashed(stack: Stack, done: threading.Event) -> None:
    """What ``dicomstack run``'s supervisor loop does: restart whatever exited."""
    while not done.is_set():
        stack.restart_crashed()
        time.sleep(0.5)


def _indexed(stack: Stack, study: str) -> int:
    url = f"{stack.dicomweb_url}/studies/{study}/instances"
    response = httpx.get(url, params={"limit": 1000}, timeout=30)
    return len(response.json()) if response.status_code == 200 else 0


def test_killed_indexer_loses_no_c_store_answered_with_success(stack: Stack) -> None:
    study = instances.fresh().StudyInstanceUID
    datasets = [instances.fresh(study=study) for _ in range(24)]
    assoc = associate(stack.dimse_address, "CRASHMOD", [build_context(CTImageStorage)])
    assert assoc.is_established
    done = threading.Event()
    supervisor = threading.Thread(target=_restart_when_crashed, args=(stack, done))
    answers = []
    try:
        for i, ds in enumerate(datasets):
            if i == 8:
                stack.kill("indexer")  # SIGKILL
                supervisor.start()
            answers.append(int(assoc.send_c_store(ds).Status))
    finally:
        assoc.release()
        if supervisor.is_alive():
            done.set()
            supervisor.join(120)
    acknowledged = [ds for ds, status in zip(datasets, answers, strict=True) if status in _ANSWERED]
    assert len(acknowledged) >= 8, answers  # those before the kill, at least
    assert eventually(lambda: _indexed(stack, study) >= len(acknowledged), seconds=120)
    url = f"{stack.dicomweb_url}/studies/{study}/instances"
    found = {m["00080018"]["Value"][0] for m in httpx.get(url, params={"limit": 1000}).json()}
    assert {ds.SOPInstanceUID for ds in acknowledged} <= found
