# Config validation, wildcard constraints and the input functions rules call by name.

import math
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError


def load_schema(schema_path):
    import yaml

    # libyaml when present: the pure-Python loader takes a noticeable part of every start-up.
    return yaml.load(
        Path(schema_path).read_text(),
        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
    )


def config_problems(config, schema):
    """Every schema violation as "key: problem. Expected: description" lines."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(
        validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))
    ):
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        expected = (
            error.schema.get("description") if isinstance(error.schema, dict) else None
        )
        line = f"  - {key}: {error.message}"
        problems.append(
            line + (f". Expected: {' '.join(expected.split())}" if expected else "")
        )
    return problems


def fill_defaults(config, schema):
    """Set the schema's defaults in `config`, in place (as snakemake.utils.validate does)."""
    import jsonschema

    properties = jsonschema.Draft202012Validator.VALIDATORS["properties"]

    def with_defaults(validator, schema_properties, instance, subschema):
        for name, property_schema in schema_properties.items():
            if "default" in property_schema and isinstance(instance, dict):
                instance.setdefault(name, property_schema["default"])
        yield from properties(validator, schema_properties, instance, subschema)

    filler = jsonschema.validators.extend(
        jsonschema.Draft202012Validator, {"properties": with_defaults}
    )
    filler(schema).validate(config)


SCHEMA = load_schema(Path(workflow.basedir) / "schemas" / "config.schema.yaml")
if problems := config_problems(config, SCHEMA):
    raise WorkflowError(
        "Invalid configuration (config/config.yaml and any --configfile/--config given); "
        "nothing was run:\n"
        + "\n".join(problems)
        + "\nEvery key is described in config/README.md."
    )
fill_defaults(config, SCHEMA)

# Relative dataset paths in config are relative to the checkout, not the shell's cwd.
PROJECT_ROOT = Path(workflow.basedir).parent
# The workflow's library (scripts/snakedask, installed into .venv by `make setup`).
from snakedask.cluster import choose_cluster
from snakedask import products
from snakedask.download import local_path

ENV = "../../environment.yml"
BANDS = ("red", "nir")
# A scene whose red and NIR come from one multi-band file downloads it once, as "stack".
STACK = "stack"

TABLES = list(config["tables"])
SCENES = list(config["scenes"])


wildcard_constraints:
    table="[A-Za-z0-9_-]+",
    scene="[A-Za-z0-9_-]+",
    band="|".join((*BANDS, STACK)),


def all_products():
    """Every final product of every configured table and scene."""
    return products.all_products(TABLES, SCENES)


def compute_threads(wildcards, input):
    """Cores for a Dask job: one per `compute.mb_per_thread` MB of input, from 1 to `compute.threads`.

    Snakemake calls this once the inputs exist. A small job takes one core, so
    two of them (an averages and an ndvi) run side by side and overlap their
    start-up (interpreter, imports, cluster), which dominates at that size.
    """
    settings = config["compute"]
    if not settings["mb_per_thread"]:
        return settings["threads"]
    size_mb = (
        sum(os.stat(path).st_size for path in set(input) if os.path.exists(path)) / 1e6
    )
    return max(
        1, min(settings["threads"], math.ceil(size_mb / settings["mb_per_thread"]))
    )


def table_setting(key):
    """Input function giving `key` of the table entry named by the {table} wildcard."""

    def setting(wildcards):
        return config["tables"][wildcards.table][key]

    return setting


def scene_setting(*keys):
    """Input function giving a (nested) key of the scene entry named by {scene}."""

    def setting(wildcards):
        value = config["scenes"][wildcards.scene]
        for key in keys:
            value = value[key]
        return value

    return setting


def shares_one_file(scene):
    red, nir = scene["red"], scene["nir"]
    return red["url"] == nir["url"] and red.get("checksum") == nir.get("checksum")


def scene_rasters(wildcards):
    """{red: path, nir: path} of a scene's raw files (one path twice for a stack)."""
    scene = config["scenes"][wildcards.scene]
    folder = f"resources/scenes/{wildcards.scene}"
    if shares_one_file(scene):
        return {band: f"{folder}/{STACK}.tif" for band in BANDS}
    return {band: f"{folder}/{band}.tif" for band in BANDS}


def band_pixels(band):
    """Input function: band index, nodata, scale and offset of `band` (band keys over scene keys)."""

    def pixels(wildcards):
        scene = config["scenes"][wildcards.scene]
        merged = {"nodata": None, "scale": 1.0, "offset": 0.0}
        for source in (scene, scene[band]):
            merged.update(
                {k: source[k] for k in ("nodata", "scale", "offset") if k in source}
            )
        return {"band": scene[band]["band"], **merged}

    return pixels


def source(wildcards):
    """The config entry ({url, checksum, ...}) a raw file comes from."""
    if "table" in wildcards.keys():
        return config["tables"][wildcards.table]
    band = BANDS[0] if wildcards.band == STACK else wildcards.band
    return config["scenes"][wildcards.scene][band]


def source_url(wildcards):
    return source(wildcards)["url"]


def source_checksum(wildcards):
    return source(wildcards).get("checksum")


def local_source(wildcards):
    """The source file when `url` is a local path, so Snakemake notices when it changes."""
    path = local_path(source(wildcards)["url"], base=PROJECT_ROOT)
    return [] if path is None else [str(path)]


# The run's shared Dask cluster, if any (set by onstart, stopped by onsuccess/onerror).
SHARED_CLUSTER = []


def start_shared_cluster():
    """With dask.local.shared, start one scheduler + worker for the whole run (onstart)."""
    if choose_cluster(config["dask"]).kind != "shared":
        return
    from snakedask.shared_cluster import ADDRESS_VARIABLE, SharedCluster

    local = config["dask"]["local"]

    cluster = SharedCluster(
        Path(".snakemake/dask"),
        threads=local["threads_per_worker"] or workflow.cores,
        memory_limit=local["memory_limit"] or "auto",
        host=local["host"],
        dashboard_address=local["dashboard_address"],
    )
    address = cluster.start()
    SHARED_CLUSTER.append(cluster)
    # Jobs are this process's children: they inherit the variable.
    os.environ[ADDRESS_VARIABLE] = address
    logger.info(f"shared Dask cluster for this run: {address}")


def stop_shared_cluster():
    while SHARED_CLUSTER:
        SHARED_CLUSTER.pop().stop()
