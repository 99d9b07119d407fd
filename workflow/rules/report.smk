# The HTML report (`snakemake --report results/report.html`): what a run used, and a page per
# product the report cannot show as it is (results/report_pages/, see snakedask/report_pages.py).
# Snakemake's report shows images, PDF and HTML in the page and offers anything else as a
# download; and a Dask performance report, embedded as it is, is too large for a frame.

from snakedask import report_pages

warn_if_report_of_another_config()

PRODUCT_PAGES = report_pages.product_pages(
    TABLES,
    {scene: list(scene_files(scene)) for scene in SCENES},
    SCENE_INDEX_SETS,
    frozenset(scene for scene in SCENES if config["scenes"][scene]["read_in_place"]),
    frozenset(table for table in TABLES if config["tables"][table]["read_in_place"]),
)


rule run_info:
    # Every other product (and its page) first: a run that fails leaves the last good run's record alone.
    input:
        other_products(),
        [page.page for page in PRODUCT_PAGES],
    output:
        config="results/run_info/config.yaml",
        run="results/run_info/run.yaml",
        versions="results/run_info/software_versions.txt",
        pages=[
            report(
                f"results/report_pages/run_info/{name}.html",
                caption="../report/run_info.rst",
                category="About this run",
                labels={"file": label},
            )
            for name, label in (
                ("config.yaml", "configuration (config.yaml)"),
                ("run.yaml", "config files and Dask cluster (run.yaml)"),
                ("software_versions.txt", "software versions"),
            )
        ],
    log:
        "logs/run_info.log",
    benchmark:
        "benchmarks/run_info.tsv"
    localrule: True
    conda:
        ENV
    params:
        # A changed configuration reruns this rule (Snakemake tracks params): a digest, not the dict.
        config_digest=config_checks.config_digest(config),
        configfiles=[str(path) for path in workflow.configfiles],
        given_configfiles=[str(path) for path in workflow.config_settings.configfiles],
        config_args=dict(workflow.config_settings.config),
        cluster=cluster_record(config["dask"]),
        record_script=str(WORKFLOW_DIR / "scripts" / "run_info.py"),
    script:
        "../scripts/run_info_report.py"


# Every product's page in one job: a page is a few lines of Python, a job a new interpreter.
rule report_pages:
    input:
        [page.source for page in PRODUCT_PAGES],
    output:
        [
            report(
                page.page,
                caption=f"../report/{page.caption}",
                category=page.category,
                subcategory=page.subcategory,
                labels=page.labels,
            )
            for page in PRODUCT_PAGES
        ],
    log:
        "logs/report_pages.log",
    benchmark:
        "benchmarks/report_pages.tsv"
    localrule: True
    conda:
        "../envs/plots.yaml"
    params:
        # Titles and notes only: the files are smk.input and smk.output, in this order, where
        # they are on this machine (with a --default-storage-provider, local copies).
        pages=[(page.title, page.note) for page in PRODUCT_PAGES],
    script:
        "../scripts/report_pages.py"
