"""The cases: each rule through Snakemake against its eager baseline and the two floors.

* **workflow**: the rule itself (``averages`` or ``ndvi``) run through
  ``snakemake --cores N <product> --forcerun <rule>`` in the scratch checkout; the download
  and encoding rules run beforehand and are not timed;
* **eager**: the same product from :mod:`.baselines.eager`, holding everything in memory;
* **bytes floor**: :mod:`.baselines.floor` reads the inputs' bytes and writes as many bytes as
  the workflow's output has, so the workflow is measured first;
* **compute floor**: :mod:`.baselines.floor` times the computation alone, inputs in memory;
* **peers**: the tools a scientist would pick instead (:mod:`.baselines.peers`): Polars and DuckDB
  for the averages, GDAL's command line (``gdal_calc.py`` + ``gdal_translate``) for NDVI, run in
  turn with the workflow and eager, their products checked against the workflow's; a peer that is
  not installed is reported so, and the run goes on;

and the whole workflow for the smallest table and scene against one eager script making all
their products, and the rules on the bundled sample (their fixed overhead). Sizes too big for
the eager baseline are measured for the workflow alone, as a ratio to a smaller size.

With ``--s3``, every raster's NDVI also read in place from a local S3 server (moto's, on 127.0.0.1),
in the same rounds as the local-file workflow (:func:`in_place_command`, :mod:`.s3`).

With ``--datasets N ...``, many sample-sized datasets: the default target with N more copies of
the sample's table and scene against one eager loop over the same pairs, and both at N = 0, in
the same rounds: the cost of each extra pair (:func:`bench_datasets`).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from snakedask import products
from snakedask_tools.benchmark import checks, s3
from snakedask_tools.benchmark.baselines import peers as peer_tools
from snakedask_tools.benchmark.inputs import (
    BANDS,
    TINY_BANDS,
    TINY_CSV,
    Scene,
    dataset_name,
    describe_csv,
    describe_raster,
    scale_label,
)
from snakedask_tools.benchmark.measure import (
    MB,
    PYTHON,
    Measurement,
    TreeSampler,
    failure_excerpt,
    log_path,
    measure_in_turn,
    progress,
    run_once,
    size_text,
)
from snakedask_tools.benchmark.scratch import (
    BASE_CONFIG,
    extra_pair,
    many_command,
    many_config_name,
    rule_benchmark_seconds,
    rule_breakdown,
    snakemake_command,
    write_many_config,
)

BASELINES = "snakedask_tools.benchmark.baselines"
# The eager NDVI script's peak RSS per pixel, measured at 16x (see results/benchmark.md): used for
# sizes it is not run at when this run measured no eager NDVI to scale from.
EAGER_BYTES_PER_PIXEL = 28


# What the report calls a peer that is not installed, and how to install it.
PEER_NAMES = {"polars": "Polars", "duckdb": "DuckDB", "gdal": "GDAL CLI"}
PEER_INSTALL = {
    "polars": "pip install polars (requirements.txt)",
    "duckdb": "pip install duckdb (requirements.txt)",
    "gdal": "Debian: apt-get install gdal-bin",
}
PEER_NOTES = {
    "polars": (
        'reads the Latin-1 CSV as UTF-8 with invalid bytes replaced (`encoding="utf8-lossy"`): only the '
        "text column `unit` (m³) changes, not the numeric columns it averages; POLARS_MAX_THREADS set to "
        "the benchmark's cores; types inferred from the first 10,000 rows"
    ),
    "duckdb": "`SET threads` to the benchmark's cores; reads the CSV as Latin-1; writes the means with `COPY`",
    "gdal": (
        "gdal_calc.py evaluates the formula with numpy block by block (the input's tiles or strips) on one "
        "thread; the inputs' nodata is tested in the formula with `--hideNoData` (gdal_calc 3.6 blanks "
        "nodata by multiplying with the output nodata, which for NaN makes every pixel NaN); gdal_translate "
        "writes the workflow's COG (ZSTD level 1, predictor, 256-px tiles, averaged overviews) on all cores"
    ),
}


@dataclass
class Peer:
    """A tool one would use instead of the workflow, measured on the same input (or not installed)."""

    tool: str  # name and version as reported, e.g. "Polars 2.1.0"
    measurement: Measurement | None  # None: not installed (see missing)
    product: Path | None = None
    missing: str = ""


@dataclass
class InPlace:
    """The workflow's NDVI with the scene read in place from the local S3 server (``--s3``)."""

    measurement: Measurement
    scene: str  # the config name of the scene read in place
    range_requests: int | None = None  # ranged GETs of its objects per run, from the server's log
    store_peak_rss: int | None = None  # bytes: the server's own peak while measured (not the workflow's)
    notes: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    """One row of the report: the workflow against its eager baseline and the two floors."""

    product: str
    input: str
    layout: str
    workflow: Measurement
    eager: Measurement | None  # None: not run (see eager_skipped)
    bytes_floor: Measurement | None = None
    compute_floor: Measurement | None = None
    eager_skipped: str = ""
    notes: list[str] = field(default_factory=list)
    peers: list[Peer] = field(default_factory=list)
    in_place: InPlace | None = None  # --s3: the same NDVI read in place from the local S3 server

    @property
    def measurements(self) -> list[Measurement]:
        found = [
            self.workflow,
            self.in_place.measurement if self.in_place else None,
            self.eager,
            *(p.measurement for p in self.peers),
            self.bytes_floor,
            self.compute_floor,
        ]
        return [m for m in found if m is not None]


