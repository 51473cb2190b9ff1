"""The web viewer through the gateway: its page, its configuration for this server, its files,
and a clear answer where it is not installed."""

from __future__ import annotations

import httpx
import pytest

from dicomstack.stack import Stack

pytestmark = pytest.mark.integration


def test_viewer_is_served_on_the_gateway_with_this_servers_config(stack: Stack) -> None:
    if stack.viewer_root is None:
        pytest.skip("the web viewer is not installed (npm missing when `make install` ran)")
    root = stack.gateway_url
    assert httpx.get(f"{root}/viewer").headers["location"] == "/viewer/"
    page = httpx.get(f"{root}/viewer/")
    assert page.status_code == 200
    assert 'window.PUBLIC_URL="/viewer/"' in page.text
    config = httpx.get(f"{root}/viewer/app-config.js").text
    assert "qidoRoot: origin + '/dicom-web'" in config and "routerBasename: '/viewer'" in config
    deep_link = httpx.get(f"{root}/viewer/viewer", params={"StudyInstanceUIDs": "1.2.3"})
    assert deep_link.status_code == 200 and deep_link.text == page.text
    [bundle] = [p.name for p in stack.viewer_root.glob("app.bundle.*.js")]
    script = httpx.get(f"{root}/viewer/{bundle}")
    assert script.status_code == 200 and '__webpack_require__.p = "/viewer/"' in script.text
    assert httpx.get(f"{root}/viewer/missing.js").status_code == 404
