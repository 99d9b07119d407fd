"""The HTML report and the Dask performance reports: self-contained, and they render offline.

The browser checks use Debian's Chromium, headless, with no network; they skip,
saying so, where Chromium is not installed, and fail in CI (`.ci/run` installs it).
"""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from tests.helpers import copy_workflow, require_service, run_snakemake

pytestmark = pytest.mark.workflow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCENE, TABLE = "RU_ANS_TR2_FL005M", "dg_soil_moisture"


@pytest.fixture
def browser():
    require_service(None if CHROMIUM else "Chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("report") / "checkout")
    run_snakemake(workdir)
    run_snakemake(workdir, "--report", "results/report.html")
    return workdir


def chromium(url: str, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1400,1000",
            "--virtual-time-budget=15000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_not_blank(png) -> None:
    image = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert image.std() > 5, f"{png} looks blank"


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


def test_report_renders_in_a_browser(reported, tmp_path, browser):
    url = (reported / "results/report.html").as_uri()
    shot = tmp_path / "report.png"
    chromium(url, tmp_path, f"--screenshot={shot}")
    assert_not_blank(shot)
    dom = chromium(url, tmp_path, "--dump-dom").stdout
    for text in ("Scenes", "Tables", "Provenance", "About this run", "Dask performance"):
        assert text in dom, f"{text!r} not rendered"


@pytest.mark.parametrize(
    "path", [f"results/scenes/{SCENE}/dask-report.html", f"results/tables/{TABLE}/dask-report.html"]
)
def test_dask_report_renders_in_a_browser(reported, tmp_path, browser, path):
    url = (reported / path).as_uri()
    shot = tmp_path / "dask.png"
    chromium(url, tmp_path, f"--screenshot={shot}")
    assert_not_blank(shot)
    dom = chromium(url, tmp_path, "--dump-dom").stdout
    assert "Task Stream" in dom or "task stream" in dom.lower(), dom[:2000]


def test_performance_report_can_be_switched_off(tmp_path):
    import yaml

    workdir = copy_workflow(tmp_path / "checkout")
    (workdir / "off.yaml").write_text(yaml.safe_dump({"dask": {"performance_report": False}}))
    run_snakemake(
        workdir, f"results/tables/{TABLE}/averages.csv", "--configfile", "config/config.yaml", "off.yaml"
    )
    html = (workdir / f"results/tables/{TABLE}/dask-report.html").read_text()
    assert "dask.performance_report" in html and "Task Stream" not in html
    assert (workdir / f"results/tables/{TABLE}/averages.csv").is_file()
