"""A scene's config entry: which files it downloads, and which bands and pixel settings each job reads."""

from snakedask.scene_config import (
    band_settings,
    index_sets,
    job_indices,
    scene_files,
    scenes_with,
    source_entry,
)


def entry(**bands) -> dict:
    return {"indices": ["ndvi"], **{name: {"band": 1, **value} for name, value in bands.items()}}


def test_bands_in_one_file_download_once_as_a_stack():
    scene = entry(
        red={"url": "s.tif", "band": 3},
        nir={"url": "s.tif", "band": 4},
        green={"url": "g.tif"},
        blue={"url": "b.tif"},
    )
    scene["indices"] = ["ndwi", "ndvi"]  # needs green, red, nir; blue is not downloaded
    assert scene_files(scene) == {"green": ["green"], "stack": ["red", "nir"]}
    assert source_entry(scene, "stack") == scene["red"]
    # Two stacks: stack, stack2; the same url with another checksum is another file.
    scene = entry(
        red={"url": "a.tif", "checksum": "md5:" + "1" * 32},
        nir={"url": "a.tif", "checksum": "md5:" + "1" * 32},
        green={"url": "b.tif"},
        rededge={"url": "b.tif"},
    )
    scene["indices"] = ["ndvi", "ndre", "ndwi"]
    assert scene_files(scene) == {"stack": ["green", "rededge"], "stack2": ["red", "nir"]}
    scene["nir"] = {"url": "a.tif", "band": 1, "checksum": "md5:" + "2" * 32}
    assert scene_files(scene) == {"stack": ["green", "rededge"], "red": ["red"], "nir": ["nir"]}


def test_a_job_computes_its_index_or_all_of_the_scenes_in_registry_order():
    scene = entry(red={"url": "r"}, nir={"url": "n"}, green={"url": "g"})
    assert job_indices(scene, "ndwi") == ["ndwi"]
    assert job_indices(scene, None) == ["ndvi"]
    scene["indices"] = ["ndwi", "ndvi", "ndwi"]
    assert job_indices(scene, None) == ["ndvi", "ndwi"]
    sets = index_sets({"a": scene, "b": {"indices": ["ndvi"]}, "c.1": {"indices": ["ndwi", "ndvi"]}})
    assert sets == {"a": ("ndvi", "ndwi"), "b": ("ndvi",), "c.1": ("ndvi", "ndwi")}
    assert scenes_with(sets, ("ndvi", "ndwi")) == r"a|c\.1"  # a name is matched literally


def test_band_settings_take_the_bands_keys_over_the_scenes_and_none_where_unset():
    scene = entry(red={"url": "r", "nodata": 0, "scale": 0.0001}, nir={"url": "n", "band": 2})
    scene.update(nodata=65535, offset=-0.1)
    assert band_settings(scene, ["red", "nir"]) == {
        "red": {"band": 1, "nodata": 0, "scale": 0.0001, "offset": -0.1},
        "nir": {"band": 2, "nodata": 65535, "scale": None, "offset": -0.1},
    }
    assert band_settings(entry(red={"url": "r"}), ["red"]) == {
        "red": {"band": 1, "nodata": None, "scale": None, "offset": None}
    }
