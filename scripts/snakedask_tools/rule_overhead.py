"""Measure a Dask rule's fixed cost on a shared cluster: its imports and getting a client.

    .venv/bin/python -m snakedask_tools.rule_overhead [--repeats 5]

Starts one shared cluster (as ``dask.local.shared: true`` does), then for each
Dask rule script runs fresh interpreters that import the script's module and
connect a client, printing the median of each part. (Snakemake's own start-up
and job bookkeeping come on top; see snakedask_tools.benchmark.)
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = """
import time
t0 = time.perf_counter()
import snakedask.{module}
t1 = time.perf_counter()
from snakedask.cluster import dask_client
with dask_client({{"address": {address!r}}}):
    t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from snakedask.shared_cluster import SharedCluster

    cluster = SharedCluster(Path(tempfile.mkdtemp()), threads=1)
    address = cluster.start()
    try:
        print(
            "| rule module | imports (s) | distributed + client (s) | both (s) |\n| --- | ---: | ---: | ---: |"
        )
        for module in ("averages", "ndvi"):
            imports, client = [], []
            for _ in range(args.repeats):
                probe = PROBE.format(module=module, address=address)
                out = subprocess.run(
                    [sys.executable, "-c", probe], capture_output=True, text=True, check=True
                )
                first, second = map(float, out.stdout.split())
                imports.append(first)
                client.append(second)
            i, c = statistics.median(imports), statistics.median(client)
            print(f"| {module} | {i:.2f} | {c:.2f} | {i + c:.2f} |")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
