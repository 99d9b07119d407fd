"""What a scene's config entry means for its jobs: the files to download, the bands and settings each reads.

Plain functions of the (schema-checked, defaults-filled) config entry; the
Snakefile's input functions (``common.smk``) call them with the entry of the
job's ``{scene}`` wildcard.
"""

import re
from typing import Any

from snakedask.spectral_indices import BANDS, REGISTRY

# Bands that share one file (a multi-band stack) download it once, as stack.tif (stack2.tif, ...).
STACK = "stack"


def ordered_indices(names: list[str]) -> tuple[str, ...]:
    """Index names in registry order, each once: one rule per set, whatever order config lists them in."""
    return tuple(name for name in REGISTRY if name in set(names))


def index_sets(scenes: dict[str, dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """{scene: its indices in registry order}: scenes with several get one job for them all."""
    return {name: ordered_indices(scene["indices"]) for name, scene in scenes.items()}


def scenes_with(sets: dict[str, tuple[str, ...]], index_set: tuple[str, ...]) -> str:
    """A wildcard constraint matching exactly the scenes whose indices are ``index_set``."""
    return "|".join(re.escape(name) for name, found in sets.items() if found == index_set)


def bands_of(index_names: list[str] | tuple[str, ...]) -> list[str]:
    """The bands the indices need, in BANDS order."""
    needed = {band for name in index_names for band in REGISTRY[name].bands}
    return [band for band in BANDS if band in needed]


def scene_files(scene: dict[str, Any]) -> dict[str, list[str]]:
    """{file stem: [bands in it]} of the raw files the scene's indices need, in BANDS order.

    Bands with the same url and checksum are one file: ``stack`` (``stack2``, ...).
    """
    groups: dict[tuple[Any, Any], list[str]] = {}
    for band in bands_of(scene["indices"]):
        groups.setdefault((scene[band]["url"], scene[band].get("checksum")), []).append(band)
    files, stacks = {}, 0
    for bands in groups.values():
        if len(bands) == 1:
            files[bands[0]] = bands
        else:
            stacks += 1
            files[STACK if stacks == 1 else f"{STACK}{stacks}"] = bands
    return files


def job_indices(scene: dict[str, Any], index: str | None) -> list[str]:
    """The indices one job computes: the one its ``{index}`` names, else all of the scene's
    when it has several (one ``indices_...`` job), else NDVI (the ``ndvi`` rule)."""
    if index is not None:
        return [index]
    found = ordered_indices(scene["indices"])
    return list(found) if len(found) > 1 else ["ndvi"]


def band_settings(scene: dict[str, Any], bands: list[str]) -> dict[str, dict[str, Any]]:
    """{band: {band, nodata, scale, offset}}: a band's keys over the scene's; None where config
    sets nothing (the file's own metadata then applies)."""
    settings = {}
    for band in bands:
        merged = {"nodata": None, "scale": None, "offset": None}
        for source in (scene, scene[band]):
            merged.update({key: source[key] for key in ("nodata", "scale", "offset") if key in source})
        settings[band] = {"band": scene[band]["band"], **merged}
    return settings


def source_entry(scene: dict[str, Any], stem: str) -> dict[str, Any]:
    """The config entry ({url, checksum, ...}) of the raw file ``stem`` (a band or a stack)."""
    return scene[scene_files(scene)[stem][0]]


def band_inputs(name: str, scene: dict[str, Any], bands: list[str]) -> dict[str, str]:
    """{band: the job's input file for it}: the downloaded raster (one path per stack), or for a scene
    read in place the record of where its object is (``<stem>.located.json``)."""
    suffix = ".located.json" if scene.get("read_in_place") else ".tif"
    where = {band: stem for stem, found in scene_files(scene).items() for band in found}
    return {band: f"resources/scenes/{name}/{where[band]}{suffix}" for band in bands}


def bands_in_place(scene: dict[str, Any], bands: list[str]) -> dict[str, str]:
    """{band: GDAL's path to its object} for a scene read in place; empty for one downloaded."""
    from snakedask.object_storage import gdal_path

    if not scene.get("read_in_place"):
        return {}
    return {band: gdal_path(scene[band]["url"]) for band in bands}


def read_in_place_problems(scenes: dict[str, dict[str, Any]]) -> list[str]:
    """Config errors of scenes with ``read_in_place: true``: every band an ``s3://`` or ``http(s)://``
    object (a single file, no checksum: checking one means reading it all)."""
    problems = []
    for name, scene in scenes.items():
        if not scene.get("read_in_place"):
            continue
        for band in bands_of(scene["indices"]):
            url, key = scene[band]["url"], f"scenes.{name}.{band}"
            if not isinstance(url, str) or not url.startswith(("s3://", "http://", "https://")):
                problems.append(
                    f"  - {key}.url: {url!r} cannot be read in place (`read_in_place: true`): give an s3:// or "
                    "http(s):// url, or set `read_in_place: false` to copy it."
                )
            if scene[band].get("checksum"):
                problems.append(
                    f"  - {key}.checksum: a scene read in place is never read whole, so no checksum can be "
                    "checked; remove it, or set `read_in_place: false` to download and verify the file."
                )
    return problems
