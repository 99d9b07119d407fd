"""Several indices of one scene: one Dask graph that reads the bands once, or one job each?

    .venv/bin/python -m snakedask_tools.index_sharing RED.tif NIR.tif [--chunks 15MB] [--repeats 2]
    .venv/bin/python -m snakedask_tools.index_sharing RED.tif NIR.tif --workflow [--cores 2]

Computes NDVI, SAVI, GNDVI and EVI of a red/NIR pair (the red file stands in for
the green and blue bands: the cost is what is measured) on a local cluster of
one worker with 2 threads, as a job has. Each index's per-block statistics are
computed (every pixel read, converted and reduced; nothing written, since the
writer's cost is the same either way):

* separately: one ``compute`` per index, each reading its bands;
* shared: one ``compute`` of all four, so Dask reads each band block once.

Prints the median seconds of each and their ratio (results: docs/measurements.md).

``--workflow`` measures the same choice through Snakemake, as a user meets it,
in a scratch copy of the checkout: one scene with the four indices (the
workflow's way: one ``indices_...`` job, one Dask pass) against four scenes of
the same files with one index each (one job per index), products and figures
made, ``--cores`` cores.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask

from snakedask.raster_stats import lazy_statistics
from snakedask.spectral_rasters import compute_index

INDICES = ("ndvi", "savi", "gndvi", "evi")


def lazy_indices(red: str, nir: str, chunks: str) -> list:
    paths = {"blue": red, "green": red, "red": red, "nir": nir}
    return [lazy_statistics(compute_index(name, paths, chunks=chunks).data) for name in INDICES]


def scene(red: str, nir: str, chunks: str, indices: list[str]) -> dict:
    band = {"red": red, "nir": nir, "green": red, "blue": red}
    return {**{name: {"url": path} for name, path in band.items()}, "chunks": chunks, "indices": indices}


def time_workflow(red: str, nir: str, chunks: str, cores: int, repeats: int) -> dict[str, float]:
    """Median seconds of the whole run, the four indices as one job and as one job each."""
    import yaml

    from snakedask.products import scene_products
    from snakedask_tools.checkout import copy_checkout, snakemake_environment

    snakemake = str(Path(sys.executable).with_name("snakemake"))
    arrangements = {
        "one job": {"shared": scene(red, nir, chunks, list(INDICES))},
        "a job each": {f"only_{name}": scene(red, nir, chunks, [name]) for name in INDICES},
    }
    timings: dict[str, list[float]] = {name: [] for name in arrangements}
    with tempfile.TemporaryDirectory(prefix="index-sharing-") as folder:
        checkout = copy_checkout(Path(folder) / "checkout")
        environment = snakemake_environment(checkout)
        for _ in range(repeats):
            for name, scenes in arrangements.items():
                (checkout / "bench.yaml").write_text(yaml.safe_dump({"scenes": scenes}))
                targets = [
                    path
                    for label, entry in scenes.items()
                    for path in scene_products(label, tuple(entry["indices"]))
                ]
                # Targets before --configfile, which takes every argument after it.
                command = [
                    snakemake,
                    "--cores",
                    str(cores),
                    *targets,
                    "--configfile",
                    "config/config.yaml",
                    "bench.yaml",
                ]
                # Downloads (copies) first, untimed; then every index job and figure, timed.
                subprocess.run([*command, "--until", "download_band"], cwd=checkout,
                               env=environment, check=True, capture_output=True)  # fmt: skip
                start = time.perf_counter()
                subprocess.run(command, cwd=checkout, env=environment, check=True,
                               capture_output=True)  # fmt: skip
                timings[name].append(time.perf_counter() - start)
                shutil.rmtree(checkout / "results")
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("red")
    parser.add_argument("nir")
    parser.add_argument("--chunks", default="15MB")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workflow", action="store_true", help="through Snakemake (see above)")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    if args.workflow:
        result = time_workflow(args.red, args.nir, args.chunks, args.cores, args.repeats)
        print(f"{len(INDICES)} indices, {args.red}, snakemake --cores {args.cores}: one job "
              f"{result['one job']:.1f} s, a job each {result['a job each']:.1f} s, "
              f"one job / a job each {result['one job'] / result['a job each']:.2f}")  # fmt: skip
        return
    from distributed import Client, LocalCluster

    timings = {"separately": [], "shared": []}
    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    with cluster, Client(cluster):
        dask.compute(lazy_indices(args.red, args.nir, args.chunks)[0])  # warm numba and the page cache
        for _ in range(args.repeats):
            start = time.perf_counter()
            for lazy in lazy_indices(args.red, args.nir, args.chunks):
                dask.compute(lazy)
            timings["separately"].append(time.perf_counter() - start)
            start = time.perf_counter()
            dask.compute(*lazy_indices(args.red, args.nir, args.chunks))
            timings["shared"].append(time.perf_counter() - start)
    separately, shared = (statistics.median(timings[key]) for key in ("separately", "shared"))
    print(f"{len(INDICES)} indices, {args.red}: separately {separately:.1f} s, shared {shared:.1f} s, "
          f"shared / separately {shared / separately:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
