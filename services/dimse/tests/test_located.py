"""A C-MOVE / C-GET identifier's unique keys: levels, UID lists, and what is refused."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from dimse.located import InvalidIdentifier, unique_keys


def _identifier(level: str, **keys: object) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def test_uid_lists_become_lists_of_uids() -> None:
    identifier = _identifier("IMAGE", StudyInstanceUID="1.2", SOPInstanceUID=["1.2.3", "1.2.4"])
    assert unique_keys(identifier) == {
        "StudyInstanceUID": ["1.2"],
        "SOPInstanceUID": ["1.2.3", "1.2.4"],
    }


def test_the_patient_level_names_patient_ids() -> None:
    identifier = _identifier("PATIENT", PatientID="P1\\P2", StudyInstanceUID="1.2")
    assert unique_keys(identifier) == {"PatientID": ["P1", "P2"]}


def test_keys_of_lower_levels_are_ignored() -> None:
    identifier = _identifier("STUDY", StudyInstanceUID="1.2", SeriesInstanceUID="1.2.3")
    assert unique_keys(identifier) == {"StudyInstanceUID": ["1.2"]}


@pytest.mark.parametrize(
    "identifier",
    [
        _identifier("SERIES", StudyInstanceUID="1.2"),
        _identifier("PATIENT", PatientName="DOE^J"),
        _identifier("PATIENT", PatientID="P*"),
        _identifier("FRAME", StudyInstanceUID="1.2"),
    ],
    ids=["without-its-level-key", "patient-without-id", "patient-id-wildcard", "unknown-level"],
)
def test_identifiers_that_name_nothing_retrievable_are_refused(identifier: Dataset) -> None:
    with pytest.raises(InvalidIdentifier):
        unique_keys(identifier)
