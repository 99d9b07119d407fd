"""A real single-node SLURM on localhost for the tests (root, no systemd).

Needs Debian's ``munge slurmctld slurmd slurm-client`` (``.ci/run`` installs
them). Everything lives in a folder of the test's own and is passed through
``SLURM_CONF``. One exception: snakemake-executor-plugin-slurm-jobstep strips
every ``SLURM_*`` variable (``SLURM_CONF`` too) before its inner ``srun``, so
for as long as the cluster runs ``/etc/slurm/slurm.conf`` is a symlink to the
test's config; it is removed at the end, so no config naming a stopped
controller is left to slow later ``snakemake`` starts (~9 s each). Every
daemon is stopped by its PID.
"""

import contextlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

from snakedask.shared_cluster import stop_processes
from tests.helpers import wait_until

DAEMONS = ("munged", "slurmctld", "slurmd", "sinfo", "sbatch")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")


def missing_reason() -> str | None:
    """Why a local SLURM cannot be started here, or None if it can."""
    if os.geteuid() != 0:
        return "starting SLURM daemons needs root"
    missing = [
        name for name in DAEMONS if shutil.which(name) is None and not Path("/usr/sbin", name).exists()
    ]
    if SYSTEM_CONF.is_symlink() and not SYSTEM_CONF.exists():
        SYSTEM_CONF.unlink()  # left by a test run that was killed
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.is_symlink():
        return f"{SYSTEM_CONF} exists: a real SLURM is configured here; not starting a test cluster beside it"
    if missing:
        return f"SLURM is not installed (missing {', '.join(missing)}; apt-get install munge slurmctld slurmd slurm-client)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node_line() -> str:
    """This machine's NodeName line from `slurmd -C`, renamed to localhost."""
    first = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[
        0
    ]
    fields = [f for f in first.split() if not f.startswith(("NodeName=", "UpTime="))]
    return " ".join(["NodeName=localhost", "NodeAddr=127.0.0.1", *fields, "State=UNKNOWN"])


def write_conf(folder: Path) -> Path:
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    conf = folder / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=localtest",
                "SlurmctldHost=localhost",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "MpiDefault=none",
                "ReturnToService=2",
                "MinJobAge=300",
                f"StateSaveLocation={folder / 'state'}",
                f"SlurmdSpoolDir={folder / 'spool'}",
                f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
                f"SlurmdPidFile={folder / 'slurmd.pid'}",
                f"SlurmctldLogFile={folder / 'slurmctld.log'}",
                f"SlurmdLogFile={folder / 'slurmd.log'}",
                _node_line(),
                "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    return conf


@contextlib.contextmanager
def local_slurm(folder: Path):
    """Start munged, slurmctld and slurmd; yield the environment that points at them."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = write_conf(folder)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    processes: list[subprocess.Popen] = []
    log = open(folder / "daemons.log", "w")  # noqa: SIM115 - the daemons write to it until stopped
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.unlink(missing_ok=True)
    SYSTEM_CONF.symlink_to(conf)
    try:
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        if not Path("/run/munge/munge.socket.2").exists():
            processes.append(
                subprocess.Popen(
                    ["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--foreground"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            wait_until(lambda: Path("/run/munge/munge.socket.2").exists(), 20, "munged did not start")
        processes.append(
            subprocess.Popen(
                ["slurmctld", "-D", "-f", str(conf)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        )
        processes.append(
            subprocess.Popen(
                ["slurmd", "-D", "-N", "localhost", "-f", str(conf)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

        def idle():
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
            return out.returncode == 0 and out.stdout.strip() == "idle"

        wait_until(idle, 60, f"SLURM did not become idle; see {folder}", interval=0.3)
        yield env
    finally:
        stop_processes(processes)
        if SYSTEM_CONF.is_symlink() and SYSTEM_CONF.resolve() == conf.resolve():
            SYSTEM_CONF.unlink()
        log.close()
