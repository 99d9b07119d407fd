# Raster path: NDVI from red and NIR on Dask, and its map.


rule ndvi:
    input:
        unpack(scene_rasters),
    output:
        tif="results/scenes/{scene}/ndvi.tif",
    params:
        red=band_pixels("red"),
        nir=band_pixels("nir"),
        chunks=scene_setting("chunks"),
    threads: config["compute"]["threads"]
    resources:
        mem_mb=config["compute"]["mem_mb"],
    log:
        "logs/scenes/{scene}/ndvi.log",
    benchmark:
        "benchmarks/scenes/{scene}/ndvi.tsv"
    conda:
        ENV
    script:
        "../../scripts/ndvi.py"


rule plot_ndvi:
    input:
        tif="results/scenes/{scene}/ndvi.tif",
    output:
        png="results/scenes/{scene}/ndvi.png",
    log:
        "logs/scenes/{scene}/plot_ndvi.log",
    benchmark:
        "benchmarks/scenes/{scene}/plot_ndvi.tsv"
    conda:
        ENV
    script:
        "../../scripts/plot_ndvi.py"
