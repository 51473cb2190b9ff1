"""The upload's last words: counts by fate, throughput, and every failure with its reason."""

from __future__ import annotations

import typer

from dicomweb.upload import Tally


def print_summary(tally: Tally, dry_run: bool) -> None:
    seconds = max(tally.seconds, 1e-9)
    if dry_run:
        typer.echo(
            f"would send {tally.to_send}; duplicates {tally.duplicates}, "
            f"already uploaded {tally.already}, not DICOM {len(tally.failed)}"
        )
    else:
        typer.echo(
            f"stored {tally.stored}, duplicates {tally.duplicates}, "
            f"already uploaded {tally.already}, failed {len(tally.failed)} "
            f"({tally.sent_bytes / 1e6:.1f} MB in {tally.seconds:.1f} s, "
            f"{tally.stored / seconds:.1f} instances/s)"
        )
    for key, reason in tally.failed:
        typer.echo(f"  failed: {key}: {reason}")
