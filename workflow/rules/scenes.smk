# Raster path: spectral indices (NDVI and its siblings) on Dask, and their figures.


rule ndvi:
    input:
        unpack(scene_rasters),
    output:
        tif="results/scenes/{scene}/ndvi.tif",
        stats="results/scenes/{scene}/ndvi_stats.json",
        dask_report="results/scenes/{scene}/dask-report.html",
    log:
        "logs/scenes/{scene}/ndvi.log",
    benchmark:
        "benchmarks/scenes/{scene}/ndvi.tsv"
    # The longest chain of jobs at the lesson's sizes: started before the table's.
    priority: 1
    conda:
        "../envs/scenes.yaml"
    threads: compute_threads
    resources:
        mem_mb=config["compute"]["mem_mb"],
    params:
        indices=job_indices,
        index=index_name,
        label=index_info("label"),
        description=index_info("description"),
        pixels=index_pixels,
        in_place=bands_in_place,
        chunks=scene_setting("chunks"),
    script:
        "../scripts/spectral_rasters.py"


# Every other index: the same job, named after the index.
use rule ndvi as index with:
    output:
        tif="results/scenes/{scene}/{index}.tif",
        stats="results/scenes/{scene}/{index}_stats.json",
        dask_report="results/scenes/{scene}/{index}_dask-report.html",
    log:
        "logs/scenes/{scene}/{index}.log",
    benchmark:
        "benchmarks/scenes/{scene}/{index}.tsv"


# ndvi.tif matches both rules: the ndvi rule makes it (with NDVI's own report name).
ruleorder: ndvi > index


# A scene with several indices: one job makes them all in one Dask pass, which reads
# the bands they share once (README, "Spectral indices"). One rule per set of indices
# in the config, named after them and limited to the scenes that have that set.
for index_set in INDEX_SETS:
    index_rule = "indices_" + "_".join(index_set)

    rule:
        name:
            index_rule
        input:
            unpack(scene_rasters),
        output:
            tif=[f"results/scenes/{{scene}}/{name}.tif" for name in index_set],
            stats=[f"results/scenes/{{scene}}/{name}_stats.json" for name in index_set],
            dask_report="results/scenes/{scene}/dask-report.html",
        log:
            "logs/scenes/{scene}/indices.log",
        benchmark:
            "benchmarks/scenes/{scene}/indices.tsv"
        wildcard_constraints:
            scene=scene_config.scenes_with(SCENE_INDEX_SETS, index_set),
        priority: 1
        conda:
            "../envs/scenes.yaml"
        threads: compute_threads
        resources:
            mem_mb=config["compute"]["mem_mb"],
        params:
            indices=job_indices,
            described=[
                f"{name.upper()}: {REGISTRY[name].description}" for name in index_set
            ],
            pixels=index_pixels,
            in_place=bands_in_place,
            chunks=scene_setting("chunks"),
        script:
            "../scripts/spectral_rasters.py"

    # Its products also match the rules for one index: this rule makes them.
    workflow.ruleorder(index_rule, "ndvi", "index")


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
        "../envs/plots.yaml"
    params:
        index=index_name,
        label=index_info("label"),
        description=index_info("description"),
    script:
        "../scripts/plot_spectral.py"
