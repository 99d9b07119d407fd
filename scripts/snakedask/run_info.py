"""Record what a run used: the merged configuration and the software versions."""

import platform
import sys
from importlib import metadata

PACKAGES = (
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "dask",
    "distributed",
    "dask-jobqueue",
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
