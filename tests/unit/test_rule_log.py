"""snakedask.rule_log: a rule script's output goes to its log; it collects garbage rarely while it
imports, as usual once its cluster is up, and its exit skips the final collection without losing
anything the exit handlers write."""

import gc
import re
import subprocess
import sys
import textwrap

import pytest

from snakedask.rule_log import failure_summary

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


@pytest.mark.parametrize("error", ["TableError", "ValueError"])
def test_an_expected_error_ends_the_job_with_its_message_a_bug_with_its_traceback(tmp_path, error):
    log = tmp_path / "logs" / "tables" / "t" / "averages.log"
    log.parent.mkdir(parents=True)
    script = textwrap.dedent(f"""
        from snakedask.errors import TableError
        from snakedask.rule_log import log_to_file
        log_to_file({str(log)!r})
        raise {error}("t.csv has no column 'Year'.\\nSet `groupby:`.")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr == ""  # stderr is the log
    text = log.read_text()
    error_file = log.with_name("averages.log.error")
    if error == "TableError":
        assert "ERROR workflow: TableError: t.csv has no column 'Year'." in text and "Traceback" not in text
        assert error_file.read_text() == "TableError: t.csv has no column 'Year'.\nSet `groupby:`.\n"
        summary = failure_summary(0, tmp_path / "logs")
        assert summary.splitlines() == [
            "The run stopped on a problem with the input or the config:",
            f"  tables.t (log: {log}):",
            "    TableError: t.csv has no column 'Year'.",
            "    Set `groupby:`.",
        ]
        assert failure_summary(error_file.stat().st_mtime + 1, tmp_path / "logs") == ""  # an earlier run's
    else:
        assert "Traceback (most recent call last)" in text and not error_file.exists()
