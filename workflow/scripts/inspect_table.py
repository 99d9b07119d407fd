"""Rule inspect_table: the table's text encoding, checked against the whole file; its header, checked
against `groupby:` and `columns:`; and where its records start (so that blocks never begin inside a
quoted field)."""

import json

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log = log_to_file(smk.log[0])
    from snakedask.atomic_output import write_text
    from snakedask.csv_records import record_offsets
    from snakedask.encoding import detect_encoding
    from snakedask.object_storage import located_source
    from snakedask.table_header import check_header

    table = located_source(smk.input.csv)  # the raw file, or the s3:// object read in place
    result = detect_encoding(table, override=smk.params.encoding, **smk.params.detection)
    log.info("%s: %s", table, result)
    # The columns config names, checked now: before any Dask job or cluster start.
    check_header(table, result["encoding"], smk.params.groupby, smk.params.columns, smk.params.read_options)
    separator = (smk.params.read_options or {}).get("sep", ",")
    index = record_offsets(table, result["encoding"], smk.params.quotechar, separator)
    if index["splittable"]:
        log.info(
            "%s: %d record starts recorded (one per %d bytes); %d line breaks inside quoted fields",
            table,
            len(index["starts"]),
            index["step"],
            index["quoted_line_breaks"],
        )
    else:
        log.warning("%s will be read in one piece, not in blocks: %s", table, index["reason"])
    write_text(smk.output.json, json.dumps(result, indent=2) + "\n")
    write_text(smk.output.records, json.dumps(index) + "\n")


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
