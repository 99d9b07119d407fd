"""The HTML report and the Dask performance reports: self-contained, and they render offline.

The browser checks use Debian's Chromium, headless, with the network blocked
(tests/services/chromium.py; tests/unit/test_offline_browser.py shows the block
holds). They check what the page shows, not what its HTML holds: the report's
text sits in embedded JSON until its scripts render it. The report itself is
clicked through over Chromium's DevTools protocol (tests/services/devtools.py,
report_browser.py): every category and result, any JavaScript error fails. Without Chromium they
skip, saying so; in CI they fail (`.ci/run` installs it).
"""

import pytest
import yaml

from tests.helpers import SCENE, TABLE, copy_workflow, require_service, run_snakemake
from tests.services import chromium, devtools, report_browser

pytestmark = pytest.mark.workflow

SECOND_TABLE, SECOND_SCENE = "second_table", "two_indices"


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("report") / "checkout")
    # A config file of the user's own, as `make report CONFIG="mine.yaml"` passes it: a second table,
    # and a second scene with two indices (one job, one Dask report), so categories have subcategories.
    sample = yaml.safe_load((workdir / "config/config.yaml").read_text())
    scene = dict(sample["scenes"][SCENE], indices=["ndvi", "savi"])
    mine = {
        "download": {"attempts": 4},
        "tables": {SECOND_TABLE: sample["tables"][TABLE]},
        "scenes": {SECOND_SCENE: scene},
    }
    (workdir / "mine.yaml").write_text(yaml.safe_dump(mine))
    run_snakemake(workdir, "--configfile", "config/config.yaml", "mine.yaml")
    run_snakemake(
        workdir, "--report", "results/report.html", "--configfile", "config/config.yaml", "mine.yaml"
    )
    return workdir


@pytest.fixture
def browser():
    require_service(chromium.missing_reason())


def assert_not_blank(pixels, name) -> None:
    assert pixels.std() > 5, f"{name} looks blank"


def test_report_is_one_offline_file(reported):
    html = (reported / "results/report.html").read_text(errors="replace")
    assert len(html) > 100_000
    # Nothing is fetched from a CDN: every script and stylesheet is inline.
    assert '<script src="http' not in html and '<link rel="stylesheet" href="http' not in html


def test_dask_reports_are_inline(reported):
    for path in (f"results/tables/{TABLE}/dask-report.html", f"results/scenes/{SCENE}/dask-report.html"):
        html = (reported / path).read_text()
        assert "Dask Performance Report" in html
        assert "cdn.bokeh.org" not in html, f"{path} loads Bokeh from a CDN: blank offline"


def test_every_category_and_result_opens_in_a_browser(reported, tmp_path, browser):
    """Click through the report as a reader would: every category, every result shown, no JS error."""
    path = reported / "results/report.html"
    _, static_text = chromium.visible(path.read_text(errors="replace"))
    with devtools.Browser(tmp_path) as chrome:
        try:
            report = report_browser.click_through(chrome, path.as_uri())
        except Exception as error:
            raise AssertionError(f"{error!r}; the page's JavaScript errors: {chrome.errors}") from error
        errors = chrome.errors
    assert not errors, errors
    categories = {"Scenes", "Tables", "Provenance", "About this run", "Dask performance"}
    assert set(report.categories) == categories
    for text in categories:
        assert text not in static_text  # only in the embedded data: the page's scripts must show it
        assert text in report.menu_text, f"{text!r} not shown; the menu shows: {report.menu_text}"
    # Every result was listed, and opened in the page: no toggle, no download link, no blank frame.
    assert not report.toggles, f"toggle buttons (half the results hidden) in {report.toggles}"
    assert sorted(seen.path for seen in report.seen) == sorted(report.results)
    for seen in report.seen:
        assert seen.mime in ("image/png", "text/html"), f"{seen.path} ({seen.mime}) is only a download"
        assert seen.shown, f"{seen.path}: nothing shown"
        assert seen.caption, f"{seen.path}: no description"
        if seen.mime == "text/html":
            assert seen.frame_url.startswith("data:text/html"), (
                f"{seen.path}: frame refused ({seen.frame_url})"
            )
    shown = {(seen.category, tuple(seen.labels)): seen.shown for seen in report.seen}
    # The Dask reports: BokehJS ran in the frame and drew the tabs; each named after the job that ran.
    jobs = [seen.labels[0] for seen in report.seen if seen.category == "Dask performance"]
    assert sorted(jobs) == sorted(
        [
            f"averages of table {TABLE}",
            f"averages of table {SECOND_TABLE}",
            f"ndvi of scene {SCENE}",
            f"ndvi, savi of scene {SECOND_SCENE}",
        ]
    )
    for job in jobs:
        text = shown[("Dask performance", (job,))]
        assert "Dask Performance Report" in text and "Task Stream" in text, text[:500]
    # Text products read in the page: the configuration (UTF-8 kept), statistics, tables, provenance.
    assert "m³/m³" in shown[("About this run", ("configuration (config.yaml)",))]
    assert "mine.yaml" in shown[("About this run", ("config files and Dask cluster (run.yaml)",))]
    assert "dask" in shown[("About this run", ("software versions",))]
    assert "count_valid" in shown[("Scenes", (SCENE, "ndvi statistics"))]
    assert "year" in shown[("Tables", (TABLE, "averages (CSV)"))]
    assert "rows" in shown[("Tables", (TABLE, "counts per group (CSV)"))]
    assert "sha256" in shown[("Provenance", (f"resources/tables/{TABLE}/raw.csv",))]
    # One name per kind of product, as the files are named (ndvi_stats.json, ndvi.png, ...).
    products = sorted(seen.labels[1] for seen in report.seen if seen.subcategory == SECOND_SCENE)
    assert products == [
        f"{index} {product}" for index in ("ndvi", "savi") for product in ("histogram", "map", "statistics")
    ]
    assert {seen.subcategory for seen in report.seen if seen.category == "Tables"} == {TABLE, SECOND_TABLE}
    assert all("mine.yaml" in seen.caption for seen in report.seen if seen.category == "About this run")


