"""``dicomweb download / search / feed / delete`` against the real stack, and the one-line
errors for a server that is down or answers 401, 403 or 413."""

from __future__ import annotations

import contextlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from dicomstack.ports import free_ports
from dicomstack.stack import Stack
from tests import instances
from tests.cli_run import dicomweb, spawn

pytestmark = pytest.mark.integration


def _stored_study(stack: Stack, tmp_path: Path, names: list[str]) -> tuple[str, dict[str, bytes]]:
    """A new study of these test files uploaded with the command line; its files by SOP UID."""
    study = instances.fresh().StudyInstanceUID
    files: dict[str, bytes] = {}
    for name in names:
        ds = instances.fresh(name, study=study)
        files[ds.SOPInstanceUID] = instances.to_bytes(ds)
        (tmp_path / "in").mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / f"{ds.SOPInstanceUID}.dcm").write_bytes(files[ds.SOPInstanceUID])
    ran = dicomweb("upload", str(tmp_path / "in"), "--url", stack.dicomweb_url, "--no-journal")
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    return study, files


def test_download_is_byte_identical_as_files_and_as_zip(stack: Stack, tmp_path: Path) -> None:
    study, files = _stored_study(stack, tmp_path, ["CT_small.dcm", "emri_small.dcm", "rtdose.dcm"])
    out = tmp_path / "out"

    ran = dicomweb("download", study, "--out", str(out), "--url", stack.dicomweb_url)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    written = {path.stem: path.read_bytes() for path in (out / study).glob("*/*.dcm")}
    assert written == files

    zipped = dicomweb(
        "download", study, "--out", str(out / "z"), "--zip", "--url", stack.dicomweb_url
    )
    assert zipped.exit_code == 0, zipped.stdout + zipped.stderr
    with zipfile.ZipFile(out / "z" / f"{study}.zip") as archive:
        inside = {Path(n).stem: archive.read(n) for n in archive.namelist()}
    assert inside == files


def test_search_filters_by_patient_and_answers_json(stack: Stack, tmp_path: Path) -> None:
    study, _ = _stored_study(stack, tmp_path, ["CT_small.dcm"])
    patient_id = httpx.get(
        f"{stack.dicomweb_url}/studies", params={"StudyInstanceUID": study}
    ).json()[0]["00100020"]["Value"][0]

    ran = dicomweb("search", f"PatientID={patient_id}", "--json", "--url", stack.dicomweb_url)
    assert ran.exit_code == 0, ran.stderr
    [match] = orjson.loads(ran.stdout)
    assert match["0020000D"]["Value"] == [study]

    shown = dicomweb("search", f"PatientID={patient_id}", "--url", stack.dicomweb_url)
    assert "1 studies" in shown.stdout and patient_id in shown.stdout
    assert dicomweb("search", "PatientID", "--url", stack.dicomweb_url).exit_code == 2


def test_feed_tail_sees_a_new_store(stack: Stack, tmp_path: Path) -> None:
    latest = httpx.get(f"{stack.dicomweb_url}/changefeed/latest")
    after = latest.json()["sequence"] if latest.status_code == 200 else 0
    follower = spawn("feed", "--after", str(after), "--count", "1", "--url", stack.dicomweb_url)
    try:
        study, files = _stored_study(stack, tmp_path, ["CT_small.dcm"])
        stdout, stderr = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, stderr
    [entry] = [orjson.loads(line) for line in stdout.splitlines()]
    assert entry["action"] == "Create"
    assert entry["studyInstanceUid"] == study
    assert entry["sopInstanceUid"] in files
    assert entry["sequence"] > after


def test_delete_asks_first_and_yes_skips_the_question(stack: Stack, tmp_path: Path) -> None:
    study, _ = _stored_study(stack, tmp_path, ["CT_small.dcm"])
    url = ["--url", stack.dicomweb_url]

    refused = dicomweb("delete", study, *url, stdin="n\n")
    assert refused.exit_code == 1
    assert "(1 instances)" in refused.stdout
    assert httpx.get(f"{stack.dicomweb_url}/studies/{study}/instances").status_code == 200

    confirmed = dicomweb("delete", study, *url, stdin="y\n")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert httpx.get(f"{stack.dicomweb_url}/studies/{study}/instances").status_code in (204, 404)

    again, _ = _stored_study(stack, tmp_path / "again", ["CT_small.dcm"])
    assert dicomweb("delete", again, "--yes", *url).exit_code == 0
    gone = dicomweb("delete", again, "--yes", *url)
    assert gone.exit_code == 1 and "not found" in gone.stderr


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every request with the server's status, as a secured or strict server would."""

    status = 401

    def _refuse(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"refused\n"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _refuse

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _server_answering(status: int) -> Iterator[str]:
    handler = type("Handler", (_Refusing,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/dicom-web"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def two_files(tmp_path: Path) -> str:
    for i in range(2):
        (tmp_path / f"{i}.dcm").write_bytes(instances.to_bytes(instances.fresh()))
    return str(tmp_path)


def test_401_says_a_token_is_needed_or_was_refused(two_files: str) -> None:
    with _server_answering(401) as url:
        bare = dicomweb("upload", two_files, "--url", url, "--no-journal")
        assert bare.exit_code == 1
        assert bare.stderr.strip().splitlines() == [
            f"error: 401 Unauthorized from {url}: the server needs a token: "
            "pass --token or set DICOMWEB_TOKEN"
        ]
        searched = dicomweb("search", "--url", url, "--token", "expired")
        assert searched.exit_code == 1
        assert "401 Unauthorized" in searched.stderr and "refused the token" in searched.stderr


def test_403_and_413_are_one_line_each(two_files: str) -> None:
    with _server_answering(403) as url:
        forbidden = dicomweb("delete", "1.2.3", "--yes", "--url", url, "--token", "t")
        assert forbidden.exit_code == 1
        assert "403 Forbidden" in forbidden.stderr and "permission" in forbidden.stderr
    with _server_answering(413) as url:
        too_big = dicomweb("upload", two_files, "--url", url, "--no-journal")
        assert too_big.exit_code == 1
        assert too_big.summary()["failed"] == 2
        assert "413 Payload Too Large" in too_big.stdout


def test_a_server_that_is_down_is_named() -> None:
    [port] = free_ports("127.0.0.1", 1)
    url = f"http://127.0.0.1:{port}/dicom-web"
    ran = dicomweb("search", "--url", url)
    assert ran.exit_code == 1
    assert ran.stderr.startswith(f"error: cannot reach {url}")
    assert len(ran.stderr.strip().splitlines()) == 1
