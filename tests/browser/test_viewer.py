"""The bundled viewer in a real headless Chromium, as a person uses it: the study list shows a
stored study, a patient-name filter narrows it, a single-frame and a multi-frame series are
drawn, and the mouse wheel moves through frames. Every DICOMweb request the page makes is
recorded; any 4xx / 5xx among them, or any console error, fails the test.

The browser is Debian's ``chromium-headless-shell`` (or ``chromium``), driven by Playwright's
driver from PyPI (``DICOMWEB_TEST_BROWSER`` names another binary); where none is installed, or
the viewer is not (no npm), the test is skipped and says so.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from PIL import Image, ImageChops, ImageStat
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration
BROWSERS = ("chromium-headless-shell", "chromium")
TIMEOUT_MS = 90_000


def _browser_binary() -> str | None:
    named = os.environ.get("DICOMWEB_TEST_BROWSER")
    return named or next((found for b in BROWSERS if (found := shutil.which(b))), None)


@dataclass
class Record:
    """What the page asked the server for, and what it complained about."""

    dicomweb: list[tuple[int, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def response(self, response: Response) -> None:
        if "/dicom-web/" in response.url or "/wado" in response.url:
            self.dicomweb.append((response.status, response.url))

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of this module's own: the session's holds other tests' studies, some with dates
    no real study has (values of several KB), which a newest-first list can show first."""
    with Stack(StackSettings.ephemeral(tmp_path_factory.mktemp("viewer-stack"))) as running:
        yield running


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Browser]:
    binary = _browser_binary()
    if stack.viewer_root is None:
        pytest.skip("the web viewer is not installed (npm was missing when `make install` ran)")
    if binary is None:
        pytest.skip(
            "no Chromium: apt-get install chromium-headless-shell, or set DICOMWEB_TEST_BROWSER"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield launched
        launched.close()


def _store(stack: Stack, name: str, patient: str) -> str:
    ds = instances.fresh(name)
    ds.PatientName = patient
    ds.StudyDate = time.strftime("%Y%m%d")  # the list shows the newest studies first
    answer = instances.store(stack.dicomweb_url, instances.to_bytes(ds))
    assert answer.status_code == 200, answer.text
    return str(ds.StudyInstanceUID)


def _viewport_image(page: Page) -> Image.Image:
    canvas = page.locator("canvas").first
    canvas.wait_for(timeout=TIMEOUT_MS)
    return Image.open(io.BytesIO(canvas.screenshot())).convert("L")


def _drawn(page: Page) -> Image.Image:
    """The viewport once it shows an image (not a blank canvas)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        image = _viewport_image(page)
        if ImageStat.Stat(image).stddev[0] > 10:
            return image
        page.wait_for_timeout(500)
    raise AssertionError("the viewport never showed an image")


def _skip_tour(page: Page) -> None:
    skip = page.get_by_text("Skip all")
    if skip.count():
        skip.first.click()


def test_viewer_lists_filters_draws_and_scrolls(stack: Stack, browser: Browser) -> None:
    token = str(time.time_ns())[-9:]
    single = _store(stack, "CT_small.dcm", f"ALPHA{token}^SINGLE")
    multi = _store(stack, "emri_small.dcm", f"BETA{token}^MULTI")
    record = Record()
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.on("response", record.response)
    page.on("console", record.console)
    page.on("pageerror", lambda error: record.errors.append(str(error)))

    page.goto(f"{stack.gateway_url}/viewer/")
    try:
        page.get_by_text(f"ALPHA{token}", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    except PlaywrightError as exc:  # say what the page asked and heard, not only that it waited
        raise AssertionError(
            f"{exc}\nrequests: {record.dicomweb}\nerrors: {record.errors}"
        ) from exc
    page.get_by_text(f"BETA{token}", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    page.locator("input").first.fill(f"ALPHA{token}")
    page.get_by_text(f"BETA{token}", exact=False).first.wait_for(
        state="detached", timeout=TIMEOUT_MS
    )
    assert page.get_by_text(f"ALPHA{token}", exact=False).count() >= 1

    page.goto(f"{stack.gateway_url}/viewer/viewer?StudyInstanceUIDs={single}")
    _drawn(page)

    page.goto(f"{stack.gateway_url}/viewer/viewer?StudyInstanceUIDs={multi}")
    first = _drawn(page)
    _skip_tour(page)
    page.get_by_text("(1/10)").first.wait_for(timeout=TIMEOUT_MS)
    page.locator("canvas").first.hover()
    page.mouse.wheel(0, 120)
    page.get_by_text("(2/10)").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)
    second = _drawn(page)
    assert ImageChops.difference(first, second).getbbox() is not None

    page.close()
    assert record.dicomweb, "the viewer made no DICOMweb request"
    failed = [(status, url) for status, url in record.dicomweb if status >= 400]
    assert not failed, failed
    assert not record.errors, record.errors
