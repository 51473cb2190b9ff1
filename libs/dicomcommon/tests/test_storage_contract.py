"""The blob store contract, run unchanged against every backend.

The filesystem store runs in a temp folder; the S3 store runs against a real SeaweedFS. Each
test works under its own key prefix, so the shared bucket needs no cleaning between tests.
"""

from __future__ import annotations

import asyncio
import io
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dicomcommon.adapters.storage import BlobNotFound, BlobStore
from dicomcommon.adapters.storage.factory import open_store
from dicomcommon.adapters.storage.keys import InvalidBlobKey
from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import StorageSettings
from dicomstack.seaweedfs import SeaweedFs

MULTIPART_THRESHOLD = 5 << 20  # the smallest part S3 allows, so large objects stay small
PAYLOAD = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes, every byte value, no periodic luck
SIZE = len(PAYLOAD)


def s3_settings(seaweedfs: SeaweedFs, **overrides: Any) -> StorageSettings:
    values: dict[str, Any] = {
        "backend": "s3",
        "s3_endpoint_url": seaweedfs.endpoint_url,
        "s3_bucket": seaweedfs.bucket,
        "s3_access_key_id": SecretStr(seaweedfs.access_key),
        "s3_secret_access_key": SecretStr(seaweedfs.secret_key),
        "s3_multipart_threshold": MULTIPART_THRESHOLD,
        "s3_multipart_part_size": MULTIPART_THRESHOLD,
    }
    return StorageSettings(**(values | overrides))


@pytest.fixture(params=["filesystem", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "s3":
        settings = s3_settings(request.getfixturevalue("seaweedfs"))
    else:
        settings = StorageSettings(backend="filesystem", root=tmp_path / "blobs")
    opened = await open_store(settings)
    yield opened
    await opened.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"test/{uuid.uuid4().hex}/"


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def put_bytes(store: BlobStore, key: str, data: bytes) -> None:
    await store.put(key, io.BytesIO(data), len(data))


async def test_put_of_a_file_object_then_get_returns_the_same_bytes(
    store: BlobStore, prefix: str
) -> None:
    await put_bytes(store, prefix + "1.2.3/instance.dcm", PAYLOAD)
    assert await collect(store.get(prefix + "1.2.3/instance.dcm")) == PAYLOAD


async def test_put_of_a_path_stores_the_file(store: BlobStore, prefix: str, tmp_path: Path) -> None:
    source = tmp_path / "upload.dcm"
    source.write_bytes(PAYLOAD)
    await store.put(prefix + "from-path.dcm", source, SIZE)
    assert await store.read(prefix + "from-path.dcm") == PAYLOAD


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        (0, None, PAYLOAD),
        (100, None, PAYLOAD[100:]),
        (100, 50, PAYLOAD[100:150]),
        (0, SIZE, PAYLOAD),
        (SIZE - 1, None, PAYLOAD[-1:]),
        (SIZE - 4, 100, PAYLOAD[-4:]),  # a range past the end is clipped
        (SIZE, None, b""),  # starting at the end reads nothing
        (SIZE + 10, 5, b""),
        (7, 0, b""),
    ],
    ids=["whole", "from", "window", "exact", "last-byte", "clipped", "at-end", "past-end", "empty"],
)
async def test_ranged_get_and_read_return_the_range(
    store: BlobStore, prefix: str, start: int, length: int | None, expected: bytes
) -> None:
    await put_bytes(store, prefix + "ranged.dcm", PAYLOAD)
    assert await collect(store.get(prefix + "ranged.dcm", start, length)) == expected
    assert await store.read(prefix + "ranged.dcm", start, length) == expected


async def test_get_streams_chunks_no_larger_than_asked(store: BlobStore, prefix: str) -> None:
    await put_bytes(store, prefix + "chunked.dcm", PAYLOAD)
    chunks = [chunk async for chunk in store.get(prefix + "chunked.dcm", 3, 5000, chunk_size=1000)]
    assert len(chunks) >= 5
    assert all(0 < len(chunk) <= 1000 for chunk in chunks)
    assert b"".join(chunks) == PAYLOAD[3:5003]


async def test_negative_range_is_rejected(store: BlobStore, prefix: str) -> None:
    await put_bytes(store, prefix + "r.dcm", PAYLOAD)
    with pytest.raises(ValueError):
        await store.read(prefix + "r.dcm", -1)
    with pytest.raises(ValueError):
        await collect(store.get(prefix + "r.dcm", 0, -5))


