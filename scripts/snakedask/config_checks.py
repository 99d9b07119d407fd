"""The merged config, checked before any job: its JSON schema, then the checks a schema cannot say.

Every check returns one line per problem (``"  - key: problem. Expected: ..."``);
:func:`refuse` prints them all and stops the run before any job. The Snakefile
(``common.smk``) calls these; here they are plain functions, tested without
Snakemake.
"""

import hashlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snakedask import scene_config, spectral_indices
from snakedask.download import source_problems
from snakedask.errors import closest
from snakedask.gateway import gateway_problems


@dataclass(frozen=True)
class ConfigSources:
    """Where the merged config came from, in merge order: later wins.

    ``files`` are the Snakefile's ``configfile:`` then each ``--configfile``;
    ``command_line`` is ``--config``'s values.
    """

    files: list[str | Path]
    command_line: dict[str, Any] = field(default_factory=dict)


def load_schema(schema_path: str | Path) -> dict[str, Any]:
    import yaml

    # libyaml when present: the pure-Python loader takes a noticeable part of every start-up.
    return yaml.load(Path(schema_path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def schema_problems(config: dict[str, Any], schema: dict[str, Any], sources: ConfigSources) -> list[str]:
    """Every schema violation as ``"  - key: problem. Expected: description [set in file]"``."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
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
                message = f"{error.instance!r} is not a {' or '.join(dict.fromkeys(kinds))}"
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
        problems.append(
            f"  - {key}: {message}"
            + (f". Expected: {' '.join(expected.split())}" if expected else "")
            + set_in(list(parent.absolute_path) + unexpected[:1], sources)
        )
    return problems


def did_you_mean(unknown: list[str], known: list[str]) -> str:
    """`` (did you mean 'groupby' for 'group_by'?)`` for unknown keys close to a known one."""
    hints = [f"{match!r} for {name!r}" for name in unknown if (match := closest(name, known))]
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


def _holds(tree: Any, parts: list[Any]) -> bool:
    for part in parts:
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def set_in(path: list[Any], sources: ConfigSources) -> str:
    """`` [set in my.yaml]``: the config file (or --config) whose value of the key at ``path`` the run uses."""
    import yaml

    if not path:
        return ""
    if _holds(sources.command_line, path):
        return " [set in --config]"
    for configfile in reversed(sources.files):
        try:
            tree = yaml.safe_load(Path(configfile).read_text())
        except (OSError, yaml.YAMLError):
            continue
        if _holds(tree, path):
            try:
                shown = Path(configfile).resolve().relative_to(Path.cwd())
            except ValueError:
                shown = configfile
            return f" [set in {shown}]"
    return ""


def fill_defaults(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Set the schema's defaults in ``config``, in place (as snakemake.utils.validate does)."""
    import jsonschema

    properties = jsonschema.Draft202012Validator.VALIDATORS["properties"]

    def with_defaults(validator, schema_properties, instance, subschema):
        for name, property_schema in schema_properties.items():
            if "default" in property_schema and isinstance(instance, dict):
                instance.setdefault(name, property_schema["default"])
        yield from properties(validator, schema_properties, instance, subschema)

    filler = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"properties": with_defaults})
    filler(schema).validate(config)


def index_problems(scenes: dict[str, Any]) -> list[str]:
    """An unknown spectral index, or a band an index needs but the scene lacks, one line each."""
    registry = spectral_indices.REGISTRY
    problems = []
    for name, scene in scenes.items():
        for index in scene["indices"]:
            if index not in registry:
                problems.append(
                    f"  - scenes.{name}.indices: unknown index {index!r}; "
                    f"known: {', '.join(registry)} (scripts/snakedask/spectral_indices.py)"
                )
                continue
            problems += [
                f"  - scenes.{name}: index {index!r} needs band {band!r}, which the scene does not "
                f"set. Add `{band}: {{url: ...}}` to the scene, or remove {index} from its `indices`."
                for band in registry[index].bands
                if band not in scene
            ]
    return problems


def table_problems(tables: dict[str, Any]) -> list[str]:
    """A table in several files needs one checksum per file (or none), one line each."""
    problems = []
    for name, table in tables.items():
        url, checksum = table["url"], table.get("checksum")
        if isinstance(url, str) and isinstance(checksum, list):
            problems.append(
                f"  - tables.{name}.checksum: a list of checksums, but `url` is one file; give one checksum"
            )
        elif isinstance(url, list) and isinstance(checksum, list) and len(checksum) != len(url):
            problems.append(
                f"  - tables.{name}.checksum: {len(url)} files in `url` but {len(checksum)} in `checksum`; "
                "give one checksum per file, in the same order (or none)"
            )
        elif isinstance(url, list) and isinstance(checksum, str):
            problems.append(
                f"  - tables.{name}.checksum: one checksum for {len(url)} files in `url`; give a list, one per file"
            )
    return problems


