"""C-MOVE and C-GET SCP (PS3.4 C.4.2, C.4.3): the instances an identifier names (``located``),
sent one at a time as C-STORE sub-operations, to a destination from ``remote_aes`` (C-MOVE,
on a new association) or back to the requestor (C-GET, on its own association).

pynetdicom runs the sub-operations, counts them and sends the Pending responses; this module
yields one data set at a time. Each instance's blob is spooled to a temporary file and read
with its large values deferred (pydicom reads them from the file while encoding), so one
instance at a time is in flight, never a study. The destination's accepted presentation
contexts decide the transfer syntax: the stored one when accepted (the bytes as stored),
otherwise Explicit VR Little Endian decoded with the shared codecs (``dicomcommon.dicom.transcode``)
when the peer accepts only uncompressed syntaxes. An instance that cannot be sent (blob gone,
no acceptable syntax, codec failure) is a failed sub-operation named in the Failed SOP
Instance UID List; a C-CANCEL ends the sub-operations with Cancel (C.4.2.3.1).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from pydicom import dcmread, uid
from pydicom.dataset import Dataset
from pynetdicom import build_context, evt
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    Verification,
)

from dicomcommon import studyaccess
from dicomcommon.adapters.storage import BlobNotFound
from dicomcommon.dicom.conversions import ConversionGate
from dicomcommon.dicom.mediatypes import NATIVE_LITTLE_ENDIAN
from dicomcommon.dicom.transcode import TranscodeError, can_transcode, transcode
from dicomcommon.errors import BackendUnavailable
from dicomcommon.web.audit import Action, AuditRecord
from dimse import located, responses, sockets, statuses, tls
from dimse.auditing import identifier_text
from dimse.indexscp import IndexScp
from dimse.located import InvalidIdentifier, LocatedInstance
from dimse.settings import RemoteAe

log = logging.getLogger(__name__)

_UNCOMPRESSED = NATIVE_LITTLE_ENDIAN
_DEFER_BYTES = 256 << 10  # larger values stay in the spooled file until encoded
_MAX_CONTEXTS = 128  # PS3.8 §9.3.2.2: presentation context IDs are odd numbers 1-255
_BLOB_SECONDS = 300.0

Results = Iterator[tuple[int, Dataset | None]]
# pynetdicom associates with the destination before any status can be sent: to report a
# failure (nothing to send) it proposes contexts that a storage SCP is sure to accept.
_FAILURE_CONTEXTS = [
    build_context(c, list(_UNCOMPRESSED))
    for c in (Verification, CTImageStorage, MRImageStorage, SecondaryCaptureImageStorage)
]


def choose_syntax(stored: str, accepted: frozenset[str]) -> str | None:
    """The syntax to send an instance stored in ``stored`` with, given what the peer accepted
    for its SOP class; None: nothing acceptable. Little endian native syntaxes convert among
    themselves as they are encoded (pynetdicom)."""
    if stored in accepted or (stored in _UNCOMPRESSED and accepted & set(_UNCOMPRESSED)):
        return stored
    if accepted & set(_UNCOMPRESSED) and can_transcode(stored, uid.ExplicitVRLittleEndian):
        return str(uid.ExplicitVRLittleEndian)
    return None


def proposed_contexts(instances: list[LocatedInstance]) -> list[PresentationContext]:
    """For each SOP class, one context of the uncompressed syntaxes (the fall-back), then one
    per syntax stored (the peer may pick either uncompressed syntax in the first): the peer
    accepts what it can, and we choose per instance."""
    classes = sorted({i.sop_class_uid for i in instances})
    contexts = [build_context(c, list(_UNCOMPRESSED)) for c in classes]
    stored = sorted({(i.sop_class_uid, i.transfer_syntax_uid) for i in instances})
    contexts += [build_context(c, ts) for c, ts in stored]
    return contexts[:_MAX_CONTEXTS]


def accepted_syntaxes(assoc: Any, sop_class_uid: str) -> frozenset[str]:
    return frozenset(
        str(cx.transfer_syntax[0])
        for cx in assoc.accepted_contexts
        if cx.abstract_syntax == sop_class_uid
    )


def _unsendable(item: LocatedInstance) -> Dataset:
    """A data set pynetdicom cannot send (no SOP Class UID): it counts a failed sub-operation
    and lists the SOP Instance UID as failed (PS3.4 C.4.2.1.4.2)."""
    ds = Dataset()
    ds.SOPInstanceUID = item.sop_instance_uid
    return ds


@dataclass
class RetrieveScp(IndexScp):
    conversions: ConversionGate = field(init=False)

    def __post_init__(self) -> None:
        self.conversions = self.settings.conversion_gate()  # WADO's cap, per process

    def on_c_move(self, event: Any) -> Iterator[Any]:
        """pynetdicom's ``EVT_C_MOVE``: the destination, the count, then the sub-operations."""
        title = str(event.move_destination).strip()
        destination = self.settings.remote_aes.get(title)
        if destination is None or not self.policy.permits(event.assoc, "move"):
            log.warning("C-MOVE to %r refused: unknown destination or not permitted", title)
            self.audit.record(event.assoc, Action.RETRIEVE, "C-MOVE", statuses.UNKNOWN_DESTINATION)
            yield None, None  # pynetdicom answers 0xA801, Move Destination Unknown
            return
        found, failure = self._locate(event)
        peer: list[Any] = []  # the destination's association, once established
        yield self._destination(destination, found, peer)
        yield from self._run(event, "C-MOVE", found, failure, lambda: peer[0])

    def on_c_get(self, event: Any) -> Iterator[Any]:
        """pynetdicom's ``EVT_C_GET``: the count, then the sub-operations on this association."""
        if not self.policy.permits(event.assoc, "move"):
            self.audit.record(event.assoc, Action.RETRIEVE, "C-GET", statuses.NOT_AUTHORIZED)
            yield 1
            yield statuses.NOT_AUTHORIZED, None
            return
        found, failure = self._locate(event)
        yield from self._run(event, "C-GET", found, failure, lambda: event.assoc)

    def _run(
        self,
        event: Any,
        method: str,
        found: list[LocatedInstance],
        failure: int | None,
        store_assoc: Callable[[], Any],
    ) -> Iterator[Any]:
        touched = AuditRecord()
        query = identifier_text((e.keyword, str(e.value)) for e in event.identifier)
        yield 1 if failure is not None else len(found)
        if failure is not None:
            self.audit.record(event.assoc, Action.RETRIEVE, method, failure, query=query)
            yield failure, None
            return
        try:
            yield from self._sub_operations(found, store_assoc, event, touched)
        finally:
            status = statuses.CANCEL if event.is_cancelled else statuses.SUCCESS
            self.audit.record(event.assoc, Action.RETRIEVE, method, status, touched, query)

    def _locate(self, event: Any) -> tuple[list[LocatedInstance], int | None]:
        """The instances named that the calling AE may see, or the failure status (PS3.4
        C.4.2.1.5)."""
        principal = self.policy.principal(event.assoc)
        groups = studyaccess.visible_groups(principal, self.settings.study_groups)
        try:
            keys = located.unique_keys(event.identifier)
            found_in = located.instances(self.pool, keys, groups)
            work = asyncio.run_coroutine_threadsafe(found_in, self.loop)
            found = work.result(self.settings.postgres.command_timeout + 5)
        except InvalidIdentifier as exc:
            log.warning("retrieve: %s", exc)
            return [], statuses.IDENTIFIER_DOES_NOT_MATCH
        except (BackendUnavailable, TimeoutError) as exc:
            log.warning("retrieve: the index is unavailable (%s)", exc)
            return [], statuses.UNABLE_TO_CALCULATE_MATCHES
        if len(found) > located.MAX_INSTANCES:
            log.warning("retrieve: more than %d instances named", located.MAX_INSTANCES)
            return [], statuses.UNABLE_TO_CALCULATE_MATCHES
        return found, None

    def _destination(
        self, destination: RemoteAe, found: list[LocatedInstance], peer: list[Any]
    ) -> tuple[str, int, dict[str, Any]]:
        """(host, port, pynetdicom's ``associate`` arguments): the contexts to propose, TLS,
        and a handler that keeps the association to read its accepted contexts."""
        contexts = proposed_contexts(found) or _FAILURE_CONTEXTS
        kwargs: dict[str, Any] = {
            "contexts": contexts,
            "evt_handlers": [
                (evt.EVT_ESTABLISHED, lambda e: peer.append(e.assoc)),
                *sockets.HANDLERS,
                *responses.HANDLERS,
            ],
        }
        if destination.tls:
            kwargs["tls_args"] = (tls.client_context(self.settings), destination.host)
        return destination.host, destination.port, kwargs

    def _sub_operations(
        self,
        found: list[LocatedInstance],
        store_assoc: Callable[[], Any],
        event: Any,
        touched: AuditRecord,
    ) -> Results:
        with tempfile.TemporaryDirectory(prefix="dimse-retrieve-") as folder:
            spool = Path(folder) / "instance.dcm"
            for item in found:
                if event.is_cancelled:
                    yield statuses.CANCEL, None
                    return
                syntaxes = accepted_syntaxes(store_assoc(), item.sop_class_uid)
                yield statuses.PENDING, self._prepared(item, syntaxes, spool)
                touched.add_instances(
                    [(item.study_instance_uid, item.series_instance_uid, item.sop_instance_uid)]
                )

    def _prepared(self, item: LocatedInstance, syntaxes: frozenset[str], spool: Path) -> Dataset:
        """The instance as a data set in a syntax the peer accepted, or an unsendable one."""
        syntax = choose_syntax(item.transfer_syntax_uid, syntaxes)
        if syntax is None:
            log.warning("%s: no accepted syntax for %s", item.sop_instance_uid, item.sop_class_uid)
            return _unsendable(item)
        try:
            work = asyncio.run_coroutine_threadsafe(self._spool(item.blob_key, spool), self.loop)
            work.result(_BLOB_SECONDS)
            if syntax == item.transfer_syntax_uid:
                return dcmread(spool, defer_size=_DEFER_BYTES)
            size = spool.stat().st_size
            if size > self.settings.max_transcode_bytes:
                raise TranscodeError(f"{size} bytes is over max_transcode_bytes")
            converted = asyncio.run_coroutine_threadsafe(
                self._transcode(spool, size, syntax), self.loop
            )
            return dcmread(BytesIO(converted.result()))
        except (BlobNotFound, BackendUnavailable, TimeoutError, TranscodeError, OSError) as exc:
            log.warning("%s: cannot be sent (%s)", item.sop_instance_uid, exc)
            return _unsendable(item)

    async def _transcode(self, spool: Path, size: int, syntax: str) -> bytes:
        """The conversion under the process's cap (``ConversionsBusy`` when no room frees)."""
        async with self.conversions.admit(size):
            return await asyncio.to_thread(lambda: transcode(spool.read_bytes(), syntax))

    async def _spool(self, key: str, spool: Path) -> None:
        """The blob's bytes into ``spool``, chunk by chunk."""
        with spool.open("wb") as out:
            async for chunk in self.blobs.get(key):
                out.write(chunk)
