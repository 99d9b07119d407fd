"""Headless Chromium (Debian's package), with the network blocked, to see what a page shows offline.

The network is blocked for real: every request goes to a proxy at a closed
loopback port (``--proxy-server``), loopback included (``<-loopback>``), so
anything a page tries to fetch fails. ``render`` returns what the browser
built: the DOM after the page's scripts ran, its visible text (script and style
contents left out, so data embedded in a page's JSON does not count until the
page shows it) and a screenshot.
"""

import shutil
import socket
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def missing_reason() -> str | None:
    """Why pages cannot be rendered here, or None if they can."""
    if CHROMIUM is None:
        return "Chromium is not installed (apt-get install chromium)"
    return None


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Visible(HTMLParser):
    """The markup and the text of a document, without what <script>, <style> and <template> hold."""

    HIDDEN = frozenset({"script", "style", "template"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.markup: list[str] = []
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        self.markup.append(self.get_starttag_text() or "")
        if tag in self.HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        self.markup.append(f"</{tag}>")

    def handle_data(self, data):
        if not self._hidden:
            self.markup.append(data)
            self.text.append(data)


def visible(html: str) -> tuple[str, str]:
    """``(markup, text)`` of ``html`` with the contents of scripts, styles and templates removed."""
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return "".join(parser.markup), " ".join(" ".join(parser.text).split())


@dataclass
class Page:
    dom: str  # the document as the browser left it (scripts included)
    markup: str  # the same without the contents of scripts, styles and templates
    text: str  # the text a reader can be shown (whitespace collapsed)
    screenshot: np.ndarray  # greyscale pixels, 0-255, rows x columns


def command(folder: Path, offline: bool = True) -> list[str]:
    """Headless Chromium with a profile in ``folder``; ``offline``: every request goes to a closed port."""
    network = (
        [f"--proxy-server=http://127.0.0.1:{closed_port()}", "--proxy-bypass-list=<-loopback>"]
        if offline
        else []
    )
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        *network,
        f"--user-data-dir={folder / 'chromium-profile'}",
    ]


def chromium(url: str, folder: Path, *extra: str, offline: bool = True) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``url`` (15 s of virtual time for its scripts); ``offline`` blocks the network."""
    return subprocess.run(
        [
            *command(folder, offline),
            "--window-size=1400,1000",
            "--virtual-time-budget=15000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def render(url: str, folder: Path, offline: bool = True) -> Page:
    """What Chromium shows of ``url``: its DOM after the scripts ran, visible text and a screenshot."""
    folder.mkdir(parents=True, exist_ok=True)
    dom = chromium(url, folder, "--dump-dom", offline=offline).stdout
    shot = folder / "screenshot.png"
    chromium(url, folder, f"--screenshot={shot}", offline=offline)
    markup, text = visible(dom)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    return Page(dom=dom, markup=markup, text=text, screenshot=pixels)
