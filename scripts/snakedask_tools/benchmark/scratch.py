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
BASE_CONFIG = "config/config.yaml"


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


def many_datasets_config(base: dict[str, Any], extra: int) -> dict[str, Any]:
    """``base``'s (config/config.yaml's) one table and one scene, and ``extra`` copies of each.

    The copies are named ``t01``, ``t02``, ... and ``s01``, ``s02``, ... (wider numbers past 99) and
    keep the sample's settings, files included: every pair is the sample again. Written as a config
    file after config/config.yaml, the sample's own entries say again what it already says.
    """
    if extra < 0:
        raise ValueError(f"extra pairs must be 0 or more, not {extra}")
    config: dict[str, Any] = {}
    for section in ("tables", "scenes"):
        entries = base.get(section) or {}
        if len(entries) != 1:
            raise ValueError(f"the base config must have one entry under {section}:, not {len(entries)}")
        name, entry = next(iter(entries.items()))
        # A deep copy each: a shared object would be written as a YAML anchor and aliases.
        config[section] = {name: copy.deepcopy(entry)}
        for i in range(1, extra + 1):
            table, scene = extra_pair(i, extra)
            config[section][table if section == "tables" else scene] = copy.deepcopy(entry)
    return config


def extra_pair(i: int, extra: int) -> tuple[str, str]:
    """The names of the ``i``-th of ``extra`` copies: (table, scene), e.g. ``("t01", "s01")``."""
    width = max(2, len(str(extra)))
    return f"t{i:0{width}d}", f"s{i:0{width}d}"


def many_config_name(extra: int) -> str:
    return f"many-{extra}.yaml"


def write_many_config(checkout: Path, extra: int) -> Path:
    """The many-datasets config (:func:`many_datasets_config`) from the checkout's config/config.yaml."""
    base = yaml.safe_load((checkout / BASE_CONFIG).read_text())
    path = checkout / many_config_name(extra)
    path.write_text(yaml.safe_dump(many_datasets_config(base, extra), sort_keys=False, allow_unicode=True))
    return path


def many_command(cores: int, extra: int) -> list[str]:
    """The default target with ``extra`` more pairs (none: config/config.yaml alone); no target
    after ``--configfile``, which takes every following word as a config file."""
    configs = [BASE_CONFIG, many_config_name(extra)] if extra else [BASE_CONFIG]
    return [str(SNAKEMAKE), "--cores", str(cores), "--configfile", *configs]


def snakemake_command(
    cores: int, targets: Iterable[str], *options: str, configs: Iterable[str] = ()
) -> list[str]:
    """``configs``: config files merged after the benchmark's (e.g. ``--s3``'s scenes read in place)."""
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
        *configs,
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