@dataclass
class Scaling:
    """A workflow-only size against the same layout's largest fully measured size."""

    big: Comparison
    scene: Scene
    reference: Comparison | None
    reference_scene: Scene | None


@dataclass
class ManyDatasets:
    """The workflow and the eager loop at N extra pairs and at none (measured in the same rounds)."""

    extra: int  # N: pairs besides the sample's own
    workflow: Measurement
    eager: Measurement
    workflow_none: Measurement  # N = 0: config/config.yaml alone
    eager_none: Measurement

    @staticmethod
    def per_pair(at_n: Measurement, at_none: Measurement, extra: int) -> float | None:
        """(t(N) - t(0)) / N from the median times; None if either failed."""
        if at_n.median_seconds is None or at_none.median_seconds is None:
            return None
        return (at_n.median_seconds - at_none.median_seconds) / extra


@dataclass
class Bench:
    """Everything a benchmark run needs, and what it found."""

    args: argparse.Namespace
    checkout: Path
    logs: Path
    env: dict[str, str]  # for every command: the copy's own library first on PYTHONPATH
    rows: list[Comparison] = field(default_factory=list)
    tiny: list[tuple[Measurement, str]] = field(default_factory=list)
    by_scene: dict[Scene, Comparison] = field(default_factory=dict)
    scaling: list[Scaling] = field(default_factory=list)
    datasets: list[ManyDatasets] = field(default_factory=list)
    datasets_notes: list[str] = field(default_factory=list)
    store: s3.MotoServer | None = None  # --s3: the local S3 server (moto), while the rasters are measured
    _peer_versions: dict[str, str | None] | None = None

    def peer_version(self, tool: str) -> str | None:
        """``tool``'s name and version as the report shows it; None if it is not installed."""
        if self._peer_versions is None:
            self._peer_versions = peer_tools.availability()
        return self._peer_versions[tool]

    def in_turn(self, *measurements: Measurement) -> list[Measurement]:
        """Run the (not yet run) measurements' commands alternately, round after round."""
        args = self.args
        return measure_in_turn(
            list(measurements), self.checkout, self.logs, args.repeats, args.timeout, self.env
        )

    def snakemake(self, targets: Iterable[str], *options: str, configs: Iterable[str] = ()) -> list[str]:
        return snakemake_command(self.args.cores, targets, *options, configs=configs)

    @property
    def s3_env(self) -> dict[str, str]:
        """The environment of the commands that read from the local S3 server (its AWS variables only)."""
        assert self.store is not None
        return s3.command_environment(self.env, self.store.aws)

    def out_dir(self, name: str) -> Path:
        """Folder for the baselines' outputs of one dataset."""
        path = self.checkout / "baselines" / "out" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def measurements(self) -> list[Measurement]:
        found = [m for m, _ in self.tiny]
        for row in self.rows:
            found += row.measurements
        if self.datasets:  # N = 0 is the same two measurements for every N
            first = self.datasets[0]
            found += [first.workflow_none, first.eager_none]
            for case in self.datasets:
                found += [case.workflow, case.eager]
        return found


# What the averages rule reads besides the table: made before the measured runs.
PREPARED = ("encoding.json", "records.json")


