"""Retrieve Frames (PS3.18 §10.4.1.1.5, §8.7.3.5.2): frames read by byte ranges from the blob
with the offsets ingest computed, never the whole object.

Frames go out as stored (``transfer-syntax=*``, or their own media type such as image/jpeg),
or decoded into native pixels for ``application/octet-stream`` in Explicit VR Little Endian.
Only when ingest could not map the frames (deflated, unmappable fragments) is the instance
read whole — bounded to that one instance — and its frames cut out with pydicom.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pydicom
from pydicom import uid
from pydicom.encaps import generate_frames
from pydicom.pixels.decoders.base import get_decoder
from starlette.responses import Response

from dicomcommon.dicom import mediatypes
from dicomcommon.errors import NotAcceptable, NotFound
from dicomcommon.web import multipart, parameters
from wado import pixels, transcode
from wado.context import WadoContext
from wado.index import InstanceDetail, StoredInstance
from wado.negotiate import AS_STORED, Choice, Offer

OFFER = Offer(
    media_types=pixels.FRAME_MEDIA_TYPES,
    wildcard=Choice(True, "*/*", AS_STORED),
    single_part=True,
)
_NATIVE_LE = frozenset(mediatypes.NATIVE_LITTLE_ENDIAN)
_MAX_FRAMES_PER_REQUEST = 10_000


@dataclass(frozen=True)
class FramePlan:
    """How the frames go out: the part media type, the syntax of the bytes, decode or not."""

    multipart: bool
    media_type: str
    transfer_syntax: str
    decode: bool

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; transfer-syntax={self.transfer_syntax}"


NATIVE = FramePlan(False, pixels.OCTET_STREAM, uid.ExplicitVRLittleEndian, decode=True)


def frame_numbers(text: str) -> list[int]:
    """``1,3,5`` → ``[1, 3, 5]``; anything else is a 400 (PS3.18 §10.4.1.1.5)."""
    return parameters.integers("frame list", text, most=_MAX_FRAMES_PER_REQUEST, low=1)


def plan(stored: str, choices: Sequence[Choice], count: int) -> FramePlan:
    """The first acceptable way to send ``count`` frames stored in ``stored``; else 406."""
    for choice in choices:
        if not choice.multipart and count != 1:
            continue  # a single-part answer carries one frame
        fitted = _fit(stored, choice)
        if fitted is not None:
            return fitted
    raise NotAcceptable(f"frames stored in {stored} cannot be sent in any acceptable type")


def _fit(stored: str, choice: Choice) -> FramePlan | None:
    natural = pixels.media_types_of(stored)
    media = natural[0] if choice.media_type == "*/*" else choice.media_type
    if choice.transfer_syntax in (AS_STORED, stored) and media in (*natural, pixels.OCTET_STREAM):
        return FramePlan(choice.multipart, media, stored, decode=False)
    native_wanted = choice.transfer_syntax in _NATIVE_LE or choice.media_type == "*/*"
    if media == pixels.OCTET_STREAM and native_wanted and transcode.can_decode(stored):
        return FramePlan(choice.multipart, media, uid.ExplicitVRLittleEndian, decode=True)
    return None


def check_numbers(instance: StoredInstance, numbers: Sequence[int]) -> None:
    """404 for a frame the instance does not have."""
    if not instance.has_pixel_data:
        raise NotFound(f"instance {instance.sop_instance_uid} has no pixel data")
    count = instance.number_of_frames or 1
    beyond = [n for n in numbers if n > count]
    if beyond:
        raise NotFound(f"frame {beyond[0]} does not exist: the instance has {count} frames")


async def read_frames(
    ctx: WadoContext, detail: InstanceDetail, numbers: Sequence[int], fp: FramePlan
) -> list[bytes]:
    """The frames' bytes: ranged reads when ingest mapped them, else from the whole blob."""
    stored = detail.instance.transfer_syntax_uid
    ranges = detail.frames
    mapped = len(ranges) >= max(numbers) and stored in _NATIVE_LE | _compressed(stored)
    if not mapped:
        data = await ctx.store.read(detail.instance.blob_key)
        return await asyncio.to_thread(_frames_from_blob, data, numbers, fp.decode)
    out = []
    for number in numbers:
        fragments = [
            await ctx.store.read(detail.instance.blob_key, offset, length)
            for offset, length in ranges[number - 1]
        ]
        if fp.decode and uid.UID(stored).is_compressed:
            described = pixels.describe(detail.metadata)
            out.append(await asyncio.to_thread(pixels.decode_frame, fragments, described, stored))
        else:
            out.append(b"".join(fragments))
    return out


def _compressed(stored: str) -> frozenset[str]:
    return frozenset({stored}) if uid.UID(stored).is_compressed else frozenset()


def _frames_from_blob(data: bytes, numbers: Sequence[int], decode: bool) -> list[bytes]:
    """Frames cut out of a whole instance with pydicom (blocking; one instance in memory);
    only the asked frames are decoded."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        syntax = ds.file_meta.TransferSyntaxUID
        if syntax.is_compressed and not decode:
            count = int(ds.get("NumberOfFrames", 1) or 1)
            frames = list(generate_frames(ds.PixelData, number_of_frames=count))
            return [frames[n - 1] for n in numbers]
        decoder, bits = get_decoder(syntax), int(ds.get("BitsAllocated", 8))
        return [pixels.native_bytes(decoder.as_array(ds, index=n - 1)[0], bits) for n in numbers]
    except Exception as exc:  # codecs raise anything on corrupt data: wrap at the boundary
        raise transcode.TranscodeError(f"cannot read the frames: {exc}") from exc


def response(frames: list[bytes], fp: FramePlan, locations: list[str]) -> Response:
    """One frame single-part, or a multipart/related body with one part per frame."""
    if not fp.multipart:
        return Response(frames[0], media_type=fp.content_type)
    boundary = multipart.new_boundary()
    body: list[Any] = []
    for index, (frame, location) in enumerate(zip(frames, locations, strict=True)):
        extra = {"Content-Location": location}
        body += [multipart.part_header(boundary, fp.content_type, extra, first=index == 0), frame]
    body.append(multipart.closing_delimiter(boundary))
    media_type = f'multipart/related; type="{fp.media_type}"; boundary={boundary}'
    return Response(b"".join(body), media_type=media_type)
