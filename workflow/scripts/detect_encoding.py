"""Rule detect_encoding: the table's text encoding, checked against the whole file."""

import json

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log = log_to_file(smk.log[0])
    from snakedask.atomic_output import write_text
    from snakedask.encoding import detect_encoding

    result = detect_encoding(smk.input.csv, override=smk.params.encoding, **smk.params.detection)
    log.info("%s: %s", smk.input.csv, result)
    write_text(smk.output.json, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
