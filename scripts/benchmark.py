"""Benchmark the workflow's Dask rules against eager pandas / numpy baselines.

For each input size this measures, in one run on one machine:

* **workflow**: the rule itself (``averages`` or ``ndvi``) run through
  ``snakemake --cores N <product> --forcerun <rule>`` in a scratch copy of the
  checkout, with a benchmark config pointing at generated stand-in inputs. The
  download and encoding rules run once beforehand and are not timed;
* **eager**: the same product from a plain script that holds everything in
  memory (``pd.read_csv(engine="pyarrow")`` + ``groupby().mean()``; rasterio +
  numpy for NDVI, written with the GeoTIFF options ``scripts/ndvi.py`` uses);
* **I/O floor**: read the inputs and write an output of the same size, no compute;

and, at the smallest CSV and raster sizes (1x by default), the whole workflow
(``--forceall`` on the products ``rule all`` makes for one table and one
scene, downloads included) against one eager script making all products, and
the rules on the bundled tiny sample, which shows their fixed overhead.

Every command runs ``--repeats`` times; the report gives the median wall time
and the peak resident memory of the whole process tree (the command and all
its descendants: Snakemake's job scripts, Dask workers), summed and sampled
every 0.05 s. Summed RSS counts shared pages (libraries) once per process, so
it overstates multi-process memory a little; processes living less than one
sampling interval can be missed.

Inputs come from ``scripts/make_sample_data.py`` and are kept under ``--data``
(generating the 10x CSV and 16x rasters takes minutes; later runs reuse them).

Usage (from the checkout, after ``make setup``)::

    make bench                                     # CSV 1x, 10x; raster 1x, 4x per side; 3 repeats
    make bench BENCH_ARGS="--quick"                # smallest sizes, one repeat: a smoke test
    .venv/bin/python scripts/benchmark.py --only raster --raster-scales 1,2 --chunks 1024
    .venv/bin/python scripts/benchmark.py --quick --csv-scales 0.1 --raster-scales 0.25

The report is printed and written to ``--out`` (markdown).
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

import make_sample_data  # noqa: E402 - needs SCRIPTS on sys.path

# The venv's own tools, as tests/conftest.py finds them: the benchmark runs with the venv's python.
PYTHON = Path(sys.executable)
SNAKEMAKE = PYTHON.with_name("snakemake")
SAMPLE = ROOT / "resources" / "sample"
TINY_CSV = SAMPLE / "dg_soil_moisture.csv"
TINY_BANDS = {band: SAMPLE / f"RU_ANS_TR2_FL005M_{band}.tif" for band in ("red", "nir")}
BENCH_CONFIG = "bench.yaml"
# What a scratch checkout gets: the workflow and what its rules use (rules' conda: directives name environment.yml).
COPIED = ("workflow", "config", "scripts", "environment.yml")
SAMPLE_INTERVAL = 0.05  # seconds between RSS samples of the process tree
MB = 1_000_000
VERSIONED = ("snakemake", "dask", "distributed", "pandas", "pyarrow", "rasterio", "numpy", "xarray", "rioxarray")


# --------------------------------------------------------------------------- baselines

# Plain scripts, run as their own processes so their time and memory are measured
# like the workflow's. They read everything into memory at once, as one would by hand.
EAGER_SOURCE = '''\
"""Eager baselines: whole files in memory, pandas (pyarrow parser) and rasterio + numpy."""
import json
import sys
from pathlib import Path


def averages(src, dst):
    import pandas as pd

    frame = pd.read_csv(src, encoding="latin-1", engine="pyarrow")
    means = frame.groupby("year").mean(numeric_only=True)
    means.to_csv(dst)
    return means


def ndvi(red_path, nir_path, dst, options):
    import numpy as np
    import rasterio

    with rasterio.open(red_path) as red_src, rasterio.open(nir_path) as nir_src:
        red = red_src.read(1).astype("float32", copy=False)
        nir = nir_src.read(1).astype("float32", copy=False)
        valid = (red != red_src.nodata) & (nir != nir_src.nodata)
        grid = dict(crs=red_src.crs, transform=red_src.transform, height=red_src.height, width=red_src.width)
    total = nir + red
    valid &= total != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        index = ((nir - red) / total).astype("float32", copy=False)
    index[~valid] = np.nan
    with rasterio.open(dst, "w", count=1, nodata=float("nan"), **grid, **options) as out:
        out.write(index, 1)
    return index


def plot_averages(means, png):
    import matplotlib

    matplotlib.use("Agg")
    axes = means.plot(subplots=True, marker="o", figsize=(8, 2 * len(means.columns)))
    axes[0].figure.savefig(png, dpi=110)


def plot_ndvi(index, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = max(1, max(index.shape) // 1600)
    fig, ax = plt.subplots(figsize=(10, 6))
    image = ax.imshow(index[::step, ::step], cmap="RdYlGn", vmin=-1, vmax=1)
    fig.colorbar(image, ax=ax, label="NDVI")
    fig.savefig(png, dpi=120)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "averages":
        averages(*args)
    elif mode == "ndvi":
        ndvi(*args[:3], json.loads(args[3]))
    elif mode == "all":
        csv_path, red_path, nir_path, out, options = args
        out = Path(out)
        plot_averages(averages(csv_path, out / "averages.csv"), out / "averages.png")
        plot_ndvi(ndvi(red_path, nir_path, out / "ndvi.tif", json.loads(options)), out / "ndvi.png")
    else:
        sys.exit(f"unknown mode {mode!r}")
'''

FLOOR_SOURCE = '''\
"""I/O floor: read the inputs, write an output of the same size, compute nothing."""
import json
import sys
from pathlib import Path


def csv(src, dst):
    with open(src, "rb") as stream:
        while stream.read(1 << 24):
            pass
    Path(dst).write_text("year,value\\n2014,0\\n")


def raster(red_path, nir_path, dst, options):
    import rasterio

    with rasterio.open(red_path) as red_src, rasterio.open(nir_path) as nir_src:
        red = red_src.read(1)
        nir_src.read(1)
        grid = dict(crs=red_src.crs, transform=red_src.transform, height=red_src.height, width=red_src.width)
        nodata = red_src.nodata
    with rasterio.open(dst, "w", count=1, nodata=nodata, **grid, **options) as out:
        out.write(red, 1)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "csv":
        csv(*args)
    else:
        raster(*args[:3], json.loads(args[3]))
'''


def ndvi_creation_options() -> dict[str, Any]:
    """The product format of scripts/ndvi.py (a COG through GDAL's COG driver), for the baselines.

    Eager baselines hold the array in memory, so the COG driver makes the
    overviews itself (``overviews="AUTO"``) instead of reusing a staged file's.
    """
    from ndvi import COG_OPTIONS

    return {**COG_OPTIONS, "overviews": "AUTO"}


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    """One execution of a command."""

    seconds: float
    peak_rss: int  # bytes, summed over the process tree
    returncode: int | None  # None: killed after the timeout
    leftovers: int = 0  # descendants still running after the command exited


@dataclass
class Measurement:
    """Repeated runs of one command, and what went wrong if anything did."""

    label: str
    command: list[str]
    runs: list[Run] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.runs)

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(r.seconds for r in self.runs) if self.ok else None

    @property
    def peak_rss_mb(self) -> float | None:
        # The worst run: memory budgets are set by the peak, not the typical run.
        return max(r.peak_rss for r in self.runs) / MB if self.ok else None


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.seen: dict[int, psutil.Process] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop_event.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def _tree_rss(self) -> int:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # exited between listing and reading: nothing to count
                continue
            self.seen.setdefault(process.pid, process)
        return total

    def still_running(self) -> int:
        """Descendants seen during the run that outlived it (e.g. a worker not shut down)."""
        alive = 0
        for pid, process in self.seen.items():
            try:
                # is_running() also checks the start time, so a reused pid does not count.
                alive += pid != self.root.pid and process.is_running() and process.status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                continue
        return alive


def subprocess_env() -> dict[str, str]:
    # As the tests do: only the benchmark config may point the rules at a scheduler.
    return {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}


def run_once(command: list[str], cwd: Path, log: Path, timeout: float) -> Run:
    """Run ``command`` (an argument list, no shell) and measure its wall time and peak tree RSS."""
    with open(log, "ab") as out:
        out.write(f"\n$ {shlex.join(command)}\n".encode())
        out.flush()
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=subprocess_env(), stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(process.pid)
        sampler.start()
        try:
            returncode: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(process.pid)
            process.wait()
            returncode = None
        seconds = time.perf_counter() - start
        sampler.stop()
    return Run(seconds, sampler.peak, returncode, sampler.still_running())


def kill_tree(pid: int) -> None:
    """Kill a command we started, children first, after it overran its timeout."""
    try:
        parent = psutil.Process(pid)
        for process in [*parent.children(recursive=True), parent]:
            process.kill()
    except psutil.Error:
        pass


def failure_excerpt(log: Path, lines: int = 40) -> str:
    """The last traceback of the log's last command, else its last lines.

    Snakemake prints a failed job's log (``show-failed-logs`` in the default
    profile) with the script's traceback and then its own summary; the traceback says why.
    """
    text = log.read_text(errors="replace")
    run = text[text.rfind("\n$ ") + 1:].splitlines()
    starts = [i for i, line in enumerate(run) if line.startswith("Traceback")]
    if not starts:
        return "\n".join(run[-lines:])
    block = run[starts[-1]:]
    ends = [i for i, line in enumerate(block) if line.startswith("=====")]
    return "\n".join(block[:ends[0] if ends else len(block)][-lines:])


def measure_command(label: str, command: list[str], cwd: Path, logs: Path, repeats: int,
                    timeout: float) -> Measurement:
    """Run ``command`` ``repeats`` times; stop at the first failure and keep its log's end."""
    log = logs / (label.replace(" ", "_").replace("/", "-") + ".log")
    result = Measurement(label, command)
    for attempt in range(1, repeats + 1):
        progress(f"  {label}: run {attempt}/{repeats} ... ")
        run = run_once(command, cwd, log, timeout)
        if run.returncode != 0:
            reason = f"timed out after {timeout:g} s" if run.returncode is None else f"exit code {run.returncode}"
            result.error = f"{reason}; from {log.name}:\n{failure_excerpt(log)}"
            progress(f"FAILED ({reason})\n")
            return result
        result.runs.append(run)
        progress(f"{run.seconds:.2f} s, {run.peak_rss / MB:.0f} MB\n")
        if run.leftovers:
            result.notes.append(f"run {attempt}: {run.leftovers} descendant process(es) still running after exit")
    return result


