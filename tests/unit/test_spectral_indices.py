"""Every spectral index against a float64 numpy computation, nodata mask included."""

import numpy as np
import pytest

from snakedask import spectral_indices
from snakedask.spectral_indices import REGISTRY, SpectralIndex

# The formulas, written out again in float64 (issue 12's table).
EXPECTED = {
    "ndvi": lambda b: ((b["nir"] - b["red"]), (b["nir"] + b["red"])),
    "ndwi": lambda b: ((b["green"] - b["nir"]), (b["green"] + b["nir"])),
    "gndvi": lambda b: ((b["nir"] - b["green"]), (b["nir"] + b["green"])),
    "ndre": lambda b: ((b["nir"] - b["rededge"]), (b["nir"] + b["rededge"])),
    "savi": lambda b: (1.5 * (b["nir"] - b["red"]), (b["nir"] + b["red"] + 0.5)),
    "evi": lambda b: (2.5 * (b["nir"] - b["red"]), (b["nir"] + 6 * b["red"] - 7.5 * b["blue"] + 1)),
}


def reflectances(shape=(64, 80), seed=3):
    rng = np.random.default_rng(seed)
    # Plausible reflectances (blue darkest, NIR brightest): EVI's denominator stays well away from 0,
    # where float32 (the products' precision) and float64 would part.
    spans = {
        "blue": (0.01, 0.1),
        "green": (0.02, 0.15),
        "red": (0.02, 0.2),
        "rededge": (0.1, 0.3),
        "nir": (0.1, 0.6),
    }
    bands = {name: rng.uniform(*spans[name], shape).astype(np.float32) for name in spectral_indices.BANDS}
    bands["red"][0, :5] = np.nan  # nodata in one band
    bands["nir"][1, :5] = np.nan
    bands["green"][2, :5] = np.nan
    bands["nir"][3, :5] = bands["red"][3, :5] = bands["green"][3, :5] = bands["rededge"][3, :5] = (
        0  # zero sums
    )
    return bands


def test_the_registry_has_the_standard_indices():
    assert set(EXPECTED) <= set(REGISTRY)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_index_equals_numpy(name):
    bands = reflectances()
    index = REGISTRY[name]
    got = index.function(**{band: bands[band] for band in index.bands})
    wide = {band: value.astype(np.float64) for band, value in bands.items()}
    numerator, denominator = EXPECTED[name](wide)
    valid = np.all([np.isfinite(wide[band]) for band in index.bands], axis=0) & (denominator != 0)
    expected = np.where(valid, numerator / np.where(valid, denominator, 1), np.nan)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), ~valid)
    np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_index_computes_in_its_inputs_precision(name):
    """The workflow passes float64 reflectance and rounds to float32 once: no float32 step inside."""
    bands = {band: value.astype(np.float64) + 1e-9 for band, value in reflectances().items()}  # not float32
    index = REGISTRY[name]
    got = index.function(**{band: bands[band] for band in index.bands})
    numerator, denominator = EXPECTED[name](bands)
    valid = np.all([np.isfinite(bands[band]) for band in index.bands], axis=0) & (denominator != 0)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(got), ~valid)
    np.testing.assert_allclose(got[valid], (numerator / np.where(valid, denominator, 1))[valid], rtol=1e-15)


def test_a_new_index_is_one_entry(monkeypatch):
    monkeypatch.setattr(spectral_indices, "REGISTRY", dict(REGISTRY))
    toy = spectral_indices.register(
        SpectralIndex(
            "toy",
            lambda blue, nir: spectral_indices._ratio(nir - blue, nir),
            ("blue", "nir"),
            (-1, 1),
            "a toy",
        )
    )
    assert spectral_indices.REGISTRY["toy"] is toy
    with pytest.raises(ValueError, match=r"bands .*'swir'"):
        spectral_indices.register(SpectralIndex("bad", lambda swir: swir, ("swir",), (0, 1), "no such band"))
