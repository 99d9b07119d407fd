"""Several indices of one scene: one Dask graph that reads the bands once, or one job each?

    .venv/bin/python -m snakedask.tools.index_sharing RED.tif NIR.tif [--chunks 15MB] [--repeats 2]

Computes NDVI, SAVI, GNDVI and EVI of a red/NIR pair (the red file stands in for
the green and blue bands: the cost is what is measured) on a local cluster of
one worker with 2 threads, as a job has. Each index's per-block statistics are
computed (every pixel read, converted and reduced; nothing written, since the
writer's cost is the same either way):

* separately: one ``compute`` per index, each reading its bands;
* shared: one ``compute`` of all four, so Dask reads each band block once.

Prints the median seconds of each and their ratio (see README's Spectral indices).
"""

import argparse
import statistics
import time

import dask

from snakedask.ndvi import compute_index
from snakedask.raster_stats import lazy_statistics

INDICES = ("ndvi", "savi", "gndvi", "evi")


def lazy_indices(red: str, nir: str, chunks: str) -> list:
    paths = {"blue": red, "green": red, "red": red, "nir": nir}
    return [lazy_statistics(compute_index(name, paths, chunks=chunks).data) for name in INDICES]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("red")
    parser.add_argument("nir")
    parser.add_argument("--chunks", default="15MB")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
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
