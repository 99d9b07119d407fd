"""Rule ndvi: NDVI of a scene as a Cloud-Optimized GeoTIFF plus its statistics, on the configured Dask cluster."""

import json

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log = log_to_file(smk.log[0])  # before distributed is imported
    from snakedask.ndvi import set_gdal_reading_options

    set_gdal_reading_options()
    from snakedask.atomic_output import atomic_path, write_text
    from snakedask.cluster import dask_client, performance_report_to, ship_package
    from snakedask.errors import DiskFullError, RasterError
    from snakedask.ndvi import compute_ndvi, describe_grid, write_ndvi

    index = compute_ndvi(smk.input.red, smk.input.nir, smk.params.red, smk.params.nir, smk.params.chunks)
    log.info("NDVI %s, chunks %s", describe_grid(index), index.chunks)
    with dask_client(smk.config["dask"], smk.threads, smk.resources.get("mem_mb")) as client:
        ship_package(client)  # workers elsewhere need the kernels the tasks call
        with (
            atomic_path(smk.output.tif) as tmp,
            atomic_path(smk.output.dask_report) as report,
            performance_report_to(report, smk.config["dask"]["performance_report"]),
        ):
            try:
                stats = write_ndvi(index, tmp, smk.resources.get("mem_mb"))
            except (RasterError, DiskFullError):
                raise
            except Exception as err:  # GDAL read errors arrive from the workers re-wrapped
                raise RasterError(
                    f"reading {smk.input.red} / {smk.input.nir} or writing {smk.output.tif} failed: {err}. "
                    "A truncated or corrupt band file? Delete it and run again."
                ) from err
        write_text(smk.output.stats, json.dumps(stats, indent=2) + "\n")
        log.info("wrote %s (%d valid pixels) and %s", smk.output.tif, stats["count_valid"], smk.output.stats)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
