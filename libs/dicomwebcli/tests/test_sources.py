"""What an upload reads: folder files, zip members, a DICOMDIR's files; a DICOMDIR in a
folder is an index, not an instance."""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path

from dicomweb.sources import Source, iter_sources


def _read(source: Source) -> bytes:
    with source.open() as stream:
        return stream.read()


def test_folders_zips_and_dicomdirs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.dcm").write_bytes(b"1")
    (tmp_path / "a" / "DICOMDIR").write_bytes(b"index")
    with zipfile.ZipFile(tmp_path / "a" / "more.zip", "w") as archive:
        archive.writestr("x/two.dcm", b"22")
        archive.writestr("x/", b"")

    with contextlib.ExitStack() as closing:
        sources = iter_sources([tmp_path], closing)
        found = {s.key[len(str(tmp_path)) + 1 :]: (s.size, _read(s)) for s in sources}

    assert found == {"a/one.dcm": (1, b"1"), "a/more.zip!x/two.dcm": (2, b"22")}


def test_a_path_given_twice_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "one.dcm").write_bytes(b"1")
    with contextlib.ExitStack() as closing:
        assert len(list(iter_sources([tmp_path, tmp_path / "one.dcm"], closing))) == 1