def progress(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


# --------------------------------------------------------------------------- inputs


def scale_label(scale: float) -> str:
    return f"{scale:g}x"


def dataset_name(kind: str, scale: float) -> str:
    """Table/scene name for the workflow: letters, digits, ``_`` and ``-`` only."""
    return f"{kind}_{scale_label(scale).replace('.', 'p')}"


def csv_input(data: Path, scale: float) -> Path:
    """The stand-in CSV at ``scale`` (generated once, reused afterwards)."""
    path = data / f"csv-{scale_label(scale)}" / "dg_soil_moisture.csv"
    if not path.exists():  # the generator renames into place only when complete
        progress(f"generating {path} ...\n")
        make_sample_data.write_soil_moisture_csv(path, scale)
    return path


def raster_inputs(data: Path, scale: float) -> dict[str, Path]:
    """The stand-in red and NIR bands at ``scale`` per side (generated once, reused)."""
    height = round(make_sample_data.RASTER_HEIGHT * scale)
    width = round(make_sample_data.RASTER_WIDTH * scale)
    bands = {}
    for band in ("red", "nir"):
        path = data / f"raster-{scale_label(scale)}" / f"RU_ANS_TR2_FL005M_{band}.tif"
        if not path.exists():
            progress(f"generating {path} ({height} x {width} px) ...\n")
            make_sample_data.write_band(path, band, height, width)
        bands[band] = path
    return bands


def describe_csv(label: str, path: Path) -> str:
    return f"CSV {label} ({path.stat().st_size / MB:.1f} MB)"


def describe_raster(label: str, bands: dict[str, Path]) -> str:
    import rasterio

    with rasterio.open(bands["red"]) as src:
        shape = f"{src.height} x {src.width} px"
    size = sum(p.stat().st_size for p in bands.values()) / MB
    return f"raster {label} ({shape}, 2 bands {size:.1f} MB)"


# --------------------------------------------------------------------------- the workflow copy


def make_checkout(dest: Path) -> Path:
    """Copy what a run needs (as tests/conftest.py's copy_workflow, without the sample)."""
    for name in COPIED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, dest / name)
    return dest


