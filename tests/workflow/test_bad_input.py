"""Bad input, end to end: a clear message naming the file or key and the fix, and no product left.

Each case writes its bad file(s) as a dataset of its own; one `snakemake -k` run
asks for every product they spoil, and each case checks that its dataset failed,
what the user is told at the terminal's end, and that no product (nor a temporary
file) is left at results/. Bad cluster settings need a run each. docs/errors.md's "Bad input" table
lists these messages.
"""

import gzip
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from rasterio.transform import Affine
from snakemake.utils import update_config

from tests.helpers import TABLE, run_snakemake
from tests.unit.test_config_checks import CONFIG_CASES

pytestmark = pytest.mark.workflow

CSV_PRODUCT = "results/tables/bad/averages.csv"
NDVI_PRODUCT = "results/scenes/bad/ndvi.tif"


def table(folder: Path, content: bytes, **entry) -> tuple[dict, str]:
    (folder / "bad.csv").write_bytes(content)
    return {"tables": {"bad": {"url": str(folder / "bad.csv"), **entry}}}, CSV_PRODUCT


def rewrite_band(sample_band: Path, dest: Path, **changes) -> Path:
    """A copy of a sample band with its data or metadata changed."""
    with rasterio.open(sample_band) as src:
        profile, data = src.profile, src.read(1)
    data = changes.pop("data", lambda d: d)(data)
    profile.update(changes)
    with rasterio.open(dest, "w", **profile) as dst:
        dst.write(data, 1)
    return dest


def scene(
    folder: Path, sample: dict, red: Path | None = None, nir: Path | None = None, **entry
) -> tuple[dict, str]:
    red_url = str(red or sample["red"])
    nir_url = str(nir or sample["nir"])
    return {"scenes": {"bad": {"red": {"url": red_url}, "nir": {"url": nir_url}, **entry}}}, NDVI_PRODUCT


def latin1(sample) -> bytes:
    return sample["csv"].read_bytes()


def two_files(folder: Path, first: bytes, second: bytes) -> tuple[dict, str]:
    (folder / "bad1.csv").write_bytes(first)
    (folder / "bad2.csv").write_bytes(second)
    return {"tables": {"bad": {"url": [str(folder / "bad1.csv"), str(folder / "bad2.csv")]}}}, CSV_PRODUCT


