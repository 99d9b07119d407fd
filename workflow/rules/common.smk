# The config, checked before any job; wildcard constraints; the input functions rules call.
# The logic lives in the library (scripts/snakedask), unit-tested as plain functions.

import os
import sys
import time
from pathlib import Path

# The workflow's library (installed into .venv by `make setup`).
from snakedask import config_checks, products, scene_config
from snakedask.cluster import cluster_record, threads_for_input
from snakedask.download import local_path
from snakedask.object_storage import input_bytes
from snakedask.rule_log import print_failure_summary
from snakedask.run_info import report_config_mismatch
from snakedask.spectral_indices import BANDS, REGISTRY

# This file's folder's parent: workflow/, also when the workflow runs as another's module
# (workflow.basedir is then the other workflow's folder).
WORKFLOW_DIR = Path(str(workflow.current_basedir)).parent
# Relative dataset paths in config are relative to the working directory (where snakemake
# runs, or its --directory), as every path Snakemake itself reads.
DATA_DIR = Path.cwd()

# --configfile, --config: to say where a bad key was set.
SETTINGS = workflow.config_settings
config_checks.check_config(
    config,
    WORKFLOW_DIR / "schemas" / "config.schema.yaml",
    config_checks.ConfigSources(
        ["config/config.yaml", *SETTINGS.configfiles], SETTINGS.config
    ),
    base=DATA_DIR,
)

# The whole software stack: rule run_info records its versions. Other rules name a small
# environment of their own in workflow/envs/ (--sdm conda; see README on what is tested).
ENV = "../../environment.yml"
STACK = scene_config.STACK
TABLES = list(config["tables"])
SCENES = list(config["scenes"])
# Scenes with several indices get one job each (an `indices_...` rule per set of
# indices): one Dask pass computes them all, reading the shared bands once.
SCENE_INDEX_SETS = scene_config.index_sets(config["scenes"])
INDEX_SETS = sorted({found for found in SCENE_INDEX_SETS.values() if len(found) > 1})


wildcard_constraints:
    table="[A-Za-z0-9_-]+",
    scene="[A-Za-z0-9_-]+",
    band="|".join(BANDS) + f"|{STACK}[0-9]*",
    index="[a-z][a-z0-9_]*",


def scene_files(name):
    """{file stem: [bands in it]} of the raw files scene `name` downloads."""
    return scene_config.scene_files(config["scenes"][name])


def all_products():
    """Every final product of every configured table and scene (each scene's indices)."""
    scenes = {name: config["scenes"][name]["indices"] for name in SCENES}
    return products.all_products(TABLES, scenes)


def other_products():
    """Every product of `rule all` but the run's record (which is made last, from them)."""
    return [path for path in all_products() if path not in products.RUN_INFO]


def warn_if_report_of_another_config():
    """`snakemake --report` with other config files than the run had: say so."""
    record = "results/run_info/run.yaml"
    if "--report" in sys.argv and (
        warning := report_config_mismatch(
            record, config_checks.config_digest(config), workflow.configfiles
        )
    ):
        print(warning, file=sys.stderr)


def compute_threads(wildcards, input):
    """Cores for a Dask job from its input's size; the maximum while inputs are in storage."""
    settings = config["compute"]
    if not all(os.path.exists(path) for path in input):
        return settings["threads"]
    size = sum(input_bytes(path) for path in set(input))
    return threads_for_input(size, settings["threads"], settings["mb_per_thread"])


def table_setting(key):
    """Input function giving `key` of the table entry named by the {table} wildcard."""
    return lambda wildcards: config["tables"][wildcards.table][key]


def table_read_option(key, default):
    """Input function giving the table's `read_options[key]`, or `default`."""
    return lambda w: config["tables"][w.table]["read_options"].get(key, default)


def table_file(wildcards):
    """The table's raw file here, or the record of its object read in place."""
    return products.raw_table(wildcards.table, config["tables"][wildcards.table])


def scene_setting(*keys):
    """Input function giving a (nested) key of the scene entry named by {scene}."""

    def setting(wildcards):
        value = config["scenes"][wildcards.scene]
        for key in keys:
            value = value[key]
        return value

    return setting


def index_name(wildcards):
    """The one index a plot or an `ndvi`/`index` job is about: its {index}, else NDVI."""
    return wildcards.get("index") or "ndvi"


def job_indices(wildcards):
    """The indices a Dask job computes (its {index}, all of the scene's, or NDVI)."""
    scene = config["scenes"][wildcards.scene]
    return scene_config.job_indices(scene, wildcards.get("index"))


def index_info(key):
    """Param function: `label` (NDVI) or `description` of the job's index, for captions."""

    def info(wildcards):
        index = REGISTRY[index_name(wildcards)]
        return index.name.upper() if key == "label" else index.description

    return info


def scene_rasters(wildcards):
    """{band: input file} of the job's bands: its raw raster, or where it is read in place."""
    scene, bands = wildcards.scene, scene_config.bands_of(job_indices(wildcards))
    return scene_config.band_inputs(scene, config["scenes"][scene], bands)


def bands_in_place(wildcards):
    """{band: GDAL path} of the job's bands read in place (none for a downloaded scene)."""
    bands = scene_config.bands_of(job_indices(wildcards))
    return scene_config.bands_in_place(config["scenes"][wildcards.scene], bands)


def index_pixels(wildcards):
    """{band: {band, nodata, scale, offset}} of the job's bands (None: the file's metadata)."""
    bands = scene_config.bands_of(job_indices(wildcards))
    return scene_config.band_settings(config["scenes"][wildcards.scene], bands)


def source(wildcards):
    """The config entry ({url, checksum, ...}) a raw file comes from."""
    if "table" in wildcards.keys():
        return config["tables"][wildcards.table]
    return scene_config.source_entry(config["scenes"][wildcards.scene], wildcards.band)


def source_setting(key):
    """Input function giving `key` (url, checksum) of the entry a raw file comes from."""
    return lambda wildcards: source(wildcards).get(key)


def local_source(wildcards):
    """The source files given as local paths (so Snakemake notices when they change), marked
    local(): never in a --default-storage-provider's storage."""
    urls = source(wildcards)["url"]
    paths = [
        local_path(url, DATA_DIR) for url in ([urls] if isinstance(urls, str) else urls)
    ]
    return [local(str(path)) for path in paths if path is not None]


# Jobs that stop on bad data or config after this moment are summed up by onerror.
RUN_STARTED = time.time()


# The run's shared Dask cluster, if any (dask.local.shared): started by onstart, stopped at the end.
SHARED_CLUSTER = []


def start_shared_cluster():
    from snakedask.run_cluster import start_run_cluster

    if cluster := start_run_cluster(
        config["dask"], Path(".snakemake/dask"), lambda: workflow.cores
    ):
        SHARED_CLUSTER.append(cluster)
        logger.info(f"shared Dask cluster for this run: {cluster.address}")


def stop_shared_cluster():
    while SHARED_CLUSTER:
        SHARED_CLUSTER.pop().stop()
