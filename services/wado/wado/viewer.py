"""The web viewer at ``/viewer/``: OHIF v3's prebuilt files, and its configuration for us.

Why WADO serves it: the viewer's files hold no patient data and are read once per browser
session, and WADO is the retrieve service every deployment already routes GETs to and scales;
one more process (and image, Deployment, route target) only for a folder of static files would
cost more than it isolates. The files are not in the image or the repository: ``make install``
fetches the pinned ``@ohif/app`` with npm into ``.viewer/`` (``dicomstack.viewer``) and the
launcher points ``DICOMWEB_WADO_VIEWER_ROOT`` at it. Without it, ``/viewer/`` says how to add it.

``app-config.js`` is written here, per request, not taken from the package: it names this
server's DICOMweb root on the page's own origin (no CORS) and, when set, the OIDC issuer and
client the viewer signs in with, so one installed copy serves any deployment.
"""

from __future__ import annotations

import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from wado.settings import Settings

PREFIX = "/viewer"
NOT_INSTALLED = (
    "The web viewer is not installed. It needs npm (Node.js): install it, then run "
    "`make viewer` (or `make install`) and restart `make run`.\n"
)
_NO_CACHE = {"Cache-Control": "no-cache"}
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
_CONFIG_TEMPLATE = Path(__file__).with_name("viewer_config.js")


def routes(settings: Settings) -> list[Route]:
    async def redirect(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    async def serve(request: Request) -> Response:
        if settings.viewer_root is None or not (settings.viewer_root / "index.html").is_file():
            return PlainTextResponse(NOT_INSTALLED, status_code=404)
        wanted = request.path_params.get("path", "")
        if wanted == "app-config.js":
            return _config(settings)
        return _file(settings.viewer_root, wanted)

    return [
        Route(PREFIX, redirect, methods=["GET", "HEAD"]),
        Route(f"{PREFIX}/", serve, methods=["GET", "HEAD"]),
        Route(f"{PREFIX}/{{path:path}}", serve, methods=["GET", "HEAD"]),
    ]


def _file(root: Path, wanted: str) -> Response:
    """A file under ``root``; any other path without a file extension is one of the viewer's
    own pages (``/viewer/viewer?StudyInstanceUIDs=…``), answered with its index.html."""
    base = root.resolve()
    candidate = (base / wanted).resolve()
    if candidate != base and base not in candidate.parents:
        return PlainTextResponse("not found\n", status_code=404)
    if candidate.is_file():
        hashed = ".bundle." in candidate.name or candidate.suffix in (".wasm", ".woff2")
        return FileResponse(candidate, headers=_IMMUTABLE if hashed else _NO_CACHE)
    if "." in Path(wanted).name:
        return PlainTextResponse("not found\n", status_code=404)
    return FileResponse(base / "index.html", headers=_NO_CACHE)


def _config(settings: Settings) -> Response:
    oidc = []
    if settings.viewer_oidc_authority and settings.viewer_oidc_client_id:
        oidc.append(
            {
                "authority": settings.viewer_oidc_authority,
                "client_id": settings.viewer_oidc_client_id,
                "redirect_uri": f"{PREFIX}/callback",
                "response_type": "code",
                "scope": settings.viewer_oidc_scope,
                "post_logout_redirect_uri": f"{PREFIX}/",
            }
        )
    # No ``oidc`` key at all without sign-in: OHIF reads an empty list as a broken setting.
    setting = f"oidc: {json.dumps(oidc)}," if oidc else ""
    text = _CONFIG_TEMPLATE.read_text().replace("/*OIDC*/", setting)
    return Response(text, media_type="text/javascript", headers=_NO_CACHE)
