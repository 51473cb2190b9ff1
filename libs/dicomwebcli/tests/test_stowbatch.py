"""Which file a STOW answer speaks of: by UID, else by what no other file accounts for."""

from __future__ import annotations

import io

from dicomweb.sources import Source
from dicomweb.stowanswer import StowAnswer
from dicomweb.stowbatch import Item, settle


def _item(name: str, uid: str) -> Item:
    return Item(Source(name, 1, 0, lambda: io.BytesIO(b"x")), uid)


def test_files_are_matched_by_uid_then_in_order() -> None:
    stored = _item("stored.dcm", "1.1")
    conflicting = _item("conflict.dcm", "1.2")
    meta_names_another_uid = _item("rtdose.dcm", "1.3-meta")
    unparseable = _item("truncated.dcm", "1.4")
    answer = StowAnswer(
        referenced=["1.1", "1.3-dataset"],
        failed={"1.2": 45070},
        failed_without_uid=[0xC000],
    )

    fate = settle([stored, conflicting, meta_names_another_uid, unparseable], answer)

    assert fate.acknowledged == [stored, meta_names_another_uid]
    assert [(i.source.key, reason.split()[0]) for i, reason in fate.failed] == [
        ("conflict.dcm", "0xB00E"),
        ("truncated.dcm", "0xC000"),
    ]


def test_a_file_the_answer_does_not_name_fails() -> None:
    fate = settle([_item("lost.dcm", "9.9")], StowAnswer())
    assert fate.failed[0][1] == "not named in the server's answer"
