"""The synthetic corpus: real template files re-identified into studies, series and instances.

Built once into a cache folder and reused, because generating it costs more than some phases.
Every UID, PatientID and AccessionNumber carries a fixed-width placeholder token that each run
replaces with its own token (same byte length, so the files stay valid): a second run against a
server that kept the first run's data stores new instances instead of duplicates.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, replace
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

PLACEHOLDER = "73519046"
"""The per-run token's stand-in; eight digits so a UID component stays a valid number."""

UID_ROOT = f"1.2.826.0.1.3680043.8.498.{PLACEHOLDER}."
FORMAT_VERSION = 1

TEMPLATES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_bigendian.dcm",
    "emri_small.dcm",
    "emri_small_RLE.dcm",
    "emri_small_jpeg_ls_lossless.dcm",
    "693_J2KR.dcm",
    "693_J2KI.dcm",
    "693_UNCI.dcm",
    "MR2_J2KI.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "examples_overlay.dcm",
    "JPEG-LL.dcm",
    "JPEG-lossy.dcm",
    "US1_J2KR.dcm",
    "US1_J2KI.dcm",
    "JPGLosslessP14SV1_1s_1f_8b.dcm",
    "OBXXXX1A_rle.dcm",
    "color-px.dcm",
    "RG3_J2KI.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "liver_1frame.dcm",
)
"""pydicom and pydicom-data files in several modalities and transfer syntaxes, ~100 KB mean."""

FAMILY_NAMES = (
    "SMITH",
    "JOHNSON",
    "WILLIAMS",
    "BROWN",
    "JONES",
    "GARCIA",
    "MILLER",
    "DAVIS",
    "MARTIN",
    "BERNARD",
    "DUBOIS",
    "MULLER",
    "SCHMIDT",
    "ROSSI",
    "RUSSO",
    "NOVAK",
    "KOWALSKI",
    "TANAKA",
    "SATO",
    "NGUYEN",
    "KIM",
    "LEE",
    "PATEL",
    "SINGH",
    "OKAFOR",
)
GIVEN_NAMES = (
    "JAMES",
    "MARY",
    "ROBERT",
    "PATRICIA",
    "JOHN",
    "JENNIFER",
    "MICHAEL",
    "LINDA",
    "ANNA",
    "LUCA",
    "SOPHIE",
    "PIERRE",
    "HANS",
    "YUKI",
    "HIRO",
    "MINH",
    "JI",
    "PRIYA",
    "ARJUN",
    "CHIOMA",
    "ELENA",
    "IVAN",
)
STUDY_DESCRIPTIONS = ("HEAD W/O CONTRAST", "CHEST", "ABDOMEN PELVIS", "KNEE LEFT", "FOLLOW-UP")


@dataclass(frozen=True)
class Instance:
    """One corpus file and the attributes the phases query and retrieve it by."""

    path: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    modality: str
    size: int


class Corpus:
    """The cached files plus their manifest, with this run's token applied."""

    def __init__(self, root: Path, instances: list[Instance], token: str) -> None:
        self.root = root
        self.token = token
        self._raw = token.encode()
        self.instances = [_with_token(i, token) for i in instances]

    def read(self, instance: Instance) -> bytes:
        """The file's bytes as this run sends them: read from disk, token swapped in."""
        data = (self.root / instance.path).read_bytes()
        return data.replace(PLACEHOLDER.encode(), self._raw)

    @property
    def total_bytes(self) -> int:
        return sum(i.size for i in self.instances)


def load_corpus(cache_dir: Path, count: int, seed: int, token: str) -> Corpus:
    """Open the cached corpus for ``count`` instances, building it first if it is missing."""
    root = cache_dir / f"v{FORMAT_VERSION}-n{count}-s{seed}"
    manifest = root / "manifest.jsonl"
    if not manifest.exists():
        _build(root, count, seed)
    with manifest.open() as lines:
        instances = [Instance(**json.loads(line)) for line in lines]
    return Corpus(root, instances, token)


