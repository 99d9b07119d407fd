"""The markdown report: the machine and code measured, one table row per case, and every run."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import psutil

from snakedask import run_info
from snakedask_tools.benchmark import s3
from snakedask_tools.benchmark.cases import Bench
from snakedask_tools.benchmark.inputs import BIG_LAYOUT, EAGER_MAX_SCALE
from snakedask_tools.benchmark.measure import MB, PYTHON, SAMPLE_INTERVAL, Measurement
from snakedask_tools.benchmark.scratch import parse_chunks
from snakedask_tools.checkout import COPIED, ROOT


def fmt(value: float | None, digits: int = 2) -> str:
    return "failed" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def code_version() -> str:
    """The commit measured, and which copied files differ from it (others' edits in progress count)."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        # rstrip only: `status --porcelain` lines start with a space that the file name's offset counts on.
        return result.stdout.rstrip() if result.returncode == 0 else ""

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--", *COPIED)
    except OSError:  # no git: a tarball or an image without it
        commit, changed = "", ""
    if not commit:
        return "unknown (not a git checkout)"
    files = [line[3:] for line in changed.splitlines()]
    return f"commit {commit}" + (f", with uncommitted changes to {', '.join(files)}" if files else ", clean")


def load_average() -> str:
    # Others' jobs on a shared machine change the timings: the report says how busy it was.
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"


def machine_facts() -> list[str]:
    """CPU, memory, platform and package versions, taken when the benchmark starts."""
    memory = psutil.virtual_memory()
    # The versions a workflow run records (GDAL and the packages), without Python and the platform.
    versions = run_info.software_versions().splitlines()
    packages = [line for line in versions if not line.startswith(("python ", "platform "))]
    return [
        (
            f"- CPUs: {psutil.cpu_count(logical=True)} logical, {psutil.cpu_count(logical=False)} physical; "
            f"load average at the start {load_average()}"
        ),
        f"- memory: {memory.total / MB:.0f} MB total, {memory.available / MB:.0f} MB available at the start",
        f"- platform: {platform.platform()}",
        f"- Python: {platform.python_version()} ({sys.executable})",
        f"- code measured: {code_version()}",
        f"- packages: {', '.join(packages)}",
    ]


def report_header(bench: Bench, command_line: str, started: dt.datetime, facts: list[str]) -> list[str]:
    args = bench.args
    minutes = (dt.datetime.now() - started).total_seconds() / 60
    return [
        "# Workflow benchmark",
        "",
        f"Run {started:%Y-%m-%d %H:%M}, {minutes:.1f} min, with:",
        "",
        "```",
        command_line,
        "```",
        "",
        *facts,
        f"- load average at the end: {load_average()}",
        (
            f"- settings: {args.repeats} run(s) per command (median time, highest peak), each workflow "
            "in turn with its eager baseline (workflow, eager, workflow, ...), "
            f"`snakemake --cores {args.cores}`, CSV blocksize {args.blocksize}, raster chunks "
            f"{parse_chunks(args.chunks)}, raster layouts {', '.join(args.layouts)}, inputs in {args.data}"
            + (
                "; with `--s3`: NDVI also read in place from a local S3 server (moto) on 127.0.0.1"
                if args.s3
                else ""
            )
        ),
        "",
        (
            "Peak RSS is summed over the whole process tree (Snakemake, its job scripts, Dask workers), sampled "
            f"every {SAMPLE_INTERVAL:g} s. Before every run of every command its input files are read once "
            "(untimed), so each command starts with its inputs in the page cache."
        ),
        "",
        (
            "- *workflow* = `snakemake <product> --forcerun <rule>` (the compute rule only; `--forceall` for all "
            "products);"
        ),
        (
            "- *eager* = one plain pandas (pyarrow parser) / rasterio + numpy script holding everything in memory, "
            "writing the same product format;"
        ),
        (
            "- *bytes floor* = read the inputs' bytes (plain reads, 16 MiB at a time) and write as many bytes as the "
            "workflow's output file has (plain writes of one buffer): no decoding, compute or compression; "
            "process wall time;"
        ),
        (
            "- *compute floor* = the computation alone on all cores, inputs already in memory, timed inside the "
            "process: NDVI with numpy over row bands in a thread pool per core; for the CSV, pyarrow's "
            "multithreaded `read_csv` of the file's bytes + `Table.group_by().aggregate()` means."
        ),
        (
            "- *peers* = the tools a scientist would pick instead, each its own process run in turn with the "
            "workflow and eager (see the Peers table; each one's command is under Details): Polars and DuckDB "
            "for the averages, GDAL's command line (`gdal_calc.py` + `gdal_translate` to the same COG) for "
            "NDVI; their products are checked against the workflow's."
        ),
        (
            "- raster layouts of the same pixels: *tiled* = 256-px tiles, uncompressed; *tiled-deflate* = 256-px "
            "tiles, DEFLATE + floating-point predictor (the generator's and the lesson's layout); *stripped* = "
            f"GDAL's default GTiff, uncompressed, no tiles. Sizes above {EAGER_MAX_SCALE}x/side are measured for "
            f"the workflow only, in {BIG_LAYOUT} only."
        ),
        "",
    ]


def report_table(bench: Bench) -> list[str]:
    if not bench.rows:  # --only datasets
        return report_scaling(bench)
    lines = [
        (
            "| product | input | layout | workflow time (s) | workflow peak RSS (MB) | eager time (s) "
            "| eager peak RSS (MB) | workflow / eager time | workflow / eager memory | bytes floor (s) "
            "| compute floor (s) | workflow / bytes floor | workflow / compute floor |"
        ),
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in bench.rows:
        w, e = row.workflow, row.eager
        time, memory = w.median_seconds, w.peak_rss_mb
        bytes_floor = row.bytes_floor.median_seconds if row.bytes_floor else None
        compute_floor = row.compute_floor.median_seconds if row.compute_floor else None
        eager = (
            [
                fmt(e.median_seconds),
                fmt(e.peak_rss_mb, 0),
                ratio(time, e.median_seconds),
                ratio(memory, e.peak_rss_mb),
            ]
            if e
            else ["not run", "not run", "—", "—"]
        )
        cells = [
            row.product,
            row.input,
            row.layout,
            fmt(time),
            fmt(memory, 0),
            *eager,
            fmt(bytes_floor) if row.bytes_floor else "—",
            fmt(compute_floor) if row.compute_floor else "—",
            ratio(time, bytes_floor),
            ratio(time, compute_floor),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for row in bench.rows:
        if row.product == "all products":
            lines += [
                "",
                (
                    f"Whole workflow / one eager script: time "
                    f"{ratio(row.workflow.median_seconds, row.eager.median_seconds)}x, memory "
                    f"{ratio(row.workflow.peak_rss_mb, row.eager.peak_rss_mb)}x (goal: time ≤ 2x)."
                ),
            ]
    return lines + report_scaling(bench)


def report_scaling(bench: Bench) -> list[str]:
    """Workflow-only sizes as ratios to the same layout's largest fully measured size."""
    lines = []
    for item in bench.scaling:
        big = item.big.workflow
        head = (
            f"- {item.scene.label}, {item.scene.layout}: workflow {fmt(big.median_seconds)} s, "
            f"peak {fmt(big.peak_rss_mb, 0)} MB"
        )
        if item.reference is None:
            lines.append(f"{head}; no smaller size of this layout was measured to compare with.")
        else:
            ref = item.reference.workflow
            pixels = item.scene.pixel_bytes / item.reference_scene.pixel_bytes
            lines.append(
                f"{head}: {ratio(big.median_seconds, ref.median_seconds)}x the time and "
                f"{ratio(big.peak_rss_mb, ref.peak_rss_mb)}x the peak memory of "
                f"{item.reference_scene.label} ({fmt(ref.median_seconds)} s, "
                f"{fmt(ref.peak_rss_mb, 0)} MB) for {pixels:.3g}x the pixels."
            )
        lines.append(f"  Eager {item.big.eager_skipped}; floors not run at this size.")
    return ["", "## Beyond the eager baseline's memory", "", *lines] if lines else []


def report_in_place(bench: Bench) -> list[str]:
    """``--s3``: the workflow's NDVI read in place from the local S3 server beside the local-file run."""
    found = [row for row in bench.rows if row.in_place is not None]
    if not found:
        return []
    server = bench.store
    endpoint = server.endpoint if server is not None else f"http://{s3.HOST}:PORT"
    lines = [
        "",
        f"## NDVI read in place from S3 (moto on {s3.HOST})",
        "",
        (
            "The `ndvi` rule with the scene read in place (`read_in_place: true`: every block read through "
            f"GDAL's `/vsis3/`) from a local S3 server, moto's `moto_server` on {s3.HOST} started by the "
            "benchmark, beside the same rule reading the local files, in the same rounds (workflow local, "
            "workflow in place, eager, ...). The bands are uploaded once per input (untimed), the `locate_band` "
            "jobs run beforehand (untimed), and before each run the objects are read once through the server "
            "(untimed), as local inputs are read into the page cache. Time: median wall time; peak RSS: the "
            "`snakemake` command's whole process tree, as in the table above."
        ),
        "",
        (
            "**The S3 server's memory is not part of the workflow's peak**: it is the store, a separate process "
            "the benchmark started, sampled on its own (last column) while the scene's commands ran. moto "
            "answers every ranged GET by reading the whole object (moto 5's `_handle_range_header` slices the "
            "object's full value), so each range request costs the server a copy of the whole band file: the "
            "in-place time includes that cost of the store, which a real object store does not have, and the "
            "store's peak grows with the band size."
        ),
        "",
        (
            "| input | layout | local time (s) | local peak RSS (MB) | in place time (s) | in place peak RSS (MB) "
            "| in place / local time | in place / local memory | range GETs per run | S3 server peak RSS (MB), "
            "not in the workflow's |"
        ),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in found:
        local, case = row.workflow, row.in_place
        remote = case.measurement
        cells = [
            row.input,
            row.layout,
            fmt(local.median_seconds),
            fmt(local.peak_rss_mb, 0),
            fmt(remote.median_seconds),
            fmt(remote.peak_rss_mb, 0),
            ratio(remote.median_seconds, local.median_seconds),
            ratio(remote.peak_rss_mb, local.peak_rss_mb),
            "—" if case.range_requests is None else str(case.range_requests),
            "—" if case.store_peak_rss is None else f"{case.store_peak_rss / MB:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    command = display_command(found[0].in_place.measurement.command, bench.checkout)
    lines += [
        "",
        "The in-place command (per scene; `bench-s3.yaml` holds each scene's entry read in place, "
        f"`s3://{s3.BUCKET}/<scene>/<band>.tif`), run with only these AWS variables set: "
        "`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (random, per run), `AWS_DEFAULT_REGION=us-east-1`, "
        f"`AWS_ENDPOINT_URL_S3={endpoint}`, `AWS_EC2_METADATA_DISABLED=true`, `AWS_CONFIG_FILE` and "
        "`AWS_SHARED_CREDENTIALS_FILE` pointing at no file; `NO_PROXY` covers 127.0.0.1:",
        "",
        "```",
        command,
        "```",
    ]
    return lines


def report_peers(bench: Bench) -> list[str]:
    """One row per peer measured (or not installed) beside a workflow row."""
    found = [(row, peer) for row in bench.rows for peer in row.peers]
    if not found:
        return []
    lines = [
        "",
        "## Peers",
        "",
        (
            "The same product from the tools one would use instead, in the same rounds as the workflow and "
            "eager rows above (workflow, eager, peers, workflow, ...): median wall time and highest peak RSS "
            "of the whole process tree."
        ),
        "",
        (
            "| product | input | layout | peer | time (s) | peak RSS (MB) | workflow / peer time "
            "| workflow / peer memory | eager / peer time |"
        ),
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row, peer in found:
        m, w, e = peer.measurement, row.workflow, row.eager
        if m is None:
            cells = ["not installed", "not installed", "—", "—", "—"]
        else:
            cells = [
                fmt(m.median_seconds),
                fmt(m.peak_rss_mb, 0),
                ratio(w.median_seconds, m.median_seconds),
                ratio(w.peak_rss_mb, m.peak_rss_mb),
                ratio(e.median_seconds, m.median_seconds) if e else "—",
            ]
        lines.append("| " + " | ".join([row.product, row.input, row.layout, peer.tool, *cells]) + " |")
    return lines


def report_tiny(bench: Bench) -> list[str]:
    if not bench.tiny:
        return []
    lines = [
        "",
        "## Rule on a tiny input",
        "",
        (
            "The rule through Snakemake on the bundled sample: almost all fixed cost (Snakemake, the job's "
            "interpreter and imports, a local Dask cluster)."
        ),
        "",
        "| rule | input | time (s) | peak RSS (MB) |",
        "| --- | --- | ---: | ---: |",
    ]
    for measurement, description in bench.tiny:
        lines.append(
            f"| {measurement.label.split()[0]} | {description} | {fmt(measurement.median_seconds)} | "
            f"{fmt(measurement.peak_rss_mb, 0)} |"
        )
    return lines


def report_datasets(bench: Bench) -> list[str]:
    """The many-datasets case: the workflow and the eager loop at N extra pairs and at none."""
    if not bench.datasets:
        return []
    lines = [
        "",
        "## Many datasets",
        "",
        (
            "Sample-sized datasets, one table and one scene per pair: config/config.yaml's sample pair "
            "and N copies of its entries (`t01`, `s01`, ...: the same bundled files), every product and "
            "figure of the default target. *workflow* = `snakemake` with that config, every job rerun "
            "(results, logs, downloads and `.snakemake` deleted before each run, untimed); *eager loop* = "
            "one Python process looping over the same pairs (pandas averages and counts, rasterio + numpy "
            "NDVI COG and its statistics, the figures with the workflow's own plotting functions; no HTML "
            "report pages or Dask reports; the files read in place, not copied first). N = 0 is the "
            "sample pair alone, measured in the same rounds; cost per extra pair = (t(N) - t(0)) / N of "
            "the median times. Peak RSS of the whole process tree at N."
        ),
        "",
        "| run | N | time at N (s) | time at 0 (s) | cost per extra pair (s) | peak RSS at N (MB) | command |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for case in bench.datasets:
        for name, at_n, at_none in (
            ("workflow", case.workflow, case.workflow_none),
            ("eager loop", case.eager, case.eager_none),
        ):
            cells = [
                name,
                str(case.extra),
                fmt(at_n.median_seconds),
                fmt(at_none.median_seconds),
                fmt(case.per_pair(at_n, at_none, case.extra)),
                fmt(at_n.peak_rss_mb, 0),
                f"`{display_command(at_n.command, bench.checkout)}`",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    if bench.datasets_notes:
        lines += ["", *(f"- {note}" for note in bench.datasets_notes)]
    return lines


def describe_measurement(measurement: Measurement, checkout: Path) -> list[str]:
    lines = [
        f"- **{measurement.label}**: `{display_command(measurement.shown or measurement.command, checkout)}`"
    ]
    if measurement.runs:
        timed = "in-process {:.2f} s, process ".format if measurement.in_process else "".format
        runs = (f"{timed(r.reported)}{r.seconds:.2f} s / {r.peak_rss / MB:.0f} MB" for r in measurement.runs)
        lines.append("  - runs: " + ", ".join(runs))
    lines += [f"  - {note}" for note in measurement.notes]
    if measurement.error:
        lines += [
            "  - **failed**:",
            "",
            "    ```",
            *(f"    {line}" for line in measurement.error.splitlines()),
            "    ```",
        ]
    return lines


def report_details(bench: Bench) -> list[str]:
    lines = ["", "## Details"]
    if not all(m.ok for m in bench.measurements) and not bench.args.keep_scratch:
        lines += [
            "",
            (
                "Some commands failed; rerun with `--keep-scratch` to keep their logs and the "
                "scratch checkout (`bench-logs/`, `logs/`)."
            ),
        ]
    if bench.tiny:
        lines += ["", "### Rules on the bundled sample", ""]
        for measurement, _ in bench.tiny:
            lines += describe_measurement(measurement, bench.checkout)
    for row in bench.rows:
        layout = f", {row.layout}" if row.layout != "—" else ""
        lines += ["", f"### {row.product}, {row.input}{layout}", ""]
        for measurement in row.measurements:
            lines += describe_measurement(measurement, bench.checkout)
        if row.eager_skipped:
            lines.append(f"- **eager**: {row.eager_skipped}")
        lines += [f"- **{peer.tool}**: {peer.missing}" for peer in row.peers if peer.measurement is None]
        lines += [f"- {note}" for note in row.notes]
        if row.in_place is not None:
            lines += [f"- {note}" for note in row.in_place.notes]
    return lines


def report_datasets_details(bench: Bench) -> list[str]:
    """Every run of the many-datasets case (the last part of the Details)."""
    if not bench.datasets:
        return []
    first = bench.datasets[0]
    lines = ["", "### Many datasets", ""]
    for measurement in [first.workflow_none, first.eager_none]:
        lines += describe_measurement(measurement, bench.checkout)
    for case in bench.datasets:
        for measurement in (case.workflow, case.eager):
            lines += describe_measurement(measurement, bench.checkout)
    return lines


def report(bench: Bench, command_line: str, started: dt.datetime, facts: list[str]) -> str:
    lines = [
        *report_header(bench, command_line, started, facts),
        *report_table(bench),
        *report_in_place(bench),
        *report_peers(bench),
        *report_tiny(bench),
        *report_datasets(bench),
        *report_details(bench),
        *report_datasets_details(bench),
    ]
    return "\n".join(lines) + "\n"


def display_command(command: list[str] | str, checkout: Path) -> str:
    """The command as typed, with the scratch folder and venv shortened for reading."""
    text = command if isinstance(command, str) else shlex.join(command)
    return text.replace(str(checkout), "<scratch>").replace(str(PYTHON.parent), "<venv>/bin")