def parse_chunks(text: str) -> Any:
    """``2048`` -> ``{x: 2048, y: 2048}``; anything else (``15MB``, ``auto``) as given."""
    return {"x": int(text), "y": int(text)} if text.isdigit() else text


def write_bench_config(checkout: Path, tables: dict[str, Path], scenes: dict[str, dict[str, Path]],
                       blocksize: str, chunks: Any) -> Path:
    """The config merged over config/config.yaml: one entry per input, by absolute path."""
    config = {
        "tables": {name: {"url": str(path), "blocksize": blocksize} for name, path in tables.items()},
        "scenes": {
            # A copy each: a shared object would be written as a YAML anchor and aliases.
            name: {"red": {"url": str(bands["red"])}, "nir": {"url": str(bands["nir"])},
                   "chunks": copy.copy(chunks)}
            for name, bands in scenes.items()
        },
    }
    path = checkout / BENCH_CONFIG
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_command(cores: int, targets: Iterable[str], *options: str) -> list[str]:
    # Targets before --configfile: it takes every following word as a config file.
    return [str(SNAKEMAKE), "--cores", str(cores), *targets, *options,
            "--configfile", "config/config.yaml", BENCH_CONFIG]


def table_products(name: str) -> list[str]:
    return [f"results/tables/{name}/{product}" for product in ("encoding.json", "averages.csv", "averages.png")]


