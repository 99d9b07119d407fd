"""A process that outlives its owner to clean up after it: cancel its SLURM worker jobs
(:mod:`jobqueue`) or stop its gateway cluster (:mod:`gateway`), also when the owner is killed."""

import os
import subprocess
import sys
import time


def start(module: str, *args: str, owner: int | None = None) -> subprocess.Popen:
    """``python -m <module> watch --owner PID <args>``, in a session of its own, so a signal to the
    owner's process group (Ctrl-C, a killed batch job) does not reach it. ``owner``: this process."""
    owner = os.getpid() if owner is None else owner
    return subprocess.Popen(
        [sys.executable, "-m", module, "watch", "--owner", str(owner), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process by that number: still there
        return True
    return True


def wait_for_exit(owner: int, interval: float = 1.0) -> None:
    while alive(owner):
        time.sleep(interval)
