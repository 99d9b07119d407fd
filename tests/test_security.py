"""Security defaults: loopback-only listeners, no config string in a shell, names kept in their folders."""

import re

import psutil
import pytest
import yaml
from conftest import ROOT, RULE_SCRIPTS, SCRIPTS, copy_workflow, run_snakemake


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


@pytest.mark.workflow
@pytest.mark.parametrize("name", ["../../outside", "a/../../b", "x;touch pwned", "$(touch pwned)", "résumé"])
def test_a_malicious_dataset_name_writes_nothing_anywhere(tmp_path, name):
    workdir = copy_workflow(tmp_path / "checkout")
    (workdir / "evil.yaml").write_text(
        yaml.safe_dump({"tables": {name: {"url": "resources/sample/dg_soil_moisture.csv"}}})
    )
    before = set(tmp_path.rglob("*"))
    result = run_snakemake(workdir, "--configfile", "config/config.yaml", "evil.yaml", check=False)
    assert result.returncode != 0 and "dataset names become folder names" in result.stdout + result.stderr
    created = set(tmp_path.rglob("*")) - before
    assert all(".snakemake" in p.parts for p in created), created  # only Snakemake's own bookkeeping
    assert not list(tmp_path.rglob("pwned")) and not (workdir / "results").exists()


def test_shared_cluster_listens_on_loopback_only(tmp_path):
    from snakedask.shared_cluster import SharedCluster

    cluster = SharedCluster(tmp_path / "cluster", threads=1)
    try:
        assert cluster.start().startswith("tcp://127.0.0.1:")
        addresses = set()
        for process in cluster.processes:
            for child in [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]:
                addresses |= {
                    c.laddr.ip for c in child.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
                }
        assert addresses and addresses <= {"127.0.0.1"}, addresses
    finally:
        cluster.stop()
