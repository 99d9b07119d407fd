# Config validation, wildcard constraints and the input functions rules call by name.

import math
import os
import re
import sys
import time
from pathlib import Path


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
        parent, message = error, error.message
        if error.context:  # oneOf/anyOf: say what is wrong in the form the value has
            fitting = [e for e in error.context if e.validator != "type"]
            if fitting:
                error = jsonschema.exceptions.best_match(fitting)
                message = error.message
            else:  # a form none of the branches takes
                kinds = [
                    v if isinstance(v, str) else " or ".join(v)
                    for v in (e.validator_value for e in error.context)
                ]
                message = (
                    f"{error.instance!r} is not a {' or '.join(dict.fromkeys(kinds))}"
                )
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        expected = next(
            (
                e.schema["description"]
                for e in (error, parent)
                if isinstance(e.schema, dict) and e.schema.get("description")
            ),
            None,
        )
        unexpected = []
        if error.validator == "additionalProperties" and isinstance(error.schema, dict):
            known = list(error.schema.get("properties", {}))
            unexpected = sorted(map(str, set(error.instance) - set(known)))
            message += did_you_mean(unexpected, known)
        line = f"  - {key}: {message}"
        problems.append(
            line
            + (f". Expected: {' '.join(expected.split())}" if expected else "")
            + set_in(list(parent.absolute_path) + unexpected[:1])
        )
    return problems


def did_you_mean(unknown, known):
    """`` (did you mean 'groupby' for 'group_by'?)`` for unknown keys close to a known one."""
    from snakedask.errors import closest

    hints = [
        f"{match!r} for {name!r}" for name in unknown if (match := closest(name, known))
    ]
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


