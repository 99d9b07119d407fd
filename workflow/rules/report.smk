# The HTML report (`snakemake --report results/report.html`): what a run used, and a page per
# product the report cannot show as it is (results/report_pages/, see snakedask/report_pages.py).
# Snakemake's report shows images, PDF and HTML in the page and offers anything else as a
# download; and a Dask performance report, embedded as it is, is too large for a frame.

from snakedask import report_pages

warn_if_report_of_another_config()


rule run_info:
    # Every other product (and its page) first: a run that fails leaves the last good run's record alone.
    input:
        other_products(),
        report_pages.pages_of(
            TABLES,
            {
                scene: (list(scene_files(scene)), config["scenes"][scene]["indices"])
                for scene in SCENES
            },
        ),
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


rule report_page_averages:
    input:
        "results/tables/{table}/averages.csv",
    output:
        report(
            "results/report_pages/tables/{table}/averages.csv.html",
            caption="../report/averages_table.rst",
            category="Tables",
            subcategory="{table}",
            labels={"table": "{table}", "product": "averages (CSV)"},
        ),
    log:
        "logs/report_pages/tables/{table}/averages.csv.log",
    localrule: True
    conda:
        "../envs/plots.yaml"
    params:
        title="Averages of table {table} (averages.csv)",
    script:
        "../scripts/report_page.py"


use rule report_page_averages as report_page_counts with:
    input:
        "results/tables/{table}/counts.csv",
    output:
        report(
            "results/report_pages/tables/{table}/counts.csv.html",
            caption="../report/counts.rst",
            category="Tables",
            subcategory="{table}",
            labels={"table": "{table}", "product": "counts per group (CSV)"},
        ),
    log:
        "logs/report_pages/tables/{table}/counts.csv.log",
    params:
        title="Rows and values per group of table {table} (counts.csv)",


# One label per result where a category may hold two: Snakemake's report turns a second label
# with two values, each on half of the results, into a toggle, which breaks the list unless
# every first label has both values.
use rule report_page_averages as report_page_table_provenance with:
    input:
        "resources/tables/{table}/raw.provenance.json",
    output:
        report(
            "results/report_pages/tables/{table}/raw.provenance.json.html",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"file": "resources/tables/{table}/raw.csv"},
        ),
    log:
        "logs/report_pages/tables/{table}/raw.provenance.json.log",
    params:
        title="Where resources/tables/{table}/raw.csv came from",


use rule report_page_averages as report_page_band_provenance with:
    input:
        "resources/scenes/{scene}/{band}.provenance.json",
    output:
        report(
            "results/report_pages/scenes/{scene}/{band}.provenance.json.html",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"file": "resources/scenes/{scene}/{band}.tif"},
        ),
    log:
        "logs/report_pages/scenes/{scene}/{band}.provenance.json.log",
    params:
        title="Where resources/scenes/{scene}/{band}.tif came from",


use rule report_page_averages as report_page_stats with:
    input:
        "results/scenes/{scene}/{index}_stats.json",
    output:
        report(
            "results/report_pages/scenes/{scene}/{index}_stats.json.html",
            caption="../report/index_stats.rst",
            category="Scenes",
            subcategory="{scene}",
            labels={"scene": "{scene}", "product": "{index} statistics"},
        ),
    log:
        "logs/report_pages/scenes/{scene}/{index}_stats.json.log",
    params:
        title="{index} statistics of scene {scene} ({index}_stats.json)",
        # For the caption, as the rule that computed them has them.
        index=index_name,
        label=index_info("label"),
        description=index_info("description"),


use rule report_page_averages as report_page_table_dask with:
    input:
        "results/tables/{table}/dask-report.html",
    output:
        report(
            "results/report_pages/tables/{table}/dask-report.html",
            caption="../report/dask_report.rst",
            category="Dask performance",
            labels=lambda wildcards: {
                "job": report_pages.dask_job(wildcards, SCENE_INDEX_SETS)
            },
        ),
    log:
        "logs/report_pages/tables/{table}/dask-report.log",
    params:
        title=lambda wildcards: f"Dask performance report: {report_pages.dask_job(wildcards, SCENE_INDEX_SETS)}",
        job=lambda wildcards: report_pages.dask_job(wildcards, SCENE_INDEX_SETS),


use rule report_page_table_dask as report_page_scene_dask with:
    input:
        "results/scenes/{scene}/{report}.html",
    output:
        report(
            "results/report_pages/scenes/{scene}/{report}.html",
            caption="../report/dask_report.rst",
            category="Dask performance",
            labels=lambda wildcards: {
                "job": report_pages.dask_job(wildcards, SCENE_INDEX_SETS)
            },
        ),
    log:
        "logs/report_pages/scenes/{scene}/{report}.log",
    wildcard_constraints:
        report="([a-z][a-z0-9_]*_)?dask-report",


# Small HTML pages: never worth a batch job (`use rule ... with` does not carry `localrule:`).
localrules:
    report_page_counts,
    report_page_table_provenance,
    report_page_band_provenance,
    report_page_stats,
    report_page_table_dask,
    report_page_scene_dask,
