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
from pathlib import Path

# CPython's default collects the youngest objects every 700 new ones: importing
# pandas, xarray, numba or Bokeh does that hundreds of times, and every tenth
# time walks again all that the imports have made so far (0.2-0.55 s per Dask
# job here). While a job starts, it collects every 50 000.
DEFAULT_GC_THRESHOLD = gc.get_threshold()
STARTING_GC_THRESHOLD = (50_000, 10, 10)
_starting = False  # between quick_start_and_exit() and job_started(): a rule script's imports


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
    global _starting
    _starting = True
    gc.set_threshold(*STARTING_GC_THRESHOLD)
    atexit.register(gc.freeze)


def job_started() -> None:
    """The job's imports are done and its cluster is up: those objects live until the end, so later
    collections leave them out (``gc.freeze``), and the usual thresholds apply to what comes next.
    Outside a rule script (no :func:`quick_start_and_exit` before), nothing changes: a notebook
    calling ``dask_client`` keeps its own collections."""
    global _starting
    if not _starting:
        return
    _starting = False
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
    _expected_errors_briefly(path)
    if os.environ.get("SLURM_JOB_ID"):
        log.info("running in SLURM job %s on %s", os.environ["SLURM_JOB_ID"], socket.gethostname())
    return log


# Beside a rule's log, the message of the expected error that ended its job (read by failure_summary).
ERROR_SUFFIX = ".error"


def _expected_errors_briefly(log_path: str) -> None:
    """An error the workflow raises on purpose (a :class:`errors.WorkflowInputError`: bad data, a bad
    setting) ends the job with its message alone, in the log and in ``<log>.error`` for the run's
    summary; any other error keeps its traceback, as a bug should."""
    from snakedask.errors import WorkflowInputError

    default = sys.excepthook

    def report(kind, value, traceback):
        if not issubclass(kind, WorkflowInputError):
            return default(kind, value, traceback)
        logging.getLogger("workflow").error("%s: %s", kind.__name__, value)
        Path(log_path + ERROR_SUFFIX).write_text(f"{kind.__name__}: {value}\n", encoding="utf-8")
        return None

    sys.excepthook = report


def failure_summary(since: float, logs: str | Path = "logs") -> str:
    """What the jobs that stopped on bad data or config since ``since`` (a time.time()) said, one
    paragraph each with the dataset and its log: for the last lines of the terminal (Snakefile's onerror)."""
    found = []
    for error in sorted(Path(logs).rglob(f"*.log{ERROR_SUFFIX}")):
        if error.stat().st_mtime < since:
            continue
        log = error.with_name(error.name.removesuffix(ERROR_SUFFIX))
        parts = log.relative_to(logs).parts
        where = f"{parts[0]}.{parts[1]}" if len(parts) > 2 else log.stem  # tables.<name>, scenes.<name>
        message = error.read_text(encoding="utf-8").strip().replace("\n", "\n    ")
        found.append(f"  {where} (log: {log}):\n    {message}")
    if not found:
        return ""
    return "The run stopped on a problem with the input or the config:\n" + "\n".join(found)


def print_failure_summary(since: float, logs: str | Path = "logs") -> None:
    """:func:`failure_summary` on stderr, if any job stopped on bad input (the Snakefile's onerror)."""
    if summary := failure_summary(since, logs):
        print(summary, file=sys.stderr)
