# Tabular path: encoding detection, per-group averages on Dask, and their chart.


rule inspect_table:
    input:
        csv=table_file,
    output:
        json="results/tables/{table}/encoding.json",
        records="results/tables/{table}/records.json",
    log:
        "logs/tables/{table}/inspect_table.log",
    benchmark:
        "benchmarks/tables/{table}/inspect_table.tsv"
    conda:
        "../envs/tables.yaml"
    params:
        encoding=table_setting("encoding"),
        detection=config["encoding_detection"],
        quotechar=table_read_option("quotechar", '"'),
        groupby=table_setting("groupby"),
        columns=table_setting("columns"),
        read_options=table_setting("read_options"),
    script:
        "../scripts/inspect_table.py"


rule averages:
    input:
        csv=table_file,
        encoding="results/tables/{table}/encoding.json",
        records="results/tables/{table}/records.json",
    # In the HTML report through their pages (rules/report.smk): a CSV and a Dask report as they are do not show.
    output:
        csv="results/tables/{table}/averages.csv",
        counts="results/tables/{table}/counts.csv",
        dask_report="results/tables/{table}/dask-report.html",
    log:
        "logs/tables/{table}/averages.log",
    benchmark:
        "benchmarks/tables/{table}/averages.tsv"
    conda:
        "../envs/tables.yaml"
    threads: compute_threads
    resources:
        mem_mb=config["compute"]["mem_mb"],
    params:
        groupby=table_setting("groupby"),
        columns=table_setting("columns"),
        blocksize=table_setting("blocksize"),
        dtype=table_setting("dtype"),
        read_options=table_setting("read_options"),
        engine=table_setting("engine"),
    script:
        "../scripts/averages.py"


rule plot_averages:
    input:
        csv="results/tables/{table}/averages.csv",
        counts="results/tables/{table}/counts.csv",
    output:
        png=report(
            "results/tables/{table}/averages.png",
            caption="../report/averages.rst",
            category="Tables",
            subcategory="{table}",
            labels={"table": "{table}", "product": "averages (chart)"},
        ),
    log:
        "logs/tables/{table}/plot_averages.log",
    benchmark:
        "benchmarks/tables/{table}/plot_averages.tsv"
    conda:
        "../envs/plots.yaml"
    params:
        units=table_setting("units"),
        columns=table_setting("columns"),
    script:
        "../scripts/plot_averages.py"
