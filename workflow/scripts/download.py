"""Rules download_table and download_band: fetch a raw file, verified, with its provenance."""

import json

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log = log_to_file(smk.log[0])
    from snakedask.atomic_output import write_text
    from snakedask.download import fetch, fetch_sidecars, fetch_table

    settings = smk.params.settings
    log.info("fetching %s", smk.params.url)
    options = {
        "base": smk.params.base,
        "timeout": settings["timeout"],
        "attempts": settings["attempts"],
        "backoff": settings["backoff"],
        "log": log,
    }
    if smk.params.plain:  # a table: one file or several, decompressed
        record = fetch_table(smk.params.url, smk.output.data, smk.params.checksum, smk.params.sep, **options)
    else:  # a raster: its GDAL sidecars (mask, metadata) first, so the raster never lands without them
        sidecars = fetch_sidecars(smk.params.url, smk.output.data, **options)
        record = fetch(smk.params.url, smk.output.data, checksum=smk.params.checksum, **options)
        if sidecars:
            record["sidecars"] = sidecars
    write_text(smk.output.provenance, json.dumps(record, indent=2) + "\n")
    log.info("wrote %s (%d bytes, verified by %s)", smk.output.data, record["size"], record["verified_by"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
