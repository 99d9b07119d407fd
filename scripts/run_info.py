"""Record what a run used: the merged configuration and the software versions."""

import platform
import sys
from importlib import metadata

import yaml

PACKAGES = ("snakemake", "snakemake-executor-plugin-slurm", "dask", "distributed", "pandas", "pyarrow",
            "numpy", "xarray", "rioxarray", "rasterio", "rio-cogeo", "pyproj", "chardet", "requests",
            "matplotlib", "jsonschema")


def software_versions() -> str:
    """One line per package, plus Python, the platform and GDAL."""
    import rasterio

    lines = [f"python {platform.python_version()} ({sys.executable})", f"platform {platform.platform()}",
             f"GDAL {rasterio.__gdal_version__} (bundled with rasterio)"]
    for name in PACKAGES:
        try:
            lines.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{name} (not installed)")
    return "\n".join(lines) + "\n"


def main(smk) -> None:
    from atomic_output import write_text
    from rule_log import log_to_file

    log_to_file(smk.log[0])
    write_text(smk.output.config, yaml.safe_dump(dict(smk.config), sort_keys=False))
    write_text(smk.output.versions, software_versions())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
