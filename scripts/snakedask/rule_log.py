"""Send a rule script's stdout, stderr and logging to the rule's ``log:`` file.

Import and call this before importing ``distributed``: distributed binds its
log handlers to the ``sys.stderr`` it finds at import time.
"""

import atexit
import gc
import logging
import os
import socket
import sys


def skip_final_collection() -> None:
    """Let the process end without garbage-collecting everything it imported.

    Python's shutdown runs full collections over every object still alive, the
    imported modules' included: measured here, 0.9 s for an NDVI job, 0.2-0.5 s
    for the others and 0.45 s for Snakemake itself, each on the chain of jobs a
    run waits for. Objects frozen (``gc.freeze``) are left out; the operating
    system takes the memory back. Registered early, the handler runs after the
    other exit handlers (logging's flush, distributed's closing of clusters).
    """
    atexit.register(gc.freeze)


def log_to_file(path: str) -> logging.Logger:
    """Point ``sys.stdout``/``sys.stderr`` and the root logger at ``path`` (the first call of every
    rule script, so it also sets the script's exit up: :func:`skip_final_collection`)."""
    skip_final_collection()
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
