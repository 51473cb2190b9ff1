"""Part 10 files with absurd lengths, counts and nesting, and deflate bombs: each fails alone
(a 409 STOW response naming the instance) or is stored whole (a documented success), never a
5xx, never a half-stored instance, and never inflated or buffered past a bound."""

from __future__ import annotations

import struct

import httpx
import pytest
from pydicom.dataset import Dataset

from dicomcommon.errors import FailureReason
from dicomstack.stack import Stack
from tests import instances
from tests.hostile import attacks, crafted

FAILED, FAILURE_REASON = "00081198", "00081197"
REFUSALS = {FailureReason.CANNOT_UNDERSTAND, FailureReason.OUT_OF_RESOURCES}


def _store_one(stack: Stack, data: bytes) -> httpx.Response:
    return attacks.store(stack, instances.multipart_body([data]))


def _fails_alone(
    stack: Stack, ds: Dataset, data: bytes, also: frozenset[int] | set[int] = frozenset()
) -> None:
    """The instance is refused with 0xC000 or 0xA700 and nothing of its study is stored."""
    response = attacks.refused(_store_one(stack, data), 409)
    reasons = {item[FAILURE_REASON]["Value"][0] for item in response.json()[FAILED]["Value"]}
    assert reasons <= REFUSALS | also, response.text[:500]
    attacks.nothing_stored(stack, ds.StudyInstanceUID)


def test_deflate_bomb_is_refused_without_inflating_it(stack: Stack) -> None:
    """512 MiB of zeros in a 2 MiB Deflated Explicit VR Little Endian file."""
    ds, data = crafted.deflate_bomb(512 << 20)
    _fails_alone(stack, ds, data)


def test_deflated_stream_cut_short_is_refused(stack: Stack) -> None:
    ds, data = crafted.deflated(cut=40)
    _fails_alone(stack, ds, data)


def test_deflated_instance_within_bounds_is_stored(stack: Stack) -> None:
    ds, data = crafted.deflated()
    response = _store_one(stack, data)
    assert response.status_code == 200, response.text
    assert attacks.instances_of_study(stack, ds.StudyInstanceUID) == 1


@pytest.mark.parametrize("length", [0xFFFFFFFE, 0xFFFFFFF0, 0x7FFFFFFF, 1 << 24])
def test_value_length_past_the_end_is_refused(stack: Stack, length: int) -> None:
    ds, meta, elements = crafted.header()
    value = crafted.element(crafted.VALUE, b"OB", b"\0" * 64, length)
    _fails_alone(stack, ds, meta + elements + crafted.private_creator() + value)


def test_short_value_length_past_the_end_is_refused(stack: Stack) -> None:
    ds, meta, elements = crafted.header()
    value = crafted.element(crafted.VALUE, b"ST", b"x" * 10, 0xFFFF)
    _fails_alone(stack, ds, meta + elements + crafted.private_creator() + value)


def test_undefined_length_on_a_plain_value_is_refused(stack: Stack) -> None:
    """pydicom reads on to the end of the file for a delimiter; nothing is left to store."""
    ds, meta, elements = crafted.header()
    value = crafted.element(crafted.VALUE, b"OB", b"\0" * 64, crafted.UNDEFINED)
    data = meta + elements + crafted.private_creator() + value
    _fails_alone(stack, ds, data, {FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS})


@pytest.mark.parametrize("undefined", [True, False])
def test_sequences_nested_thousands_deep_are_refused(stack: Stack, undefined: bool) -> None:
    ds, meta, elements = crafted.header()
    _fails_alone(stack, ds, meta + elements + crafted.nested_sequences(5_000, undefined))


def test_sequence_of_undefined_length_never_closed_is_refused(stack: Stack) -> None:
    """The file ends inside an undefined-length sequence's item: a truncated transfer."""
    ds, meta, elements = crafted.header()
    opening = crafted.element(crafted.SEQUENCE, b"SQ", b"", crafted.UNDEFINED)
    item = crafted.marker(crafted.ITEM, crafted.UNDEFINED)
    inner = crafted.element((0x0008, 0x0100), b"SH", b"CODE01")
    _fails_alone(stack, ds, meta + elements + crafted.private_creator() + opening + item + inner)


def test_sequence_without_its_delimiter_is_refused(stack: Stack) -> None:
    """Items closed, the undefined-length sequence never delimited."""
    ds, meta, elements = crafted.header()
    opening = crafted.element(crafted.SEQUENCE, b"SQ", b"", crafted.UNDEFINED)
    item = crafted.marker(crafted.ITEM, crafted.UNDEFINED) + crafted.marker(crafted.ITEM_END)
    _fails_alone(stack, ds, meta + elements + crafted.private_creator() + opening + item)


def test_item_length_past_its_sequence_is_refused(stack: Stack) -> None:
    ds, meta, elements = crafted.header()
    item = crafted.marker(crafted.ITEM, 0xFFFFFF00) + b"\0" * 16
    sequence = crafted.element(crafted.SEQUENCE, b"SQ", item)
    _fails_alone(stack, ds, meta + elements + crafted.private_creator() + sequence)


def test_garbage_vr_is_refused(stack: Stack) -> None:
    ds, meta, elements = crafted.header()
    value = struct.pack("<HH", *crafted.VALUE) + b"\x00\x01" + struct.pack("<H", 4) + b"abcd"
    _fails_alone(stack, ds, meta + elements + crafted.private_creator() + value)


def test_sixty_five_thousand_elements_are_stored_or_refused_whole(stack: Stack) -> None:
    """256 private blocks of 256 short values: stored whole or refused; never a 5xx."""
    ds, meta, elements = crafted.header()
    blocks = []
    for group in range(crafted.PRIVATE_GROUP, crafted.PRIVATE_GROUP + 2 * 256, 2):
        blocks.append(crafted.element((group, 0x0010), b"LO", b"HOSTILE "))
        blocks += [crafted.element((group, 0x1000 | i), b"SH", b"v%05d " % i) for i in range(256)]
    response = _store_one(stack, meta + elements + b"".join(blocks))
    attacks.no_server_error(response.status_code, response.text)
    count = attacks.instances_of_study(stack, ds.StudyInstanceUID)
    assert (response.status_code, count) in ((200, 1), (202, 1), (409, 0)), response.text[:300]
