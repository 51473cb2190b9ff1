"""One trace across the archive: a STOW through the real gateway with a client's
``traceparent`` reaches Traefik, STOW and the indexer (through the ingest command's NATS
headers), and each exports its spans over OTLP/HTTP to a receiver in this process."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import httpx
import pytest

from dicomcommon.web.routes import DICOMWEB_ROOT
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests import instances
from tests.otlpreceiver import OtlpReceiver, ReceivedSpan
from tests.polling import eventually

pytestmark = pytest.mark.integration
SPAN_KIND_SERVER, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER = 2, 4, 5


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(
    tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver
) -> Iterator[Stack]:
    environ = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # the SDK's batch interval, in ms (5 s by default)
    }
    settings = StackSettings.ephemeral(tmp_path_factory.mktemp("traced-stack"), startup_timeout=180)
    with Stack(settings, environ=environ) as running:
        yield running


def _chain(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """``span`` and its ancestors among ``spans``, nearest first."""
    by_id = {s.span_id: s for s in spans}
    chain = [span]
    while chain[-1].parent_span_id in by_id:
        chain.append(by_id[chain[-1].parent_span_id])
    return chain


def _describe(spans: list[ReceivedSpan]) -> list[str]:
    return [f"{s.service} {s.name} {s.span_id} <- {s.parent_span_id}" for s in spans]


def _consumer(spans: list[ReceivedSpan]) -> ReceivedSpan | None:
    return next((s for s in spans if s.kind == SPAN_KIND_CONSUMER), None)


def test_a_store_is_one_trace_from_the_gateway_to_the_indexer(
    traced_stack: Stack, receiver: OtlpReceiver
) -> None:
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    body = instances.to_bytes(instances.fresh())
    response = httpx.post(
        f"{traced_stack.dicomweb_url}/studies",
        content=body,
        headers={
            "Content-Type": "application/dicom",
            "traceparent": f"00-{trace_id}-{client_span}-01",
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text

    def complete() -> bool:
        services = {s.service for s in receiver.in_trace(trace_id)}
        return {"dicomweb-gateway", "dicomweb-stow", "dicomweb-indexer"} <= services

    assert eventually(complete, seconds=60), _describe(receiver.in_trace(trace_id))
    spans = receiver.in_trace(trace_id)
    consumer = _consumer(spans)
    assert consumer is not None and consumer.service == "dicomweb-indexer", spans
    assert consumer.name == "process dicom.ingest.store"
    chain = _chain(consumer, spans)
    services = [s.service for s in chain]
    # indexer ← stow's publish ← stow's request ← … ← the gateway, whose root is our span
    assert chain[1].kind == SPAN_KIND_PRODUCER and chain[1].service == "dicomweb-stow", chain
    stow_server = next(s for s in chain if s.kind == SPAN_KIND_SERVER)
    assert (
        stow_server.service == "dicomweb-stow"
        and stow_server.name == f"POST {DICOMWEB_ROOT}/studies"
    )
    assert services[-1] == "dicomweb-gateway", chain
    assert chain[-1].parent_span_id == client_span, chain


def test_the_indexer_batch_span_links_to_each_command(
    traced_stack: Stack, receiver: OtlpReceiver
) -> None:
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    body = instances.to_bytes(instances.fresh())
    headers = {
        "Content-Type": "application/dicom",
        "traceparent": f"00-{trace_id}-{client_span}-01",
    }
    url = f"{traced_stack.dicomweb_url}/studies"
    assert httpx.post(url, content=body, headers=headers, timeout=60).status_code == 200

    def producer_span() -> ReceivedSpan | None:  # each process exports its spans in batches
        return next((s for s in receiver.in_trace(trace_id) if s.kind == SPAN_KIND_PRODUCER), None)

    assert eventually(lambda: producer_span() is not None, seconds=60)
    producer = producer_span()
    assert producer is not None

    def batch() -> ReceivedSpan | None:
        linked = [s for s in receiver.spans if (trace_id, producer.span_id) in s.links]
        return next((s for s in linked if s.name == "apply ingest batch"), None)

    assert eventually(lambda: batch() is not None, seconds=60)
    found = batch()
    assert found is not None and found.service == "dicomweb-indexer"


def test_search_spans_record_no_query_values(traced_stack: Stack, receiver: OtlpReceiver) -> None:
    """QIDO's query strings carry patient names: neither the gateway nor QIDO records them."""
    trace_id = secrets.token_hex(16)
    response = httpx.get(
        f"{traced_stack.dicomweb_url}/studies",
        params={"PatientName": "SECRET^NAME"},
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        timeout=30,
    )
    assert response.status_code in (200, 204)

    def both() -> bool:
        return {"dicomweb-gateway", "dicomweb-qido"} <= {
            s.service for s in receiver.in_trace(trace_id)
        }

    assert eventually(both, seconds=60), _describe(receiver.in_trace(trace_id))
    for span in receiver.in_trace(trace_id):
        assert not any("SECRET" in value for value in span.values), span
    qido = [s for s in receiver.in_trace(trace_id) if s.service == "dicomweb-qido"]
    assert [s.name for s in qido] == [f"GET {DICOMWEB_ROOT}/studies"]
