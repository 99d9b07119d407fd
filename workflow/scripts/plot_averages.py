"""Rule plot_averages: the chart of a table's averages, partial groups marked, with units from config."""

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    from snakedask.atomic_output import atomic_path
    from snakedask.plot_averages import plot_averages

    with atomic_path(smk.output.png) as tmp:
        plot_averages(
            smk.input.csv, tmp, smk.wildcards.table, smk.input.counts, smk.params.units, smk.params.columns
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