def set_in(path):
    """`` [set in my.yaml]``: the config file (or --config) whose value of the key at `path` the run uses.

    Later files win: the Snakefile's `configfile:`, then each `--configfile` in
    order, then `--config`.
    """
    import yaml

    def holds(tree, parts):
        for part in parts:
            if not isinstance(tree, dict) or part not in tree:
                return False
            tree = tree[part]
        return True

    if not path:
        return ""
    if holds(dict(workflow.config_settings.config), path):
        return " [set in --config]"
    given = [Path(f) for f in workflow.config_settings.configfiles]
    for configfile in [*reversed(given), Path("config/config.yaml")]:
        try:
            tree = yaml.safe_load(configfile.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if holds(tree, path):
            try:
                shown = configfile.resolve().relative_to(Path.cwd())
            except ValueError:
                shown = configfile
            return f" [set in {shown}]"
    return ""


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


def refuse_config(problems):
    """Stop before any job, listing every problem, if there are any.

    The message alone, on stderr, then exit status 1: raised as an exception,
    Snakemake would follow it with lines of this file's traceback.
    """
    if problems:
        print(
            "Invalid configuration (config/config.yaml and any --configfile/--config given); "
            "nothing was run:\n"
            + "\n".join(problems)
            + "\nEvery key is described in config/README.md.",
            file=sys.stderr,
        )
        raise SystemExit(1)


# This file's folder's parent: workflow/, also when the workflow runs as another's module
# (workflow.basedir is then the other workflow's folder).
WORKFLOW_DIR = Path(str(workflow.current_basedir)).parent
SCHEMA = load_schema(WORKFLOW_DIR / "schemas" / "config.schema.yaml")
refuse_config(config_problems(config, SCHEMA))
fill_defaults(config, SCHEMA)

# Relative dataset paths in config are relative to the working directory (where snakemake
# runs, or its --directory), as every path Snakemake itself reads.
DATA_DIR = Path.cwd()
# The workflow's library (scripts/snakedask, installed into .venv by `make setup`).
from snakedask.cluster import choose_cluster
from snakedask import products, spectral_indices, tls
from snakedask.config_checks import control_characters
from snakedask.download import local_path, missing_sources
from snakedask.rule_log import failure_summary

# The whole software stack: rule run_info records its versions. Other rules name a small
# environment of their own in workflow/envs/ (--sdm conda; see README on what is tested).
ENV = "../../environment.yml"
BANDS = spectral_indices.BANDS
# Bands that share one file (a multi-band stack) download it once, as stack.tif (stack2.tif, ...).
STACK = "stack"

TABLES = list(config["tables"])
SCENES = list(config["scenes"])


def index_problems(scenes):
    """An unknown index or a band an index needs but the scene lacks, one line each."""
    problems = []
    for name, scene in scenes.items():
        for index in scene["indices"]:
            if index not in spectral_indices.REGISTRY:
                problems.append(
                    f"  - scenes.{name}.indices: unknown index {index!r}; "
                    f"known: {', '.join(spectral_indices.REGISTRY)} (scripts/snakedask/spectral_indices.py)"
                )
                continue
            for band in spectral_indices.REGISTRY[index].bands:
                if band not in scene:
                    problems.append(
                        f"  - scenes.{name}: index {index!r} needs band {band!r}, which the scene does not "
                        f"set. Add `{band}: {{url: ...}}` to the scene, or remove {index} from its `indices`."
                    )
    return problems


def table_problems(tables):
    """A table in several files needs one checksum per file (or none), one line each."""
    problems = []
    for name, table in tables.items():
        url, checksum = table["url"], table.get("checksum")
        if isinstance(url, str) and isinstance(checksum, list):
            problems.append(
                f"  - tables.{name}.checksum: a list of checksums, but `url` is one file; give one checksum"
            )
        elif (
            isinstance(url, list)
            and isinstance(checksum, list)
            and len(checksum) != len(url)
        ):
            problems.append(
                f"  - tables.{name}.checksum: {len(url)} files in `url` but {len(checksum)} in `checksum`; "
                "give one checksum per file, in the same order (or none)"
            )
        elif isinstance(url, list) and isinstance(checksum, str):
            problems.append(
                f"  - tables.{name}.checksum: one checksum for {len(url)} files in `url`; give a list, one per file"
            )
    return problems


refuse_config(
    index_problems(config["scenes"])
    + table_problems(config["tables"])
    + missing_sources(config, base=DATA_DIR)
    + control_characters(config)
)


def scene_files(name):
    """{file stem: [bands in it]} of the raw files a scene's indices need, in BANDS order."""
    scene = config["scenes"][name]
    needed = {
        band for index in scene["indices"] for band in spectral_indices.REGISTRY[index].bands
    }
    groups = {}
    for band in BANDS:
        if band in needed:
            key = (scene[band]["url"], scene[band].get("checksum"))
            groups.setdefault(key, []).append(band)
    files, stacks = {}, 0
    for bands in groups.values():
        if len(bands) == 1:
            files[bands[0]] = bands
        else:
            stacks += 1
            files[STACK if stacks == 1 else f"{STACK}{stacks}"] = bands
    return files


wildcard_constraints:
    table="[A-Za-z0-9_-]+",
    scene="[A-Za-z0-9_-]+",
    band="|".join(BANDS) + f"|{STACK}[0-9]*",
    index="[a-z][a-z0-9_]*",


def all_products():
    """Every final product of every configured table and scene (each scene's indices)."""
    scenes = {name: config["scenes"][name]["indices"] for name in SCENES}
    return products.all_products(TABLES, scenes)


def other_products():
    """Every product of `rule all` but the run's record (which is made last, from them)."""
    return [path for path in all_products() if path not in products.RUN_INFO]


def config_digest():
    """A short digest of the merged config: the run_info rule reruns when it changes."""
    import hashlib
    import json

    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def warn_if_report_of_another_config():
    """`snakemake --report` with other config files than the run had: say so (its record is the run's)."""
    record = Path("results/run_info/run.yaml")
    if "--report" not in sys.argv or not record.is_file():
        return
    import yaml

    run = yaml.safe_load(record.read_text(encoding="utf-8")) or {}
    if run.get("config_digest") != config_digest():
        print(
            f"Warning: results/ were made with the config files {run.get('config_files')}, not with "
            f"{[str(f) for f in workflow.configfiles]}: this report mixes them. Give `--report` (or "
            '`make report CONFIG="..."`) the config files of the run.',
            file=sys.stderr,
        )


def cluster_record():
    """Which Dask cluster the jobs use and the setting (or environment variable) that chose it."""
    choice = choose_cluster(config["dask"])
    return {
        "kind": choice.kind,
        "target": choice.target,
        "chosen_by": choice.source,
        "DASK_SCHEDULER_ADDRESS": os.environ.get("DASK_SCHEDULER_ADDRESS"),
    }


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


def table_read_option(key, default):
    """Input function giving the table's `read_options[key]`, or `default`."""

    def option(wildcards):
        return (config["tables"][wildcards.table].get("read_options") or {}).get(
            key, default
        )

    return option


def scene_setting(*keys):
    """Input function giving a (nested) key of the scene entry named by {scene}."""

    def setting(wildcards):
        value = config["scenes"][wildcards.scene]
        for key in keys:
            value = value[key]
        return value

    return setting


def index_name(wildcards):
    """The one index a job computes: its {index} wildcard; the `ndvi` rule has none."""
    return wildcards.index if "index" in wildcards.keys() else "ndvi"


def ordered_indices(names):
    """Index names in registry order, each once: one rule per set, whatever order config lists them in."""
    return tuple(name for name in spectral_indices.REGISTRY if name in set(names))


# Scenes with several indices get one job each (an `indices_...` rule per set of
# indices): one Dask pass computes them all, reading the shared bands once.
SCENE_INDEX_SETS = {
    name: ordered_indices(config["scenes"][name]["indices"]) for name in SCENES
}
INDEX_SETS = sorted({found for found in SCENE_INDEX_SETS.values() if len(found) > 1})


def scenes_with(index_set):
    """Wildcard constraint matching exactly the scenes whose indices are `index_set`."""
    names = [name for name, found in SCENE_INDEX_SETS.items() if found == index_set]
    return "|".join(re.escape(name) for name in names)


def job_indices(wildcards):
    """The indices a Dask job computes: its {index}, NDVI (`ndvi` rule) or (`indices_...`
    rules) all of the scene's."""
    if "index" in wildcards.keys():
        return [wildcards.index]
    found = SCENE_INDEX_SETS[wildcards.scene]
    return list(found) if len(found) > 1 else ["ndvi"]


def index_info(key):
    """Param function: `label` (NDVI) or `description` of the job's index, for captions."""

    def info(wildcards):
        index = spectral_indices.REGISTRY[index_name(wildcards)]
        return index.name.upper() if key == "label" else index.description

    return info


def job_bands(wildcards):
    """The bands the job's indices need, in BANDS order."""
    needed = {
        band for name in job_indices(wildcards) for band in spectral_indices.REGISTRY[name].bands
    }
    return [band for band in BANDS if band in needed]


def scene_rasters(wildcards):
    """{band: path} of the raw files holding the bands of the job's indices (one path per stack)."""
    folder = f"resources/scenes/{wildcards.scene}"
    where = {
        band: f"{folder}/{stem}.tif"
        for stem, bands in scene_files(wildcards.scene).items()
        for band in bands
    }
    return {band: where[band] for band in job_bands(wildcards)}


def index_pixels(wildcards):
    """{band: {band, nodata, scale, offset}} of the job's bands (band keys over scene keys);
    None where the config sets nothing: the file's metadata then applies."""
    scene = config["scenes"][wildcards.scene]
    pixels = {}
    for band in job_bands(wildcards):
        merged = {"nodata": None, "scale": None, "offset": None}
        for source in (scene, scene[band]):
            merged.update(
                {k: source[k] for k in ("nodata", "scale", "offset") if k in source}
            )
        pixels[band] = {"band": scene[band]["band"], **merged}
    return pixels


def source(wildcards):
    """The config entry ({url, checksum, ...}) a raw file comes from."""
    if "table" in wildcards.keys():
        return config["tables"][wildcards.table]
    band = scene_files(wildcards.scene)[wildcards.band][0]
    return config["scenes"][wildcards.scene][band]


def source_url(wildcards):
    return source(wildcards)["url"]


def source_checksum(wildcards):
    return source(wildcards).get("checksum")


def local_source(wildcards):
    """The source files given as local paths, so Snakemake notices when they change."""
    urls = source(wildcards)["url"]
    paths = [
        local_path(url, base=DATA_DIR)
        for url in ([urls] if isinstance(urls, str) else urls)
    ]
    return [str(path) for path in paths if path is not None]


# Jobs that stop on bad data or config after this moment are summed up by onerror (report_failures).
RUN_STARTED = time.time()


def report_failures():
    """The messages of this run's jobs that stopped on bad data or config: the terminal's last lines."""
    if summary := failure_summary(RUN_STARTED):
        print(summary, file=sys.stderr)


# The run's shared Dask cluster, if any (set by onstart, stopped by onsuccess/onerror).
SHARED_CLUSTER = []


def start_shared_cluster():
    """With dask.local.shared, start one scheduler + worker for the whole run (onstart).

    With dask.jobqueue.kind too, the workers are SLURM jobs (snakedask.jobqueue).
    """
    choice = choose_cluster(config["dask"])
    if choice.kind != "shared":
        return
    from snakedask.cluster import ADDRESS_VARIABLE
    from snakedask.shared_cluster import SharedCluster

    local = config["dask"]["local"]
    if choice.target:
        from snakedask.errors import ClusterConfigError
        from snakedask.jobqueue import SharedJobqueueCluster

        cluster = SharedJobqueueCluster(
            Path(".snakemake/dask"), config["dask"]["jobqueue"]
        )
        try:
            address = cluster.start()
        except ClusterConfigError as err:
            print(f"Config error: {err}", file=sys.stderr)
            raise SystemExit(1) from None
    else:
        cluster = SharedCluster(
            Path(".snakemake/dask"),
            threads=local["threads_per_worker"] or workflow.cores,
            memory_limit=local["memory_limit"] or "auto",
            host=local["host"],
            dashboard_address=local["dashboard_address"],
            use_tls=local["tls"],
        )
        address = cluster.start()
    SHARED_CLUSTER.append(cluster)
    # Jobs are this process's children: they inherit the variables.
    os.environ[ADDRESS_VARIABLE] = address
    if cluster.credentials is not None:
        os.environ[tls.FOLDER_VARIABLE] = str(cluster.credentials.absolute())
    logger.info(f"shared Dask cluster for this run: {address}")


def stop_shared_cluster():
    while SHARED_CLUSTER:
        SHARED_CLUSTER.pop().stop()
