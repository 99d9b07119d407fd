"""Record what a run used: the merged configuration and the software versions."""

import os
import platform
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

PACKAGES = (
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "dask",
    "distributed",
    "dask-jobqueue",
    "dask-gateway",
    "pandas",
    "pyarrow",
    "numpy",
    "xarray",
    "rioxarray",
    "rasterio",
    "rio-cogeo",
    "pyproj",
    "chardet",
    "requests",
    "matplotlib",
    "jsonschema",
)


def software_versions() -> str:
    """One line per package, plus Python, the platform and GDAL."""
    import rasterio

    lines = [
        f"python {platform.python_version()} ({sys.executable})",
        f"platform {platform.platform()}",
        f"GDAL {rasterio.__gdal_version__} (bundled with rasterio)",
    ]
    for name in PACKAGES:
        try:
            lines.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{name} (not installed)")
    return "\n".join(lines) + "\n"


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors and aliases (``&id001``/``*id001``): every value written out where it is."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def yaml_text(data: Any) -> str:
    """``data`` as YAML a person reads: UTF-8 text (``m³/m³``, not ``"m\\xB3/m\\xB3"``), keys in their
    order, no anchors."""
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True)


def merge_order(config_files: Iterable[str], given: Iterable[str] = ()) -> list[str]:
    """The config files in the order their values were merged, each once, relative to the working
    directory where they lie under it.

    ``config_files`` is every file Snakemake read (``workflow.configfiles``: the
    command line's first, then the Snakefile's ``configfile:``), ``given`` the
    command line's (``--configfile``). Snakemake merges the Snakefile's first and
    the command line's over them, later over earlier, so a file given twice
    (``configfile:`` and ``--configfile config/config.yaml``) counts where it comes last.
    """
    given = [str(name) for name in given]
    from_snakefile = [str(name) for name in config_files]
    for name in given:  # one entry per file given on the command line is that one
        match = next((f for f in from_snakefile if os.path.realpath(f) == os.path.realpath(name)), None)
        if match is not None:
            from_snakefile.remove(match)
    files = [*from_snakefile, *given]
    last = {os.path.realpath(name): at for at, name in enumerate(files)}
    return [_shown(name) for at, name in enumerate(files) if last[os.path.realpath(name)] == at]


def _shown(name: str) -> str:
    path = os.path.realpath(name)
    here = os.path.realpath(os.getcwd())
    return os.path.relpath(path, here) if path.startswith(here + os.sep) else name


def report_config_mismatch(record: str | Path, digest: str, configfiles: Iterable[str | Path]) -> str | None:
    """A warning when ``snakemake --report`` is given other config files than the run recorded in ``record``.

    The report shows the run's record; mixed with another config's products it
    would describe neither. None when they agree or there is no record yet.
    """
    record = Path(record)
    if not record.is_file():
        return None
    run = yaml.safe_load(record.read_text(encoding="utf-8")) or {}
    if run.get("config_digest") == digest:
        return None
    return (
        f"Warning: results/ were made with the config files {run.get('config_files')}, not with "
        f"{[str(f) for f in configfiles]}: this report mixes them. Give `--report` (or "
        '`make report CONFIG="..."`) the config files of the run.'
    )