async def test_missing_key_raises_blob_not_found(store: BlobStore, prefix: str) -> None:
    with pytest.raises(BlobNotFound):
        await collect(store.get(prefix + "missing.dcm"))
    with pytest.raises(BlobNotFound):
        await collect(store.get(prefix + "missing.dcm", 5, 0))
    with pytest.raises(BlobNotFound):
        await store.read(prefix + "missing.dcm", 0, 10)


async def test_read_many_returns_each_blob_whole_in_the_order_asked(
    store: BlobStore, prefix: str
) -> None:
    blobs = {f"{prefix}many/{n}.dcm": PAYLOAD[n : n + 1000 * (n + 1)] for n in range(5)}
    for key, data in blobs.items():
        await put_bytes(store, key, data)
    keys = list(reversed(blobs))
    assert await store.read_many(keys) == [blobs[key] for key in keys]
    assert await store.read_many([]) == []
    with pytest.raises(BlobNotFound):
        await store.read_many([keys[0], prefix + "many/missing.dcm"])


async def test_second_put_of_the_same_key_leaves_a_complete_object(
    store: BlobStore, prefix: str
) -> None:
    await put_bytes(store, prefix + "again.dcm", PAYLOAD)
    await put_bytes(store, prefix + "again.dcm", PAYLOAD[::-1])
    assert await store.read(prefix + "again.dcm") == PAYLOAD[::-1]
    assert [key async for key in store.list(prefix)] == [prefix + "again.dcm"]


async def test_put_of_a_short_source_fails_and_stores_nothing(
    store: BlobStore, prefix: str
) -> None:
    with pytest.raises(ValueError):
        await store.put(prefix + "short.dcm", io.BytesIO(PAYLOAD), SIZE + 1)
    assert not await store.exists(prefix + "short.dcm")
    assert [key async for key in store.list(prefix)] == []


async def test_delete_removes_the_blob_and_a_missing_key_is_fine(
    store: BlobStore, prefix: str
) -> None:
    await put_bytes(store, prefix + "a/b/gone.dcm", PAYLOAD)
    await put_bytes(store, prefix + "a/kept.dcm", PAYLOAD)
    await store.delete(prefix + "a/b/gone.dcm")
    await store.delete(prefix + "a/b/gone.dcm")
    await store.delete(prefix + "never/was.dcm")
    assert not await store.exists(prefix + "a/b/gone.dcm")
    assert await store.read(prefix + "a/kept.dcm") == PAYLOAD
    await put_bytes(store, prefix + "a/b/back.dcm", PAYLOAD)  # an emptied folder is reusable
    assert await store.exists(prefix + "a/b/back.dcm")


async def test_exists_tells_blobs_from_missing_keys(store: BlobStore, prefix: str) -> None:
    await put_bytes(store, prefix + "here.dcm", PAYLOAD)
    assert await store.exists(prefix + "here.dcm")
    assert not await store.exists(prefix + "there.dcm")


async def test_list_yields_every_key_with_the_prefix(store: BlobStore, prefix: str) -> None:
    keys = ["s1/se1/i1.dcm", "s1/se1/i2.dcm", "s1/se2/i3.dcm", "s10/se1/i4.dcm", "s2/i5.dcm"]
    for key in keys:
        await put_bytes(store, prefix + key, b"x")

    async def listed(start: str) -> set[str]:
        return {key.removeprefix(prefix) async for key in store.list(prefix + start)}

    assert await listed("") == set(keys)
    assert await listed("s1/") == set(keys[:3])
    assert await listed("s1") == set(keys[:4])
    assert await listed("s1/se1/i2") == {"s1/se1/i2.dcm"}
    assert await listed("s3/") == set()


@pytest.mark.parametrize(
    "key", ["", "../escape.dcm", "/absolute.dcm", "a/../b.dcm", "a//b", "a b.dcm", ".hidden", "a/"]
)
async def test_invalid_keys_are_rejected_before_any_io(store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKey):
        await put_bytes(store, key, b"x")
    with pytest.raises(InvalidBlobKey):
        await store.exists(key)