def prepare(
    bench: Bench, tables: Iterable[str] = (), scenes: Iterable[str] = (), warm_up: Iterable[str] = ()
) -> None:
    """Download (copy) a dataset's inputs, detect encodings and index records: not what is measured.

    ``warm_up``: products to make first as well, untimed (see bench_tiny).
    """
    targets = [path for t in tables for path in products.table_products(t, PREPARED)]
    targets += [f"resources/scenes/{s}/{band}.tif" for s in scenes for band in BANDS]
    targets += warm_up
    progress(
        f"preparing {', '.join([*tables, *scenes])}: downloads, encoding detection and record index (untimed) ...\n"
    )
    log = bench.logs / "prepare.log"
    run = run_once(bench.snakemake(targets), bench.checkout, log, bench.args.timeout, bench.env)
    if run.returncode != 0:
        sys.exit(f"preparing the inputs failed:\n{failure_excerpt(log)}")


def dataset_folders(kind: str, name: str) -> list[str]:
    """A dataset's copies and outputs in the scratch checkout: the workflow's and the baselines'."""
    return [f"resources/{kind}/{name}", f"results/{kind}/{name}", f"baselines/out/{name}"]


@contextlib.contextmanager
def dataset_space(bench: Bench, folders: list[str]) -> Iterator[None]:
    """Delete a measured dataset's ``folders`` afterwards, so the disk holds one dataset's at a time.

    With ``--keep-scratch`` they stay after a product mismatch, so the products can be compared.
    """
    keep = False
    try:
        yield
    except checks.ProductMismatch:
        keep = bench.args.keep_scratch
        raise
    finally:
        if not keep:
            for folder in folders:
                shutil.rmtree(bench.checkout / folder, ignore_errors=True)


def table_inputs(checkout: Path, name: str) -> list[Path]:
    """What the averages rule reads (the workflow's copy of the table)."""
    return [
        checkout / f"resources/tables/{name}/raw.csv",
        *(checkout / path for path in products.table_products(name, PREPARED)),
    ]


def scene_inputs(checkout: Path, name: str) -> list[Path]:
    """What the ndvi rule reads (the workflow's copies of the bands)."""
    return [checkout / f"resources/scenes/{name}/{band}.tif" for band in BANDS]


def rule_run(bench: Bench, label: str, target: str, rule: str, tsv: str, inputs: list[Path]) -> Measurement:
    """The rule alone through Snakemake, forced to rerun; notes the rule's own benchmark time."""
    result = bench.in_turn(rule_command(bench, label, target, rule, inputs))[0]
    note_job_time(bench, result, tsv)
    return result


def rule_command(bench: Bench, label: str, target: str, rule: str, inputs: list[Path]) -> Measurement:
    """The rule alone through Snakemake, forced to rerun (to run with :meth:`Bench.in_turn`)."""
    return Measurement(label, bench.snakemake([target], "--forcerun", rule), list(inputs))


def note_pairs(row: Comparison) -> None:
    """Note the time ratio of each round (workflow run i / eager run i): how far the machine's drift reaches."""
    workflow, eager = row.workflow, row.eager
    if eager is None or not (workflow.ok and eager.ok):
        return
    pairs = [w.seconds / e.seconds for w, e in zip(workflow.runs, eager.runs, strict=False) if e.seconds > 0]
    row.notes.append(
        "workflow / eager time, round by round (the two run in turn): " + ", ".join(f"{r:.2f}" for r in pairs)
    )


def note_job_time(bench: Bench, result: Measurement, tsv: str) -> None:
    """Note the job's own time and memory from its Snakemake ``benchmark:`` file (its last run)."""
    own = rule_benchmark_seconds(bench.checkout, tsv)
    if own:
        result.notes.append(
            f"the job itself (Snakemake `benchmark:`, last run): {own[0]:.2f} s, max_rss {own[1]:.0f} MB"
        )


def averages_product(name: str) -> str:
    return products.table_products(name, ("averages.csv",))[0]


def ndvi_product(name: str) -> str:
    return products.scene_products(name)[0]  # ndvi.tif


