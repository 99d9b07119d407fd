"""Rule averages: per-group means of a table, computed on the configured Dask cluster."""

import json
from pathlib import Path

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log = log_to_file(smk.log[0])  # before distributed is imported
    from snakedask.atomic_output import atomic_path
    from snakedask.averages import compute_averages
    from snakedask.cluster import dask_client, performance_report_to, ship_package
    from snakedask.object_storage import is_s3, located_source

    encoding = json.loads(Path(smk.input.encoding).read_text())["encoding"]
    records = json.loads(Path(smk.input.records).read_text())
    table = located_source(smk.input.csv)  # the raw file, or the s3:// object read in place
    # Workers that cannot read this machine's files get each block from here, unless they read it in place.
    send_blocks = not smk.config["dask"]["shared_filesystem"] and not is_s3(table)
    with dask_client(smk.config["dask"], smk.threads, smk.resources.get("mem_mb")) as client:
        ship_package(client)  # workers elsewhere need the block reader
        with (
            atomic_path(smk.output.dask_report) as report,
            performance_report_to(report, smk.config["dask"]["performance_report"]),
        ):
            averages, counts = compute_averages(
                table,
                encoding,
                key=smk.params.groupby,
                blocksize=smk.params.blocksize,
                dtype=smk.params.dtype,
                read_options=smk.params.read_options,
                engine=smk.params.engine,
                records=records,
                columns=smk.params.columns,
                counts=True,
                send_blocks=send_blocks,
            )
        log.info("averages by %s:\n%s", smk.params.groupby, averages)
        with atomic_path(smk.output.csv) as tmp:
            averages.to_csv(tmp, encoding="utf-8")
        with atomic_path(smk.output.counts) as tmp:
            counts.to_csv(tmp, encoding="utf-8")
        log.info("wrote %s", smk.output.csv)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
