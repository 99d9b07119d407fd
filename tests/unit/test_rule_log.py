"""snakedask.rule_log: a rule script's output goes to its log; it collects garbage rarely while it
imports, as usual once its cluster is up, and its exit skips the final collection without losing
anything the exit handlers write."""

import gc
import re
import subprocess
import sys
import textwrap

import pytest

# A rule script in miniature. The handler registered before log_to_file stands for
# Snakemake's own (registered when the job's preamble imports snakemake): it runs
# after every later one and reports how many objects are frozen by then. The one
# registered after stands for distributed's closing of a cluster: it still logs.
SCRIPT = textwrap.dedent(
    """
    import atexit, gc, logging, sys
    from pathlib import Path

    report = Path(sys.argv[2])
    atexit.register(lambda: report.write_text(str(gc.get_freeze_count())))
    if sys.argv[3] == "rule":
        from snakedask.rule_log import log_to_file
        log = log_to_file(sys.argv[1])
    else:
        logging.basicConfig(filename=sys.argv[1], level=logging.INFO)
        log = logging.getLogger("workflow")
    cycles = []
    for i in range(1000):  # objects only a collection can free
        a = {"i": i}
        a["self"] = a
        cycles.append(a)
    log.info("working")
    atexit.register(lambda: log.info("closing the cluster"))
    print("printed")
    log.info("threshold %s", gc.get_threshold())
    if sys.argv[3] == "rule":
        from snakedask.rule_log import job_started
        job_started()
        log.info("started: threshold %s, frozen %d", gc.get_threshold(), gc.get_freeze_count())
    """
)


@pytest.mark.parametrize("mode", ["rule", "plain"])
def test_exit_skips_the_final_collection_and_keeps_the_log(tmp_path, mode):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    log, report = tmp_path / "job.log", tmp_path / "frozen.txt"
    done = subprocess.run(
        [sys.executable, str(script), str(log), str(report), mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert "working" in text and "closing the cluster" in text
    frozen = int(report.read_text())
    if mode == "rule":
        assert "printed" in text  # stdout went to the log too
        assert "threshold (50000, 10, 10)" in text  # while importing
        started = re.search(r"started: threshold \((\d+), (\d+), (\d+)\), frozen (\d+)", text)
        assert tuple(map(int, started.groups()[:3])) == gc.get_threshold()  # back to the default
        assert int(started.group(4)) > 1000  # the imports' objects, left out from then on
        assert frozen > 1000  # every object alive at exit, the cycles included
    else:
        assert f"threshold {gc.get_threshold()}" in text
        assert frozen == 0  # the control: nothing freezes objects by itself


def test_outside_a_rule_script_nothing_changes():
    """dask_client calls job_started: in a notebook (or this test process) that must not freeze
    the caller's objects or change its thresholds."""
    from snakedask.rule_log import job_started

    before = gc.get_threshold(), gc.get_freeze_count()
    job_started()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
