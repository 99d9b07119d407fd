"""New datasets by config alone, fetched from a real HTTP server on 127.0.0.1."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from rasterio.transform import from_origin

from tests.helpers import run_snakemake
from tests.services.http_server import FlakyServer, Route

pytestmark = pytest.mark.workflow


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def second_table() -> bytes:
    """A UTF-8, semicolon/decimal-comma logger export grouped by `Year`, with late NAs."""
    rng = np.random.default_rng(3)
    lines = ["Year;Station;AirT;Count"]
    for i in range(4000):
        count = "NA" if i > 3000 and i % 7 == 0 else str(i % 50)
        lines.append(f"{2010 + i % 4};Köppen-{i % 3};{rng.normal(-5, 3):.3f}".replace(".", ",") + f";{count}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def uint16_stack(path):
    """A Sentinel-2-like 3-band uint16 stack (B2, B4=red, B8=NIR), nodata 0, 10 m pixels."""
    rng = np.random.default_rng(5)
    blue, red, nir = (rng.integers(1500, 9000, (300, 400)).astype(np.uint16) for _ in range(3))
    red[:40] = nir[:40] = blue[:40] = 0  # outside the swath
    profile = {
        "driver": "GTiff",
        "height": 300,
        "width": 400,
        "count": 3,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": from_origin(399960.0, 5800020.0, 10.0, 10.0),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 128,
        "blockysize": 128,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack([blue, red, nir]))
    return red, nir


def test_two_tables_and_two_scenes_over_http(tmp_path, workdir, sample):
    stack = tmp_path / "S2_stack.tif"
    s2_red, s2_nir = uint16_stack(stack)
    table_b = second_table()
    with FlakyServer() as server:
        server.routes["/object/soil"] = Route(sample["csv"].read_bytes(), drop_first=1)
        server.routes["/object/air"] = Route(table_b, fail_first=1)
        red_bytes, nir_bytes = sample["red"].read_bytes(), sample["nir"].read_bytes()
        server.routes["/object/red"] = Route(
            red_bytes, headers={"DataONE-Checksum": f"SHA-256,{sha256(red_bytes)}"}
        )
        server.routes["/object/nir"] = Route(
            nir_bytes, headers={"DataONE-Checksum": f"MD5,{hashlib.md5(nir_bytes).hexdigest()}"}
        )
        server.routes["/object/s2"] = Route(stack.read_bytes())
        s2 = {"url": server.url("/object/s2"), "checksum": f"sha256:{sha256(stack.read_bytes())}"}
        extra = {
            "tables": {
                "soil": {
                    "url": server.url("/object/soil"),
                    "blocksize": "100KB",
                    "checksum": f"sha256:{sha256(sample['csv'].read_bytes())}",
                },
                "air": {
                    "url": server.url("/object/air"),
                    "groupby": "Year",
                    "blocksize": "20KB",
                    "read_options": {"sep": ";", "decimal": ","},
                },
            },
            "scenes": {
                "drone": {
                    "red": {"url": server.url("/object/red")},
                    "nir": {"url": server.url("/object/nir")},
                    "chunks": 256,
                },
                "s2": {
                    "red": {**s2, "band": 2},
                    "nir": {**s2, "band": 3},
                    "chunks": {"x": 128, "y": 128},
                    "scale": 0.0001,
                    "offset": -0.1,
                },
            },
            "download": {"backoff": 0.1},
        }
        (workdir / "mine.yaml").write_text(yaml.safe_dump(extra))
        targets = [
            f"results/tables/{t}/{p}" for t in ("soil", "air") for p in ("averages.csv", "averages.png")
        ]
        targets += [f"results/scenes/{s}/{p}" for s in ("drone", "s2") for p in ("ndvi.tif", "ndvi.png")]
        run_snakemake(workdir, *targets, "--configfile", "config/config.yaml", "mine.yaml")
        assert len(server.routes["/object/s2"].seen) == 1  # one download for both bands
        assert server.routes["/object/soil"].seen[1].startswith("bytes=")  # resumed after the cut

    assert (workdir / "resources/tables/soil/raw.csv").read_bytes() == sample["csv"].read_bytes()
    provenance = json.loads((workdir / "resources/scenes/drone/red.provenance.json").read_text())
    assert provenance["verified_by"] == "sha256 from the server's DataONE-Checksum header"
    assert json.loads((workdir / "resources/tables/soil/raw.provenance.json").read_text())["resumed"]
    assert sorted(p.name for p in (workdir / "resources/scenes/s2").iterdir()) == [
        "stack.provenance.json",
        "stack.tif",
    ]

    soil = pd.read_csv(workdir / "results/tables/soil/averages.csv", index_col="year")
    expected = pd.read_csv(sample["csv"], encoding="latin-1").groupby("year").mean(numeric_only=True)
    pd.testing.assert_frame_equal(soil, expected, check_dtype=False, rtol=1e-12)

    air = pd.read_csv(workdir / "results/tables/air/averages.csv", index_col="Year")
    raw = pd.read_csv(workdir / "resources/tables/air/raw.csv", sep=";", decimal=",")
    pd.testing.assert_frame_equal(
        air, raw.groupby("Year").mean(numeric_only=True), check_dtype=False, rtol=1e-12
    )
    assert json.loads((workdir / "results/tables/air/encoding.json").read_text())["encoding"] == "utf-8"

    with rasterio.open(workdir / "results/scenes/s2/ndvi.tif") as out:
        r = s2_red.astype(np.float64) * 1e-4 - 0.1
        n = s2_nir.astype(np.float64) * 1e-4 - 0.1
        expected_ndvi = np.where(s2_red == 0, np.nan, (n - r) / (n + r))
        # float32 arithmetic: ~1e-7 absolute error where NIR and red nearly cancel
        np.testing.assert_allclose(out.read(1), expected_ndvi, rtol=1e-5, atol=1e-6, equal_nan=True)
        assert out.crs.to_epsg() == 32633 and out.transform == from_origin(399960.0, 5800020.0, 10.0, 10.0)
    with rasterio.open(workdir / "results/scenes/drone/ndvi.tif") as out, rasterio.open(sample["red"]) as red:
        assert out.transform == red.transform


@pytest.mark.parametrize(
    "route, message",
    [
        (Route(status=404), r"could not download http://127\.0\.0\.1:\d+/object/x: HTTP 404"),
        (
            Route(b"wrong bytes", headers={"DataONE-Checksum": "MD5," + "0" * 32}),
            r"md5 checksum mismatch: expected 0{32} \(from the server's DataONE-Checksum header\)",
        ),
        (Route(b"x" * 1000, drop_first=99, ranges=False), r"gave up after 2 attempts"),
    ],
    ids=["404", "bad-checksum", "always-cut"],
)
def test_failed_download_leaves_nothing(workdir, route, message):
    with FlakyServer() as server:
        server.routes["/object/x"] = route
        extra = {
            "tables": {"x": {"url": server.url("/object/x")}},
            "download": {"attempts": 2, "backoff": 0.05},
        }
        (workdir / "x.yaml").write_text(yaml.safe_dump(extra))
        result = run_snakemake(
            workdir, "resources/tables/x/raw.csv", "--configfile", "config/config.yaml", "x.yaml", check=False
        )
    assert result.returncode != 0
    import re

    assert re.search(message, (workdir / "logs/tables/x/download.log").read_text())
    assert not (workdir / "resources/tables/x").exists() or not any(
        (workdir / "resources/tables/x").iterdir()
    )
