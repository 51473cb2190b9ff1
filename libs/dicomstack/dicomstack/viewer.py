"""The web viewer's files: OHIF v3's prebuilt ``@ohif/app`` from the npm registry, pinned.

``python -m dicomstack viewer`` (run by ``make install``) fetches the package with ``npm pack``
(npm's own cache, checksum and registry settings) into ``.viewer/ohif-<version>/`` — out of
git, the package is 50 MB — and moves it from the site root it was built for to ``/viewer/``:
the page's ``PUBLIC_URL`` and absolute links, webpack's public path in the bundles that load
others, and the style sheets' font URLs. WADO serves the folder (``wado.viewer``); without npm
nothing fails, the launcher and ``/viewer/`` say how to add it.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

OHIF_PACKAGE = "@ohif/app"
OHIF_VERSION = "3.13.2"
PUBLIC_PATH = "/viewer/"
_PAGE_EDITS = (
    ('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{PUBLIC_PATH}"'),
    ('href="/', f'href="{PUBLIC_PATH}'),
    ('src="/', f'src="{PUBLIC_PATH}'),
)
_WEBPACK_PUBLIC_PATH = '__webpack_require__.p = "/"'


class ViewerUnavailable(Exception):
    """npm is missing or the package could not be fetched; the message says what to do."""


def folder(viewer_dir: Path) -> Path:
    return viewer_dir / f"ohif-{OHIF_VERSION}"


def installed(viewer_dir: Path) -> Path | None:
    """The installed viewer's folder, or None."""
    found = folder(viewer_dir)
    return found if (found / "index.html").is_file() else None


def install(viewer_dir: Path) -> Path:
    """Fetch, unpack and move the pinned viewer under ``viewer_dir`` (once)."""
    done = installed(viewer_dir)
    if done is not None:
        return done
    npm = shutil.which("npm")
    if npm is None:
        raise ViewerUnavailable(
            "npm not found: install Node.js (with npm) and run `make viewer` to add the viewer"
        )
    with tempfile.TemporaryDirectory() as scratch:
        package = _pack(npm, Path(scratch))
        staging = Path(scratch) / "dist"
        with tarfile.open(package) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/dist/")]
            archive.extractall(scratch, members=members, filter="data")
        (Path(scratch) / "package" / "dist").rename(staging)
        _move_to_public_path(staging)
        target = folder(viewer_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    return target


def _pack(npm: str, scratch: Path) -> Path:
    wanted = f"{OHIF_PACKAGE}@{OHIF_VERSION}"
    done = subprocess.run(
        [npm, "pack", wanted, "--pack-destination", str(scratch), "--silent"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ViewerUnavailable(f"npm pack {wanted} failed: {reason}")
    [package] = scratch.glob("*.tgz")
    return package


def _move_to_public_path(dist: Path) -> None:
    """Rewrite what the build fixed to ``/``; a build that lacks one of these edits is not
    the one this code knows, and fails here rather than as a blank page."""
    page = dist / "index.html"
    html = page.read_text()
    for old, new in _PAGE_EDITS:
        if old not in html:
            raise ViewerUnavailable(f"unexpected {OHIF_PACKAGE} build: no {old!r} in index.html")
        html = html.replace(old, new)
    page.write_text(html)
    patched = 0
    for script in dist.glob("*.js"):
        text = script.read_text(errors="surrogateescape")
        if _WEBPACK_PUBLIC_PATH in text:
            new = f'__webpack_require__.p = "{PUBLIC_PATH}"'
            script.write_text(text.replace(_WEBPACK_PUBLIC_PATH, new), errors="surrogateescape")
            patched += 1
    if not patched:
        raise ViewerUnavailable(f"unexpected {OHIF_PACKAGE} build: no webpack public path found")
    for sheet in dist.glob("*.css"):  # fonts: url(/<hash>.woff2)
        css = sheet.read_text(errors="surrogateescape")
        sheet.write_text(css.replace("url(/", f"url({PUBLIC_PATH}"), errors="surrogateescape")