def bench_tiny(bench: Bench, only: str) -> None:
    """The rules on the bundled sample: what a run costs when there is almost nothing to compute."""
    want_csv, want_raster = only in ("csv", "all"), only in ("raster", "all")
    # The scratch copy runs its own library, whose numba kernels are not compiled yet: one NDVI,
    # untimed, writes numba's cache there, so no measured run includes compiling them.
    warm_up = [ndvi_product("tiny")] if want_raster else []
    prepare(bench, ["tiny"] if want_csv else [], ["tiny"] if want_raster else [], warm_up)
    rules = [
        ("averages", averages_product, "tables/tiny/averages.tsv", table_inputs, describe_csv, TINY_CSV, want_csv),
        ("ndvi", ndvi_product, "scenes/tiny/ndvi.tsv", scene_inputs, describe_raster, TINY_BANDS, want_raster),
    ]  # fmt: skip
    for rule, product, tsv, inputs, describe, sample, wanted in rules:
        if wanted:
            measurement = rule_run(
                bench, f"{rule} tiny", product("tiny"), rule, tsv, inputs(bench.checkout, "tiny")
            )
            bench.tiny.append((measurement, describe("sample", sample)))


def baseline(
    bench: Bench,
    label: str,
    module: str,
    *args: str | Path,
    inputs: Iterable[Path] = (),
    in_process: bool = False,
) -> Measurement:
    """A baseline module (``eager`` or ``floor``) run as its own process with the venv's python."""
    return bench.in_turn(baseline_command(label, module, *args, inputs=inputs, in_process=in_process))[0]


def baseline_command(
    label: str, module: str, *args: str | Path, inputs: Iterable[Path] = (), in_process: bool = False
) -> Measurement:
    """A baseline module's command (to run with :meth:`Bench.in_turn`)."""
    command = [str(PYTHON), "-m", f"{BASELINES}.{module}", *map(str, args)]
    return Measurement(label, command, list(inputs), in_process)


def missing_peer(tool: str) -> Peer:
    return Peer(PEER_NAMES[tool], None, missing=f"not installed ({PEER_INSTALL[tool]}): not run")


def averages_peer(bench: Bench, tool: str, label: str, name: str, path: Path) -> Peer:
    """Polars or DuckDB making the averages, as its own process (not run if not installed)."""
    version = bench.peer_version(tool)
    if version is None:
        return missing_peer(tool)
    out = bench.out_dir(name) / f"averages-{tool}.csv"
    measurement = baseline_command(
        f"averages {label} {tool}", "peers", tool, path, out, bench.args.cores, inputs=[path]
    )
    measurement.notes.append(PEER_NOTES[tool])
    return Peer(version, measurement, out)


def band_nodata(path: Path) -> float | None:
    import rasterio

    with rasterio.open(path) as src:
        return src.nodata


def gdal_peer(bench: Bench, label: str, name: str, red: Path, nir: Path) -> Peer:
    """GDAL's command line making the NDVI COG (not run if gdal-bin is not installed)."""
    version = bench.peer_version("gdal")
    if version is None:
        return missing_peer("gdal")
    out = bench.out_dir(name) / "ndvi-gdal.tif"
    script = peer_tools.gdal_command(red, nir, out, band_nodata(red), band_nodata(nir))
    measurement = Measurement(f"{label} gdal", ["sh", "-c", script], [red, nir], shown=script)
    measurement.notes.append(PEER_NOTES["gdal"])
    return Peer(version, measurement, out)


def peer_measurements(peers: list[Peer]) -> list[Measurement]:
    return [peer.measurement for peer in peers if peer.measurement is not None]


def check_peers(row: Comparison, case: str, product: Path, eager_product: Path, check, what: str) -> None:
    """Each peer's product against the workflow's (the eager one's if the workflow failed): a mismatch fails."""
    if row.workflow.ok:
        reference, against = product, "the workflow's"
    elif row.eager is not None and row.eager.ok:
        reference, against = eager_product, "the eager baseline's (the workflow failed)"
    else:
        return
    for peer in row.peers:
        if peer.measurement is not None and peer.measurement.ok:
            check(case, reference, peer.product, peer.tool)
            row.notes.append(f"{peer.tool} {what} agree with {against}")


def output_size(
    workflow: Measurement, product: Path, eager: Measurement | None, eager_product: Path, notes: list[str]
) -> int | None:
    """How many bytes the bytes floor writes: the workflow's product, else (noted) the eager one's."""
    if workflow.ok and product.exists():
        return product.stat().st_size
    if eager is not None and eager.ok and eager_product.exists():
        notes.append(
            f"bytes floor: the workflow failed, so it writes as many bytes as the eager "
            f"{eager_product.name} ({eager_product.stat().st_size / MB:.1f} MB)"
        )
        return eager_product.stat().st_size
    notes.append("bytes floor not run: no output to size it by")
    return None


