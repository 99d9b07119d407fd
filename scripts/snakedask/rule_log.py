"""Send a rule script's stdout, stderr and logging to the rule's ``log:`` file.

Import and call this before importing ``distributed``: distributed binds its
log handlers to the ``sys.stderr`` it finds at import time.
"""

import logging
import os
import socket
import sys


def log_to_file(path: str) -> logging.Logger:
    """Point ``sys.stdout``/``sys.stderr`` and the root logger at ``path``."""
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
