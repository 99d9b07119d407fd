# What a run used, for the HTML report (`snakemake --report results/report.html`).


rule run_info:
    output:
        config=report(
            "results/run_info/config.yaml",
            caption="../report/run_info.rst",
            category="About this run",
            labels={"file": "configuration"},
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
        # A changed configuration reruns this rule (Snakemake tracks params).
        config=config,
    script:
        "../scripts/run_info.py"