def bytes_floor(
    bench: Bench, label: str, name: str, size: int | None, inputs: list[Path]
) -> Measurement | None:
    """Reading the inputs and writing the product's bytes: what no decoding, compute or compression costs."""
    if size is None:
        return None
    out = bench.out_dir(name) / "bytes-floor.out"
    return baseline(bench, f"{label} bytes floor", "floor", "bytes", out, size, *inputs, inputs=inputs)


def bench_csv(bench: Bench, scale: float, path: Path) -> None:
    name, label = dataset_name("csv", scale), scale_label(scale)
    prepare(bench, tables=[name])
    with dataset_space(bench, dataset_folders("tables", name)):
        product = bench.checkout / averages_product(name)
        eager_csv = bench.out_dir(name) / "averages.csv"
        peers = [averages_peer(bench, tool, label, name, path) for tool in ("polars", "duckdb")]
        workflow, eager, *_ = bench.in_turn(
            rule_command(
                bench,
                f"averages {label} workflow",
                averages_product(name),
                "averages",
                table_inputs(bench.checkout, name),
            ),
            baseline_command(f"averages {label} eager", "eager", "averages", path, eager_csv, inputs=[path]),
            *peer_measurements(peers),
        )
        note_job_time(bench, workflow, f"tables/{name}/averages.tsv")
        row = Comparison("averages", describe_csv(label, path), "—", workflow, eager, peers=peers)
        note_pairs(row)
        if workflow.ok and eager.ok:
            checks.check_averages(f"averages {label}", product, eager_csv)
            row.notes.append("workflow and eager averages agree")
        check_peers(row, f"averages {label}", product, eager_csv, checks.check_averages, "averages")
        size = output_size(workflow, product, eager, eager_csv, row.notes)
        row.bytes_floor = bytes_floor(bench, f"averages {label}", name, size, [path])
        row.compute_floor = baseline(
            bench, f"averages {label} compute floor", "floor", "csv", path, inputs=[path], in_process=True
        )
        bench.rows.append(row)


def bench_raster(bench: Bench, scene: Scene, bands: dict[str, Path]) -> None:
    prepare(bench, scenes=[scene.name])
    folders = dataset_folders("scenes", scene.name)
    with contextlib.ExitStack() as stack:
        in_place = None
        if bench.store is not None:
            folders += dataset_folders("scenes", s3.in_place_name(scene.name))
            in_place = stack.enter_context(in_place_case(bench, scene, bands))
        stack.enter_context(dataset_space(bench, folders))
        row = (bench_big_raster if scene.big else bench_raster_fully)(bench, scene, bands, in_place)
        bench.rows.append(row)
        bench.by_scene[scene] = row


@contextlib.contextmanager
def in_place_case(bench: Bench, scene: Scene, bands: dict[str, Path]) -> Iterator[InPlace]:
    """``--s3``: the scene's bands uploaded to the local S3 server and located by the workflow (both
    untimed); yields the in-place workflow's command, to run in turn with the others, and afterwards
    samples the server's memory and counts its range requests. The objects are deleted at the end."""
    server = bench.store
    assert server is not None
    name = s3.in_place_name(scene.name)
    progress(f"uploading {scene.name}'s bands to {server.endpoint} (untimed) ...\n")
    server.upload(scene.name, bands)
    try:
        targets = [f"resources/scenes/{name}/{band}.located.json" for band in BANDS]
        log = bench.logs / "prepare.log"
        command = bench.snakemake(targets, configs=[s3.S3_CONFIG])
        run = run_once(command, bench.checkout, log, bench.args.timeout, bench.s3_env)
        if run.returncode != 0:
            sys.exit(f"locating the objects of {name} failed:\n{failure_excerpt(log)}")
        case = InPlace(in_place_command(bench, scene), name)
        requests_before = s3.range_requests(server.log_text(), scene.name)
        sampler: TreeSampler = server.memory_sampler()
        try:
            yield case
        finally:
            sampler.stop()
        case.store_peak_rss = sampler.peak
        runs = len(case.measurement.runs)
        if runs:
            made = s3.range_requests(server.log_text(), scene.name) - requests_before
            case.range_requests = round(made / runs)
    finally:
        server.delete(scene.name, list(BANDS))


