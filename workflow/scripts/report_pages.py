"""Rule report_pages: every product's page for the HTML report (a text page, or a packed Dask report)."""

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log = log_to_file(smk.log[0])
    from snakedask.report_pages import write_page

    for source, page, (title, note) in zip(smk.input, smk.output, smk.params.pages, strict=True):
        write_page(source, page, title, note)
    log.info("%d pages of the products for the HTML report", len(smk.params.pages))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
