"""Rules report_page_*: a product shown in the HTML report's page (a text page, or a packed Dask report)."""

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log = log_to_file(smk.log[0])
    from snakedask.report_pages import write_page

    write_page(smk.input[0], smk.output[0], smk.params.title)
    log.info("%s: the report's page of %s", smk.output[0], smk.input[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