def in_place_command(bench: Bench, scene: Scene) -> Measurement:
    """The ndvi rule on the scene read in place, forced to rerun; before each run its objects are read
    once through the server (untimed), as local inputs are read before theirs."""
    server, name = bench.store, s3.in_place_name(scene.name)
    assert server is not None
    label = f"ndvi {scale_label(scene.scale)} {scene.layout} workflow in place (s3)"
    command = bench.snakemake([ndvi_product(name)], "--forcerun", "ndvi", configs=[s3.S3_CONFIG])
    return Measurement(label, command, before=lambda: server.warm(scene.name, list(BANDS)), env=bench.s3_env)


def finish_in_place(bench: Bench, row: Comparison, label: str, scene: str) -> None:
    """Check the NDVI read in place against the local-file workflow's, pixel for pixel; note the
    round-by-round ratio of their times."""
    in_place = row.in_place
    if in_place is None:
        return
    measurement, workflow = in_place.measurement, row.workflow
    note_job_time(bench, measurement, f"scenes/{in_place.scene}/ndvi.tsv")
    if not (measurement.ok and workflow.ok):
        return
    checks.check_same_pixels(
        f"{label} in place",
        bench.checkout / ndvi_product(in_place.scene),
        bench.checkout / ndvi_product(scene),
        "local-file workflow",
    )
    in_place.notes.append(
        "read in place and local-file NDVI agree pixel for pixel (grid, dtype, nodata, every pixel)"
    )
    pairs = [
        p.seconds / w.seconds for p, w in zip(measurement.runs, workflow.runs, strict=False) if w.seconds
    ]
    in_place.notes.append(
        "in place / local time, round by round (run in turn): " + ", ".join(f"{r:.2f}" for r in pairs)
    )


def bench_raster_fully(
    bench: Bench, scene: Scene, bands: dict[str, Path], in_place: InPlace | None = None
) -> Comparison:
    """Workflow (and with ``--s3`` the workflow reading in place) and eager in turn, then the floors
    (the bytes floor writes as many bytes as the workflow's ndvi.tif)."""
    label = f"ndvi {scale_label(scene.scale)} {scene.layout}"
    inputs = [bands["red"], bands["nir"]]
    product = bench.checkout / ndvi_product(scene.name)
    eager_tif = bench.out_dir(scene.name) / "ndvi.tif"
    peers = [gdal_peer(bench, label, scene.name, bands["red"], bands["nir"])]
    workflow = rule_command(
        bench, f"{label} workflow", ndvi_product(scene.name), "ndvi", scene_inputs(bench.checkout, scene.name)
    )
    eager = baseline_command(f"{label} eager", "eager", "ndvi", *inputs, eager_tif, inputs=inputs)
    read_in_place = [in_place.measurement] if in_place else []
    bench.in_turn(workflow, *read_in_place, eager, *peer_measurements(peers))
    note_job_time(bench, workflow, f"scenes/{scene.name}/ndvi.tsv")
    row = Comparison(
        "ndvi",
        describe_raster(scene.label, bands),
        scene.layout,
        workflow,
        eager,
        peers=peers,
        in_place=in_place,
    )
    note_pairs(row)
    finish_in_place(bench, row, label, scene.name)
    if workflow.ok and eager.ok:
        checks.check_ndvi(label, product, eager_tif)
        row.notes.append("workflow and eager NDVI agree (3 windows, grid, dtype)")
        # Chunk windows that straddle the output's 256-px tiles make GDAL rewrite compressed tiles.
        row.notes.append(
            f"ndvi.tif size: workflow {product.stat().st_size / MB:.1f} MB, "
            f"eager {eager_tif.stat().st_size / MB:.1f} MB"
        )
    check_peers(row, label, product, eager_tif, checks.check_ndvi, "NDVI (3 windows, grid, dtype)")
    row.bytes_floor = bytes_floor(
        bench, label, scene.name, output_size(workflow, product, eager, eager_tif, row.notes), inputs
    )
    row.compute_floor = baseline(
        bench, f"{label} compute floor", "floor", "raster", *inputs, inputs=inputs, in_process=True
    )
    return row


