"""Figures and how they are shown: a side-by-side table with a ratio, and an optional JSON file.

The ratio is always "how many times better ours is" (higher throughput or lower latency), so a
reader checks every target in the issues against one number without flipping any of them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One measured value; ``note`` carries errors or why the value is missing."""

    operation: str
    value: float
    unit: str
    higher_is_better: bool
    note: str = ""


Results = dict[str, list[Figure]]
"""Figures per target label, in the order the phases produced them."""


def rate(value: float) -> float:
    """A throughput of zero means nothing succeeded: show it as missing, not as a speed."""
    return value if value > 0 else math.nan


def render_table(results: Results) -> str:
    """A plain-text table: one row per operation, one column per target, then the ratio."""
    labels = list(results)
    by_label = {label: {f.operation: f for f in figures} for label, figures in results.items()}
    fullest = sorted(results.values(), key=len, reverse=True)  # its order is the phase order
    operations = list(dict.fromkeys(f.operation for figs in fullest for f in figs))
    header = ["operation", "unit", *labels]
    if len(labels) == 2:
        header.append(f"{labels[0]} vs {labels[1]}")
    rows = [header]
    notes: list[str] = []
    for operation in operations:
        cells = [by_label[label].get(operation) for label in labels]
        unit = next(f.unit for f in cells if f is not None)
        row = [operation, unit, *(_cell(f) for f in cells)]
        if len(labels) == 2:
            row.append(_ratio(cells[0], cells[1]))
        rows.append(row)
        notes += [
            f"{label}: {operation}: {f.note}"
            for label, f in zip(labels, cells, strict=True)
            if f is not None and f.note
        ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(_align(c, w, i) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(labels) == 2:
        lines.append(f"(ratio > 1: {labels[0]} is better: more per second or less time)")
    return "\n".join(lines + [f"note: {n}" for n in notes])


def write_json(path: Path, results: Results, meta: dict[str, object]) -> None:
    """Save every figure with the run's parameters, for comparing runs over time."""
    payload = {
        "meta": meta,
        "results": {label: [_jsonable(f) for f in figs] for label, figs in results.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")


def _jsonable(figure: Figure) -> dict[str, object]:
    """NaN (nothing measured) becomes null, since strict JSON has no NaN."""
    fields: dict[str, object] = asdict(figure)
    if math.isnan(figure.value):
        fields["value"] = None
    return fields


def _cell(figure: Figure | None) -> str:
    if figure is None or math.isnan(figure.value):
        return "—"
    return _number(figure.value)


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(ours: Figure | None, peer: Figure | None) -> str:
    if ours is None or peer is None or math.isnan(ours.value) or math.isnan(peer.value):
        return "—"
    if min(ours.value, peer.value) <= 0:
        return "—"
    ratio = ours.value / peer.value if ours.higher_is_better else peer.value / ours.value
    return f"{ratio:.2f}x"


def _align(cell: str, width: int, column: int) -> str:
    return cell.ljust(width) if column < 2 else cell.rjust(width)
