"""The benchmark's runner: commands measured in turn, round after round, and a failure kept to its command."""

import sys

from snakedask_tools.benchmark.measure import Measurement, measure_in_turn


def appender(path, letter, code=0):
    """A command that appends ``letter`` to ``path`` and exits with ``code``."""
    script = f"open({str(path)!r}, 'a').write({letter!r}); raise SystemExit({code})"
    return [sys.executable, "-c", script]


def test_commands_run_in_turn_round_after_round(tmp_path):
    order = tmp_path / "order.txt"
    first = Measurement("first", appender(order, "A"))
    second = Measurement("second", appender(order, "B"))

    measured = measure_in_turn([first, second], tmp_path, tmp_path, 3, 60, {})

    assert measured == [first, second]
    assert order.read_text() == "ABABAB"
    assert [len(m.runs) for m in measured] == [3, 3]
    assert all(m.ok and m.median_seconds > 0 and m.peak_rss_mb > 0 for m in measured)


def test_a_failing_command_stops_and_the_others_go_on(tmp_path):
    order = tmp_path / "order.txt"
    failing = Measurement("failing", appender(order, "F", code=3))
    other = Measurement("other", appender(order, "B"))

    measure_in_turn([failing, other], tmp_path, tmp_path, 3, 60, {})

    assert order.read_text() == "FBBB"
    assert not failing.ok and "exit code 3" in failing.error
    assert other.ok and len(other.runs) == 3
