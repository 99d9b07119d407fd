"""Spectral indices by config: a 4-band uint16 stack (Sentinel-2 style scale), four indices, and refusals."""

import re

import numpy as np
import pytest
import rasterio
import yaml
from PIL import Image
from rasterio.transform import from_origin

from snakedask.products import scene_products
from snakedask.spectral_indices import REGISTRY
from tests.helpers import run_snakemake

pytestmark = pytest.mark.workflow

STACK_BANDS = ("blue", "green", "red", "nir")  # the file's bands 1..4
SCALE = 0.0001
FORMULAS = {  # float64, as issue 12's table writes them
    "ndvi": lambda b: (b["nir"] - b["red"], b["nir"] + b["red"]),
    "ndwi": lambda b: (b["green"] - b["nir"], b["green"] + b["nir"]),
    "savi": lambda b: (1.5 * (b["nir"] - b["red"]), b["nir"] + b["red"] + 0.5),
    "evi": lambda b: (2.5 * (b["nir"] - b["red"]), b["nir"] + 6 * b["red"] - 7.5 * b["blue"] + 1),
}


def four_band_stack(path):
    """uint16 reflectance * 10000, nodata 0 (a strip outside the swath, and one band's own holes)."""
    rng = np.random.default_rng(11)
    # Plausible reflectances (blue darkest, NIR brightest), so EVI's denominator stays away from 0.
    spans = {"blue": (100, 1000), "green": (200, 1500), "red": (200, 2000), "nir": (1000, 6000)}
    bands = {name: rng.integers(*spans[name], (200, 300)).astype(np.uint16) for name in STACK_BANDS}
    for band in bands.values():
        band[:20] = 0
    bands["green"][50:55, :40] = 0  # nodata in one band only
    bands["nir"][60, :10] = bands["red"][60, :10]  # nir == red: ndvi 0, valid
    profile = {
        "driver": "GTiff", "height": 200, "width": 300, "count": 4, "dtype": "uint16", "nodata": 0,
        "crs": "EPSG:32633", "transform": from_origin(399960.0, 5800020.0, 10.0, 10.0),
        "tiled": True, "blockxsize": 128, "blockysize": 128, "compress": "deflate",
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack([bands[name] for name in STACK_BANDS]))
    return bands


def test_four_indices_from_a_four_band_stack_equal_numpy(tmp_path, workdir):
    stack = tmp_path / "s2.tif"
    raw = four_band_stack(stack)
    scene = {name: {"url": str(stack), "band": i} for i, name in enumerate(STACK_BANDS, start=1)}
    scene.update({"scale": SCALE, "indices": list(FORMULAS), "chunks": {"x": 128, "y": 128}})
    (workdir / "s2.yaml").write_text(yaml.safe_dump({"scenes": {"s2": scene}}))
    targets = scene_products("s2", indices=tuple(FORMULAS))
    run_snakemake(workdir, *targets, "--configfile", "config/config.yaml", "s2.yaml")
    assert sorted(p.name for p in (workdir / "resources/scenes/s2").glob("*.tif")) == ["stack.tif"]

    reflectance = {name: value.astype(np.float64) * SCALE for name, value in raw.items()}
    for name, formula in FORMULAS.items():
        numerator, denominator = formula(reflectance)
        valid = np.all([raw[band] != 0 for band in REGISTRY[name].bands], axis=0) & (denominator != 0)
        expected = np.where(valid, numerator / np.where(valid, denominator, 1), np.nan)
        with rasterio.open(workdir / f"results/scenes/s2/{name}.tif") as out:
            assert out.dtypes == ("float32",) and np.isnan(out.nodata)
            assert out.crs.to_epsg() == 32633 and out.transform == from_origin(
                399960.0, 5800020.0, 10.0, 10.0
            )
            got = out.read(1)
        np.testing.assert_array_equal(np.isnan(got), ~valid, err_msg=name)
        np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-5, atol=1e-6, err_msg=name)
        for png in (f"{name}.png", f"{name}_histogram.png"):
            image = np.asarray(Image.open(workdir / "results/scenes/s2" / png).convert("RGB"))
            assert image.std() > 10, png
    # One job made all four in one Dask pass: one Dask report, the scene's, and one log.
    assert (workdir / "results/scenes/s2/dask-report.html").is_file()
    assert not list((workdir / "results/scenes/s2").glob("*_dask-report.html"))
    assert sorted(p.name for p in (workdir / "logs/scenes/s2").glob("*.log") if "plot" not in p.name) == [
        "download_stack.log",
        "indices.log",
    ]


@pytest.mark.parametrize(
    ("indices", "pattern"),
    [
        (["ndvi", "evi"], r"scenes.drone: index 'evi' needs band 'blue', which the scene does not set"),
        (["ndvi", "nvdi"], r"scenes.drone.indices: unknown index 'nvdi'; known: ndvi, ndwi"),
    ],
    ids=["missing band", "unknown index"],
)
def test_an_index_the_scene_cannot_make_is_refused_before_any_job(workdir, sample, indices, pattern):
    scene = {"red": {"url": str(sample["red"])}, "nir": {"url": str(sample["nir"])}, "indices": indices}
    (workdir / "bad.yaml").write_text(yaml.safe_dump({"scenes": {"drone": scene}}))
    result = run_snakemake(workdir, "--configfile", "config/config.yaml", "bad.yaml", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "nothing was run" in output, output
    assert re.search(pattern, output), output
    assert not (workdir / "resources" / "scenes").exists() and not (workdir / "results").exists()


TOY = '''

def grvi(green, red):
    """Green-red vegetation index: (green - red) / (green + red)."""
    return _normalized_difference(green, red)


register(SpectralIndex("grvi", grvi, ("green", "red"), (-1.0, 1.0), "green leaves against soil and litter"))
'''


def test_a_new_index_is_one_registry_entry_and_nothing_else(tmp_path, workdir):
    # README's worked example, added to the copy's registry and nowhere else.
    with open(workdir / "scripts/snakedask/spectral_indices.py", "a") as registry:
        registry.write(TOY)
    stack = tmp_path / "s2.tif"
    raw = four_band_stack(stack)
    scene = {name: {"url": str(stack), "band": i} for i, name in enumerate(STACK_BANDS, start=1)}
    scene.update({"scale": SCALE, "indices": ["grvi"]})
    (workdir / "toy.yaml").write_text(yaml.safe_dump({"scenes": {"s2": scene}}))
    targets = scene_products("s2", indices=("grvi",))
    # The copy's own library, not the installed one.
    run_snakemake(workdir, *targets, "--configfile", "config/config.yaml", "toy.yaml",
                  env={"PYTHONPATH": str(workdir / "scripts")})  # fmt: skip
    green, red = (raw[band].astype(np.float64) * SCALE for band in ("green", "red"))
    valid = (raw["green"] != 0) & (raw["red"] != 0)
    with rasterio.open(workdir / "results/scenes/s2/grvi.tif") as out:
        got = out.read(1)
    np.testing.assert_array_equal(np.isnan(got), ~valid)
    green, red = green[valid], red[valid]  # (both 0 outside: no 0 / 0)
    np.testing.assert_allclose(got[valid], (green - red) / (green + red), rtol=1e-5, atol=1e-6)
    assert "GRVI" in (workdir / "logs/scenes/s2/grvi.log").read_text()
