"""Extended query tags as the index keeps them (migration 0017): which attributes an
administrator declared searchable, at which level, with which VR, and whether QIDO may use
them. The indexer writes them; QIDO reads the catalog when a query names an attribute that no
typed column holds.

The API follows Microsoft's DICOM server (``/extendedquerytags``): tags are ``Adding`` while a
reindex fills their values, then ``Ready``; ``queryStatus`` says whether searches use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from dicomcommon.adapters import db
from dicomcommon.dicom.dicomjson import Level, lookup
from dicomcommon.schema import search as reads
from dicomcommon.search.columns import COLUMNS

# Microsoft's supported VRs, plus DS, which it also indexes.
SUPPORTED_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "PN", "SH", "SL", "SS", "TM",
     "UI", "UL", "US"}
)  # fmt: skip
NUMBER_VRS = frozenset({"DS", "FD", "FL", "IS", "SL", "SS", "UL", "US"})
LEVELS = {"Study": Level.STUDY, "Series": Level.SERIES, "Instance": Level.INSTANCE}
LEVEL_NAMES = {level: name for name, level in LEVELS.items()}
# Each level's value table and the column naming its entity.
VALUE_TABLES = {
    Level.STUDY: ("extended_tag_study", "study_instance_uid"),
    Level.SERIES: ("extended_tag_series", "series_instance_uid"),
    Level.INSTANCE: ("extended_tag_instance", "sop_instance_uid"),
}


@dataclass(frozen=True, slots=True)
class ExtendedTag:
    """One declared tag, as the catalog holds it."""

    key: int
    path: str  # ggggeeee
    vr: str
    level: Level
    private_creator: str | None
    status: str  # Adding | Ready | Deleting
    query_status: str  # Enabled | Disabled
    has_errors: bool = False  # some value could not be indexed (``…/errors`` lists them)

    @property
    def searchable(self) -> bool:
        """Whether QIDO matches it through its values (else through stored metadata)."""
        return self.status == "Ready" and self.query_status == "Enabled"

    @property
    def value_column(self) -> str:
        if self.vr == "PN":
            return "name_value"
        return "number_value" if self.vr in NUMBER_VRS else "text_value"


def from_row(row: asyncpg.Record) -> ExtendedTag:
    return ExtendedTag(
        key=row["tag_key"],
        path=row["path"],
        vr=row["vr"],
        level=LEVELS[row["level"]],
        private_creator=row["private_creator"],
        status=row["status"],
        query_status=row["query_status"],
        has_errors=row["has_errors"],
    )


async def searchable(pool: asyncpg.Pool) -> dict[str, ExtendedTag]:
    """The tags QIDO matches through their values, by ``ggggeeee``."""
    rows = await db.fetch(pool, reads.EXTENDED_TAG_CATALOG)
    return {t.path: t for t in map(from_row, rows) if t.searchable}


def names_unindexed(keys: Iterable[str]) -> bool:
    """Whether any of the query's keys (``PatientName``, ``00101010``, ``a.b``) names an
    attribute that no typed column holds: only then is the catalog worth reading."""
    for key in keys:
        attribute = lookup(key.split(".")[0])
        if attribute is None or "." in key or attribute.keyword not in COLUMNS:
            return True
    return False
