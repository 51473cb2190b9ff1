"""The servers a run can measure: our stack (started here), Orthanc (started here), or any
DICOMweb root given by URL. Each is a context manager, so whatever we started is stopped."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import orthanc
from bench.context import Target
from bench.cpu import CpuProbe, launched_by, process_tree
from dicomstack.errors import StackError
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack


class StackUnavailable(RuntimeError):
    """Our stack did not start; the message carries the launcher's reason."""


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
    """Our stack through its gateway, on free ports and its own data folder (removed after a
    clean stop), so a run never touches a developer's ``make run`` data and starts empty."""
    data_dir = data_dir.resolve()
    stack = Stack(StackSettings.ephemeral(data_dir))
    try:
        stack.start()
    except StackError as exc:
        raise StackUnavailable(f"our stack did not start ({exc}); logs: {stack.log_dir}") from exc
    try:
        cpu = CpuProbe(launched_by(os.getpid(), str(data_dir)))
        wado_uri = f"{stack.gateway_url}/wado"
        yield Target("ours", stack.dicomweb_url, wado_uri, cpu, stack.nats_url, stack.postgres_url)
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