def bench_big_raster(
    bench: Bench, scene: Scene, bands: dict[str, Path], in_place: InPlace | None = None
) -> Comparison:
    """The workflow alone (and with ``--s3`` read in place, in turn), compared with the same layout's
    largest fully measured size."""
    label = f"ndvi {scale_label(scene.scale)} {scene.layout}"
    workflow = rule_command(
        bench, f"{label} workflow", ndvi_product(scene.name), "ndvi", scene_inputs(bench.checkout, scene.name)
    )
    bench.in_turn(workflow, *([in_place.measurement] if in_place else []))
    note_job_time(bench, workflow, f"scenes/{scene.name}/ndvi.tsv")
    product = bench.checkout / ndvi_product(scene.name)
    row = Comparison(
        "ndvi",
        describe_raster(scene.label, bands),
        scene.layout,
        workflow,
        None,
        eager_skipped=eager_skipped_reason(bench, scene),
        in_place=in_place,
    )
    finish_in_place(bench, row, label, scene.name)
    if workflow.ok:
        row.notes.append(f"ndvi.tif size: workflow {product.stat().st_size / MB:.1f} MB")
    smaller = [s for s in bench.by_scene if s.layout == scene.layout and not s.big and s.scale < scene.scale]
    reference = max(smaller, key=lambda s: s.scale, default=None)
    bench.scaling.append(Scaling(row, scene, bench.by_scene.get(reference), reference))
    return row


def eager_skipped_reason(bench: Bench, scene: Scene) -> str:
    """Why the eager script is not run at this size: the memory it would need, from a measured peak."""
    measured = [(s, row.eager) for s, row in bench.by_scene.items() if row.eager is not None and row.eager.ok]
    if measured:
        basis, eager = max(measured, key=lambda item: item[0].scale)
        per_pixel = eager.peak_rss_mb * MB / (basis.pixel_bytes / 8)
        source = f"its peak at {basis.label} {basis.layout} in this run ({eager.peak_rss_mb:.0f} MB)"
    else:
        per_pixel = EAGER_BYTES_PER_PIXEL
        source = f"its peak measured at 4x/side (16x px), {EAGER_BYTES_PER_PIXEL} bytes per pixel"
    need = per_pixel * scene.pixel_bytes / 8
    total = psutil.virtual_memory().total
    return (
        f"not run: the eager script holds whole bands and the index in memory; scaled from {source} "
        f"it needs ~{size_text(need)}, and this machine has {size_text(total)}"
    )


def bench_everything(
    bench: Bench, csv_scale: float, csv_path: Path, scene: Scene, bands: dict[str, Path]
) -> None:
    """The whole workflow for one table and one scene against one eager script making all products."""
    table = dataset_name("csv", csv_scale)
    label = f"all {scale_label(csv_scale)}+{scale_label(scene.scale)} {scene.layout}"
    inputs = [csv_path, bands["red"], bands["nir"]]
    # Named targets rather than `rule all`: config/config.yaml's sample stays in the merged config.
    targets = [*products.table_products(table), *products.scene_products(scene.name)]
    folders = [*dataset_folders("tables", table), *dataset_folders("scenes", scene.name), "baselines/out/all"]
    with dataset_space(bench, folders):
        out = bench.out_dir("all")
        workflow, eager = bench.in_turn(
            Measurement(f"{label} workflow", bench.snakemake(targets, "--forceall"), inputs),
            baseline_command(f"{label} eager", "eager", "all", *inputs, out, inputs=inputs),
        )
        described = (
            f"{describe_csv(scale_label(csv_scale), csv_path)} + {describe_raster(scene.label, bands)}"
        )
        row = Comparison("all products", described, scene.layout, workflow, eager)
        note_pairs(row)
        if workflow.ok and eager.ok:
            checks.check_averages(label, bench.checkout / averages_product(table), out / "averages.csv")
            checks.check_ndvi(label, bench.checkout / ndvi_product(scene.name), out / "ndvi.tif")
            row.notes.append("workflow and eager averages and NDVI agree")
        row.notes.append(
            "`--forceall` includes copying the raw inputs into resources/ (with checksums), "
            "detecting the encoding and indexing the records; the eager script reads the inputs "
            "in place and is told the encoding"
        )
        if workflow.ok:
            row.notes.append(
                "jobs (Snakemake `benchmark:` files, last run): "
                + rule_breakdown(bench.checkout, table, scene.name)
            )
        bench.rows.append(row)