def scene_products(name: str) -> list[str]:
    return [f"results/scenes/{name}/{product}" for product in ("ndvi.tif", "ndvi.png")]


def rule_benchmark_seconds(checkout: Path, tsv: str) -> tuple[float, float] | None:
    """(seconds, max_rss MB) of the last run of a rule, from its Snakemake ``benchmark:`` file."""
    path = checkout / "benchmarks" / tsv
    if not path.exists():
        return None
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    try:
        return float(rows[-1]["s"]), float(rows[-1]["max_rss"])
    except (IndexError, KeyError, ValueError):
        return None


# --------------------------------------------------------------------------- checks


def averages_agree(workflow_csv: Path, eager_csv: Path) -> str:
    """Whether the rule and the baseline computed the same means (else the ratios mean nothing)."""
    import numpy as np
    import pandas as pd

    try:
        ours = pd.read_csv(workflow_csv, index_col=0)
        theirs = pd.read_csv(eager_csv, index_col=0)
    except FileNotFoundError as err:
        return f"not compared: {err.filename} missing"
    same = (list(ours.index) == list(theirs.index) and list(ours.columns) == list(theirs.columns)
            and np.allclose(ours.to_numpy(float), theirs.to_numpy(float), rtol=1e-9, equal_nan=True))
    return "workflow and eager averages agree" if same else "workflow and eager averages DIFFER"


