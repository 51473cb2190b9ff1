"""Every named read of the schema, each as PostgreSQL receives it (with the study-group
condition where a reader may add it), so a test can prepare them all against a freshly
migrated database: a column a migration renames or drops then fails the reader's statement
here, not in production."""

from __future__ import annotations

from collections.abc import Iterator

from dicomcommon.schema import audit, dimse, feed, search, wado


def named_reads() -> Iterator[tuple[str, str]]:
    """(name, statement) for each read and each shape it takes."""
    yield from _wado()
    yield from _feed()
    yield "audit.page", audit.page(_numbered(list(audit.FILTERS.values())), 100, 0)
    yield from _dimse()
    yield "search.EXTENDED_TAG_CATALOG", search.EXTENDED_TAG_CATALOG


def _numbered(conditions: list[str]) -> list[str]:
    return [c.replace("?", f"${i + 1}") for i, c in enumerate(conditions)]


def _wado() -> Iterator[tuple[str, str]]:
    for levels in (1, 2, 3):
        for groups in (False, True):
            shape = f"[levels={levels}, groups={groups}]"
            where = wado.scope_condition(levels, groups=groups)
            yield f"wado.instances{shape}", wado.instances(where)
            yield f"wado.instance_detail{shape}", wado.instance_detail(where)
            subset = wado.metadata_subset(f"${levels + groups + 1}")
            yield f"wado.instance_detail+subset{shape}", wado.instance_detail(where, subset)
            yield f"wado.metadata_etag{shape}", wado.metadata_etag(where)
            paged = wado.scope_condition(levels, first=3, groups=groups)
            yield f"wado.metadata_page{shape}", wado.metadata_page(paged, 100)
    yield "wado.FEED_SINCE", wado.FEED_SINCE
    yield "wado.FEED_LAST", wado.FEED_LAST


def _feed() -> Iterator[tuple[str, str]]:
    yield "feed.RELAY_PAGE", feed.RELAY_PAGE
    for metadata in (False, True):
        for groups in (False, True):
            shape = f"[metadata={metadata}, groups={groups}]"
            yield f"feed.after_sequence{shape}", feed.after_sequence(metadata, groups)
            yield f"feed.within_window{shape}", feed.within_window(metadata, groups)
            yield f"feed.latest{shape}", feed.latest(metadata, groups)


def _dimse() -> Iterator[tuple[str, str]]:
    keys = ["PatientID", *dimse.KEY_COLUMNS]
    conditions = [dimse.key_condition(k, i + 1) for i, k in enumerate(keys)]
    yield "dimse.located", dimse.located(conditions)
    yield "dimse.located[groups]", dimse.located(conditions, f"${len(keys) + 1}")
    yield "dimse.committed", dimse.committed(False)
    yield "dimse.committed[groups]", dimse.committed(True)
    yield "dimse.FORECAST", dimse.FORECAST
