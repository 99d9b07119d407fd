"""Security defaults: no config string in a shell, loopback-only listeners.

The end-to-end half (dataset names kept in their folders) is tests/workflow/test_security.py.
"""

import re

import psutil
import pytest

from tests.helpers import ROOT, RULE_SCRIPTS, SCRIPTS


def test_no_rule_runs_a_shell_or_inline_code():
    # script: only; a config string can then never be interpolated into a shell command.
    for rules in (ROOT / "workflow").rglob("*.smk"):
        text = rules.read_text()
        assert not re.search(r"^\s+(shell|run):", text, re.MULTILINE), f"{rules} has a shell:/run: directive"
    snakefile = (ROOT / "workflow" / "Snakefile").read_text()
    assert not re.search(r"^\s+shell:", snakefile, re.MULTILINE)


def test_scripts_never_use_a_shell():
    for script in [*SCRIPTS.rglob("*.py"), *RULE_SCRIPTS.glob("*.py")]:
        text = script.read_text()
        assert "shell=True" not in text and "os.system(" not in text, script


@pytest.mark.slow  # separate dask scheduler and worker processes: out of `make test-fast`
def test_shared_cluster_listens_on_loopback_only(tmp_path):
    from snakedask.shared_cluster import SharedCluster

    cluster = SharedCluster(tmp_path / "cluster", threads=1)
    try:
        assert cluster.start().startswith("tls://127.0.0.1:")
        addresses = set()
        for process in cluster.processes:
            for child in [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]:
                addresses |= {
                    c.laddr.ip for c in child.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
                }
        assert addresses and addresses <= {"127.0.0.1"}, addresses
    finally:
        cluster.stop()
