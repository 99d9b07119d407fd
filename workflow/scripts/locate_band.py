"""Rule locate_band: where a band read in place is (its object's size, ETag and GDAL path); no download."""

import json

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log = log_to_file(smk.log[0])
    from snakedask.atomic_output import write_text
    from snakedask.object_storage import locate

    settings = smk.params.settings
    record = locate(smk.params.url, settings["timeout"], settings["attempts"])
    write_text(smk.output[0], json.dumps(record, indent=2) + "\n")
    log.info(
        "%s: %d bytes, ETag %s, read in place as %s",
        smk.params.url,
        record["size"],
        record["etag"],
        record["read_in_place"],
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
