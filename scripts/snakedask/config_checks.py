"""Checks of the merged config beyond its JSON schema, each returning one error line per problem.

The Snakefile refuses the run before any job when a check finds something
(``common.smk``'s ``refuse_config``); here they are plain functions, tested
without Snakemake.
"""

import re
from collections.abc import Iterator
from typing import Any

# C0 and C1 control characters but the tab (a table's `sep` may be one): a line break in a value would
# start a new line in a batch script's #SBATCH header or a worker's command line.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _strings(value: Any, key: str) -> Iterator[tuple[str, str]]:
    """Every string in ``value`` (keys of mappings too) with its dotted key."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            inner = f"{key}.{name}" if key else str(name)
            if isinstance(name, str):
                yield inner + " (the key itself)", name
            yield from _strings(item, inner)
    elif isinstance(value, list | tuple):
        for at, item in enumerate(value):
            yield from _strings(item, f"{key}[{at}]")


def control_characters(config: dict[str, Any]) -> list[str]:
    """A line per config string holding a control character (a line break, an escape, ...)."""
    problems = []
    for key, text in _strings(config, ""):
        if found := _CONTROL.search(text):
            shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", key)  # never print an escape
            problems.append(
                f"  - {shown}: {text!r} holds the control character U+{ord(found.group()):04X}; no setting "
                "needs one (a line break would start a new line in a batch script or a command). Remove it."
            )
    return problems
