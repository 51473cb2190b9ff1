"""How much of an instance's stored bytes a frame request stands for, for the conversion cap
(``dicomcommon.dicom.conversions``)."""

from __future__ import annotations

from wado.index import StoredInstance


def frame_share(instance: StoredInstance, frames: int) -> int:
    """The part of the instance's stored bytes that ``frames`` of its frames stand for."""
    total = max(instance.number_of_frames or 1, 1)
    return -(-instance.size * min(frames, total) // total)
