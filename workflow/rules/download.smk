# Raw inputs, fetched (or copied) atomically into resources/.


rule download_table:
    input:
        local_source,
    output:
        "resources/tables/{table}/raw.csv",
    params:
        url=source_url,
        base=str(PROJECT_ROOT),
        timeout=config["download"]["timeout"],
    log:
        "logs/tables/{table}/download.log",
    benchmark:
        "benchmarks/tables/{table}/download.tsv"
    localrule: True
    conda:
        ENV
    script:
        "../../scripts/download.py"


use rule download_table as download_band with:
    output:
        "resources/scenes/{scene}/{band}.tif",
    log:
        "logs/scenes/{scene}/download_{band}.log",
    benchmark:
        "benchmarks/scenes/{scene}/download_{band}.tsv"
