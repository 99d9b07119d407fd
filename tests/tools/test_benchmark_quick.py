"""A --quick run of the benchmark on tiny inputs: every case runs, agrees with its baseline, and is reported;
the settings the benchmark gives the workflow."""

import re
import subprocess
import sys

import pytest
import yaml

from snakedask_tools.benchmark import __main__ as command_line
from snakedask_tools.benchmark import s3
from snakedask_tools.benchmark.baselines import peers
from snakedask_tools.checkout import ROOT

QUICK = [
    "--quick",
    "--csv-scales",
    "0.05",
    "--raster-scales",
    "0.25",
    "--layouts",
    "tiled-deflate",
    "--repeats",
    "1",
    "--datasets",
    "1",
    "--s3",
]


@pytest.mark.workflow
def test_quick_benchmark_measures_every_case_and_writes_the_report(tmp_path):
    data, out = tmp_path / "data", tmp_path / "report" / "benchmark.md"
    command = [
        sys.executable,
        "-m",
        "snakedask_tools.benchmark",
        *QUICK,
        "--data",
        str(data),
        "--out",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

    report = out.read_text()
    assert result.stdout.strip() == report.strip()  # printed as written
    assert "-m snakedask_tools.benchmark --quick" in report
    assert "failed" not in report.lower(), report
    rows = [line for line in report.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    products = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    # The main table (header, averages, ndvi, all products), NDVI read in place from S3 (header, the
    # raster), the peers (header, Polars and DuckDB for the averages, GDAL's CLI for NDVI), the tiny
    # table (header, two rules), then the many datasets (header, the workflow and the eager loop at N = 1).
    raster = rows[2].split(" | ")[1]
    assert products == [
        "product", "averages", "ndvi", "all products",
        "input", raster,
        "product", "averages", "averages", "ndvi",
        "rule", "averages", "ndvi",
        "run", "workflow", "eager loop",
    ]  # fmt: skip
    assert rows[-2].startswith("| workflow | 1 | ") and "many-1.yaml`" in rows[-2]
    assert rows[-1].startswith("| eager loop | 1 | ") and " pairs baselines/out/datasets-1 " in rows[-1]
    assert "- workflow and eager loop agree at N = 1 for its last pair (t01, s01)" in report
    assert "CSV 0.05x" in rows[1] and "875 x 1861 px" in rows[2] and "tiled-deflate" in rows[3]
    # --s3: the same NDVI read in place from moto on 127.0.0.1, beside the local run, agreeing pixel for pixel.
    assert "## NDVI read in place from S3 (moto on 127.0.0.1)" in report
    in_place = [cell.strip() for cell in rows[5].strip("| ").split(" | ")]
    assert in_place[1] == "tiled-deflate" and all(float(cell) > 0 for cell in in_place[2:]), rows[5]
    assert "results/scenes/raster_0p25x_tiled-deflate_s3/ndvi.tif --forcerun ndvi" in report
    assert "**The S3 server's memory is not part of the workflow's peak**" in report
    assert "- read in place and local-file NDVI agree pixel for pixel" in report
    endpoint = re.search(r"S3 server \(moto\) on (http://127\.0\.0\.1:\d+),", result.stderr).group(1)
    assert not s3.answers(endpoint)  # the server was stopped with the run
    for note in (
        "workflow and eager averages agree",
        "workflow and eager NDVI agree",
        "workflow and eager averages and NDVI agree",
    ):
        assert f"- {note}" in report
    # Each peer installed is measured and agrees with the workflow; one that is not says so.
    versions = peers.availability()
    for row, tool, what in zip(
        rows[7:10], ("polars", "duckdb", "gdal"), ("averages", "averages", "NDVI"), strict=True
    ):
        if versions[tool] is None:
            assert " | not installed | not installed |" in row
        else:
            assert f" | {versions[tool]} | " in row
            agreed = [line for line in report.splitlines() if line.startswith(f"- {versions[tool]} {what}")]
            assert agreed and "agree with the workflow's" in agreed[0], report
    if versions["polars"]:
        assert "<venv>/bin/python -m snakedask_tools.benchmark.baselines.peers polars" in report
    if versions["gdal"]:
        assert "`gdal_calc.py --quiet --hideNoData" in report and "gdal_translate -q -of COG" in report
    # The baselines ran as modules, in their own processes.
    assert "<venv>/bin/python -m snakedask_tools.benchmark.baselines.eager averages" in report
    assert "<venv>/bin/python -m snakedask_tools.benchmark.baselines.floor raster" in report
    # Inputs are kept for later runs; the scratch checkout is gone.
    assert sorted(p.name for p in data.iterdir()) == ["csv-0.05x", "raster-0.25x-tiled-deflate"]


def test_a_peer_not_installed_is_a_row_saying_so():
    """Without running anything: the Peers table and the details of a measured and a missing peer."""
    from types import SimpleNamespace

    from snakedask_tools.benchmark import cases, report
    from snakedask_tools.benchmark.measure import Measurement, Run

    def measured(label, seconds, rss):
        return Measurement(label, ["true"], runs=[Run(seconds, rss, 0)])

    polars = cases.Peer("Polars 2.1.0", measured("averages 1x polars", 2.0, 200_000_000))
    row = cases.Comparison(
        "ndvi",
        "raster 1x",
        "tiled",
        measured("ndvi 1x workflow", 6.0, 800_000_000),
        measured("ndvi 1x eager", 4.0, 400_000_000),
        peers=[polars, cases.missing_peer("gdal")],
    )
    bench = SimpleNamespace(rows=[row], tiny=[], args=SimpleNamespace(keep_scratch=False), checkout="/x")
    bench.measurements = row.measurements
    table = report.report_peers(bench)
    assert "| ndvi | raster 1x | tiled | Polars 2.1.0 | 2.00 | 200 | 3.00 | 4.00 | 2.00 |" in table
    assert "| ndvi | raster 1x | tiled | GDAL CLI | not installed | not installed | — | — | — |" in table
    details = "\n".join(report.report_details(bench))
    assert "- **GDAL CLI**: not installed (Debian: apt-get install gdal-bin): not run" in details


def test_the_workflow_is_measured_with_the_configs_own_block_and_chunk_sizes():
    """A benchmark of other settings than a user's run gets would measure another workflow
    (64 MB blocks took 52 % more memory than the default 20 MB at 10x, and no less time)."""
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    defaults = command_line.parse_args([])
    assert defaults.blocksize == schema["$defs"]["table"]["properties"]["blocksize"]["default"]
    assert defaults.chunks == schema["$defs"]["scene"]["properties"]["chunks"]["default"]
