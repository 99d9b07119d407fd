"""Click through a Snakemake HTML report in headless Chromium, as a reader would.

``click_through`` opens every category of the report's menu (and every
subcategory), clicks every result's view button and checks what the page then
shows (the image drawn, the frame's page rendered: a frame Chromium refused stays
``about:blank``), opens every result's description and goes back with the
breadcrumbs. It returns what it saw; the browser's ``errors`` hold any JavaScript
error of the report or of a result's page.
"""

import json
import re
from dataclasses import dataclass, field

from tests.services.devtools import Browser

# Snakemake 9's report app (html_reporter/template/components): the menu and breadcrumbs are
# links in <nav>; a category or subcategory lists its results as table rows, each ending in a
# view button and an information button; the shown result is an <img> or an <iframe> beside it.
CLICK_LINK = """(() => {
  const hits = [...document.querySelectorAll(%(scope)s)].filter((a) => a.textContent.trim() === %(text)s);
  if (hits.length !== 1) return "found " + hits.length + " links " + %(text)s;
  hits[0].click();
  return "clicked";
})()"""
ROWS = "[...document.querySelectorAll('nav tbody tr')].map((tr) => [...tr.cells].slice(0, -1).map((td) => td.textContent.trim()))"
CLICK_ROW_BUTTON = (
    "document.querySelectorAll('nav tbody tr')[%d].cells[%d].querySelectorAll('a')[%d].click(), true"
)
URL_COMMITTED = re.compile(r"[a-z][a-z0-9+.-]*:.")  # a scheme and more: "data:...", "about:blank"
LIST_READY = "document.querySelectorAll('nav tbody tr').length === %d"
SHOWN_IMAGE = """(() => {
  const images = [...document.querySelectorAll('#app img')].filter((img) => !img.closest('nav'));
  return images.length === 1 && images[0].complete && images[0].naturalWidth > 0 && images[0].naturalWidth;
})()"""
# The text of a page, that of its shadow roots too (BokehJS draws a Dask report in them).
DEEP_TEXT = """(() => {
  const parts = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) parts.push(node.textContent);
    if (node.nodeName === "SCRIPT" || node.nodeName === "STYLE") return;
    if (node.shadowRoot) walk(node.shadowRoot);
    node.childNodes.forEach(walk);
  };
  walk(document.body);
  return parts.join(" ").replace(/\\s+/g, " ").trim().slice(0, 2000);
})()"""
BREADCRUMB_RESULTS = (
    "[...document.querySelectorAll('nav nav a')].some((a) => a.textContent.trim() === 'Results')"
)
SHOWN_FRAME = "(() => { const f = document.querySelector('#app iframe'); return f ? f.getAttribute('src').slice(0, 40) : null; })()"


@dataclass
class Seen:
    path: str
    category: str
    subcategory: str
    labels: list[str]
    mime: str
    shown: str  # "image WIDTHpx", or the text of the frame's page (its first 2000 characters)
    caption: str  # the description the result's information view shows
    frame_url: str = ""


@dataclass
class Report:
    categories: dict  # category -> subcategory -> [result paths]
    results: dict  # result path -> {"mime_type", "labels", ...}
    menu_text: str  # what the navigation bar shows on opening
    static_text: str = ""
    seen: list[Seen] = field(default_factory=list)
    toggles: list[str] = field(default_factory=list)  # categories whose list shows toggle buttons


def click(browser: Browser, text: str, scope: str = "nav a") -> None:
    outcome = browser.evaluate(CLICK_LINK % {"scope": json.dumps(scope), "text": json.dumps(text)})
    assert outcome == "clicked", outcome
    browser.pump(0.05)


def frame_page(browser: Browser, known: set[str], ready: str) -> tuple[str, str]:
    """The URL and text of the page in the result's (new) frame, once ``ready`` holds in it."""
    browser.wait_for(SHOWN_FRAME)
    # A new frame's URL reads "" or ":" until its navigation commits (seen on a loaded machine).
    frame = browser.wait_for_value(
        lambda: [f for f in browser.frames() if f["id"] not in known and URL_COMMITTED.match(f["url"])]
    )
    assert len(frame) == 1, frame
    frame = frame[0]
    known.add(frame["id"])
    if frame["url"].startswith("about:"):  # refused (a data: URL over 2 MiB): nothing to wait for
        return frame["url"], ""
    browser.wait_for(ready, frame=frame["id"])
    return frame["url"], browser.evaluate(DEEP_TEXT, frame=frame["id"])


def open_results(
    browser: Browser, report: Report, category: str, subcategory: str, back: str, frames: set
) -> None:
    """Every result listed in (category, subcategory): view it, read its description, come back."""
    paths = report.categories[category][subcategory]
    browser.wait_for(LIST_READY % len(paths))
    if browser.evaluate("document.querySelectorAll('nav fieldset').length"):
        report.toggles.append(category)
    for row, labels in enumerate(browser.evaluate(ROWS)):
        last = len(labels)
        browser.evaluate(CLICK_ROW_BUTTON % (row, last, 0))  # the eye: show the result
        browser.pump(0.05)
        path = browser.evaluate("app.state.resultPath")
        mime = report.results[path]["mime_type"]
        frame_url = ""
        if mime.startswith("image/"):
            shown = f"image {browser.wait_for(SHOWN_IMAGE)}px"
        elif mime in ("text/html", "application/pdf"):
            ready = (
                "document.title === 'Dask Performance Report' && [...document.querySelectorAll('*')].some((e) => e.shadowRoot)"
                if path.endswith("dask-report.html")
                else "document.readyState === 'complete' && document.querySelector('pre, table') !== null"
            )
            frame_url, shown = frame_page(browser, frames, ready)
        else:
            shown = ""  # not shown: the button is a download link
        browser.evaluate(CLICK_ROW_BUTTON % (row, last, 1))  # the (i): the result's description
        caption = browser.wait_for(
            "document.querySelector('nav li.prose') && document.querySelector('nav li.prose').innerText"
        )
        report.seen.append(Seen(path, category, subcategory, labels, mime, shown, caption, frame_url[:60]))
        click(browser, back, "nav nav a")
        browser.wait_for(LIST_READY % len(paths))


def click_through(browser: Browser, url: str) -> Report:
    browser.open(url, ready="typeof app === 'object' && document.querySelector('nav') !== null")
    report = Report(
        categories=browser.evaluate("categories"),
        results=browser.evaluate("results"),
        menu_text=browser.evaluate("document.querySelector('nav').innerText"),
    )
    frames: set[str] = set()
    for category, subcategories in report.categories.items():
        if browser.evaluate(BREADCRUMB_RESULTS):
            click(browser, "Results", "nav nav a")  # back to the menu
        click(browser, category)
        if len(subcategories) == 1:
            open_results(browser, report, category, next(iter(subcategories)), category, frames)
            continue
        for subcategory in subcategories:
            click(browser, subcategory)
            open_results(browser, report, category, subcategory, subcategory, frames)
            click(browser, category, "nav nav a")
    return report
