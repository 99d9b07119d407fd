# Raster path: spectral indices (NDVI and its siblings) on Dask, and their figures.


rule ndvi:
    input:
        unpack(scene_rasters),
    output:
        tif="results/scenes/{scene}/ndvi.tif",
        stats=report(
            "results/scenes/{scene}/ndvi_stats.json",
            caption="../report/index_stats.rst",
            category="Scenes",
            subcategory="{scene}",
            labels={"scene": "{scene}", "product": "NDVI statistics"},
        ),
        dask_report=report(
            "results/scenes/{scene}/dask-report.html",
            caption="../report/dask_report.rst",
            category="Dask performance",
            labels={"dataset": "{scene}", "rule": "ndvi"},
        ),
    log:
        "logs/scenes/{scene}/ndvi.log",
    benchmark:
        "benchmarks/scenes/{scene}/ndvi.tsv"
    conda:
        ENV
    threads: compute_threads
    resources:
        mem_mb=config["compute"]["mem_mb"],
    params:
        index=index_name,
        label=index_info("label"),
        description=index_info("description"),
        pixels=index_pixels,
        chunks=scene_setting("chunks"),
    script:
        "../scripts/ndvi.py"


# Every other index: the same job, named after the index.
use rule ndvi as index with:
    output:
        tif="results/scenes/{scene}/{index}.tif",
        stats=report(
            "results/scenes/{scene}/{index}_stats.json",
            caption="../report/index_stats.rst",
            category="Scenes",
            subcategory="{scene}",
            labels={"scene": "{scene}", "product": "{index} statistics"},
        ),
        dask_report=report(
            "results/scenes/{scene}/{index}_dask-report.html",
            caption="../report/dask_report.rst",
            category="Dask performance",
            labels={"dataset": "{scene}", "rule": "{index}"},
        ),
    log:
        "logs/scenes/{scene}/{index}.log",
    benchmark:
        "benchmarks/scenes/{scene}/{index}.tsv"


# ndvi.tif matches both rules: the ndvi rule makes it (with NDVI's own report name).
ruleorder: ndvi > index


rule plot_index:
    input:
        tif="results/scenes/{scene}/{index}.tif",
        stats="results/scenes/{scene}/{index}_stats.json",
    output:
        png=report(
            "results/scenes/{scene}/{index}.png",
            caption="../report/index_map.rst",
            category="Scenes",
            subcategory="{scene}",
            labels={"scene": "{scene}", "product": "{index} map"},
        ),
        histogram=report(
            "results/scenes/{scene}/{index}_histogram.png",
            caption="../report/index_histogram.rst",
            category="Scenes",
            subcategory="{scene}",
            labels={"scene": "{scene}", "product": "{index} histogram"},
        ),
    log:
        "logs/scenes/{scene}/plot_{index}.log",
    benchmark:
        "benchmarks/scenes/{scene}/plot_{index}.tsv"
    conda:
        ENV
    params:
        index=index_name,
        label=index_info("label"),
        description=index_info("description"),
    script:
        "../scripts/plot_ndvi.py"
