"""Lint is part of the test suite, so CI enforces it: ruff (rules in pyproject.toml), ruff format, snakefmt."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

BIN = Path(sys.executable).parent
PYTHON_CODE = ["scripts", "workflow/scripts", "tests"]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *PYTHON_CODE],
        ["ruff", "format", "--check", *PYTHON_CODE],
        ["snakefmt", "--check", "workflow"],
    ],
    ids=["ruff check", "ruff format", "snakefmt"],
)
def test_code_is_lint_clean(command):
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"`{' '.join(command)}` (fix with `make format`):\n{result.stdout}{result.stderr}"
    )
