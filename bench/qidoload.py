"""Fill a server with a ``population`` for the QIDO scale phases.

Ours: COPY straight into the indexer's tables, row by row what the indexer writes for the same
files. Each modality has a real template file read once by STOW's own parser
(``dataset.read_instance``); an instance's metadata is that DICOM JSON with the population's
patient, study, series and instance values put in, and its rows come from the indexer's own
row builders (``indexer.apply``) with the counts, ModalitiesInStudy and SOPClassesInStudy its
recount computes. Blob keys name no blob: these rows are for searching only.
A peer (Orthanc) has no such door: it gets the same instances as files over STOW.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import UID

from bench.population import Series, Study
from dicomcommon.adapters.events import Frame, InstanceStored
from dicomcommon.dicom import dataset, resources
from indexer import apply

TEMPLATES = {
    "CR": "RG3_J2KI.dcm", "DX": "RG3_J2KI.dcm", "MG": "RG3_J2KI.dcm", "CT": "693_J2KR.dcm",
    "MR": "MR_small.dcm", "US": "US1_J2KR.dcm", "NM": "JPEG-LL.dcm", "PT": "JPEG-LL.dcm",
    "XA": "US1_J2KR.dcm", "SR": "SC_rgb_jpeg_dcmtk.dcm",
}  # fmt: skip
"""Real files per modality (pydicom / pydicom-data); Modality and SOP Class are set over them."""
_COPY_CHUNK = 4_000  # instances per COPY transaction, about
_VERSION = 1 << 40  # above any stream sequence a real store had


@dataclass(frozen=True)
class Template:
    """One template file as STOW's parser saw it, minus what each instance replaces."""

    raw: bytes
    metadata: dict[str, Any]
    transfer_syntax_uid: str
    frames: list[Frame]
    bulk_data: dict[str, tuple[int, int]]
    bulk_keys: tuple[str, ...]  # top-level elements that are BulkDataURIs
    size: int
    sha256: str


def load_templates() -> dict[str, Template]:
    """Parse each template once with ``dataset.read_instance``, as STOW would."""
    parsed: dict[str, Template] = {}
    for name in set(TEMPLATES.values()):
        raw = Path(get_testdata_file(name) or name).read_bytes()
        found = dataset.read_instance(io.BytesIO(raw), len(raw))
        bulk_keys = tuple(k for k, v in found.metadata.items() if "BulkDataURI" in v)
        nested = [k for k in found.bulk_data if "/" in k]
        metadata = {k: v for k, v in found.metadata.items() if k not in nested}
        parsed[name] = Template(raw, metadata, found.transfer_syntax_uid, found.frames,
                                found.bulk_data, bulk_keys, len(raw), found.sha256)  # fmt: skip
    return {modality: parsed[name] for modality, name in TEMPLATES.items()}


def _e(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)}


def _study_elements(study: Study) -> dict[str, Any]:
    p = study.patient
    return {
        "00080020": _e("DA", study.date), "00080030": _e("TM", study.time),
        "00080050": _e("SH", study.accession_number),
        "00080090": _e("PN", {"Alphabetic": study.referring_physician_name}),
        "00081030": _e("LO", study.description),
        "00100010": _e("PN", {"Alphabetic": p.name}), "00100020": _e("LO", p.patient_id),
        "00100030": _e("DA", p.birth_date), "00100040": _e("CS", p.sex),
        "0020000D": _e("UI", study.uid), "00200010": _e("SH", str(study.number)),
    }  # fmt: skip


def _series_elements(study: Study, series: Series) -> dict[str, Any]:
    return {
        "00080016": _e("UI", series.sop_class_uid), "00080021": _e("DA", study.date),
        "00080060": _e("CS", series.modality), "0008103E": _e("LO", series.description),
        "0020000E": _e("UI", series.uid), "00200011": _e("IS", series.number),
    }  # fmt: skip


def instance_events(
    study: Study, templates: dict[str, Template]
) -> Iterator[tuple[Series, InstanceStored]]:
    """The ingest commands STOW would publish for the study's instances, in order."""
    common = _study_elements(study)
    for series in study.series:
        template = templates[series.modality]
        base = {**template.metadata, **common, **_series_elements(study, series)}
        for index in range(series.size):
            sop = series.sop_instance_uid(index)
            metadata = {**base, "00080018": _e("UI", sop), "00200013": _e("IS", index + 1)}
            prefix = resources.bulk_data_base(study.uid, series.uid, sop)
            for key in template.bulk_keys:
                metadata[key] = {"vr": base[key]["vr"], "BulkDataURI": prefix + key}
            yield series, InstanceStored.model_construct(
                command_id=sop, request_id="qido-scale", study_instance_uid=study.uid,
                series_instance_uid=series.uid, sop_instance_uid=sop,
                sop_class_uid=series.sop_class_uid,
                transfer_syntax_uid=template.transfer_syntax_uid,
                blob_key=f"qido-scale/{sop}", size=template.size, sha256=template.sha256,
                metadata=metadata, frames=template.frames, bulk_data=template.bulk_data,
                access_groups=[],  # every field given: a default factory would be inspected
            )  # fmt: skip


