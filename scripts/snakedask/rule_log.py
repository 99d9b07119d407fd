"""A rule script's process: its stdout, stderr and logging go to the rule's ``log:`` file, and its
garbage collection suits a short job that imports much.

Import and call :func:`log_to_file` before importing ``distributed``: distributed
binds its log handlers to the ``sys.stderr`` it finds at import time.
"""

import atexit
import gc
import logging
import os
import socket
import sys

# CPython's default collects the youngest objects every 700 new ones: importing
# pandas, xarray, numba or Bokeh does that hundreds of times, and every tenth
# time walks again all that the imports have made so far (0.2-0.55 s per Dask
# job here). While a job starts, it collects every 50 000.
DEFAULT_GC_THRESHOLD = gc.get_threshold()
STARTING_GC_THRESHOLD = (50_000, 10, 10)


def quick_start_and_exit() -> None:
    """Fewer garbage collections while the job imports, and none of everything at exit.

    Python's shutdown runs full collections over every object still alive, the
    imported modules' included: measured here, 0.9 s for an NDVI job, 0.2-0.5 s
    for the others and 0.45 s for Snakemake itself, each on the chain of jobs a
    run waits for. Objects frozen (``gc.freeze``) are left out; the operating
    system takes the memory back. Registered early, the handler runs after the
    other exit handlers (logging's flush, distributed's closing of clusters).
    Jobs that compute on Dask go back to the usual collections once their
    cluster is up (:func:`job_started`).
    """
    gc.set_threshold(*STARTING_GC_THRESHOLD)
    atexit.register(gc.freeze)


def job_started() -> None:
    """The job's imports are done and its cluster is up: those objects live until the end, so later
    collections leave them out (``gc.freeze``), and the usual thresholds apply to what comes next.
    Outside a rule script (no :func:`quick_start_and_exit` before), nothing changes: a notebook
    calling ``dask_client`` keeps its own collections."""
    if gc.get_threshold() != STARTING_GC_THRESHOLD:
        return
    gc.freeze()
    gc.set_threshold(*DEFAULT_GC_THRESHOLD)


def log_to_file(path: str) -> logging.Logger:
    """Point ``sys.stdout``/``sys.stderr`` and the root logger at ``path`` (the first call of every
    rule script, so it also sets up the collections: :func:`quick_start_and_exit`)."""
    quick_start_and_exit()
    stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the job
    sys.stdout = sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # distributed's INFO chatter (worker start/stop) would bury the job's own
    # lines; it reads this setting when it is first imported. Through the
    # environment, so that jobs without Dask (plots, downloads) skip importing it.
    if "dask.config" in sys.modules:
        sys.modules["dask.config"].set({"logging.distributed": "warning"})
    else:
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    log = logging.getLogger("workflow")
    if os.environ.get("SLURM_JOB_ID"):
        log.info("running in SLURM job %s on %s", os.environ["SLURM_JOB_ID"], socket.gethostname())
    return log
