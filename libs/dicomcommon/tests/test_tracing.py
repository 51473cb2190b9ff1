"""Tracing settings read the standard OTEL_* variables, and an unconfigured process does no
tracing work: the app is served as it is and messages carry no trace headers."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from dicomcommon.settings import TracingSettings
from dicomcommon.web import tracing


def test_no_endpoint_means_no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert TracingSettings().traces_url is None
    assert tracing.configure("stow", TracingSettings()) is False


def test_base_endpoint_gets_the_traces_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert TracingSettings().traces_url == "http://collector:4318/v1/traces"


def test_traces_endpoint_is_taken_verbatim_and_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://tempo.example/otlp/traces")
    assert TracingSettings().traces_url == "https://tempo.example/otlp/traces"


def test_sdk_disabled_and_empty_values_turn_tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    assert TracingSettings().traces_url is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert TracingSettings().traces_url is None


def test_service_name_prefixes_each_part(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TracingSettings().service("stow") == "dicomweb-stow"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "pacs")
    assert TracingSettings().service("indexer") == "pacs-indexer"


def test_unknown_sampler_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "sometimes")
    with pytest.raises(ValueError, match="traces_sampler"):
        TracingSettings()


def test_unconfigured_tracing_leaves_app_and_headers_alone() -> None:
    app = Starlette()
    assert tracing.instrument(app) is app
    headers = {"Nats-Msg-Id": "1"}
    with tracing.producing("dicom.ingest.store"):
        assert tracing.inject(headers) == {"Nats-Msg-Id": "1"}
    with tracing.consuming("apply ingest batch", []) as span:
        assert span is None
