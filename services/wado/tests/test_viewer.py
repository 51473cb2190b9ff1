"""``/viewer/``: a clear answer where the viewer is not installed, the OIDC settings in its
configuration, and no file outside its folder."""

from __future__ import annotations

from pathlib import Path

import httpx

from wado.app import create_app
from wado.settings import Settings


def _client(settings: Settings) -> httpx.AsyncClient:
    """The app without its lifespan: these routes need no database or storage."""
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


async def test_without_the_viewer_the_page_says_how_to_add_it() -> None:
    async with _client(Settings(viewer_root=None)) as client:
        answer = await client.get("/viewer/")
    assert answer.status_code == 404
    assert "make viewer" in answer.text


async def test_oidc_settings_reach_the_viewer_config(tmp_path: Path) -> None:
    root = tmp_path / "viewer"
    root.mkdir()
    (root / "index.html").write_text("<html></html>")
    (tmp_path / "secret.txt").write_text("outside the viewer")
    settings = Settings(
        viewer_root=root,
        viewer_oidc_authority="https://issuer.example/realms/pacs",
        viewer_oidc_client_id="ohif",
    )
    async with _client(settings) as client:
        config = (await client.get("/viewer/app-config.js")).text
        escaped = await client.get("/viewer/..%2Fsecret.txt")
        page = await client.get("/viewer/local")
    assert '"authority": "https://issuer.example/realms/pacs"' in config
    assert '"client_id": "ohif"' in config and '"redirect_uri": "/viewer/callback"' in config
    assert escaped.status_code == 404
    assert page.text == "<html></html>"
