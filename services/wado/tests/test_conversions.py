"""The conversion cap: slots and bytes, a short wait for room, then a 503 with Retry-After."""

from __future__ import annotations

import asyncio

import pytest

from dicomcommon.dicom.conversions import ConversionGate, ConversionsBusy


async def test_past_the_running_cap_a_conversion_waits_then_is_refused() -> None:
    gate = ConversionGate(max_running=1, max_bytes=1 << 30, wait_seconds=0.1)
    async with gate.admit(10):
        with pytest.raises(ConversionsBusy) as refused:
            async with gate.admit(10):
                pass
    assert refused.value.status == 503 and refused.value.retry_after_seconds > 0
    async with gate.admit(10):  # room again once the first is done
        assert gate.running == 1


async def test_past_the_byte_budget_a_conversion_is_refused_but_one_alone_always_runs() -> None:
    gate = ConversionGate(max_running=8, max_bytes=100, wait_seconds=0.05)
    async with gate.admit(1000):  # alone: let in whatever its size
        with pytest.raises(ConversionsBusy):
            async with gate.admit(1):
                pass
    async with gate.admit(60), gate.admit(40):
        assert gate.held_bytes == 100


async def test_a_waiting_conversion_runs_when_room_frees_within_its_wait() -> None:
    gate = ConversionGate(max_running=1, max_bytes=1 << 30, wait_seconds=5)
    order: list[str] = []

    async def first() -> None:
        async with gate.admit(1):
            await asyncio.sleep(0.1)
            order.append("first")

    async def second() -> None:
        await asyncio.sleep(0.01)
        async with gate.admit(1):
            order.append("second")

    await asyncio.gather(first(), second())
    assert order == ["first", "second"] and gate.running == 0 and gate.held_bytes == 0


async def test_without_a_wait_a_free_slot_is_taken_at_once() -> None:
    gate = ConversionGate(max_running=1, max_bytes=1 << 30, wait_seconds=0)
    async with gate.admit(1):
        assert gate.running == 1


async def test_background_work_waits_until_no_conversion_runs() -> None:
    gate = ConversionGate(max_running=4, max_bytes=1 << 30, wait_seconds=5)
    order: list[str] = []

    async def request() -> None:
        async with gate.admit(1):
            await asyncio.sleep(0.05)
            order.append("request")

    async def background() -> None:
        await asyncio.sleep(0.01)
        await gate.wait_idle()
        order.append("background")

    await asyncio.gather(request(), background())
    assert order == ["request", "background"]
    await asyncio.wait_for(gate.wait_idle(), 1)  # idle: returns at once