def ndvi_agree(workflow_tif: Path, eager_tif: Path, size: int = 512) -> str:
    """Compare three windows (corner, centre, corner) of the two NDVI files, and their metadata."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    if not (workflow_tif.exists() and eager_tif.exists()):
        return "not compared: a file is missing"
    with rasterio.open(workflow_tif) as ours, rasterio.open(eager_tif) as theirs:
        if (ours.shape, ours.crs, ours.transform, ours.dtypes) != (theirs.shape, theirs.crs, theirs.transform,
                                                                    theirs.dtypes):
            return "workflow and eager NDVI grids/dtypes DIFFER"
        height, width = ours.shape
        corners = [(0, 0), ((height - size) // 2, (width - size) // 2), (height - size, width - size)]
        for row, col in corners:
            window = Window(max(0, col), max(0, row), min(size, width), min(size, height))
            if not np.allclose(ours.read(1, window=window), theirs.read(1, window=window),
                               atol=1e-6, equal_nan=True):
                return f"workflow and eager NDVI DIFFER in window {window}"
    return "workflow and eager NDVI agree (3 windows, grid, dtype)"


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Comparison:
    """One row of the report: the workflow against its eager baseline and the I/O floor."""

    product: str
    input: str
    workflow: Measurement
    eager: Measurement
    floor: Measurement | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Bench:
    """Everything a benchmark run needs, and what it found."""

    args: argparse.Namespace
    checkout: Path
    logs: Path
    options: dict[str, Any]
    rows: list[Comparison] = field(default_factory=list)
    tiny: list[tuple[Measurement, str]] = field(default_factory=list)

    def measure(self, label: str, command: list[str]) -> Measurement:
        return measure_command(label, command, self.checkout, self.logs, self.args.repeats, self.args.timeout)

    def snakemake(self, targets: Iterable[str], *options: str) -> list[str]:
        return snakemake_command(self.args.cores, targets, *options)

    def script(self, name: str) -> str:
        return str(self.checkout / "baselines" / name)

    def out_dir(self, name: str) -> Path:
        """Folder for the baselines' outputs of one dataset."""
        path = self.checkout / "baselines" / "out" / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def prepare(bench: Bench, tables: Iterable[str], scenes: Iterable[str]) -> None:
    """Download (copy) every input and detect encodings once: not what is measured."""
    targets = [f"results/tables/{t}/encoding.json" for t in tables]
    targets += [f"resources/scenes/{s}/{band}.tif" for s in scenes for band in ("red", "nir")]
    progress("preparing: downloads and encoding detection (untimed) ...\n")
    run = run_once(bench.snakemake(targets), bench.checkout, bench.logs / "prepare.log", bench.args.timeout)
    if run.returncode != 0:
        sys.exit(f"preparing the inputs failed:\n{failure_excerpt(bench.logs / 'prepare.log')}")


def rule_run(bench: Bench, label: str, target: str, rule: str, tsv: str) -> Measurement:
    """The rule alone through Snakemake, forced to rerun; notes the rule's own benchmark time."""
    result = bench.measure(label, bench.snakemake([target], "--forcerun", rule))
    own = rule_benchmark_seconds(bench.checkout, tsv)
    if own:
        result.notes.append(f"the job itself (Snakemake `benchmark:`, last run): {own[0]:.2f} s, "
                            f"max_rss {own[1]:.0f} MB")
    return result


def bench_tiny(bench: Bench, only: str) -> None:
    """The rules on the bundled sample: what a run costs when there is almost nothing to compute."""
    if only in ("csv", "all"):
        measurement = rule_run(bench, "averages tiny", "results/tables/tiny/averages.csv", "averages",
                               "tables/tiny/averages.tsv")
        bench.tiny.append((measurement, describe_csv("sample", TINY_CSV)))
    if only in ("raster", "all"):
        measurement = rule_run(bench, "ndvi tiny", "results/scenes/tiny/ndvi.tif", "ndvi", "scenes/tiny/ndvi.tsv")
        bench.tiny.append((measurement, describe_raster("sample", TINY_BANDS)))


def baseline(bench: Bench, label: str, script: str, *args: str | Path) -> Measurement:
    """A baseline script run with the venv's python; every argument is one argv word."""
    return bench.measure(label, [str(PYTHON), bench.script(script), *map(str, args)])


def bench_csv(bench: Bench, scale: float, path: Path) -> None:
    name, label = dataset_name("csv", scale), scale_label(scale)
    product = bench.checkout / f"results/tables/{name}/averages.csv"
    workflow = rule_run(bench, f"averages {label} workflow", str(product.relative_to(bench.checkout)),
                        "averages", f"tables/{name}/averages.tsv")
    eager_csv = bench.out_dir(name) / "averages.csv"
    eager = baseline(bench, f"averages {label} eager", "eager.py", "averages", path, eager_csv)
    floor = baseline(bench, f"averages {label} floor", "floor.py", "csv", path, bench.out_dir(name) / "floor.csv")
    row = Comparison("averages", describe_csv(label, path), workflow, eager, floor)
    if workflow.ok and eager.ok:
        row.notes.append(averages_agree(product, eager_csv))
    bench.rows.append(row)


