# What a run used, for the HTML report (`snakemake --report results/report.html`).

warn_if_report_of_another_config()


rule run_info:
    # Every other product first: a run that fails leaves the last good run's record alone.
    input:
        other_products(),
    output:
        config=report(
            "results/run_info/config.yaml",
            caption="../report/run_info.rst",
            category="About this run",
            labels={"file": "configuration"},
        ),
        run=report(
            "results/run_info/run.yaml",
            caption="../report/run_info.rst",
            category="About this run",
            labels={"file": "config files and Dask cluster"},
        ),
        versions=report(
            "results/run_info/software_versions.txt",
            caption="../report/run_info.rst",
            category="About this run",
            labels={"file": "software versions"},
        ),
    log:
        "logs/run_info.log",
    benchmark:
        "benchmarks/run_info.tsv"
    localrule: True
    conda:
        ENV
    params:
        # A changed configuration reruns this rule (Snakemake tracks params): a digest, not the dict.
        config_digest=config_digest(),
        configfiles=[str(path) for path in workflow.configfiles],
        given_configfiles=[str(path) for path in workflow.config_settings.configfiles],
        config_args=dict(workflow.config_settings.config),
        cluster=cluster_record(),
    script:
        "../scripts/run_info.py"