# What a run writes in the checkout: deleted before every run of the many-datasets case, so every job reruns.
RUN_OUTPUTS = ("results", "logs", "benchmarks", "resources/tables", "resources/scenes", ".snakemake")


def delete_run_outputs(checkout: Path) -> None:
    for name in RUN_OUTPUTS:
        shutil.rmtree(checkout / name, ignore_errors=True)


def jobs_done(log: Path) -> str | None:
    """``N of N steps`` from Snakemake's last progress line in the log's last command."""
    text = log.read_text(errors="replace") if log.exists() else ""
    found = re.findall(r"(\d+) of (\d+) steps", text[text.rfind("\n$ ") + 1 :])
    return f"{found[-1][0]} of {found[-1][1]}" if found else None


def warm_up(bench: Bench) -> None:
    """Compile the copy's library (bytecode; numba's cache by an untimed run of the default target
    unless the whole workflow ran in this checkout already): the first measured command, N = 0,
    would pay for it."""
    checkout = bench.checkout
    compileall.compile_dir(checkout / "scripts", quiet=1)
    if any(row.product == "all products" for row in bench.rows):
        return
    progress("many datasets: one untimed run of the default target first (compiles the copy's library) ...\n")
    delete_run_outputs(checkout)
    log = bench.logs / "datasets-warm-up.log"
    run = run_once(many_command(bench.args.cores, 0), checkout, log, bench.args.timeout, bench.env)
    if run.returncode != 0:
        bench.datasets_notes.append(f"the untimed first run did not succeed:\n{failure_excerpt(log)}")


def bench_datasets(bench: Bench, extras: list[int]) -> None:
    """Many sample-sized datasets: the default target of config/config.yaml plus N copies of its
    table and scene (:func:`.scratch.many_datasets_config`), every job rerun from clean outputs,
    against one eager loop over the same pairs; both also at N = 0, in the same rounds.

    Run last: it deletes the checkout's results, logs, downloads and ``.snakemake`` before each run.
    """
    checkout, cores = bench.checkout, bench.args.cores
    sample = [checkout / "resources" / "sample" / p.name for p in (TINY_CSV, *TINY_BANDS.values())]

    def eager_folder(extra: int) -> str:  # relative to the checkout, the commands' working directory
        return f"baselines/out/datasets-{extra}"

    def commands(extra: int) -> tuple[Measurement, Measurement]:
        configs = [BASE_CONFIG, many_config_name(extra)] if extra else [BASE_CONFIG]
        workflow = Measurement(
            f"datasets {extra} workflow",
            many_command(cores, extra),
            sample,
            before=lambda: delete_run_outputs(checkout),
        )
        out = eager_folder(extra)
        eager = baseline_command(
            f"datasets {extra} eager loop", "eager", "pairs", out, *configs, inputs=sample
        )
        eager.before = lambda: shutil.rmtree(checkout / out, ignore_errors=True)
        return workflow, eager

    for extra in extras:
        write_many_config(checkout, extra)
    warm_up(bench)

    pairs = [commands(extra) for extra in [0, *extras]]
    bench.in_turn(*(m for pair in pairs for m in pair))
    (workflow_none, eager_none), *measured = pairs
    for extra, (workflow, eager) in zip(extras, measured, strict=True):
        bench.datasets.append(ManyDatasets(extra, workflow, eager, workflow_none, eager_none))
    for workflow, _ in pairs:
        steps = jobs_done(log_path(bench.logs, workflow.label))
        if steps and workflow.ok:
            workflow.notes.append(f"jobs (Snakemake's last progress line): {steps} steps")

    # The last workflow run is the largest N's (it runs last in each round): its last pair against
    # the eager loop's.
    last, (workflow, eager) = extras[-1], measured[-1]
    if workflow.ok and eager.ok:
        table, scene = extra_pair(last, last)
        case, out = f"datasets {last}", checkout / eager_folder(last)
        for product in ("averages.csv", "counts.csv"):
            checks.check_averages(
                case, checkout / f"results/tables/{table}/{product}", out / "tables" / table / product
            )
        checks.check_ndvi(case, checkout / ndvi_product(scene), out / "scenes" / scene / "ndvi.tif")
        bench.datasets_notes.append(
            f"workflow and eager loop agree at N = {last} for its last pair ({table}, {scene}): "
            "averages.csv, counts.csv, ndvi.tif (3 windows, grid, dtype)"
        )
    delete_run_outputs(checkout)