def bench_raster(bench: Bench, scale: float, bands: dict[str, Path]) -> None:
    name, label = dataset_name("raster", scale), scale_label(scale)
    options = json.dumps(bench.options)
    product = bench.checkout / f"results/scenes/{name}/ndvi.tif"
    workflow = rule_run(bench, f"ndvi {label} workflow", str(product.relative_to(bench.checkout)), "ndvi",
                        f"scenes/{name}/ndvi.tsv")
    eager_tif = bench.out_dir(name) / "ndvi.tif"
    eager = baseline(bench, f"ndvi {label} eager", "eager.py", "ndvi", bands["red"], bands["nir"], eager_tif,
                     options)
    floor = baseline(bench, f"ndvi {label} floor", "floor.py", "raster", bands["red"], bands["nir"],
                     bench.out_dir(name) / "floor.tif", options)
    row = Comparison("ndvi", describe_raster(f"{label}/side", bands), workflow, eager, floor)
    if workflow.ok and eager.ok:
        row.notes.append(ndvi_agree(product, eager_tif))
        # Chunk windows that straddle the output's 256-px tiles make GDAL rewrite compressed tiles.
        row.notes.append(f"ndvi.tif size: workflow {product.stat().st_size / MB:.1f} MB, "
                         f"eager {eager_tif.stat().st_size / MB:.1f} MB")
    bench.rows.append(row)


def bench_everything(bench: Bench, csv_scale: float, csv_path: Path, raster_scale: float,
                     bands: dict[str, Path]) -> None:
    """The whole workflow for one table and one scene against one eager script making all products."""
    table, scene = dataset_name("csv", csv_scale), dataset_name("raster", raster_scale)
    label = f"all {scale_label(csv_scale)}+{scale_label(raster_scale)}"
    # Named targets rather than `rule all`: config/config.yaml's sample stays in the merged config.
    targets = [*table_products(table), *scene_products(scene)]
    workflow = bench.measure(f"{label} workflow", bench.snakemake(targets, "--forceall"))
    eager = baseline(bench, f"{label} eager", "eager.py", "all", csv_path, bands["red"], bands["nir"],
                     bench.out_dir("all"), json.dumps(bench.options))
    described = (f"{describe_csv(scale_label(csv_scale), csv_path)} + "
                 f"{describe_raster(scale_label(raster_scale) + '/side', bands)}")
    row = Comparison("all products", described, workflow, eager)
    row.notes.append("`--forceall` includes copying the raw inputs into resources/ (with checksums) and "
                     "detecting the encoding; the eager script reads the inputs in place and is told the encoding")
    if workflow.ok:
        row.notes.append("jobs (Snakemake `benchmark:` files, last run): "
                         + rule_breakdown(bench.checkout, table, scene))
    bench.rows.append(row)


def rule_breakdown(checkout: Path, table: str, scene: str) -> str:
    parts = []
    for folder in (checkout / "benchmarks" / "tables" / table, checkout / "benchmarks" / "scenes" / scene):
        for tsv in sorted(folder.glob("*.tsv")):
            own = rule_benchmark_seconds(checkout, str(tsv.relative_to(checkout / "benchmarks")))
            if own:
                parts.append(f"{tsv.stem} {own[0]:.2f} s")
    return ", ".join(parts) or "none found"


# --------------------------------------------------------------------------- report