COMPRESSED = (".gz", ".bz2", ".xz", ".zip")


def table_in_place_problems(tables: dict[str, dict[str, Any]]) -> list[str]:
    """Config errors of tables with ``read_in_place: true``: one uncompressed ``s3://`` object, no checksum."""
    problems = []
    for name, table in tables.items():
        if not table.get("read_in_place"):
            continue
        url, key = table["url"], f"tables.{name}"
        if not isinstance(url, str) or not url.startswith("s3://"):
            problems.append(
                f"  - {key}.url: {url!r} cannot be read in place (`read_in_place: true`): give one s3:// url "
                "(an https:// table is downloaded), or set `read_in_place: false`."
            )
        elif url.lower().endswith(COMPRESSED):
            problems.append(
                f"  - {key}.url: {url!r} is compressed, and a compressed table cannot be read by byte "
                "ranges; set `read_in_place: false` (it is then decompressed on arrival)."
            )
        if table.get("checksum"):
            problems.append(
                f"  - {key}.checksum: a table read in place is not downloaded, so no checksum is checked "
                "(its ETag is recorded); remove it, or set `read_in_place: false` to download and verify it."
            )
    return problems


def shared_filesystem_problems(config: dict[str, Any]) -> list[str]:
    """With ``dask.shared_filesystem: false`` the workers read no local file: every scene is read in place."""
    if config["dask"]["shared_filesystem"]:
        return []
    return [
        f"  - scenes.{name}: `dask.shared_filesystem: false` says the Dask workers cannot read this machine's "
        "files, and this scene would be downloaded here; set its `read_in_place: true` (bands at s3:// or "
        "https:// URLs), or set `dask.shared_filesystem: true` if the workers share this filesystem."
        for name, scene in config["scenes"].items()
        if not scene.get("read_in_place")
    ]


def beyond_schema_problems(config: dict[str, Any], base: str | Path) -> list[str]:
    """The checks a schema cannot say, on a config the schema took (with its defaults filled)."""
    return (
        index_problems(config["scenes"])
        + scene_config.read_in_place_problems(config["scenes"])
        + table_problems(config["tables"])
        + table_in_place_problems(config["tables"])
        + source_problems(config, base=base)
        + gateway_problems(config["dask"])
        + shared_filesystem_problems(config)
        + control_characters(config)
    )


def refuse(problems: list[str]) -> None:
    """Stop before any job, listing every problem, if there are any.

    The message alone, on stderr, then exit status 1: raised as an exception,
    Snakemake would follow it with lines of the Snakefile's traceback.
    """
    if problems:
        print(
            "Invalid configuration (config/config.yaml and any --configfile/--config given); nothing was run:\n"
            + "\n".join(problems)
            + "\nEvery key is described in config/README.md.",
            file=sys.stderr,
        )
        raise SystemExit(1)


def check_config(
    config: dict[str, Any], schema_path: str | Path, sources: ConfigSources, base: str | Path
) -> None:
    """Refuse a config the schema does not take, fill in the schema's defaults, then refuse what a
    schema cannot say (:func:`beyond_schema_problems`). ``config`` is changed in place."""
    schema = load_schema(schema_path)
    refuse(schema_problems(config, schema, sources))
    fill_defaults(config, schema)
    refuse(beyond_schema_problems(config, base))


def config_digest(config: dict[str, Any]) -> str:
    """A short digest of the merged config: the run record is remade when it changes."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


# C0 and C1 control characters but the tab (a table's `sep` may be one): a line break in a value would
# start a new line in a batch script's #SBATCH header or a worker's command line.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _strings(value: Any, key: str) -> Iterator[tuple[str, str]]:
    """Every string in ``value`` (keys of mappings too) with its dotted key."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            inner = f"{key}.{name}" if key else str(name)
            if isinstance(name, str):
                yield inner + " (the key itself)", name
            yield from _strings(item, inner)
    elif isinstance(value, list | tuple):
        for at, item in enumerate(value):
            yield from _strings(item, f"{key}[{at}]")


def control_characters(config: dict[str, Any]) -> list[str]:
    """A line per config string holding a control character (a line break, an escape, ...)."""
    problems = []
    for key, text in _strings(config, ""):
        if found := _CONTROL.search(text):
            shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", key)  # never print an escape
            problems.append(
                f"  - {shown}: {text!r} holds the control character U+{ord(found.group()):04X}; no setting "
                "needs one (a line break would start a new line in a batch script or a command). Remove it."
            )
    return problems