async def test_large_object_round_trips_and_reads_across_part_boundaries(
    store: BlobStore, prefix: str, tmp_path: Path
) -> None:
    large = PAYLOAD * (2 * MULTIPART_THRESHOLD // SIZE + 3)  # more than two parts
    source = tmp_path / "large.dcm"
    source.write_bytes(large)
    await store.put(prefix + "large.dcm", source, len(large))
    boundary = MULTIPART_THRESHOLD
    assert await store.read(prefix + "large.dcm", boundary - 10, 20) == large[boundary - 10 :][:20]
    assert await collect(store.get(prefix + "large.dcm")) == large


async def test_concurrent_puts_all_land(store: BlobStore, prefix: str) -> None:
    bodies = {f"{prefix}c/{n}.dcm": PAYLOAD[n:] for n in range(8)}
    await asyncio.gather(*(put_bytes(store, key, body) for key, body in bodies.items()))
    for key, body in bodies.items():
        assert await store.read(key) == body


async def test_check_passes_when_the_backend_answers(store: BlobStore) -> None:
    await store.check()


async def test_filesystem_put_leaves_no_temp_file_behind(tmp_path: Path) -> None:
    store = await open_store(StorageSettings(root=tmp_path))
    await put_bytes(store, "a/ok.dcm", PAYLOAD)
    with pytest.raises(ValueError):
        await store.put("a/short.dcm", io.BytesIO(b"abc"), 10)
    assert sorted(path.name for path in (tmp_path / "a").iterdir()) == ["ok.dcm"]


async def test_filesystem_put_of_a_new_key_writes_in_place_without_a_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh key needs no temp file and rename (no reader knows it yet); only replacing an
    existing key goes through them, so that one stays whole if the rename fails."""

    def refuse_rename(self: Path, target: Path) -> Path:
        raise OSError("rename refused")

    store = await open_store(StorageSettings(root=tmp_path))
    monkeypatch.setattr(Path, "replace", refuse_rename)
    await put_bytes(store, "a/b/new.dcm", PAYLOAD)
    assert await store.read("a/b/new.dcm") == PAYLOAD
    with pytest.raises(BackendUnavailable):
        await put_bytes(store, "a/b/new.dcm", PAYLOAD[::-1])
    assert await store.read("a/b/new.dcm") == PAYLOAD
    assert sorted(path.name for path in (tmp_path / "a" / "b").iterdir()) == ["new.dcm"]


async def test_s3_store_on_a_dead_port_is_unavailable_quickly(seaweedfs: SeaweedFs) -> None:
    dead = s3_settings(seaweedfs, s3_endpoint_url=f"http://127.0.0.1:{_dead_port()}")
    began = time.monotonic()
    with pytest.raises(BackendUnavailable):
        await open_store(dead)
    store = await open_store(dead.model_copy(update={"s3_create_bucket": False}))
    try:
        with pytest.raises(BackendUnavailable):
            await store.check()
        with pytest.raises(BackendUnavailable):
            await store.read("a.dcm")
        with pytest.raises(BackendUnavailable):
            await put_bytes(store, "a.dcm", PAYLOAD)
    finally:
        await store.close()
    assert time.monotonic() - began < 10


async def test_s3_store_with_wrong_credentials_is_unavailable(seaweedfs: SeaweedFs) -> None:
    wrong = s3_settings(seaweedfs, s3_secret_access_key=SecretStr("not-the-secret"))
    with pytest.raises(BackendUnavailable):
        await open_store(wrong)


async def test_s3_store_creates_its_bucket(seaweedfs: SeaweedFs) -> None:
    bucket = f"created-{uuid.uuid4().hex[:12]}"
    store = await open_store(s3_settings(seaweedfs, s3_bucket=bucket))
    try:
        await put_bytes(store, "k.dcm", PAYLOAD)
        assert await store.read("k.dcm") == PAYLOAD
    finally:
        await store.close()


def _dead_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_s3_blobs_survive_a_seaweedfs_kill_and_restart(tmp_path: Path) -> None:
    """The launcher's second run finds the data again, even after a crash."""
    server = SeaweedFs(tmp_path / "seaweedfs", s3_port=_dead_port(), secret_key="kept-secret")
    await asyncio.to_thread(server.start)
    try:
        store = await open_store(s3_settings(server))
        await put_bytes(store, "kept/instance.dcm", PAYLOAD)
        await store.close()
        await asyncio.to_thread(server.kill)
        server.s3_port = _dead_port()
        await asyncio.to_thread(server.start)
        store = await open_store(s3_settings(server))
        try:
            assert await store.read("kept/instance.dcm") == PAYLOAD
        finally:
            await store.close()
    finally:
        await asyncio.to_thread(server.stop)
