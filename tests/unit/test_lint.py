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


def module_imports(package: Path) -> dict[str, set[str]]:
    """{module: the package's modules it imports at its top level} (imports inside functions are lazy)."""
    import ast

    graph = {}
    for path in package.glob("*.py"):
        found = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package.name):
                inner = node.module.removeprefix(package.name).lstrip(".")
                found |= {inner} if inner else {alias.name for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[1] for a in node.names if a.name.startswith(f"{package.name}.")}
        graph[path.stem] = found - {"__init__"}
    return graph


def test_the_library_has_no_import_cycle():
    graph = module_imports(ROOT / "scripts" / "snakedask")
    assert graph["run_cluster"] >= {"cluster", "jobqueue", "shared_cluster"}  # the parser sees imports
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module not in done:
            for imported in graph.get(module, ()):
                visit(imported, (*path, module))
            done.add(module)

    for module in graph:
        visit(module, ())
