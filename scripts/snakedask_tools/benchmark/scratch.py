"""The scratch checkout the workflow is measured in: a copy of this checkout with a benchmark config.

The copy runs its own library (:func:`snakedask_tools.checkout.snakemake_environment` puts its
``scripts/`` first on ``PYTHONPATH``), so a benchmark measures the code that was copied, and
products, logs and ``.snakemake`` stay out of the developer's tree.
"""

from __future__ import annotations

import copy
import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from snakedask_tools.benchmark.measure import SNAKEMAKE
from snakedask_tools.checkout import copy_checkout

BENCH_CONFIG = "bench.yaml"


def make_checkout(dest: Path) -> Path:
    """The workflow, its config, library and sample (small; config/config.yaml's datasets, which every
    run checks for, stay configured beside the benchmark's: their files must exist)."""
    return copy_checkout(dest)


def parse_chunks(text: str) -> Any:
    """``2048`` -> ``{x: 2048, y: 2048}``; anything else (``15MB``, ``auto``) as given."""
    return {"x": int(text), "y": int(text)} if text.isdigit() else text


def write_bench_config(
    checkout: Path, tables: dict[str, Path], scenes: dict[str, dict[str, Path]], blocksize: str, chunks: Any
) -> Path:
    """The config merged over config/config.yaml: one entry per input, by absolute path."""
    config = {
        "tables": {name: {"url": str(path), "blocksize": blocksize} for name, path in tables.items()},
        "scenes": {
            # A copy each: a shared object would be written as a YAML anchor and aliases.
            name: {
                "red": {"url": str(bands["red"])},
                "nir": {"url": str(bands["nir"])},
                "chunks": copy.copy(chunks),
            }
            for name, bands in scenes.items()
        },
    }
    path = checkout / BENCH_CONFIG
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_command(cores: int, targets: Iterable[str], *options: str) -> list[str]:
    # Targets before --configfile: it takes every following word as a config file.
    return [
        str(SNAKEMAKE),
        "--cores",
        str(cores),
        *targets,
        *options,
        "--configfile",
        "config/config.yaml",
        BENCH_CONFIG,
    ]


def rule_benchmark_seconds(checkout: Path, tsv: str) -> tuple[float, float] | None:
    """(seconds, max_rss MB) of the last run of a rule, from its Snakemake ``benchmark:`` file."""
    path = checkout / "benchmarks" / tsv
    if not path.exists():
        return None
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    try:
        return float(rows[-1]["s"]), float(rows[-1]["max_rss"])
    except (IndexError, KeyError, ValueError):
        return None


def rule_breakdown(checkout: Path, table: str, scene: str) -> str:
    """Every job's own time for one table and one scene, from their ``benchmark:`` files."""
    parts = []
    for folder in (checkout / "benchmarks" / "tables" / table, checkout / "benchmarks" / "scenes" / scene):
        for tsv in sorted(folder.glob("*.tsv")):
            own = rule_benchmark_seconds(checkout, str(tsv.relative_to(checkout / "benchmarks")))
            if own:
                parts.append(f"{tsv.stem} {own[0]:.2f} s")
    return ", ".join(parts) or "none found"
