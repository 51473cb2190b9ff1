"""Orthanc + its DICOMweb plugin (Debian's packages) as the peer measured in the same run.

It runs on loopback only, from a temp folder that is removed afterwards, and is stopped by the
PID we started, whatever happens to the run.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BINARY = Path("/usr/sbin/Orthanc")
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
INSTALL_HINT = "apt-get update && apt-get install -y orthanc orthanc-dicomweb"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""The readiness probe's opener: the standard library's, with no proxy from the environment."""


class OrthancUnavailable(RuntimeError):
    """Orthanc is not installed or did not come up; the message says what to do."""


DICOM_AE_TITLE = "ORTHANC"


@dataclass(frozen=True)
class RunningOrthanc:
    pid: int
    dicomweb_url: str
    wado_uri_url: str
    dicom_port: int | None = None  # its DICOM server (C-STORE, C-FIND), when enabled


@contextmanager
def run_orthanc(
    port: int = 8042, startup_timeout: float = 30.0, dicom_port: int | None = None
) -> Iterator[RunningOrthanc]:
    """Start Orthanc with a throw-away config and storage; stop it by PID on the way out.
    With ``dicom_port`` its DICOM server listens there too (AE title ``DICOM_AE_TITLE``)."""
    if not BINARY.exists() or not PLUGIN.exists():
        raise OrthancUnavailable(f"Orthanc or its DICOMweb plugin is missing; run: {INSTALL_HINT}")
    if not _port_free(port):
        raise OrthancUnavailable(f"port {port} on 127.0.0.1 is busy; pass --orthanc-port")
    workdir = Path(tempfile.mkdtemp(prefix="bench-orthanc-"))
    config = workdir / "orthanc.json"
    config.write_text(json.dumps(_config(workdir, port) | _dicom_config(dicom_port), indent=2))
    log = (workdir / "orthanc.log").open("wb")
    process = subprocess.Popen([str(BINARY), str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(process, base, startup_timeout, workdir / "orthanc.log")
        yield RunningOrthanc(process.pid, f"{base}/dicom-web", f"{base}/wado", dicom_port)
    finally:
        _stop(process)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _port_free(port: int) -> bool:
    """A busy port would make us measure whatever already listens there."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _config(workdir: Path, port: int) -> dict[str, object]:
    """Loopback only, no auth, no DIMSE listener: the HTTP surface is what we compare."""
    return {
        "Name": "bench",
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": False,
        "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "index"),
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "WadoRoot": "/wado",
        },
    }


def _dicom_config(dicom_port: int | None) -> dict[str, object]:
    """Its DICOM server on loopback for any calling AE (as ours on loopback), or none."""
    if dicom_port is None:
        return {}
    return {
        "DicomServerEnabled": True,
        "DicomPort": dicom_port,
        "DicomAet": DICOM_AE_TITLE,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomCheckCalledAet": True,
    }


def _wait_ready(process: subprocess.Popen[bytes], base: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise OrthancUnavailable(f"Orthanc exited with {process.returncode}:\n{tail}")
        if _answers(f"{base}/system"):
            return
        time.sleep(0.2)
    raise OrthancUnavailable(f"Orthanc did not answer on {base}/system within {timeout:.0f} s")


def _answers(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):  # refused, reset, timed out, HTTP error
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if Orthanc has not flushed and exited within ten seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
