"""config/README.md documents every key of the schema, and the default config is valid."""

import yaml

from tests.helpers import ROOT


def schema_keys(node: dict, defs: dict, seen: set[str] | None = None) -> set[str]:
    """Every property name reachable in the schema (through $ref, additionalProperties, anyOf/oneOf)."""
    seen = set() if seen is None else seen
    if "$ref" in node:
        return schema_keys(defs[node["$ref"].split("/")[-1]], defs, seen)
    for name, child in node.get("properties", {}).items():
        seen.add(name)
        schema_keys(child, defs, seen)
    if isinstance(node.get("additionalProperties"), dict):
        schema_keys(node["additionalProperties"], defs, seen)
    for option in node.get("anyOf", []) + node.get("oneOf", []):
        schema_keys(option, defs, seen)
    return seen


def test_every_config_key_is_documented():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    readme = (ROOT / "config/README.md").read_text()
    keys = schema_keys(schema, schema["$defs"])
    assert {"tables", "scenes", "dask", "checksum", "scheduler_file", "shared"} <= keys
    missing = sorted(
        key
        for key in keys
        if f"`{key}`" not in readme
        and f".{key}`" not in readme
        and f"`{key}." not in readme
        and f"## `{key}`" not in readme
    )
    assert missing == [], f"config/README.md does not document: {missing}"


def test_every_schema_key_has_a_description():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())

    def walk(node, path):
        for name, child in node.get("properties", {}).items():
            if "$ref" not in child:
                yield f"{path}.{name}".strip("."), child
                yield from walk(child, f"{path}.{name}")

    def walk_defs(node, path):
        yield from walk(node, path)
        for name, definition in node.get("$defs", {}).items():
            yield from walk(definition, f"$defs.{name}")

    undocumented = [path for path, child in walk_defs(schema, "") if "description" not in child]
    assert undocumented == [], undocumented
