"""The ``dicomweb`` command: one typer sub-command per verb, each a thin shell around an async
function of its own module. Errors a person can act on end the command with one line on
standard error and exit status 1; results go to standard output."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console

from dicomweb import journal as journals
from dicomweb.delete import count_instances, delete, resource
from dicomweb.download import Wanted, download
from dicomweb.feed import tail
from dicomweb.progress import UploadProgress
from dicomweb.searchtable import find, parse_filters, table
from dicomweb.server import DEFAULT_URL, CommandError, Server
from dicomweb.sources import iter_sources
from dicomweb.summary import print_summary
from dicomweb.upload import UploadPlan, upload

app = typer.Typer(
    help="A client for any DICOMweb server (ours by default): upload, download, search, "
    "tail the change feed, delete.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
T = TypeVar("T")


class Level(StrEnum):
    """QIDO-RS levels (PS3.18 §10.6.1)."""

    studies = "studies"
    series = "series"
    instances = "instances"


ProgressOption = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Draw a progress bar on a terminal.")
]

UrlOption = Annotated[
    str, typer.Option("--url", envvar="DICOMWEB_URL", help="DICOMweb root of the server.")
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="DICOMWEB_TOKEN", help="Bearer token (OAuth 2 access token)."),
]


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a ``CommandError`` becomes its one line and exit status 1."""
    try:
        return asyncio.run(work)
    except CommandError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


@app.command("upload")
def upload_command(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders, zip files or DICOMDIRs.")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Files per STOW request.")] = 20,
    batch_mb: Annotated[float, typer.Option(min=0.001, help="Megabytes per STOW request.")] = 32,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight.")] = 4,
    journal: Annotated[
        Path | None,
        typer.Option(envvar="DICOMWEB_JOURNAL", help="Upload journal (SQLite) for resuming."),
    ] = None,
    no_journal: Annotated[
        bool, typer.Option("--no-journal", help="Send everything, remember nothing.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be sent; send nothing.")
    ] = False,
    progress: ProgressOption = True,
) -> None:
    """Store every DICOM file under PATHS (STOW-RS), in parallel batches; a rerun sends only
    what the server has not acknowledged yet."""
    server = Server(url, token)
    plan = UploadPlan(batch_size, int(batch_mb * 1e6), concurrency, dry_run)
    record = journals.Journal(
        None if no_journal else journal or journals.default_path(), server.root
    )
    with contextlib.ExitStack() as closing:
        closing.callback(record.close)
        try:
            sources = list(iter_sources(paths, closing))
        except (OSError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        label = "checking" if dry_run else "uploading"
        total = sum(s.size for s in sources)
        with UploadProgress(label, len(sources), total, progress) as bar:
            tally = run(upload(server, sources, record, plan, bar))
    print_summary(tally, dry_run)
    if tally.failed and not dry_run:
        raise typer.Exit(1)


@app.command("download")
def download_command(
    study: Annotated[str, typer.Argument(help="Study Instance UID.")],
    series: Annotated[str | None, typer.Argument(help="Series Instance UID.")] = None,
    instance: Annotated[str | None, typer.Argument(help="SOP Instance UID.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write into.")] = Path(),
    as_zip: Annotated[bool, typer.Option("--zip", help="Write OUT/<study>.zip instead.")] = False,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight.")] = 4,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    progress: ProgressOption = True,
) -> None:
    """Retrieve a study, series or instance (WADO-RS) byte for byte as stored, as
    OUT/<study>/<series>/<instance>.dcm files or one zip."""
    wanted = Wanted(study, series, instance)
    with UploadProgress("downloading", 0, 0, progress, unit="files") as bar:
        written = run(download(Server(url, token), wanted, out, as_zip, concurrency, bar))
    total = sum(path.stat().st_size for path in written)
    if as_zip:
        typer.echo(f"downloaded {total / 1e6:.1f} MB to {written[0]}")
    else:
        typer.echo(f"downloaded {len(written)} instances ({total / 1e6:.1f} MB) to {out / study}")


@app.command("search")
def search_command(
    filters: Annotated[
        list[str] | None, typer.Argument(help="keyword=value filters (PatientName=DOE*).")
    ] = None,
    level: Annotated[Level, typer.Option(help="What to search.")] = Level.studies,
    study: Annotated[str | None, typer.Option(help="Within this study.")] = None,
    series: Annotated[str | None, typer.Option(help="Within this series (needs --study).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    fuzzy: Annotated[bool, typer.Option("--fuzzy", help="Fuzzy person-name matching.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="DICOM JSON instead of a table.")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Search (QIDO-RS) with keyword=value filters; a table, or the server's DICOM JSON."""
    try:
        query = parse_filters(filters or [])
    except CommandError as exc:
        raise typer.BadParameter(str(exc)) from None
    if fuzzy:
        query["fuzzymatching"] = "true"
    matches = run(find(Server(url, token), level.value, study, series, query, limit))
    if as_json:
        typer.echo(orjson.dumps(matches).decode())
    else:
        console = Console()
        if not console.is_terminal:  # a pipe or file: whole values on one line each
            console = Console(width=1000)
        console.print(table(level.value, matches))


@app.command("feed")
def feed_command(
    after: Annotated[
        int | None, typer.Option(min=0, help="Start after this sequence (default: the newest).")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many entries.")] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Tail the change feed live, one JSON entry per line (Ctrl-C stops)."""

    async def follow() -> None:
        async for entry in tail(Server(url, token), after, count):
            sys.stdout.write(entry.decode() + "\n")
            sys.stdout.flush()

    run(follow())


@app.command("delete")
def delete_command(
    study: Annotated[str, typer.Argument(help="Study Instance UID.")],
    series: Annotated[str | None, typer.Argument(help="Series Instance UID.")] = None,
    instance: Annotated[str | None, typer.Argument(help="SOP Instance UID.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Delete a study, series or instance, after a confirmation."""
    server, wanted = Server(url, token), Wanted(study, series, instance)
    if not yes:
        count = run(count_instances(server, wanted))
        question = f"Delete {resource(wanted)} ({count} instances) from {server.root}?"
        if not typer.confirm(question, default=False):
            typer.echo("not deleted", err=True)
            raise typer.Exit(1)
    status = run(delete(server, wanted))
    queued = " (queued: the server has not confirmed yet)" if status == 202 else ""
    typer.echo(f"deleted {resource(wanted)}{queued}")


def main() -> None:
    """The ``dicomweb`` console script."""
    app(prog_name="dicomweb")


if __name__ == "__main__":
    main()