@pytest.mark.parametrize(
    "path", [f"results/scenes/{SCENE}/dask-report.html", f"results/tables/{TABLE}/dask-report.html"]
)
def test_dask_report_renders_in_a_browser(reported, tmp_path, browser, path):
    static_markup, _ = chromium.visible((reported / path).read_text())
    page = chromium.render((reported / path).as_uri(), tmp_path)
    # BokehJS ran: it built the tabs (Summary, Task Stream, ...) into the page's root element.
    assert 'class="bk-Tabs' not in static_markup
    assert 'class="bk-Tabs' in page.markup, page.markup[:2000]
    # And painted them: text and plots, not the white page a Bokeh report without its scripts is.
    assert_not_blank(page.screenshot, path)
    assert (page.screenshot < 128).mean() > 0.005, f"{path}: almost nothing dark on the page"


def test_performance_report_can_be_switched_off(tmp_path):
    workdir = copy_workflow(tmp_path / "checkout")
    (workdir / "off.yaml").write_text(yaml.safe_dump({"dask": {"performance_report": False}}))
    run_snakemake(
        workdir, f"results/tables/{TABLE}/averages.csv", "--configfile", "config/config.yaml", "off.yaml"
    )
    html = (workdir / f"results/tables/{TABLE}/dask-report.html").read_text()
    assert "dask.performance_report" in html and "Task Stream" not in html
    assert (workdir / f"results/tables/{TABLE}/averages.csv").is_file()


def test_report_names_the_config_files_of_its_run(reported):
    # The run record's caption: its text is in the report's embedded data (base64 or plain).
    import base64
    import re

    html = (reported / "results/report.html").read_text(errors="replace")
    texts = [html] + [
        base64.b64decode(chunk + "=" * (-len(chunk) % 4)).decode("utf-8", "replace")
        for chunk in re.findall(r"[A-Za-z0-9+/]{400,}={0,2}", html)
    ]
    captions = [t for t in texts if "the configuration it used" in t]
    assert captions and all("mine.yaml" in t and "config/config.yaml" in t for t in captions)


def test_the_run_record_reads_as_text(reported):
    # `--configfile config/config.yaml mine.yaml` repeats the Snakefile's configfile: listed once, in merge order.
    run = yaml.safe_load((reported / "results/run_info/run.yaml").read_text(encoding="utf-8"))
    assert run["config_files"] == ["config/config.yaml", "mine.yaml"]
    text = (reported / "results/run_info/config.yaml").read_text(encoding="utf-8")
    assert "m³/m³" in text and "\\x" not in text and "&id" not in text and "*id" not in text


def test_a_report_with_other_config_files_than_the_run_says_so(reported):
    result = run_snakemake(reported, "--report", "results/other-report.html")
    output = result.stdout + result.stderr
    assert "results/ were made with the config files" in output and "this report mixes them" in output, output
    assert "mine.yaml" in output
