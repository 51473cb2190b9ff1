"""``dicomweb upload`` against the real stack: folders, zips and DICOMDIRs with duplicates and
broken files, the summary and exit status, and a resumed upload sending only the rest."""

from __future__ import annotations

import signal
import sqlite3
import zipfile
from pathlib import Path

import httpx
import pytest
from pydicom.fileset import FileSet

from dicomstack.stack import Stack
from tests import instances
from tests.cli_run import dicomweb, spawn
from tests.polling import eventually

pytestmark = pytest.mark.integration


def _count(stack: Stack, study: str) -> int:
    answer = httpx.get(f"{stack.dicomweb_url}/studies/{study}/instances", params={"limit": "1000"})
    return len(answer.json()) if answer.status_code == 200 else 0


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _folder_with_defects(root: Path, study: str) -> None:
    """Six instances of one study (one in a zip, a multi-frame one), a copy of one of them,
    a file truncated in its pixel data and a text file."""
    for i, name in enumerate(["CT_small.dcm", "MR_small.dcm", "emri_small.dcm", "rtdose.dcm"]):
        _write(root / f"series{i}" / name, instances.to_bytes(instances.fresh(name, study=study)))
    copy = (root / "series0" / "CT_small.dcm").read_bytes()
    _write(root / "copies" / "same_ct_again.dcm", copy)
    with zipfile.ZipFile(root / "more.zip", "w") as archive:
        archive.writestr("a/one.dcm", instances.to_bytes(instances.fresh(study=study)))
        archive.writestr("a/two.dcm", instances.to_bytes(instances.fresh(study=study)))
    _, truncated = instances.ct_truncated_in_pixel_data()
    _write(root / "broken" / "truncated_in_pixel_data.dcm", truncated)
    _write(root / "broken" / "notes.txt", instances.not_dicom())


def test_folder_upload_summarises_stored_duplicates_and_failures(
    stack: Stack, tmp_path: Path
) -> None:
    study = instances.fresh().StudyInstanceUID
    _folder_with_defects(tmp_path / "in", study)
    journal = str(tmp_path / "journal.sqlite")
    args = ["upload", str(tmp_path / "in"), "--url", stack.dicomweb_url, "--journal", journal]

    first = dicomweb(*args)
    assert first.exit_code == 1, first.stdout
    assert first.summary() == {"stored": 6, "duplicates": 1, "already": 0, "failed": 2}
    assert "truncated_in_pixel_data.dcm: 0xC000" in first.stdout
    assert "notes.txt: not a DICOM file" in first.stdout
    assert _count(stack, study) == 6

    again = dicomweb(*args)
    assert again.summary() == {"stored": 0, "duplicates": 1, "already": 6, "failed": 2}


def test_clean_upload_exits_zero_and_dry_run_sends_nothing(stack: Stack, tmp_path: Path) -> None:
    study = instances.fresh().StudyInstanceUID
    for i in range(3):
        _write(tmp_path / f"{i}.dcm", instances.to_bytes(instances.fresh(study=study)))
    common = ["--url", stack.dicomweb_url, "--no-journal"]

    dry = dicomweb("upload", str(tmp_path), "--dry-run", *common)
    assert dry.exit_code == 0 and "would send 3" in dry.stdout
    assert _count(stack, study) == 0

    done = dicomweb("upload", str(tmp_path), *common)
    assert done.exit_code == 0, done.stdout
    assert done.summary() == {"stored": 3, "duplicates": 0, "already": 0, "failed": 0}
    assert _count(stack, study) == 3


def test_dicomdir_upload_sends_the_files_it_references(stack: Stack, tmp_path: Path) -> None:
    study = instances.fresh().StudyInstanceUID
    fileset = FileSet()
    for name in ["CT_small.dcm", "MR_small.dcm"]:
        fileset.add(instances.fresh(name, study=study))
    fileset.write(tmp_path / "media")
    fileset._stage["t"].cleanup()  # pydicom stages in a temporary folder it never removes

    ran = dicomweb(
        "upload", str(tmp_path / "media" / "DICOMDIR"), "--url", stack.dicomweb_url, "--no-journal"
    )
    assert ran.exit_code == 0, ran.stdout
    assert ran.summary()["stored"] == 2
    assert _count(stack, study) == 2


def _acknowledged(journal: Path) -> int:
    if not journal.exists():
        return 0
    with sqlite3.connect(journal) as db:
        try:
            return int(db.execute("SELECT count(*) FROM acknowledged").fetchone()[0])
        except sqlite3.OperationalError:  # the table is being created
            return 0


def test_interrupted_upload_resumes_with_only_the_rest(stack: Stack, tmp_path: Path) -> None:
    study = instances.fresh().StudyInstanceUID
    total = 200  # enough that the upload is still running when interrupted, however fast
    for i in range(total):
        _write(tmp_path / "in" / f"{i:03}.dcm", instances.to_bytes(instances.fresh(study=study)))
    journal = tmp_path / "journal.sqlite"
    args = ["--url", stack.dicomweb_url, "--journal", str(journal)]

    process = spawn(
        "upload", str(tmp_path / "in"), "--batch-size", "1", "--concurrency", "1", *args
    )
    assert eventually(lambda: _acknowledged(journal) >= 5, seconds=60, every=0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    sent_before = _acknowledged(journal)
    assert 5 <= sent_before < total

    resumed = dicomweb("upload", str(tmp_path / "in"), *args)
    assert resumed.exit_code == 0, resumed.stdout
    assert resumed.summary() == {
        "stored": total - sent_before,
        "duplicates": 0,
        "already": sent_before,
        "failed": 0,
    }
    assert _count(stack, study) == total
