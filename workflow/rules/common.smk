# Config validation, wildcard constraints and the input functions rules call by name.

from pathlib import Path

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

# Relative dataset paths in config are relative to the checkout, not the shell's cwd.
PROJECT_ROOT = Path(workflow.basedir).parent
ENV = "../../environment.yml"
BANDS = ("red", "nir")

TABLES = list(config["tables"])
SCENES = list(config["scenes"])


wildcard_constraints:
    table="[A-Za-z0-9_-]+",
    scene="[A-Za-z0-9_-]+",
    band="|".join(BANDS),


def all_products():
    """Every final product of every configured table and scene."""
    tables = expand(
        "results/tables/{table}/{product}",
        table=TABLES,
        product=("encoding.json", "averages.csv", "averages.png"),
    )
    scenes = expand(
        "results/scenes/{scene}/{product}", scene=SCENES, product=("ndvi.tif", "ndvi.png")
    )
    return tables + scenes


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


def source(wildcards):
    """The config entry ({url, ...}) a raw file comes from."""
    if "table" in wildcards.keys():
        return config["tables"][wildcards.table]
    return config["scenes"][wildcards.scene][wildcards.band]


def source_url(wildcards):
    return source(wildcards)["url"]


def local_source(wildcards):
    """The source file when `url` is a local path, so Snakemake notices when it changes."""
    url = source(wildcards)["url"]
    if url.startswith(("http://", "https://")):
        return []
    path = Path(url[len("file://") :] if url.startswith("file://") else url)
    return [str(path if path.is_absolute() else PROJECT_ROOT / path)]
