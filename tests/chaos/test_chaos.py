"""Nothing acknowledged is lost under crashes: while a few clients store through the gateway,
NATS, PostgreSQL, stow, indexer, qido and wado are each SIGKILLed again and again, and the
launcher brings them back as ``make run`` does. Afterwards every acknowledged instance is found
by QIDO and retrieved byte for byte by WADO-RS, and the change feed holds exactly one Create
per instance, its sequences without gaps or repeats.

Sized for a small machine: ``ROUNDS`` kills of each victim spread over the run, and the load
goes on until ``TARGET`` instances are acknowledged; on two cores shared with other work (load
average 9 to 20) a run took four to six minutes, stack start included."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests.chaos import faults, load, verify

pytestmark = pytest.mark.integration

CLIENTS = 6
TARGET = 1000  # acknowledged instances, at the least
ROUNDS = 4  # kills of each victim: 24 in all
PAUSE = (2.0, 5.0)  # seconds of calm before each kill
SEED = 13
PROGRESS_SECONDS = 10.0
# Short enough that a request caught by an indexer or PostgreSQL outage is answered 202 (stored,
# not yet indexed) within the test's pace, so that path is exercised too.
ENVIRON = {"DICOMWEB_STOW_INDEX_TIMEOUT_SECONDS": "5"}


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = StackSettings.ephemeral(tmp_path_factory.mktemp("chaos"))
    with Stack(settings, environ={**os.environ, **ENVIRON}) as running:
        yield running


async def _load_under_faults(stack: Stack, ledger: load.Ledger, chaos: faults.Chaos) -> None:
    """Clients store until both the kills are over and ``TARGET`` instances are acknowledged."""
    chaos.start()
    stop = asyncio.Event()
    clients = [
        asyncio.create_task(load.run_client(stack.dicomweb_url, ledger, stop))
        for _ in range(CLIENTS)
    ]
    started = time.monotonic()
    try:
        while chaos.killing or len(ledger.acknowledged) < TARGET:
            if chaos.errors or any(task.done() for task in clients):
                break
            await asyncio.sleep(PROGRESS_SECONDS)
            _progress(ledger, chaos, started)
        stop.set()
        await asyncio.gather(*clients)
    except BaseException:
        await asyncio.to_thread(chaos.halt)
        raise
    await asyncio.to_thread(chaos.close)


def _progress(ledger: load.Ledger, chaos: faults.Chaos, started: float) -> None:
    print(
        f"chaos {time.monotonic() - started:4.0f} s: {len(ledger.acknowledged)} acknowledged, "
        f"kills {sum(chaos.log.kills.values())}, answers {dict(ledger.answers)}, "
        f"refused {ledger.unexpected[:1]}",
        file=sys.stderr,
        flush=True,
    )


@pytest.mark.timeout(900)
def test_acknowledged_instances_survive_repeated_sigkills(chaos_stack: Stack) -> None:
    started = time.monotonic()
    ledger = load.Ledger()
    chaos = faults.Chaos(chaos_stack, faults.schedule(ROUNDS, SEED), PAUSE, SEED)
    asyncio.run(_load_under_faults(chaos_stack, ledger, chaos))
    log = chaos.log
    sent = list(ledger.acknowledged.values())
    url = chaos_stack.dicomweb_url
    with httpx.Client(timeout=60) as client:
        lost = verify.missing_from_qido(client, url, sent, seconds=60)
        damaged = verify.not_retrieved_intact(client, url, sent)
        feed_faults = verify.feed_faults(verify.feed(client, url), sent)
    print(
        f"\nchaos: {len(sent)} acknowledged, kills {dict(log.kills)}, "
        f"restarts {dict(log.restarts)}, "
        f"answers {dict(ledger.answers)}, failed restarts {len(log.failed_restarts)}, "
        f"lost {len(lost)}, damaged {len(damaged)}, feed faults {len(feed_faults)}, "
        f"{time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    assert not ledger.unexpected, ledger.unexpected[:5]
    assert len(sent) >= TARGET
    assert sum(log.kills.values()) >= 20 and set(log.kills) == set(faults.VICTIMS)
    assert not lost, sorted(lost)[:10]
    assert not damaged, sorted(damaged)[:10]
    assert not feed_faults, feed_faults[:10]
