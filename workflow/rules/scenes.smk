# Raster path: NDVI from red and NIR on Dask, and its map.


rule ndvi:
    input:
        unpack(scene_rasters),
    output:
        tif="results/scenes/{scene}/ndvi.tif",
        stats=report(
            "results/scenes/{scene}/ndvi_stats.json",
            caption="../report/ndvi_stats.rst",
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
        red=band_pixels("red"),
        nir=band_pixels("nir"),
        chunks=scene_setting("chunks"),
    script:
        "../scripts/ndvi.py"


rule plot_ndvi:
    input:
        tif="results/scenes/{scene}/ndvi.tif",
        stats="results/scenes/{scene}/ndvi_stats.json",
    output:
        png=report(
            "results/scenes/{scene}/ndvi.png",
            caption="../report/ndvi_map.rst",
            category="Scenes",
            subcategory="{scene}",
            labels={"scene": "{scene}", "product": "NDVI map"},
        ),
        histogram=report(
            "results/scenes/{scene}/ndvi_histogram.png",
            caption="../report/ndvi_histogram.rst",
            category="Scenes",
            subcategory="{scene}",
            labels={"scene": "{scene}", "product": "NDVI histogram"},
        ),
    log:
        "logs/scenes/{scene}/plot_ndvi.log",
    benchmark:
        "benchmarks/scenes/{scene}/plot_ndvi.tsv"
    conda:
        ENV
    script:
        "../scripts/plot_ndvi.py"
