"""The sbatch launcher (scripts/snakedask_tools/slurm_dask_cluster.sbatch) without a multi-node SLURM.

The script runs for real under bash, with SLURM's environment faked and stand-ins for
`dask`, `srun` and `scontrol` on PATH that record how they were called: where the
scheduler and each worker listen, with which TLS files, and that a bad value from the
environment stops the job before anything starts. (The real single-node run, rules
connecting through the scheduler file, is in tests/workflow/test_slurm.py.)
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts/snakedask_tools/slurm_dask_cluster.sbatch"

# `dask scheduler|worker ...`: one JSON line per call; the scheduler also writes its file and waits.
FAKE_DASK = f"""#!{sys.executable}
import json, os, sys, time
from pathlib import Path

args = sys.argv[1:]
tls = {{}}
if "--tls-ca-file" in args:
    folder = Path(args[args.index("--tls-ca-file") + 1]).parent
    tls = {{"folder": oct(folder.stat().st_mode & 0o777),
            **{{p.name: oct(p.stat().st_mode & 0o777) for p in folder.iterdir()}}}}
record = {{"args": args, "node": os.environ.get("SLURMD_NODENAME"), "tls": tls}}
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
if args[0] == "scheduler":
    host = args[args.index("--host") + 1]
    protocol = "tls" if "--protocol" in args else "tcp"
    Path(args[args.index("--scheduler-file") + 1]).write_text(json.dumps({{"address": f"{{protocol}}://{{host}}:1"}}))
    time.sleep(30)  # until the script's exit kills it
"""

# `srun [--options] COMMAND...`: runs COMMAND once per fake node, as SLURM would on each.
FAKE_SRUN = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$FAKE_LOG.srun"
while [[ $1 == --* ]]; do shift; done
for node in $FAKE_NODES; do SLURMD_NODENAME=$node "$@" || exit $?; done
"""

