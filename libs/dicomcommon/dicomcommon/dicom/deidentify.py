"""Anonymize on store (``settings.AnonymizeSettings``), for every store path (STOW-RS, C-STORE):
each instance is de-identified by the PS3.15 Annex E Basic Profile before it is validated and
written, so the stored blob, the index and the answer only ever see the de-identified instance.
Off by default, as in DICOMcloud.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pydicom
from pydicom.errors import InvalidDicomError

from dicomcommon.dicom import anonymize
from dicomcommon.errors import FailureReason, InvalidInstance
from dicomcommon.settings import AnonymizeSettings
from dicomcommon.web.multipart import Part, to_part

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deidentifier:
    options: frozenset[anonymize.Option]
    uid_secret: bytes

    @classmethod
    def of(cls, settings: AnonymizeSettings) -> Deidentifier | None:
        """The store's de-identifier, or None when anonymize on store is off."""
        if not settings.anonymize:
            return None
        secret = settings.anonymize_uid_secret
        return cls(
            anonymize.parse_options(settings.anonymize_options),
            secret.get_secret_value().encode() if secret else b"",
        )

    def uid(self, uid: str) -> str:
        """What a UID becomes: a Study Instance UID in the URL, so ``POST /studies/{study}``
        still checks the instances against it and answers with the stored study's URL; the
        SOP Instance UID a C-STORE request announces, so the data set is checked against it."""
        if anonymize.Option.RETAIN_UIDS in self.options:
            return uid
        return anonymize.anonymize_uid(uid, self.uid_secret)

    async def apply(self, part: Part) -> Part | InvalidInstance:
        """The de-identified instance as a new part (``part`` is closed), or why it failed;
        an instance that cannot be de-identified is never stored as received."""
        try:
            return await asyncio.to_thread(self._rewrite, part)
        finally:
            part.close()

    def _rewrite(self, part: Part) -> Part | InvalidInstance:
        part.body.seek(0)
        try:
            ds = pydicom.dcmread(part.body)
        except (InvalidDicomError, EOFError, ValueError, KeyError, OSError) as exc:
            return InvalidInstance(f"not a readable DICOM file: {exc}")
        sop_class = str(ds.get("SOPClassUID", "") or "") or None
        try:
            anonymize.anonymize(ds, self.options, self.uid_secret)
            return to_part(ds)
        except Exception as exc:  # a value pydicom cannot rewrite: refuse, never store as is
            log.info("cannot de-identify an instance: %s", exc)
            return InvalidInstance(
                f"cannot de-identify the instance: {exc}",
                FailureReason.PROCESSING_FAILURE,
                sop_class,
            )
