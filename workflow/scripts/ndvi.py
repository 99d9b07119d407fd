"""Rules ndvi and index: a spectral index of a scene as a Cloud-Optimized GeoTIFF plus its statistics,
on the configured Dask cluster."""

import json

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log = log_to_file(smk.log[0])  # before distributed is imported
    from snakedask.ndvi import set_gdal_reading_options

    set_gdal_reading_options()
    from snakedask.atomic_output import atomic_path, write_text
    from snakedask.cluster import dask_client, performance_report_to, ship_package
    from snakedask.errors import DiskFullError, RasterError
    from snakedask.ndvi import compute_index, describe_grid, write_index

    index = smk.params.index
    bands = {band: smk.input[band] for band in smk.params.pixels}
    values = compute_index(index, bands, smk.params.pixels, smk.params.chunks)
    log.info("%s %s, chunks %s", index.upper(), describe_grid(values), values.chunks)
    with dask_client(smk.config["dask"], smk.threads, smk.resources.get("mem_mb")) as client:
        ship_package(client)  # workers elsewhere need the kernels the tasks call
        with (
            atomic_path(smk.output.tif) as tmp,
            atomic_path(smk.output.dask_report) as report,
            performance_report_to(report, smk.config["dask"]["performance_report"]),
        ):
            try:
                stats = write_index(values, tmp, smk.resources.get("mem_mb"), index)
            except (RasterError, DiskFullError):
                raise
            except Exception as err:  # GDAL read errors arrive from the workers re-wrapped
                files = " / ".join(sorted(set(bands.values())))
                raise RasterError(
                    f"reading {files} or writing {smk.output.tif} failed: {err}. "
                    "A truncated or corrupt band file? Delete it and run again."
                ) from err
        write_text(smk.output.stats, json.dumps(stats, indent=2) + "\n")
        log.info("wrote %s (%d valid pixels) and %s", smk.output.tif, stats["count_valid"], smk.output.stats)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
