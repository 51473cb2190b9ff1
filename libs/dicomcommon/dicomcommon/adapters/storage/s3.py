"""Blobs in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS) through one aiobotocore client.

The client is created once per process and shared by every request. Library errors stop here:
a missing key becomes ``BlobNotFound``, anything that says the service cannot be used right
now (refused connection, timeout, 5xx, bad credentials) becomes ``BackendUnavailable`` (503).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from dicomcommon.adapters.storage import BlobNotFound
from dicomcommon.adapters.storage.keys import check_key, check_prefix, check_range
from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import StorageSettings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket", "404", "NotFound"})


class S3BlobStore:
    """A ``BlobStore`` over one bucket; build it with ``await S3BlobStore.open(settings)``."""

    def __init__(
        self, client: S3Client, exit_stack: AsyncExitStack, settings: StorageSettings
    ) -> None:
        self._client = client
        self._exit_stack = exit_stack
        self._bucket = settings.s3_bucket
        self._multipart_threshold = settings.s3_multipart_threshold
        self._part_size = settings.s3_multipart_part_size

    @classmethod
    async def open(cls, settings: StorageSettings) -> S3BlobStore:
        """Create the client (and the bucket when allowed); raise ``BackendUnavailable``
        when the bucket cannot be reached, closing the client again."""
        exit_stack = AsyncExitStack()
        client = await exit_stack.enter_async_context(_create_client(settings))
        store = cls(client, exit_stack, settings)
        try:
            if settings.s3_create_bucket:
                await store._ensure_bucket(settings.s3_region)
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        await self._exit_stack.aclose()

    async def put(self, key: str, source: BinaryIO | Path, size: int) -> None:
        """One PUT up to the threshold, a multipart upload above it: S3 shows either whole."""
        check_key(key)
        opened = (
            await asyncio.to_thread(source.open, "rb")
            if isinstance(source, Path)
            else contextlib.nullcontext(source)
        )
        with opened as reader:
            if size <= self._multipart_threshold:
                body = await _read_exactly(reader, size)
                with _translated(key):
                    await self._client.put_object(Bucket=self._bucket, Key=key, Body=body)
            else:
                await self._put_in_parts(key, reader, size)

    async def get(
        self, key: str, start: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """Stream one ranged GET; ``BlobNotFound`` comes on the first iteration."""
        check_key(key)
        check_range(start, length)
        if length == 0:  # no Range header can ask for nothing; still say if the key is missing
            if not await self.exists(key):
                raise BlobNotFound(f"no blob {key}")
            return
        with _translated(key):
            try:
                response = await self._client.get_object(
                    Bucket=self._bucket, Key=key, Range=_range_header(start, length)
                )
            except ClientError as exc:
                if _error_code(exc) != "InvalidRange":
                    raise
                return  # the range starts past the end: nothing to read, as on a filesystem
        async with response["Body"] as body:
            while True:
                with _translated(key):
                    chunk = await body.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    async def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        return b"".join([chunk async for chunk in self.get(key, start, length)])

    async def read_many(self, keys: Sequence[str]) -> builtins.list[bytes]:
        """Concurrent GETs: the latency of one request for the lot, not one per key."""
        return builtins.list(await asyncio.gather(*(self.read(key) for key in keys)))

    async def delete(self, key: str) -> None:
        """S3 deletes are idempotent: a missing key answers 204 like a present one."""
        check_key(key)
        with _translated(key):
            await self._client.delete_object(Bucket=self._bucket, Key=key)

    async def exists(self, key: str) -> bool:
        check_key(key)
        try:
            with _translated(key):
                await self._client.head_object(Bucket=self._bucket, Key=key)
        except BlobNotFound:
            return False
        return True

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        check_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self._bucket, Prefix=prefix).__aiter__()
        while True:
            with _translated(prefix):
                try:
                    page = await pages.__anext__()
                except StopAsyncIteration:
                    return
            for entry in page.get("Contents", []):
                yield entry["Key"]

    async def check(self) -> None:
        """HEAD the bucket: proves the endpoint answers and our credentials work."""
        with _translated(self._bucket):
            try:
                await self._client.head_bucket(Bucket=self._bucket)
            except ClientError as exc:
                if _error_code(exc) in _MISSING_BUCKET_CODES:
                    raise BackendUnavailable(f"bucket {self._bucket} does not exist") from exc
                raise

    async def _ensure_bucket(self, region: str) -> None:
        with _translated(self._bucket):
            try:
                await self._client.head_bucket(Bucket=self._bucket)
                return
            except ClientError as exc:
                if _error_code(exc) not in _MISSING_BUCKET_CODES:
                    raise
            await self._create_bucket(region)

    async def _create_bucket(self, region: str) -> None:
        try:
            if region == "us-east-1":  # the one region that rejects a LocationConstraint
                await self._client.create_bucket(Bucket=self._bucket)
            else:
                await self._client.create_bucket(
                    Bucket=self._bucket,
                    CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
                )
        except ClientError as exc:
            if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    async def _put_in_parts(self, key: str, reader: BinaryIO, size: int) -> None:
        """Multipart upload, one part in memory at a time; aborted on any failure so no
        invisible parts linger and cost storage."""
        with _translated(key):
            upload = await self._client.create_multipart_upload(Bucket=self._bucket, Key=key)
        upload_id = upload["UploadId"]
        try:
            parts = await self._upload_parts(key, upload_id, reader, size)
            with _translated(key):
                await self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self._client.abort_multipart_upload(
                        Bucket=self._bucket, Key=key, UploadId=upload_id
                    )
                )
            raise

    async def _upload_parts(
        self, key: str, upload_id: str, reader: BinaryIO, size: int
    ) -> builtins.list[CompletedPartTypeDef]:
        parts: builtins.list[CompletedPartTypeDef] = []
        remaining = size
        while remaining > 0:
            body = await _read_exactly(reader, min(self._part_size, remaining))
            number = len(parts) + 1
            with _translated(key):
                answer = await self._client.upload_part(
                    Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
            parts.append({"ETag": answer["ETag"], "PartNumber": number})
            remaining -= len(body)
        return parts


def _create_client(settings: StorageSettings) -> contextlib.AbstractAsyncContextManager[S3Client]:
    config = AioConfig(
        connect_timeout=settings.s3_connect_timeout,
        read_timeout=settings.s3_read_timeout,
        retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
        max_pool_connections=settings.s3_max_pool_connections,
        s3={"addressing_style": settings.s3_addressing_style},
        # Checksums only where S3 demands them: third-party servers differ on the newer ones.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    access_key = settings.s3_access_key_id
    secret_key = settings.s3_secret_access_key
    return get_session().create_client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=access_key.get_secret_value() if access_key else None,
        aws_secret_access_key=secret_key.get_secret_value() if secret_key else None,
        config=config,
    )


async def _read_exactly(reader: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes off the event loop; a short source is an error, not a short blob."""
    data = await asyncio.to_thread(reader.read, size)
    while len(data) < size:
        more = await asyncio.to_thread(reader.read, size - len(data))
        if not more:
            raise ValueError(f"source ended {size - len(data)} bytes before the declared size")
        data += more
    return data


def _range_header(start: int, length: int | None) -> str:
    """RFC 9110 §14.1.2 byte range; the last byte position is inclusive."""
    if length is None:
        return f"bytes={start}-"
    return f"bytes={start}-{start + length - 1}"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _translated(key: str) -> Iterator[None]:
    """Turn botocore and transport errors into the domain's errors, at this one boundary."""
    try:
        yield
    except ClientError as exc:
        if _error_code(exc) in _MISSING_CODES:
            raise BlobNotFound(f"no blob {key}") from exc
        raise BackendUnavailable(f"object storage refused {key}: {exc}") from exc
    except ParamValidationError:
        raise
    except (BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
        raise BackendUnavailable(f"object storage unreachable ({key}): {exc}") from exc
