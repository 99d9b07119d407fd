"""The browser the report tests use has no network: a page that needs it does not render (a control).

The same page renders with the network on, so the check would notice a page that
loaded something: what tests/workflow/test_report.py relies on.
"""

import pytest

from tests.helpers import require_service
from tests.services import chromium
from tests.services.http_server import FlakyServer, Route

PROBE = "document.body.insertAdjacentHTML('beforeend', '<p id=probe>fetched from the network</p>');"


@pytest.fixture
def browser():
    require_service(chromium.missing_reason())


def test_pages_render_offline_only_what_they_hold(tmp_path, browser):
    with FlakyServer() as server:
        server.routes["/probe.js"] = Route(PROBE.encode(), headers={"Content-Type": "text/javascript"})
        page = tmp_path / "page.html"
        page.write_text(
            f'<html><body><p>held by the page</p><script src="{server.url("/probe.js")}"></script>'
        )
        online = chromium.render(page.as_uri(), tmp_path / "online", offline=False)
        assert "held by the page" in online.text and "fetched from the network" in online.text
        assert len(server.routes["/probe.js"].seen) >= 1
        fetched = len(server.routes["/probe.js"].seen)

        offline = chromium.render(page.as_uri(), tmp_path / "offline")
        assert "held by the page" in offline.text
        assert "fetched from the network" not in offline.text
        assert len(server.routes["/probe.js"].seen) == fetched  # no request reached the server
