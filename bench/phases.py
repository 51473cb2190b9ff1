"""The phases a run measures, in order. To add one, write a ``Phase`` (see ``bench.context``)
in the module of its area and list it here; every target then runs it."""

from __future__ import annotations

from bench import rendered, wado_memory, wado_more
from bench.changefeed import delete_phase, feed_read_phase
from bench.context import Phase
from bench.large import large_stow_phase
from bench.push import push_latency_phase
from bench.qido import qido_phase
from bench.stow import stow_phase
from bench.wado import wado_rs_phase, wado_uri_phase

STOW_PHASES: list[Phase] = [
    stow_phase(share=0.15, per_request=1, concurrency=1),
    stow_phase(share=0.35, per_request=1, concurrency=8),
    stow_phase(share=1.0, per_request=20, concurrency=4),  # 1.0: whatever is left
]
"""The store phases alone (``--stow-only``): the CPU per instance of each process."""

RENDERED_PHASES: list[Phase] = [
    stow_phase(share=1.0, per_request=20, concurrency=4),
    rendered.rendered_phase(),
]
"""``--rendered-only``: store the corpus in batches, then the rendered-JPEG phases alone."""

PHASES: list[Phase] = [
    # STOW first: later phases search and retrieve what these stored.
    *STOW_PHASES,
    large_stow_phase(count=1),
    large_stow_phase(count=10),  # 2 GB in one request: peak memory of every server process
    qido_phase(concurrency=1),
    wado_rs_phase(concurrency=1),
    wado_rs_phase(concurrency=8),
    wado_uri_phase(concurrency=1),
    wado_more.setup_phase(),
    wado_more.instance_single_part_phase(concurrency=1),
    wado_more.instance_single_part_phase(concurrency=8),
    wado_more.series_phase(),
    wado_more.metadata_phase(),
    wado_more.frames_phase(),
    rendered.rendered_phase(),
    wado_memory.stream_memory_phase(),
    # Last: these delete what the retrieve phases read (the feed holds every phase's entries).
    push_latency_phase(samples=50),
    feed_read_phase(include_metadata=True),
    feed_read_phase(include_metadata=False),
    delete_phase(share=0.5, concurrency=4),
]