def fmt(value: float | None, digits: int = 2) -> str:
    return "failed" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def code_version() -> str:
    """The commit measured, and which copied files differ from it (others' edits in progress count)."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

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
    versions = []
    for package in VERSIONED:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return [
        f"- CPUs: {psutil.cpu_count(logical=True)} logical, {psutil.cpu_count(logical=False)} physical; "
        f"load average at the start {load_average()}",
        f"- memory: {memory.total / MB:.0f} MB total, {memory.available / MB:.0f} MB available at the start",
        f"- platform: {platform.platform()}",
        f"- Python: {platform.python_version()} ({sys.executable})",
        f"- code measured: {code_version()}",
        f"- packages: {', '.join(versions)}",
    ]


def report_header(bench: Bench, command_line: str, started: dt.datetime, facts: list[str]) -> list[str]:
    args = bench.args
    minutes = (dt.datetime.now() - started).total_seconds() / 60
    return [
        "# Workflow benchmark", "",
        f"Run {started:%Y-%m-%d %H:%M}, {minutes:.1f} min, with:", "",
        "```", command_line, "```", "",
        *facts,
        f"- load average at the end: {load_average()}",
        f"- settings: {args.repeats} run(s) per command (median time, highest peak), "
        f"`snakemake --cores {args.cores}`, CSV blocksize {args.blocksize}, raster chunks "
        f"{parse_chunks(args.chunks)}, inputs in {args.data}", "",
        "Peak RSS is summed over the whole process tree (Snakemake, its job scripts, Dask workers), sampled "
        f"every {SAMPLE_INTERVAL:g} s. *Workflow* = `snakemake <product> --forcerun <rule>` (the compute rule "
        "only; `--forceall` for all products); *eager* = one plain pandas / rasterio + numpy script; "
        "*I/O floor* = read the inputs and write a same-size output, no compute.", "",
    ]


def report_table(bench: Bench) -> list[str]:
    lines = [
        "| product | input | workflow time (s) | workflow peak RSS (MB) | eager time (s) | eager peak RSS (MB) "
        "| time ratio (workflow/eager) | memory ratio (workflow/eager) | I/O floor (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in bench.rows:
        w, e = row.workflow, row.eager
        floor = fmt(row.floor.median_seconds) if row.floor else "—"
        lines.append(
            f"| {row.product} | {row.input} | {fmt(w.median_seconds)} | {fmt(w.peak_rss_mb, 0)} | "
            f"{fmt(e.median_seconds)} | {fmt(e.peak_rss_mb, 0)} | {ratio(w.median_seconds, e.median_seconds)} | "
            f"{ratio(w.peak_rss_mb, e.peak_rss_mb)} | {floor} |"
        )
    for row in bench.rows:
        if row.product == "all products":
            lines += ["", f"Whole workflow / one eager script: time "
                          f"{ratio(row.workflow.median_seconds, row.eager.median_seconds)}x, memory "
                          f"{ratio(row.workflow.peak_rss_mb, row.eager.peak_rss_mb)}x (goal: time ≤ 2x)."]
    return lines


def report_tiny(bench: Bench) -> list[str]:
    if not bench.tiny:
        return []
    lines = ["", "## Rule on a tiny input", "",
             "The rule through Snakemake on the bundled sample: almost all fixed cost (Snakemake, the job's "
             "interpreter and imports, a local Dask cluster).", "",
             "| rule | input | time (s) | peak RSS (MB) |", "| --- | --- | ---: | ---: |"]
    for measurement, description in bench.tiny:
        lines.append(f"| {measurement.label.split()[0]} | {description} | {fmt(measurement.median_seconds)} | "
                     f"{fmt(measurement.peak_rss_mb, 0)} |")
    return lines


def describe_measurement(measurement: Measurement, checkout: Path) -> list[str]:
    lines = [f"- **{measurement.label}**: `{display_command(measurement.command, checkout)}`"]
    if measurement.runs:
        runs = (f"{r.seconds:.2f} s / {r.peak_rss / MB:.0f} MB" for r in measurement.runs)
        lines.append("  - runs: " + ", ".join(runs))
    lines += [f"  - {note}" for note in measurement.notes]
    if measurement.error:
        lines += ["  - **failed**:", "", "    ```", *(f"    {line}" for line in measurement.error.splitlines()),
                  "    ```"]
    return lines


def report_details(bench: Bench) -> list[str]:
    lines = ["", "## Details"]
    if not all(m.ok for m in all_measurements(bench)) and not bench.args.keep_scratch:
        lines += ["", "Some commands failed; rerun with `--keep-scratch` to keep their logs and the "
                      "scratch checkout (`bench-logs/`, `logs/`)."]
    if bench.tiny:
        lines += ["", "### Rules on the bundled sample", ""]
        for measurement, _ in bench.tiny:
            lines += describe_measurement(measurement, bench.checkout)
    for row in bench.rows:
        lines += ["", f"### {row.product}, {row.input}", ""]
        for measurement in (row.workflow, row.eager, row.floor):
            if measurement is not None:
                lines += describe_measurement(measurement, bench.checkout)
        lines += [f"- {note}" for note in row.notes]
    return lines


def report(bench: Bench, command_line: str, started: dt.datetime, facts: list[str]) -> str:
    lines = [*report_header(bench, command_line, started, facts), *report_table(bench), *report_tiny(bench),
             *report_details(bench)]
    return "\n".join(lines) + "\n"


def all_measurements(bench: Bench) -> list[Measurement]:
    found = [m for m, _ in bench.tiny]
    for row in bench.rows:
        found += [m for m in (row.workflow, row.eager, row.floor) if m is not None]
    return found


def display_command(command: list[str], checkout: Path) -> str:
    """The command as typed, with the scratch folder and venv shortened for reading."""
    text = shlex.join(command)
    return text.replace(str(checkout), "<scratch>").replace(str(PYTHON.parent), "<venv>/bin")


# --------------------------------------------------------------------------- command line


def parse_scales(text: str) -> list[float]:
    try:
        scales = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated numbers, e.g. 1,10") from None
    if not scales or any(s <= 0 for s in scales):
        raise argparse.ArgumentTypeError(f"{text!r}: scales must be positive")
    return scales


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv-scales", type=parse_scales, default=parse_scales("1,10"),
                        help="CSV sizes relative to the lesson's 121 MB file (default: 1,10)")
    parser.add_argument("--raster-scales", type=parse_scales, default=parse_scales("1,4"),
                        help="raster sizes per side relative to 3499 x 7443 px; 4 = 16x the pixels (default: 1,4)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/snakemake-dask-bench"),
                        help="where generated inputs are kept and reused (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmark.md",
                        help="markdown report (default: results/benchmark.md)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per command; the median is reported (default: 3)")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores (default: 2)")
    parser.add_argument("--blocksize", default="64MB",
                        help="CSV blocksize for the benchmark tables (default: 64MB)")
    parser.add_argument("--chunks", default="2048",
                        help="raster chunks: N for {x: N, y: N}, or a size such as 15MB / auto (default: 2048)")
    parser.add_argument("--only", choices=("csv", "raster", "all"), default="all",
                        help="which path to measure")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: only the smallest CSV and raster scale, one run each")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds before a command is killed (default: 3600)")
    parser.add_argument("--keep-scratch", action="store_true",
                        help="keep the scratch checkout (its path is printed)")
    args = parser.parse_args(argv)
    if args.quick:
        args.csv_scales, args.raster_scales, args.repeats = args.csv_scales[:1], args.raster_scales[:1], 1
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not SNAKEMAKE.exists():
        parser.error(f"{SNAKEMAKE} not found: run with the venv's python (make setup; .venv/bin/python ...)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started, facts = dt.datetime.now(), machine_facts()
    command_line = shlex.join([sys.executable, *(sys.argv if argv is None else ["scripts/benchmark.py", *argv])])
    want_csv, want_raster = args.only in ("csv", "all"), args.only in ("raster", "all")

    args.data.mkdir(parents=True, exist_ok=True)
    csvs = {scale: csv_input(args.data, scale) for scale in args.csv_scales} if want_csv else {}
    rasters = {scale: raster_inputs(args.data, scale) for scale in args.raster_scales} if want_raster else {}

    scratch = Path(tempfile.mkdtemp(prefix="checkout-", dir=args.data))
    progress(f"scratch checkout: {scratch}\n")
    try:
        checkout = make_checkout(scratch)
        baselines = checkout / "baselines"
        baselines.mkdir()
        (baselines / "eager.py").write_text(EAGER_SOURCE)
        (baselines / "floor.py").write_text(FLOOR_SOURCE)
        logs = checkout / "bench-logs"
        logs.mkdir()
        tables = {dataset_name("csv", s): p for s, p in csvs.items()}
        scenes = {dataset_name("raster", s): b for s, b in rasters.items()}
        tables["tiny"], scenes["tiny"] = TINY_CSV, TINY_BANDS
        write_bench_config(checkout, tables, scenes, args.blocksize, parse_chunks(args.chunks))
        bench = Bench(args, checkout, logs, ndvi_creation_options() if want_raster else {})

        prepare(bench, tables if want_csv else [], scenes if want_raster else [])
        bench_tiny(bench, args.only)
        for scale, path in csvs.items():
            bench_csv(bench, scale, path)
        for scale, bands in rasters.items():
            bench_raster(bench, scale, bands)
        if want_csv and want_raster:
            smallest_csv, smallest_raster = min(csvs), min(rasters)
            bench_everything(bench, smallest_csv, csvs[smallest_csv], smallest_raster, rasters[smallest_raster])

        text = report(bench, command_line, started, facts)
    finally:
        if args.keep_scratch:
            progress(f"kept {scratch}\n")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    progress(f"wrote {args.out}\n")


if __name__ == "__main__":
    main()