def two_file_zip(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.csv", content)
        archive.writestr("b.csv", content)
    return buffer.getvalue()


CASES = {
    # name: (setup(folder, sample) -> (config, target), pattern the user must see)
    "empty CSV": (lambda f, s: table(f, b""), r"bad/raw.csv is empty: it has no header line.*`url`"),
    "header only": (
        lambda f, s: table(f, b"year,m_soil\r\n"),
        r"raw.csv has a header but no data rows.*`url`",
    ),
    "groupby column missing": (
        lambda f, s: table(f, latin1(s), groupby="Year"),
        r"raw.csv has no column 'Year' to group by; columns found: \['timestamp', 'year'.*Did you mean 'year'\? "
        r"Set the table's `groupby:`",
    ),
    "nothing numeric": (
        lambda f, s: table(f, b"year,site\nx,DAVY\ny,HDF1\n"),
        r"raw.csv: no numeric column to average besides 'year'.*`dtype:`",
    ),
    "wrong encoding override": (
        lambda f, s: table(f, latin1(s), encoding="utf-8"),
        r"raw.csv: the configured encoding 'utf-8' does not decode the file \(byte 0xB3 at offset 194.*`encoding:`",
    ),
    "ragged rows": (
        lambda f, s: table(f, b"year,v\n2014,1\n2015,2,3\n2016,4\n"),
        r"raw.csv: not every row has the same number of fields as the header, or a quote is never closed.*`read_options`",
    ),
    "a row with an unquoted comma, far down": (
        lambda f, s: table(f, b"year,note,v\n" + b"2014,dry,1.5\n" * 100_000 + b"2015,wet, muddy,0.3\n"),
        r"raw.csv: a row has more fields than the header's 3 \(bytes \d+-\d+\): '2015,wet, muddy,0.3'.*"
        r"Quote the field that holds the separator",
    ),
    "a `columns:` entry the table lacks": (
        lambda f, s: table(f, latin1(s), columns=["m_siol"]),
        r"raw.csv has no column 'm_siol' \(from the table's `columns:`\); columns found: \['timestamp'.*"
        r"Did you mean 'm_soil'\?",
    ),
    "a `columns:` entry that is text": (
        lambda f, s: table(f, b"year,nitrate\n" + b"2014,<0.01\n2015,0.02\n" * 50, columns=["nitrate"]),
        r"raw.csv: column 'nitrate' \(from the table's `columns:`\) is not numeric: values such as '<0.01'.*"
        r"`read_options: \{decimal: ...\}`",
    ),
    "a zip of two files": (
        lambda f, s: table(f, two_file_zip(latin1(s))),
        r"bad.csv is a zip archive of 2 files \(a.csv, b.csv\); a table needs one",
    ),
    "files of one table with different headers": (
        lambda f, s: two_files(f, b"year,site,m_soil\n2014,A,0.2\n", b"year,m_soil,site\n2015,0.3,B\n"),
        r"bad1.csv and .*bad2.csv have different headers, so they are not one table: columns only in the first: "
        r"\[\], only in the second: \[\] \(the same columns in another order\)",
    ),
    "a cut-off gzip": (
        lambda f, s: table(f, gzip.compress(latin1(s))[:5000]),
        r"bad.csv starts like a gzip file but does not decompress \(EOFError.*Nothing was kept",
    ),
    "text in a numeric column": (
        lambda f, s: table(f, b"year,v\n" + b"2014,1.5\n" * 120_000 + b"2015,oops\n", blocksize="256KB"),
        r"raw.csv: no numeric column to average besides 'year': pandas reads every other column as text "
        r"\('v' holds 'oops'\).*na_values",
    ),
    "0-byte TIFF": (
        lambda f, s: scene(f, s, red=_write(f / "red.tif", b"")),
        r"red.tif \(0 bytes\) is not a readable GeoTIFF.*`url:`",
    ),
    "truncated TIFF": (
        lambda f, s: scene(f, s, nir=_write(f / "nir.tif", s["nir"].read_bytes()[:60_000])),
        r"nir.tif.* (is not a readable GeoTIFF|failed).*(`url:`|Delete it and run again)",
    ),
    "not a raster, named .tif": (
        lambda f, s: scene(f, s, red=_write(f / "red.tif", b"<html>404 Not Found</html>")),
        r"red.tif \(26 bytes\) is not a readable GeoTIFF.*(HTML error page|cut-off download)",
    ),
    "red/NIR different CRS": (
        lambda f, s: scene(f, s, nir=rewrite_band(s["nir"], f / "nir.tif", crs="EPSG:32656")),
        r"red and NIR bands are on different grids:.*EPSG:32657.*EPSG:32656.*reproject",
    ),
    "red/NIR different shape": (
        lambda f, s: scene(
            f,
            s,
            nir=rewrite_band(
                s["nir"], f / "nir.tif", data=lambda d: d[:-10], height=rasterio.open(s["nir"]).height - 10
            ),
        ),
        r"different grids:.*620 x 292 px.*620 x 282 px",
    ),
    "red/NIR different transform": (
        lambda f, s: scene(
            f,
            s,
            nir=rewrite_band(
                s["nir"],
                f / "nir.tif",
                transform=rasterio.open(s["nir"]).transform @ Affine.translation(5, 0),
            ),
        ),
        r"different grids:.*transform.*reproject",
    ),
    "all-nodata bands": (
        lambda f, s: scene(
            f, s, red=rewrite_band(s["red"], f / "red.tif", data=lambda d: np.full_like(d, -10000))
        ),
        r"NDVI has no valid pixel.*`nodata:` and `band:`",
    ),
    "nodata missing from metadata": (
        lambda f, s: scene(f, s, red=rewrite_band(s["red"], f / "red.tif", nodata=None)),
        r"red.tif declares no nodata value\. Set `nodata:` on the scene.*`nodata: none`",
    ),
    "band index out of range": (
        lambda f, s: (
            {"scenes": {"bad": {"red": {"url": str(s["red"]), "band": 2}, "nir": {"url": str(s["nir"])}}}},
            NDVI_PRODUCT,
        ),
        r"red.tif: band 2 requested but the file has 1 band\(s\).*`band:`",
    ),
    "missing scheduler file": (
        lambda f, s: (
            {
                **table(f, latin1(s))[0],
                "dask": {"scheduler_file": str(f / "none.json"), "connect_timeout": 2},
            },
            CSV_PRODUCT,
        ),
        r"dask.scheduler_file = .*none.json.*no readable scheduler file after 2 s.*--scheduler-file",
    ),
    "TLS address without certificates": (
        lambda f, s: ({**table(f, latin1(s))[0], "dask": {"address": "tls://127.0.0.1:8786"}}, CSV_PRODUCT),
        r"tls://127.0.0.1:8786 uses TLS but dask.security has no certificates.*ca_file",
    ),
}

# Every bad config the tests try, in one table: the run must stop before any job, naming the key.


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def partial_files(workdir: Path) -> list[Path]:
    return list((workdir / "results").rglob("*.partial*")) if (workdir / "results").exists() else []


# Cases whose bad setting is the run's Dask cluster: each needs a run of its own.
CLUSTER_CASES = {"missing scheduler file", "TLS address without certificates"}


def dataset_of(case: str) -> str:
    return f"bad{list(CASES).index(case)}"


@pytest.fixture(scope="module")
def one_run_of_every_bad_dataset(tmp_path_factory, sample):
    """Every bad-data case as a dataset of its own, all in one config: one `snakemake -k` run."""
    from tests.helpers import copy_workflow

    root = tmp_path_factory.mktemp("bad-datasets")
    workdir = copy_workflow(root / "checkout", performance_report=False)
    config: dict = {"tables": {}, "scenes": {}}
    targets = []
    for case, (setup, _pattern) in CASES.items():
        if case in CLUSTER_CASES:
            continue
        folder = root / dataset_of(case)
        folder.mkdir()
        case_config, target = setup(folder, sample)
        for kind in ("tables", "scenes"):
            for entry in case_config.get(kind, {}).values():
                config[kind][dataset_of(case)] = entry
        targets.append(target.replace("/bad/", f"/{dataset_of(case)}/"))
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(
        workdir, "-k", *targets, "--configfile", "config/config.yaml", "bad.yaml", check=False
    )
    return workdir, result.returncode, result.stdout + result.stderr


def refusal_shown(output: str) -> str:
    """The failure summary at the terminal's end (only Snakemake's four closing lines follow it)."""
    assert "Traceback (most recent call last)" not in output, output  # a rule script's traceback is nowhere
    summary = output.split("The run stopped on a problem with the input or the config:")
    assert len(summary) == 2 and summary[1].splitlines()[-4].startswith("Complete log"), output
    return summary[1]


@pytest.mark.parametrize("case", [case for case in CASES if case not in CLUSTER_CASES])
def test_bad_input_is_refused_clearly(one_run_of_every_bad_dataset, case):
    workdir, returncode, output = one_run_of_every_bad_dataset
    assert returncode != 0, output
    name = dataset_of(case)
    # This dataset's paragraph of the summary: "  tables.bad3 (log: ...):" and its message.
    paragraphs = re.split(r"\n  (?=(?:tables|scenes)\.)", refusal_shown(output))
    found = [p for p in paragraphs if re.match(rf"(tables|scenes)\.{name} \(log: ", p)]
    assert len(found) == 1, output
    pattern = CASES[case][1].replace("bad/", f"{name}/")
    assert re.search(pattern, " ".join(found[0].split()), re.DOTALL), found[0]
    for kind in ("tables", "scenes"):
        results = workdir / "results" / kind / name
        assert not results.exists() or not list(results.glob("*.tif")) + list(results.glob("*.csv")), results
        assert not results.exists() or list(results.rglob("*.partial*")) == []


@pytest.mark.parametrize("case", sorted(CLUSTER_CASES))
def test_a_bad_cluster_setting_is_refused_clearly(workdir, tmp_path, sample, case):
    setup, pattern = CASES[case]
    folder = tmp_path / "inputs"
    folder.mkdir()
    config, target = setup(folder, sample)
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, target, "--configfile", "config/config.yaml", "bad.yaml", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert re.search(pattern, " ".join(refusal_shown(output).split()), re.DOTALL), output
    assert not (workdir / target).exists()
    assert partial_files(workdir) == []


def test_missing_groupby_column_is_found_before_any_dask_job_with_a_hint(workdir):
    # The sample's own table, grouped by a column it lacks: the inspection right after the download says so.
    (workdir / "key.yaml").write_text(yaml.safe_dump({"tables": {TABLE: {"groupby": "Year"}}}))
    # Targets first: --configfile takes every word after it.
    result = run_snakemake(
        workdir,
        f"results/tables/{TABLE}/averages.csv",
        "--configfile",
        "config/config.yaml",
        "key.yaml",
        check=False,
    )
    assert result.returncode != 0
    log = (workdir / f"logs/tables/{TABLE}/inspect_table.log").read_text()
    assert "has no column 'Year' to group by; columns found: ['timestamp', 'year'" in log
    assert "Did you mean 'year'?" in log
    assert not (workdir / f"logs/tables/{TABLE}/averages.log").exists()  # no Dask job started
    assert not (workdir / f"results/tables/{TABLE}/averages.csv").exists()
    assert not list((workdir / f"results/tables/{TABLE}").glob("*.partial*"))


def test_a_missing_local_url_is_refused_even_with_an_older_download(workdir):
    # The table was downloaded before from its old url; the new url names a file that is not there.
    old = workdir / "resources" / "tables" / TABLE / "raw.csv"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"year,m_soil\n2014,0.2\n")
    (workdir / "moved.yaml").write_text(yaml.safe_dump({"tables": {TABLE: {"url": "data/moved.csv"}}}))
    result = run_snakemake(workdir, "--configfile", "config/config.yaml", "moved.yaml", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "nothing was run" in output, output
    assert re.search(rf"- tables.{TABLE}.url: no such file .*data/moved.csv .*Fix the `url:`", output), output


def test_bad_config_is_refused_before_any_job(workdir):
    # Every bad-config case of the unit tests (tests/unit/test_config_checks.py) whose keys do not
    # clash, in one config: Snakemake lists them all, alone (no traceback), before any job. The checks
    # beyond the schema run on a config the schema took: their cases are left out here.
    beyond_schema = {
        "checksums that do not match the files",
        "a trailing line break in a directive",
        "s3 URL without a bucket",
        "s3 bucket name that cannot be",
        "s3 URL naming a folder",
        "a local file read in place",
        "a checksum on a scene read in place",
        "a scene downloaded for workers that share no filesystem",
        "a table read in place from https",
        "a compressed table read in place",
        "a checksum on a table read in place",
    }
    assert beyond_schema <= set(CONFIG_CASES)  # a renamed case would otherwise be merged silently
    merged: dict = {}
    shown = []
    for name, (config, pattern) in CONFIG_CASES.items():
        if name not in beyond_schema and not _clashes(merged, config):
            update_config(merged, config)
            shown.append(pattern)
    assert len(shown) >= 8, shown
    (workdir / "bad.yaml").write_text(yaml.safe_dump(merged))
    result = run_snakemake(workdir, "--configfile", "config/config.yaml", "bad.yaml", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Invalid configuration" in output and "nothing was run" in output, output
    for pattern in shown:
        assert re.search(pattern, output), (pattern, output)
    assert 'File "' not in output and "Traceback" not in output, output  # the message alone
    assert not (workdir / "resources" / "tables").exists() and not (workdir / "results").exists()


def _clashes(merged: dict, config: dict) -> bool:
    """Whether ``config`` sets a key ``merged`` already sets (the two cases would hide each other)."""
    return any(
        key in merged
        and (not isinstance(value, dict) or not isinstance(merged[key], dict) or _clashes(merged[key], value))
        for key, value in config.items()
    )
