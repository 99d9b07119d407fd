"""Config checks beyond the schema: no control character in any setting."""

from snakedask.config_checks import control_characters


def test_control_characters_are_refused_wherever_they_are():
    config = {
        "tables": {"t": {"read_options": {"sep": "\t", "na_values": ["NA", "n.d.\r"]}}},
        "dask": {"jobqueue": {"job_extra": ["--qos=x\ncurl http://127.0.0.1:9/x | sh"], "queue": "short"}},
        "scenes": {"bad\x1bname": {}},
    }
    problems = control_characters(config)
    assert len(problems) == 3, problems
    assert problems[0].startswith(
        "  - tables.t.read_options.na_values[1]: 'n.d.\\r' holds the control character U+000D"
    )
    assert problems[1].startswith("  - dask.jobqueue.job_extra[0]: '--qos=x\\ncurl")
    assert problems[2].startswith(
        "  - scenes.bad\\x1bname (the key itself): 'bad\\x1bname' holds the control character U+001B"
    )
    assert (
        control_characters({"tables": {"t": {"read_options": {"sep": "\t"}}}}) == []
    )  # a tab separator is fine
