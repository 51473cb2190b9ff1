"""``dicomweb delete``: a study, series or instance (``DELETE /studies/{s}[/series/{se}
[/instances/{i}]]``, the URL shape of Microsoft's server and ours)."""

from __future__ import annotations

from dicomweb.download import Wanted
from dicomweb.qido import level_path, search
from dicomweb.server import TRANSPORT_ERRORS, CommandError, Server, unexpected, unreachable


def resource(wanted: Wanted) -> str:
    path = f"/studies/{wanted.study}"
    if wanted.series:
        path += f"/series/{wanted.series}"
        if wanted.instance:
            path += f"/instances/{wanted.instance}"
    return path


async def count_instances(server: Server, wanted: Wanted) -> int:
    """How many instances the delete would remove (for the confirmation prompt)."""
    if wanted.instance:
        return 1
    async with server.session(1) as session:
        found = search(session, server, level_path(wanted.study, wanted.series), {})
        return len([match async for match in found])


async def delete(server: Server, wanted: Wanted) -> int:
    """DELETE the resource; its status (204 done, 202 queued durably)."""
    async with server.session(1) as session:
        try:
            async with session.delete(
                f"{server.root}{resource(wanted)}", headers=server.headers()
            ) as answer:
                body = await answer.text()
                status = answer.status
        except TRANSPORT_ERRORS as exc:
            raise unreachable(server, exc) from exc
    if status == 404:
        raise CommandError(f"{resource(wanted)} not found on {server.root}")
    if status not in (200, 202, 204):
        raise unexpected(server, status, body)
    return status
