"""A --quick run of the benchmark on tiny inputs: every case runs, agrees with its baseline, and is reported."""

import subprocess
import sys

import pytest

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
    # The main table (header, averages, ndvi, all products), then the tiny table (header, two rules).
    assert products == ["product", "averages", "ndvi", "all products", "rule", "averages", "ndvi"]
    assert "CSV 0.05x" in rows[1] and "875 x 1861 px" in rows[2] and "tiled-deflate" in rows[3]
    for note in (
        "workflow and eager averages agree",
        "workflow and eager NDVI agree",
        "workflow and eager averages and NDVI agree",
    ):
        assert f"- {note}" in report
    # The baselines ran as modules, in their own processes.
    assert "<venv>/bin/python -m snakedask_tools.benchmark.baselines.eager averages" in report
    assert "<venv>/bin/python -m snakedask_tools.benchmark.baselines.floor raster" in report
    # Inputs are kept for later runs; the scratch checkout is gone.
    assert sorted(p.name for p in data.iterdir()) == ["csv-0.05x", "raster-0.25x-tiled-deflate"]