FAKE_SCONTROL = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$FAKE_LOG.scontrol"
[ "$1 $2" = "show hostnames" ] && printf '%s\\n' $FAKE_NODES
"""


@pytest.fixture
def fake_bin(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, text in (("dask", FAKE_DASK), ("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (folder / name).write_text(textwrap.dedent(text))
        (folder / name).chmod(0o755)
    return folder


def launch(tmp_path, fake_bin, nodes="n1", **environment):
    """Run the script with a fake SLURM environment; return (result, dask calls, srun calls)."""
    log = tmp_path / "calls.jsonl"
    for path in tmp_path.glob("calls.jsonl*"):
        path.unlink()
    # The workflow's python (snakedask.tls) after the stand-ins; nothing else from this environment.
    env = {
        "PATH": f"{fake_bin}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_LOG": str(log),
        "FAKE_NODES": nodes,
        "SLURM_JOB_ID": "42",
        "SLURM_NTASKS": str(len(nodes.split())),
        "SLURM_CPUS_PER_TASK": "8",
        "SLURM_MEM_PER_NODE": "32000",
        "SLURM_TASKS_PER_NODE": f"1(x{len(nodes.split())})",
        **environment,
    }
    env = {key: value for key, value in env.items() if value is not None}
    result = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "scheduler.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    srun = Path(f"{log}.srun")
    return result, calls, srun.read_text().splitlines() if srun.exists() else []


def option(call, name):
    args = call["args"]
    return args[args.index(name) + 1]


def test_one_node_listens_on_loopback_with_tls(tmp_path, fake_bin):
    # 127.0.0.1 of a compute node is open to every job and user on it: TLS there too.
    result, calls, srun = launch(tmp_path, fake_bin, "n1", SLURM_JOB_NUM_NODES="1", SLURMD_NODENAME="n1")
    assert result.returncode == 0, result.stderr
    scheduler, worker = calls
    assert scheduler["args"][0] == "scheduler" and worker["args"][0] == "worker"
    assert option(scheduler, "--host") == "127.0.0.1"
    assert option(worker, "--host") == "127.0.0.1"
    assert option(scheduler, "--dashboard-address") == option(worker, "--dashboard-address") == "127.0.0.1:0"
    assert option(scheduler, "--protocol") == "tls"
    folder = tmp_path / "scheduler.json.tls"
    for call in (scheduler, worker):
        assert option(call, "--tls-key") == str(folder / "key.pem")
        assert call["tls"]["folder"] == "0o700" and call["tls"]["key.pem"] == "0o600"
    assert not folder.exists()  # deleted when the job ends
    assert option(worker, "--scheduler-file") == str(tmp_path / "scheduler.json")
    assert option(worker, "--nthreads") == "8"
    assert option(worker, "--memory-limit") == "28800MB"  # 90 % of 32000 MB, one task per node
    assert srun == ["--ntasks=1 dask worker " + " ".join(worker["args"][1:])]
    assert "WARNING" not in result.stderr


def test_several_nodes_listen_on_the_first_nodes_name_with_tls(tmp_path, fake_bin):
    result, calls, srun = launch(
        tmp_path, fake_bin, "node001 node002", SLURM_JOB_NUM_NODES="2", SLURMD_NODENAME="node001"
    )
    assert result.returncode == 0, result.stderr
    scheduler, *workers = calls
    assert option(scheduler, "--host") == "node001"
    assert option(scheduler, "--protocol") == "tls"
    assert option(scheduler, "--dashboard-address") == "127.0.0.1:0"
    # Each worker on its own node's name, with the same credentials as the scheduler.
    assert [(w["node"], option(w, "--host")) for w in workers] == [("node001",) * 2, ("node002",) * 2]
    folder = tmp_path / "scheduler.json.tls"
    for call in (scheduler, *workers):
        for flag, name in (("--tls-ca-file", "ca.pem"), ("--tls-cert", "cert.pem"), ("--tls-key", "key.pem")):
            assert option(call, flag) == str(folder / name)
        # The credentials existed while the cluster ran: a private folder, the key private too.
        assert call["tls"]["folder"] == "0o700" and call["tls"]["key.pem"] == "0o600"
    assert srun[0].startswith("--ntasks=2 bash -c")
    assert not folder.exists()  # deleted when the job ends
    # The job's output says what the workflow's config needs, as YAML.
    config = yaml.safe_load(result.stdout.split("Config for the workflow:\n", 1)[1])
    assert config == {
        "dask": {
            "scheduler_file": str(tmp_path / "scheduler.json"),
            "security": {
                name: str(folder / f"{name.split('_')[0]}.pem") for name in ("ca_file", "cert", "key")
            },
        }
    }


def test_without_slurmd_nodename_the_first_node_of_the_list(tmp_path, fake_bin):
    result, calls, _ = launch(
        tmp_path, fake_bin, "c7 c8 c9", SLURM_NNODES="3", SLURM_JOB_NODELIST="c[7-9]", SLURMD_NODENAME=None
    )
    assert result.returncode == 0, result.stderr
    assert option(calls[0], "--host") == "c7"
    assert (tmp_path / "calls.jsonl.scontrol").read_text() == "show hostnames c[7-9]\n"


def test_an_explicit_host_and_tls_settings(tmp_path, fake_bin):
    # DASK_SCHEDULER_HOST wins over the node name; TLS can be turned off, with a warning.
    result, calls, _ = launch(tmp_path, fake_bin, "n1 n2", SLURM_JOB_NUM_NODES="2", SLURMD_NODENAME="n1",
                              DASK_SCHEDULER_HOST="10.1.2.3")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert option(calls[0], "--host") == "10.1.2.3" and option(calls[0], "--protocol") == "tls"

    result, calls, _ = launch(tmp_path, fake_bin, "n1", SLURM_JOB_NUM_NODES="1", DASK_SCHEDULER_TLS="false")
    assert result.returncode == 0, result.stderr
    assert option(calls[0], "--host") == "127.0.0.1" and "--protocol" not in calls[0]["args"]
    assert calls[0]["tls"] == calls[1]["tls"] == {}
    assert "WARNING: the scheduler listens on 127.0.0.1 with plain TCP" in result.stderr

    result, calls, _ = launch(tmp_path, fake_bin, "n1 n2", SLURM_JOB_NUM_NODES="2", SLURMD_NODENAME="n1",
                              DASK_SCHEDULER_TLS="false")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert option(calls[0], "--host") == "n1" and "--protocol" not in calls[0]["args"]
    assert "WARNING: the scheduler listens on n1 with plain TCP" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DASK_SCHEDULER_HOST", "x; touch pwned", "DASK_SCHEDULER_HOST must be a host name"),
        ("DASK_SCHEDULER_HOST", "$(touch pwned)", "DASK_SCHEDULER_HOST must be a host name"),
        ("DASK_SCHEDULER_HOST", "-h", "DASK_SCHEDULER_HOST must be a host name"),
        ("SLURMD_NODENAME", "n1\ntouch pwned", "SLURMD_NODENAME must be a host name"),
        ("SLURM_JOB_NODELIST", "$(touch pwned)", "SLURM_JOB_NODELIST is not a SLURM node list"),
        ("SLURM_CPUS_PER_TASK", "a[$(touch pwned)]", "SLURM_CPUS_PER_TASK must be a positive whole number"),
        ("SLURM_MEM_PER_NODE", "32000 ", "SLURM_MEM_PER_NODE must be a positive whole number"),
        ("SLURM_JOB_NUM_NODES", "0", "SLURM_JOB_NUM_NODES must be a positive whole number"),
        ("SLURM_TASKS_PER_NODE", "2(x3);id", "SLURM_TASKS_PER_NODE is not a SLURM task list"),
        ("DASK_SCHEDULER_TLS", "maybe", "DASK_SCHEDULER_TLS must be auto, true or false"),
    ],
)
def test_a_bad_value_from_the_environment_starts_nothing(tmp_path, fake_bin, variable, value, message):
    environment = {"SLURM_JOB_NUM_NODES": "2", "SLURMD_NODENAME": "n1", variable: value}
    if variable == "SLURM_JOB_NODELIST":
        environment["SLURMD_NODENAME"] = None
    result, calls, srun = launch(tmp_path, fake_bin, "n1 n2", **environment)
    assert result.returncode == 2
    assert message in result.stderr
    assert calls == [] and srun == []
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "calls.jsonl.scontrol").exists()


def test_the_launcher_parses():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