def _columns(statement: str) -> tuple[list[str], list[int]]:
    """The column list of one of the indexer's INSERT statements and, per column, which of
    its row builder's values fills it ($n in VALUES), so both stay in step."""
    found = re.search(r"INSERT INTO \w+ \(([^)]*)\)\s*VALUES \(([^)]*)\)", statement)
    assert found is not None
    columns = [c.strip() for c in found.group(1).split(",")]
    positions = [int(re.findall(r"\$(\d+)", v)[0]) - 1 for v in found.group(2).split(",")]
    assert len(columns) == len(positions)
    return columns, positions


def _pick(row: tuple[Any, ...], positions: list[int]) -> tuple[Any, ...]:
    return tuple(row[i] for i in positions)


_STUDY, _STUDY_AT = _columns(apply.UPSERT_STUDY)
_SERIES, _SERIES_AT = _columns(apply.UPSERT_SERIES)
INSTANCE_COLUMNS, _INSTANCE_AT = _columns(apply.INSERT_INSTANCE)
STUDY_COLUMNS = [*_STUDY, "modalities_in_study", "sop_classes_in_study", "number_of_series",
                 "number_of_instances"]  # fmt: skip
SERIES_COLUMNS = [*_SERIES, "number_of_instances"]


@dataclass
class _Rows:
    studies: list[tuple[Any, ...]]
    series: list[tuple[Any, ...]]
    instances: list[tuple[Any, ...]]


def _rows(studies: list[Study], templates: dict[str, Template], version: int) -> _Rows:
    """Rows of a chunk of studies; the newest instance of a study or series gives its row,
    as in the indexer's bulk path."""
    out = _Rows([], [], [])
    for study in studies:
        newest: InstanceStored | None = None
        last_series: Series | None = None
        for series, event in instance_events(study, templates):
            if last_series is not None and series is not last_series and newest is not None:
                out.series.append((*_pick(apply.series_row(newest), _SERIES_AT), last_series.size))
            version += 1
            out.instances.append(
                _pick(apply.instance_row(version, event, apply.metadata_text(event)), _INSTANCE_AT)
            )
            newest, last_series = event, series
        if newest is None or last_series is None:
            continue
        out.series.append((*_pick(apply.series_row(newest), _SERIES_AT), last_series.size))
        counts = (study.modalities, study.sop_classes, len(study.series), study.instance_count)
        out.studies.append((*_pick(apply.study_row(newest), _STUDY_AT), *counts))
    return out


def _jsonb(value: Any) -> bytes:
    """Binary jsonb: text the indexer serialized already goes as is."""
    text = value.encode() if isinstance(value, str) else orjson.dumps(value)
    return b"\x01" + text


async def copy_population(postgres_url: str, studies: list[Study], writers: int = 2) -> float:
    """COPY the population into the index (studies, series, instances) over ``writers``
    connections (PostgreSQL parses each COPY on one core), then VACUUM ANALYZE; returns the
    seconds it took. The tables must not hold these UIDs yet."""
    templates = load_templates()
    started = time.perf_counter()
    step = max(1, _COPY_CHUNK // 20)
    chunks = iter(range(0, len(studies), step))

    async def write() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.set_type_codec(
                "jsonb", encoder=_jsonb,
                decoder=lambda b: orjson.loads(b[1:]), schema="pg_catalog", format="binary",
            )  # fmt: skip
            for first in chunks:
                rows = _rows(studies[first : first + step], templates, _VERSION + first * 1000)
                async with conn.transaction():
                    for table, columns, records in (
                        ("study", STUDY_COLUMNS, rows.studies),
                        ("series", SERIES_COLUMNS, rows.series),
                        ("instance", INSTANCE_COLUMNS, rows.instances),
                    ):
                        await conn.copy_records_to_table(table, records=records, columns=columns)
        finally:
            await conn.close()

    await asyncio.gather(*(write() for _ in range(writers)))
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("VACUUM (ANALYZE) study, series, instance")
    finally:
        await conn.close()
    return time.perf_counter() - started


def instance_file(study: Study, series: Series, index: int, template: Template) -> bytes:
    """One instance as a DICOM file, for STOW to a peer: the template file with the same
    values the COPY rows carry."""
    ds = pydicom.dcmread(io.BytesIO(template.raw))
    sop = series.sop_instance_uid(index)
    values = {**_study_keywords(study), "SOPClassUID": series.sop_class_uid,
              "SOPInstanceUID": sop, "SeriesDate": study.date, "Modality": series.modality,
              "SeriesDescription": series.description, "SeriesInstanceUID": series.uid,
              "SeriesNumber": str(series.number), "InstanceNumber": str(index + 1)}  # fmt: skip
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPClassUID = UID(series.sop_class_uid)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _study_keywords(study: Study) -> dict[str, str]:
    p = study.patient
    return {
        "StudyDate": study.date, "StudyTime": study.time,
        "AccessionNumber": study.accession_number,
        "ReferringPhysicianName": study.referring_physician_name,
        "StudyDescription": study.description, "PatientName": p.name,
        "PatientID": p.patient_id, "PatientBirthDate": p.birth_date, "PatientSex": p.sex,
        "StudyInstanceUID": study.uid, "StudyID": str(study.number),
    }  # fmt: skip
