"""A synthetic archive for the QIDO scale phases: patients, studies, series and instance counts
with the value spreads a hospital's index has, built the same from the same seed every time.

Study shapes follow a radiology department's mix (many one- or two-image radiographs, fewer CT
and MR studies of several series, some PET/CT), dates spread over ten years, patients with
skewed visit counts and names drawn from a long-tailed list. One CT series has 1,000 images,
and a few more have several hundred, as thin-slice reconstructions do. UIDs have fixed-width
components, so their text order is the order they were made in.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from functools import cached_property

UID_ROOT = "1.2.826.0.1.3680043.8.498.77"
LARGE_SERIES = 1000
"""Instances in the one large series every population has (the issue's 1,000-instance case)."""

SOP_CLASSES = {
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "NM": "1.2.840.10008.5.1.4.1.1.20",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
    "XA": "1.2.840.10008.5.1.4.1.1.12.1",
    "SR": "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
}

# Study kind: (weight, study descriptions, series recipes). A recipe is (modality,
# (min, max) series, (min, max) instances per series, chance the recipe applies at all).
Recipe = tuple[str, tuple[int, int], tuple[int, int], float]
_KINDS: tuple[tuple[int, tuple[str, ...], tuple[Recipe, ...]], ...] = (
    (30, ("XR CHEST PA AND LATERAL", "XR KNEE 2 VIEWS", "XR HAND LEFT", "XR LUMBAR SPINE"),
     (("CR", (1, 2), (1, 2), 1.0),)),
    (12, ("DX CHEST", "DX PELVIS AP", "DX FOOT RIGHT"), (("DX", (1, 3), (1, 1), 1.0),)),
    (6, ("MG SCREENING BILATERAL", "MG DIAGNOSTIC LEFT"), (("MG", (1, 1), (4, 4), 1.0),)),
    (12, ("US ABDOMEN COMPLETE", "US THYROID", "US OB 2ND TRIMESTER", "US RENAL"),
     (("US", (1, 1), (4, 26), 1.0),)),
    (18, ("CT HEAD W/O CONTRAST", "CT CHEST W CONTRAST", "CT ABDOMEN PELVIS W CONTRAST",
          "CT ANGIO CHEST"),
     (("CT", (2, 3), (8, 30), 1.0), ("SR", (1, 1), (1, 1), 0.3))),
    (12, ("MR BRAIN W/WO CONTRAST", "MR KNEE RIGHT", "MR LUMBAR SPINE", "MR PROSTATE"),
     (("MR", (3, 5), (6, 18), 1.0),)),
    (3, ("PET/CT WHOLE BODY",), (("PT", (1, 1), (30, 80), 1.0), ("CT", (1, 1), (30, 80), 1.0))),
    (3, ("NM BONE SCAN WHOLE BODY", "NM MYOCARDIAL PERFUSION"), (("NM", (1, 3), (1, 4), 1.0),)),
    (2, ("XA CORONARY ANGIOGRAM",), (("XA", (2, 6), (1, 3), 1.0),)),
)  # fmt: skip
_SERIES_DESCRIPTIONS = {
    "CR": ("PA", "LATERAL", "AP"), "DX": ("AP", "LATERAL", "OBLIQUE"),
    "MG": ("R CC", "L CC", "R MLO", "L MLO"), "US": ("ABDOMEN", "THYROID", "OB", "RENAL"),
    "CT": ("AXIAL 5MM", "AXIAL 1.25MM", "CORONAL MPR", "SAGITTAL MPR", "SCOUT"),
    "MR": ("T1 SAG", "T2 AX", "FLAIR AX", "DWI", "T1 POST GD"), "NM": ("ANTERIOR", "POSTERIOR"),
    "PT": ("PET WB AC", "PET WB NAC"), "XA": ("LCA", "RCA"), "SR": ("DOSE REPORT",),
}  # fmt: skip

_COMMON_FAMILY = ("SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER",
                  "DAVIS", "MARTIN", "BERNARD", "DUBOIS", "MULLER", "SCHMIDT", "ROSSI",
                  "NGUYEN", "KIM", "LEE", "PATEL", "SINGH", "TANAKA")  # fmt: skip
_ONSETS = ("B", "C", "D", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "T", "V",
           "W", "Z", "BR", "CH", "GR", "KR", "SCH", "ST", "TR")  # fmt: skip
_VOWELS = ("A", "E", "I", "O", "U", "AI", "EI", "OU")
_CODAS = ("N", "R", "L", "S", "T", "RD", "NS", "LL", "RT", "CK", "M", "NG")
_ENDINGS = ("", "ER", "SON", "EN", "INI", "OV", "SKI", "EZ", "MANN", "ETTE", "AKI", "ES")
_GIVEN = ("JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL", "LINDA",
          "DAVID", "ELIZABETH", "WILLIAM", "BARBARA", "ANNA", "LUCA", "SOPHIE", "PIERRE",
          "HANS", "YUKI", "HIRO", "MINH", "JI", "PRIYA", "ARJUN", "CHIOMA", "ELENA", "IVAN",
          "FATIMA", "OMAR", "MEI", "WEI", "CARLOS", "LUCIA", "NOAH", "EMMA", "OLIVIA", "LIAM",
          "AMARA", "KOFI", "INGRID", "LARS")  # fmt: skip
_FIRST_DAY = dt.date(2015, 1, 1)
_DAYS = (dt.date(2024, 12, 31) - _FIRST_DAY).days


@dataclass(frozen=True, slots=True)
class Patient:
    patient_id: str
    name: str  # PN, Alphabetic form: FAMILY^GIVEN[^MIDDLE]
    birth_date: str
    sex: str

    @property
    def family_name(self) -> str:
        return self.name.split("^")[0]


@dataclass(frozen=True, slots=True)
class Series:
    uid: str
    number: int
    modality: str
    description: str
    size: int  # instances

    @property
    def sop_class_uid(self) -> str:
        return SOP_CLASSES[self.modality]

    def sop_instance_uid(self, index: int) -> str:
        """The UID of the ``index``-th instance (0-based); fixed width, in creation order."""
        return f"{UID_ROOT}.3.{self.uid[len(UID_ROOT) + 3 :]}.{10000 + index}"


@dataclass(frozen=True)
class Study:
    uid: str
    number: int
    patient: Patient
    date: str
    time: str
    accession_number: str
    description: str
    referring_physician_name: str
    series: tuple[Series, ...]

    @cached_property
    def instance_count(self) -> int:
        return sum(s.size for s in self.series)

    @property
    def modalities(self) -> list[str]:
        """ModalitiesInStudy as the indexer computes it: distinct, sorted."""
        return sorted({s.modality for s in self.series})

    @property
    def sop_classes(self) -> list[str]:
        return sorted({s.sop_class_uid for s in self.series})


def populate(instances: int, seed: int = 0) -> list[Study]:
    """Studies holding exactly ``instances`` instances, the same for the same arguments."""
    rng = random.Random(seed)
    patients = max(10, instances // 30)  # ~0.65 patients per study
    large = _large_series_plan(instances)
    studies: list[Study] = []
    left = instances
    while left > 0:
        number = len(studies) + 1
        extra = large.pop(number, 0)
        study = _study(rng, number, _patient(_patient_index(rng, patients)), left, extra)
        studies.append(study)
        left -= study.instance_count
    return studies


def _large_series_plan(instances: int) -> dict[int, int]:
    """Study number -> size of an extra thin-slice CT series: one of 1,000 instances, and one
    of 300-500 per 10,000 instances more, spread over the archive."""
    plan = {7: LARGE_SERIES} if instances >= 4 * LARGE_SERIES else {}
    rng = random.Random(instances)
    studies = instances // 20
    for k in range(instances // 10_000):
        plan.setdefault(rng.randrange(10, max(11, studies)), 300 + (k * 37) % 201)
    return plan


def _patient_index(rng: random.Random, patients: int) -> int:
    """Most patients come a few times; 5 % of them (the chronically ill) bring 30 % of studies."""
    share = 0.05 if rng.random() < 0.3 else 1.0
    return int(patients * share * rng.random())


def _patient(index: int) -> Patient:
    rng = random.Random(index)
    if rng.random() < 0.2:
        family = rng.choice(_COMMON_FAMILY)
    else:
        # Long-tailed: low indexes (``r ** 2``) are much more common than the rest.
        k = int(len(_ONSETS) * len(_VOWELS) * len(_CODAS) * len(_ENDINGS) * rng.random() ** 2)
        k, ending = divmod(k, len(_ENDINGS))
        k, coda = divmod(k, len(_CODAS))
        onset, vowel = divmod(k, len(_VOWELS))
        family = _ONSETS[onset] + _VOWELS[vowel] + _CODAS[coda] + _ENDINGS[ending]
    name = f"{family}^{rng.choice(_GIVEN)}"
    if rng.random() < 0.3:
        name += f"^{rng.choice('ABCDEFGHJKLMNPRSTW')}"
    birth = _FIRST_DAY - dt.timedelta(days=rng.randrange(365 * 95))
    return Patient(f"MRN{10_000_000 + index}", name, f"{birth:%Y%m%d}", rng.choice("MF"))


def _study(rng: random.Random, number: int, patient: Patient, room: int, extra: int) -> Study:
    uid = f"{UID_ROOT}.1.{100000 + number}"
    weights = [kind[0] for kind in _KINDS]
    _, descriptions, recipes = rng.choices(_KINDS, weights)[0]
    sizes: list[tuple[str, int]] = []
    for modality, (low, high), (fewest, most), chance in recipes:
        if rng.random() < chance:
            sizes += [(modality, rng.randint(fewest, most)) for _ in range(rng.randint(low, high))]
    if extra:
        sizes.append(("CT", extra))
    series: list[Series] = []
    for k, (modality, size) in enumerate(sizes):
        size = min(size, room - sum(s.size for s in series))
        if size <= 0:
            break
        description = rng.choice(_SERIES_DESCRIPTIONS[modality])
        if size >= 300:
            description = "AXIAL 0.6MM THIN"
        series_uid = f"{UID_ROOT}.2.{100000 + number}.{10 + k}"
        series.append(Series(series_uid, k + 1, modality, description, size))
    day = _FIRST_DAY + dt.timedelta(days=rng.randrange(_DAYS + 1))
    referring = _patient(1_000_000 + rng.randrange(200)).name.rsplit("^", 1)[0]
    return Study(
        uid=uid,
        number=number,
        patient=patient,
        date=f"{day:%Y%m%d}",
        time=f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}",
        accession_number=f"ACC{20_000_000 + number}",
        description=rng.choice(descriptions),
        referring_physician_name=referring,
        series=tuple(series),
    )
