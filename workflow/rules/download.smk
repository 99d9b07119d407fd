# Raw inputs, fetched (or copied) into resources/: complete and verified, or not at all.


rule download_table:
    input:
        local_source,
    output:
        data="resources/tables/{table}/raw.csv",
        # In the HTML report through its page (rules/report.smk): JSON as it is does not show.
        provenance="resources/tables/{table}/raw.provenance.json",
    log:
        "logs/tables/{table}/download.log",
    benchmark:
        "benchmarks/tables/{table}/download.tsv"
    localrule: True
    conda:
        "../envs/download.yaml"
    params:
        url=source_setting("url"),
        checksum=source_setting("checksum"),
        base=str(DATA_DIR),
        settings=config["download"],
        # A gzip/bz2/xz/zip table is decompressed on arrival, and a table in several
        # files joined: raw.csv is the plain table.
        plain=True,
        sep=table_read_option("sep", ","),
    script:
        "../scripts/download.py"


use rule download_table as download_band with:
    output:
        data="resources/scenes/{scene}/{band}.tif",
        provenance="resources/scenes/{scene}/{band}.provenance.json",
    log:
        "logs/scenes/{scene}/download_{band}.log",
    benchmark:
        "benchmarks/scenes/{scene}/download_{band}.tsv"
    # The bands lead to the longest chain of jobs (ndvi, then its plots): fetch them first.
    priority: 1
    localrule: True
    params:
        url=source_setting("url"),
        checksum=source_setting("checksum"),
        base=str(DATA_DIR),
        settings=config["download"],
        plain=False,  # GeoTIFFs compress inside the file
        sep=None,


# A scene read in place (`read_in_place: true`): no download, a record of where each object is.
rule locate_band:
    output:
        "resources/scenes/{scene}/{band}.located.json",
    log:
        "logs/scenes/{scene}/locate_{band}.log",
    benchmark:
        "benchmarks/scenes/{scene}/locate_{band}.tsv"
    localrule: True
    conda:
        "../envs/download.yaml"
    params:
        url=source_setting("url"),
        settings=config["download"],
    script:
        "../scripts/locate_band.py"


# A table read in place (`read_in_place: true`): no download, a record of where its object is.
use rule locate_band as locate_table with:
    output:
        "resources/tables/{table}/raw.located.json",
    log:
        "logs/tables/{table}/locate.log",
    benchmark:
        "benchmarks/tables/{table}/locate.tsv"
