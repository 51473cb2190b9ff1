"""``dicomweb search``: QIDO-RS with ``keyword=value`` filters, shown as a table or JSON.

Filters pass through as the server reads them (keywords or ``ggggeeee`` tags, wildcards,
ranges, UID lists); the table shows the level's usual attributes by keyword, the JSON the
server's DICOM JSON unchanged, one array.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from dicomweb.qido import level_path, search, value
from dicomweb.server import CommandError, Server

COLUMNS = {
    "studies": ["PatientName", "PatientID", "StudyDate", "StudyDescription", "ModalitiesInStudy",
                "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
                "StudyInstanceUID"],
    "series": ["Modality", "SeriesNumber", "SeriesDescription",
               "NumberOfSeriesRelatedInstances", "SeriesInstanceUID"],
    "instances": ["InstanceNumber", "SOPClassUID", "Rows", "Columns", "NumberOfFrames",
                  "SOPInstanceUID"],
}  # fmt: skip
HEADINGS = {
    "NumberOfStudyRelatedSeries": "Series",
    "NumberOfStudyRelatedInstances": "Instances",
    "NumberOfSeriesRelatedInstances": "Instances",
}


def parse_filters(pairs: list[str]) -> dict[str, str]:
    """``["PatientName=DOE*", "StudyDate=2024-"]`` as query parameters."""
    filters: dict[str, str] = {}
    for pair in pairs:
        key, sep, wanted = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"a filter is keyword=value, not {pair!r}")
        filters[key] = wanted
    return filters


async def find(
    server: Server,
    level: str,
    study: str | None,
    series: str | None,
    filters: Mapping[str, str],
    limit: int | None,
) -> list[dict[str, Any]]:
    async with server.session(1) as session:
        path = level_path(study, series, level)
        return [match async for match in search(session, server, path, filters, limit)]


def table(level: str, matches: list[dict[str, Any]]) -> Table:
    from pydicom.datadict import tag_for_keyword  # here: importing pydicom takes a while

    shown = Table(title=f"{len(matches)} {level}", title_justify="left")
    keywords = COLUMNS[level]
    for keyword in keywords:
        shown.add_column(HEADINGS.get(keyword, keyword), overflow="fold")
    for match in matches:
        shown.add_row(*(value(match, f"{tag_for_keyword(k):08X}") for k in keywords))
    return shown
