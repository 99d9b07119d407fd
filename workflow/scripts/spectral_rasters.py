"""Rules ndvi, index and indices_*: a scene's spectral indices as Cloud-Optimized GeoTIFFs plus their
statistics, all in one pass on the configured Dask cluster."""

import contextlib
import json
import os

from snakedask.rule_log import log_to_file


def as_list(paths) -> list[str]:
    """A named output: one path (rules ndvi, index) or a list of them (indices_*)."""
    return [paths] if isinstance(paths, str) else list(paths)


def main(smk) -> None:
    log = log_to_file(smk.log[0])  # before distributed is imported
    from snakedask.spectral_rasters import set_gdal_reading_options

    set_gdal_reading_options()
    from snakedask.atomic_output import atomic_path, write_text
    from snakedask.cluster import dask_client, performance_report_to, ship_package
    from snakedask.errors import DiskFullError, RasterError
    from snakedask.spectral_rasters import (
        band_pixels,
        compute_index,
        describe_grid,
        find_unreadable,
        write_indices,
    )

    names = list(smk.params.indices)
    tifs, stats_files = as_list(smk.output.tif), as_list(smk.output.stats)
    # A scene read in place: GDAL paths to its objects, and the endpoint boto3 uses for GDAL too.
    bands = {band: smk.params.in_place.get(band) or smk.input[band] for band in smk.params.pixels}
    if smk.params.in_place:
        from snakedask.object_storage import gdal_environment

        os.environ.update(gdal_environment(dict(os.environ)))
    for band, settings in smk.params.pixels.items():  # which nodata, scale, offset and mask: file or config
        log.info("%s: %s", band, band_pixels(bands[band], **settings).describe())
    values = []
    for name in names:
        values.append(compute_index(name, bands, smk.params.pixels, smk.params.chunks))
        log.info("%s %s, chunks %s", name.upper(), describe_grid(values[-1]), values[-1].chunks)
    with dask_client(smk.config["dask"], smk.threads, smk.resources.get("mem_mb")) as client:
        ship_package(client)  # workers elsewhere need the kernels the tasks call
        with contextlib.ExitStack() as outputs:
            tmps = [outputs.enter_context(atomic_path(tif)) for tif in tifs]
            report = outputs.enter_context(atomic_path(smk.output.dask_report))
            outputs.enter_context(performance_report_to(report, smk.config["dask"]["performance_report"]))
            try:
                stats = write_indices(
                    values, tmps, smk.resources.get("mem_mb"), names, smk.config["dask"]["shared_filesystem"]
                )
            except (RasterError, DiskFullError):
                raise
            except Exception:
                # A worker's GDAL error may arrive untyped: the band files say whether one is bad.
                # Anything else (a bug, MemoryError, KilledWorker) keeps its own error, and the files.
                if (problem := find_unreadable(sorted(set(bands.values())))) is not None:
                    raise problem from None
                raise
        for tif, path, result in zip(tifs, stats_files, stats, strict=True):
            write_text(path, json.dumps(result, indent=2) + "\n")
            log.info("wrote %s (%d valid pixels) and %s", tif, result["count_valid"], path)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
