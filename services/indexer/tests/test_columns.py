"""The typed columns have one keyword each: the search's map (``search.columns.COLUMNS``, read
side) and the indexer's rows (``apply.study_row`` / ``series_row`` / ``instance_row`` with their
statements, write side) must agree, or a search would match a column the indexer fills from
another attribute."""

from __future__ import annotations

import re
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from dicomcommon.adapters.events import InstanceStored
from dicomcommon.search.columns import COLUMNS
from indexer import apply

# Columns the indexer computes from the rows below, not from an attribute of the instance.
_COMPUTED = {
    "modalities_in_study",
    "sop_classes_in_study",
    "number_of_series",
    "number_of_instances",
}
_UIDS = {
    "StudyInstanceUID": "1.2.3",
    "SeriesInstanceUID": "1.2.3.4",
    "SOPInstanceUID": "1.2.3.4.5",
    "SOPClassUID": "1.2.840.10008.5.1.4.1.1.7",
}


def _element(keyword: str, index: int) -> dict[str, Any]:
    vr = dictionary_VR(keyword)
    if keyword in _UIDS:
        return {"vr": vr, "Value": [_UIDS[keyword]]}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": f"Name^{index}"}]}
    if vr in ("US", "IS") and keyword not in ("SeriesNumber", "InstanceNumber"):
        return {"vr": vr, "Value": [100 + index]}
    return {"vr": vr, "Value": [f"{index}"]}


def _expected(element: dict[str, Any]) -> Any:
    value = element["Value"][0]
    return value["Alphabetic"] if isinstance(value, dict) else value


def _by_column(statement: str, row: tuple[Any, ...]) -> dict[str, Any]:
    found = re.search(
        r"INSERT INTO \w+ \((.*?)\)\s*VALUES \((.*?)\)\s*ON CONFLICT", statement, re.S
    )
    assert found is not None
    names = [c.strip() for c in found.group(1).split(",")]
    params = [int(v.strip().removeprefix("$").split(":")[0]) for v in found.group(2).split(",")]
    return {name: row[param - 1] for name, param in zip(names, params, strict=True)}


def test_every_searched_column_is_written_from_its_keyword() -> None:
    metadata = {f"{tag_for_keyword(k):08X}": _element(k, i) for i, k in enumerate(COLUMNS) if k}
    ev = InstanceStored(
        command_id="c", request_id="r", study_instance_uid=_UIDS["StudyInstanceUID"],
        series_instance_uid=_UIDS["SeriesInstanceUID"], sop_instance_uid=_UIDS["SOPInstanceUID"],
        sop_class_uid=_UIDS["SOPClassUID"], transfer_syntax_uid="1.2.840.10008.1.2.1",
        blob_key="k", size=1, sha256="0" * 64, metadata=metadata,
    )  # fmt: skip
    written = {
        **_by_column(apply.UPSERT_STUDY, apply.study_row(ev)),
        **_by_column(apply.UPSERT_SERIES, apply.series_row(ev)),
        **_by_column(apply.INSERT_INSTANCE, apply.instance_row(1, ev, "{}")),
    }
    for keyword, (column, _kind) in COLUMNS.items():
        if column in _COMPUTED:
            continue
        assert column in written, f"{keyword}: no statement writes {column}"
        expected = _expected(metadata[f"{tag_for_keyword(keyword):08X}"])
        assert written[column] == expected, f"{column} is written from another attribute"
