"""The command line: ``python -m snakedask_tools.benchmark [options]`` (see ``--help``)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from snakedask_tools import benchmark, make_sample_data
from snakedask_tools.benchmark import cases, checks, report, s3
from snakedask_tools.benchmark.cases import Bench
from snakedask_tools.benchmark.inputs import (
    BANDS,
    BIG_LAYOUT,
    BIG_SCALE,
    EAGER_MAX_SCALE,
    TINY_BANDS,
    TINY_CSV,
    Scene,
    check_disk,
    csv_input,
    dataset_name,
    disk_plan,
    everything_inputs,
    raster_inputs,
    scenes_to_measure,
)
from snakedask_tools.benchmark.measure import SNAKEMAKE, progress
from snakedask_tools.benchmark.scratch import make_checkout, parse_chunks, write_bench_config
from snakedask_tools.checkout import ROOT, snakemake_environment


def parse_scales(text: str) -> list[float]:
    try:
        scales = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated numbers, e.g. 1,10") from None
    if not scales or any(s <= 0 for s in scales):
        raise argparse.ArgumentTypeError(f"{text!r}: scales must be positive")
    return scales


def parse_layouts(text: str) -> list[str]:
    layouts = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [layout for layout in layouts if layout not in make_sample_data.LAYOUTS]
    if not layouts or unknown:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give comma-separated layouts out of {', '.join(make_sample_data.LAYOUTS)}"
        )
    return layouts


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers, e.g. 12 50") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m snakedask_tools.benchmark",
        description=benchmark.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--csv-scales",
        type=parse_scales,
        default=parse_scales("1,10"),
        help="CSV sizes relative to the lesson's 121 MB file (default: 1,10)",
    )
    parser.add_argument(
        "--raster-scales",
        type=parse_scales,
        default=parse_scales("1,4"),
        help="raster sizes per side relative to 3499 x 7443 px; 4 = 16x the pixels (default: 1,4); "
        f"sizes above {EAGER_MAX_SCALE} are measured for the workflow only, in {BIG_LAYOUT}",
    )
    big_shape = Scene(BIG_SCALE, BIG_LAYOUT).shape
    parser.add_argument(
        "--big",
        action="store_true",
        help=f"also measure {BIG_SCALE} per side ({BIG_SCALE**2}x the pixels, "
        f"{big_shape[0]} x {big_shape[1]} px): the workflow only, {BIG_LAYOUT} only, "
        "as a ratio to its 16x time; "
        "generating it takes a while, and the disk space the run needs is checked before it starts",
    )
    parser.add_argument(
        "--layouts",
        type=parse_layouts,
        default=list(make_sample_data.LAYOUTS),
        help=f"raster input layouts, comma-separated (default: all: {','.join(make_sample_data.LAYOUTS)})",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("/tmp/snakemake-dask-bench"),
        help="where generated inputs are kept and reused, and the scratch checkout made "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "results" / "benchmark.md",
        help="markdown report (default: results/benchmark.md)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per command; the median is reported (default: 3)"
    )
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores (default: 2)")
    parser.add_argument(
        "--blocksize",
        default="20MB",
        help="CSV blocksize for the benchmark tables (default: 20MB, the config's default)",
    )
    parser.add_argument(
        "--chunks",
        default="15MB",
        help="raster chunks: a size such as 15MB / auto (shaped to each file's layout, as the "
        "config's default), or N for {x: N, y: N} (default: 15MB)",
    )
    parser.add_argument(
        "--only",
        choices=("csv", "raster", "all", "datasets"),
        default="all",
        help="which path to measure (datasets: only the --datasets case)",
    )
    parser.add_argument(
        "--datasets",
        type=positive_int,
        nargs="+",
        default=[],
        metavar="N",
        help="also measure many sample-sized datasets: the default target with N more copies of the "
        "sample's table and scene (one value or several) and at none, against one eager loop over the "
        "same pairs; reports the cost of each extra pair (default: not run)",
    )
    parser.add_argument(
        "--s3",
        action="store_true",
        help="also measure the workflow's NDVI with each raster read in place (`read_in_place: true`) "
        "from a local S3 server (moto's, started on 127.0.0.1 for the run), in the same rounds as the "
        "local-file workflow; its product is checked against the local one pixel for pixel",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: only the smallest CSV and raster scale, one run each",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds before a command is killed (default: 3600)"
    )
    parser.add_argument(
        "--keep-scratch", action="store_true", help="keep the scratch checkout (its path is printed)"
    )
    args = parser.parse_args(argv)
    if args.big:
        args.raster_scales = sorted({*args.raster_scales, float(BIG_SCALE)})
    if args.quick:
        args.csv_scales, args.raster_scales, args.repeats = args.csv_scales[:1], args.raster_scales[:1], 1
    args.datasets = sorted(set(args.datasets))
    if args.only == "datasets" and not args.datasets:
        parser.error("--only datasets measures the --datasets case: give --datasets N")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.s3 and args.only not in ("raster", "all"):
        parser.error("--s3 measures the ndvi rule: use it with --only raster or all")
    if args.s3 and not s3.MOTO_SERVER.exists():
        parser.error(f"--s3: {s3.MOTO_SERVER} not found: pip install 'moto[server]' (requirements.txt)")
    if not SNAKEMAKE.exists():
        parser.error(f"{SNAKEMAKE} not found: run with the venv's python (make setup; .venv/bin/python ...)")
    return args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started, facts = dt.datetime.now(), report.machine_facts()
    command_line = shlex.join([sys.executable, "-m", "snakedask_tools.benchmark", *argv])
    want_csv, want_raster = args.only in ("csv", "all"), args.only in ("raster", "all")
    csv_scales = args.csv_scales if want_csv else []
    scenes = scenes_to_measure(args.raster_scales, args.layouts) if want_raster else []

    args.data.mkdir(parents=True, exist_ok=True)
    plan = disk_plan(args.data, csv_scales, scenes, s3=args.s3)
    check_disk(plan, args.data)
    facts.append(f"- {plan.summary(args.data)} (at the start)")
    csvs = {scale: csv_input(args.data, scale) for scale in csv_scales}
    rasters = raster_inputs(args.data, scenes)

    scratch = Path(tempfile.mkdtemp(prefix="checkout-", dir=args.data))
    progress(f"scratch checkout: {scratch}\n")
    try:
        checkout = make_checkout(scratch)
        logs = checkout / "bench-logs"
        logs.mkdir()
        tables = {dataset_name("csv", s): p for s, p in csvs.items()}
        scene_bands = {scene.name: bands for scene, bands in rasters.items()}
        tables["tiny"], scene_bands["tiny"] = TINY_CSV, TINY_BANDS
        write_bench_config(checkout, tables, scene_bands, args.blocksize, parse_chunks(args.chunks))
        bench = Bench(args, checkout, logs, snakemake_environment(checkout))

        if want_csv or want_raster:
            cases.bench_tiny(bench, args.only)
        for scale, path in csvs.items():
            cases.bench_csv(bench, scale, path)
        with contextlib.ExitStack() as stack:
            if args.s3 and rasters:  # the S3 server runs while the rasters are measured
                s3.write_s3_config(checkout, [s.name for s in rasters], BANDS, parse_chunks(args.chunks))
                bench.store = stack.enter_context(s3.moto_server(logs, scratch))
                progress(f"S3 server (moto) on {bench.store.endpoint}, bucket {s3.BUCKET}\n")
            for scene, bands in rasters.items():
                cases.bench_raster(bench, scene, bands)
        everything = everything_inputs(csv_scales, scenes)
        if everything:
            csv_scale, scene = everything
            cases.bench_everything(bench, csv_scale, csvs[csv_scale], scene, rasters[scene])
        if args.datasets:  # last: it deletes the checkout's results and downloads before each run
            cases.bench_datasets(bench, args.datasets)

        text = report.report(bench, command_line, started, facts)
    except checks.ProductMismatch as mismatch:
        kept = f"kept in {scratch}" if args.keep_scratch else "rerun with --keep-scratch to keep them"
        sys.exit(
            f"benchmark FAILED: {mismatch}\n"
            f"No report written: its ratios would compare different results (the products: {kept})."
        )
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