def new_token(rng: random.Random | None = None) -> str:
    """A fresh eight-digit token without a leading zero (UID components may not have one)."""
    return str((rng or random.SystemRandom()).randint(10_000_000, 99_999_999))


def _with_token(instance: Instance, token: str) -> Instance:
    def swap(value: str) -> str:
        return value.replace(PLACEHOLDER, token)

    return replace(
        instance,
        study_instance_uid=swap(instance.study_instance_uid),
        series_instance_uid=swap(instance.series_instance_uid),
        sop_instance_uid=swap(instance.sop_instance_uid),
        patient_id=swap(instance.patient_id),
    )


def _build(root: Path, count: int, seed: int) -> None:
    """Write every file into a temp folder and rename it, so a half-built corpus never counts."""
    rng = random.Random(seed)
    templates = [Path(get_testdata_file(name) or name).read_bytes() for name in TEMPLATES]
    staging = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    written: list[Instance] = []
    study_number = 0
    while len(written) < count:
        study_number += 1
        written += _write_study(staging, rng, templates, study_number, count - len(written))
    with (staging / "manifest.jsonl").open("w") as out:
        out.writelines(json.dumps(asdict(i)) + "\n" for i in written)
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)


def _write_study(
    staging: Path, rng: random.Random, templates: list[bytes], number: int, room: int
) -> list[Instance]:
    """One study of one to four series, each cut from one template as a real series would be."""
    patient = rng.randrange(max(1, number * 3 // 4)) + 1
    names = random.Random(patient)
    study = {
        "StudyInstanceUID": generate_uid(prefix=UID_ROOT),
        "PatientID": f"P{PLACEHOLDER}-{patient:05d}",
        "PatientName": f"{names.choice(FAMILY_NAMES)}^{names.choice(GIVEN_NAMES)}",
        "PatientBirthDate": f"{names.randint(1930, 2015)}{names.randint(1, 12):02d}15",
        "PatientSex": names.choice("MF"),
        "StudyDate": f"{rng.randint(2015, 2024)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
        "StudyTime": f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}00",
        "AccessionNumber": f"A{PLACEHOLDER}{number:05d}",
        "StudyID": str(number),
        "StudyDescription": rng.choice(STUDY_DESCRIPTIONS),
        "ReferringPhysicianName": f"{rng.choice(FAMILY_NAMES)}^{rng.choice(GIVEN_NAMES)}",
    }
    written: list[Instance] = []
    for series_number in range(1, rng.randint(1, 4) + 1):
        template = rng.choice(templates)
        size = min(rng.randint(2, 16), room - len(written))
        series = {**study, "SeriesInstanceUID": generate_uid(prefix=UID_ROOT)}
        series["SeriesNumber"] = str(series_number)
        for instance_number in range(1, size + 1):
            attrs = {**series, "InstanceNumber": str(instance_number)}
            written.append(_write_instance(staging, template, attrs))
        if len(written) >= room:
            break
    return written


def _write_instance(staging: Path, template: bytes, attrs: dict[str, str]) -> Instance:
    ds = pydicom.dcmread(BytesIO(template))
    sop_instance_uid = generate_uid(prefix=UID_ROOT)
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    ds.SOPInstanceUID = sop_instance_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_instance_uid
    ds.SeriesDescription = f"{ds.get('Modality', 'OT')} series {attrs['SeriesNumber']}"
    relative = f"{attrs['StudyID']}/{attrs['SeriesNumber']}/{attrs['InstanceNumber']}.dcm"
    path = staging / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return Instance(
        path=relative,
        study_instance_uid=attrs["StudyInstanceUID"],
        series_instance_uid=attrs["SeriesInstanceUID"],
        sop_instance_uid=sop_instance_uid,
        patient_id=attrs["PatientID"],
        patient_name=attrs["PatientName"],
        study_date=attrs["StudyDate"],
        modality=str(ds.get("Modality", "OT")),
        size=path.stat().st_size,
    )
