"""Rule run_info: the run's record (workflow/scripts/run_info.py), then its pages for the HTML report."""

import runpy


def main(smk) -> None:
    runpy.run_path(smk.params.record_script)["main"](smk)
    from snakedask.report_pages import write_page

    titles = (
        "The configuration of this run (config.yaml)",
        "Config files and Dask cluster of this run (run.yaml)",
        "Software versions of this run (software_versions.txt)",
    )
    for source, page, title in zip(
        (smk.output.config, smk.output.run, smk.output.versions), smk.output.pages, titles, strict=True
    ):
        write_page(source, page, title)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
