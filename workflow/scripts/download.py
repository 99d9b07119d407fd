"""Rules download_table and download_band: fetch a raw file, verified, with its provenance."""

import json

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log = log_to_file(smk.log[0])
    from snakedask.atomic_output import write_text
    from snakedask.download import fetch

    settings = smk.params.settings
    log.info("fetching %s", smk.params.url)
    record = fetch(
        smk.params.url,
        smk.output.data,
        base=smk.params.base,
        checksum=smk.params.checksum,
        timeout=settings["timeout"],
        attempts=settings["attempts"],
        backoff=settings["backoff"],
        log=log,
        plain=smk.params.plain,
    )
    write_text(smk.output.provenance, json.dumps(record, indent=2) + "\n")
    log.info("wrote %s (%d bytes, verified by %s)", smk.output.data, record["size"], record["verified_by"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
