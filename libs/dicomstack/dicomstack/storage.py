"""Where blobs go: a folder under the data directory, the embedded SeaweedFS S3 server, or an
external S3 bucket. Each choice ends as one ``StorageSettings`` handed to every service."""

from __future__ import annotations

from pathlib import Path

from dicomcommon.settings import StorageSettings
from dicomstack.errors import StackError
from dicomstack.seaweedfs import SeaweedFs, SeaweedFsError
from dicomstack.settings import StackSettings


def filesystem(data_dir: Path) -> StorageSettings:
    """An absolute root, so services find it whatever their working directory."""
    return StorageSettings(backend="filesystem", root=(data_dir / "blobs").resolve())


def external(settings: StackSettings) -> StorageSettings:
    return StorageSettings(
        backend="s3",
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_bucket=settings.s3_bucket,
        s3_region=settings.s3_region,
        s3_access_key_id=settings.s3_access_key_id,
        s3_secret_access_key=settings.s3_secret_access_key,
    )


class EmbeddedS3:
    """The stack's view of ``SeaweedFs``: a component, and the ``StorageSettings`` that reach it."""

    name = "seaweedfs"

    def __init__(self, data_dir: Path, host: str, s3_port: int) -> None:
        self.server = SeaweedFs(data_dir, s3_port=s3_port, host=host)
        self.log_path = self.server.log_path
        self._up = False

    @property
    def settings(self) -> StorageSettings:
        return StorageSettings(
            backend="s3",
            s3_endpoint_url=self.server.endpoint_url,
            s3_bucket=self.server.bucket,
            s3_access_key_id=self.server.access_key,
            s3_secret_access_key=self.server.secret_key,
        )

    @property
    def crashed(self) -> bool:
        return self._up and not self.server.running

    def spawn(self) -> None:
        try:
            self.server.spawn()
        except SeaweedFsError as exc:
            raise StackError(f"seaweedfs: {exc}") from exc
        self._up = True

    def wait_healthy(self, timeout: float) -> None:
        """SeaweedFs waits with its own start timeout."""
        try:
            self.server.wait_ready()
        except SeaweedFsError as exc:
            raise StackError(f"seaweedfs: {exc}") from exc

    def stop(self) -> None:
        self.server.stop()
        self._up = False

    def kill(self) -> None:
        """SIGKILL, as a crash would; ``crashed`` is then true until restarted."""
        self.server.kill()
