"""The servers a run can measure: our stack (started here), Orthanc (started here), or any
DICOMweb root given by URL. Each is a context manager, so whatever we started is stopped."""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import orthanc
from bench.context import Target
from bench.cpu import CpuProbe, descendants, process_tree


class StackUnavailable(RuntimeError):
    """The launcher cannot be used; the message says what to pass instead."""


@contextmanager
def url_target(label: str, dicomweb_url: str, wado_uri_url: str | None) -> Iterator[Target]:
    """A server someone else runs: nothing to start or stop, and no CPU figures."""
    yield Target(label, dicomweb_url.rstrip("/"), wado_uri_url, cpu=None)


@contextmanager
def orthanc_target(port: int) -> Iterator[Target]:
    """Debian's Orthanc + DICOMweb plugin on loopback, from a temp folder, stopped by PID."""
    with orthanc.run_orthanc(port) as running:
        cpu = CpuProbe(process_tree(running.pid))
        yield Target("Orthanc", running.dicomweb_url, running.wado_uri_url, cpu)


@contextmanager
def stack_target(data_dir: Path) -> Iterator[Target]:
    """Our stack through its gateway, on free ports and a fresh data folder, so a run never
    touches a developer's ``make run`` data and always starts from an empty archive."""
    settings_module = importlib.import_module("dicomstack.settings")
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = settings_module.StackSettings.ephemeral(data_dir.resolve())
    stack = _stack_class()(settings)
    stack.start()
    try:
        gateway = str(stack.gateway_url).rstrip("/")
        cpu = CpuProbe(descendants(os.getpid()))
        yield Target("ours", str(stack.dicomweb_url).rstrip("/"), f"{gateway}/wado", cpu)
    finally:
        stack.stop()


def _stack_class() -> Any:
    """The launcher's ``Stack`` (documented API: ``Stack(settings).start()`` / ``.stop()``)."""
    for module_name in ("dicomstack.stack", "dicomstack.launcher", "dicomstack"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        if hasattr(module, "Stack"):
            return module.Stack
    raise StackUnavailable("dicomstack has no Stack yet; pass --target URL or --orthanc-only")
