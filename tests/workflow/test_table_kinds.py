"""Tables as loggers, spreadsheets and archives write them, end to end, against pandas reading the same source.

One Snakemake run makes the averages of every kind: quoted fields holding
line breaks (at a small and at the default blocksize), UTF-16 LE/BE and UTF-8
with a BOM, gzip/bz2/xz/zip, tab- and semicolon-separated tables.
"""

import bz2
import gzip
import hashlib
import json
import lzma
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import run_snakemake

pytestmark = pytest.mark.workflow


def logger_notes(rows: int = 20000) -> bytes:
    """Latin-1, CRLF, R's quoting; a quoted `note` column whose values hold CRLF line breaks, one of them
    followed by a line that looks like a full row (issue: means off in the 4th-6th digit)."""
    rng = np.random.default_rng(13)
    lines = ['"timestamp","year","note","m_soil","unit"']
    for i in range(rows):
        year, value = 2014 + i % 5, rng.uniform(0.05, 0.45)
        if i % 7 == 0:  # the line inside the note parses as a row of its own if a block starts there
            note = f'"probe reseated\r\n""2019-01-01 00:00:00"",{2030 + i % 3},""x"",{9 + i % 5}.5,""m³/m³ VWC""\r\nok"'
        else:
            note = '"–"' if i % 3 else '""'
        lines.append(f'"2016-07-01 00:{i % 60:02d}:00",{year},{note},{value:.4f},"m³/m³ VWC"')
    text = "\r\n".join(lines) + "\r\n"
    return text.replace("–", "-").encode("latin-1")


def sensor_table(sep: str = ",", decimal: str = ".") -> str:
    rng = np.random.default_rng(17)
    lines = [sep.join(["year", "site", "m_soil", "temp"])]
    for i in range(6000):
        values = [f"{rng.uniform(0, 1):.5f}", "NA" if i % 11 == 0 else f"{rng.normal(2, 4):.3f}"]
        lines.append(
            sep.join([str(2010 + i % 4), f"Sité {i % 3}", *(v.replace(".", decimal) for v in values)])
        )
    return "\r\n".join(lines) + "\r\n"


def expected_means(path, key, compression="infer", **read):
    frame = pd.read_csv(path, compression=compression, **read)
    return frame.groupby(key).mean(numeric_only=True)


def test_every_kind_of_table_averages_as_pandas(tmp_path, workdir, sample):
    notes = tmp_path / "notes.csv"
    notes.write_bytes(logger_notes())
    lesson = sample["csv"].read_bytes()
    tables, expected = {}, {}

    def add(name, path, pandas_read, key="year", **entry):
        tables[name] = {"url": str(path), "groupby": key, **entry}
        expected[name] = expected_means(path, key, **pandas_read)

    add("notes_small", notes, {"encoding": "latin-1"}, blocksize="64KB")
    add("notes_default", notes, {"encoding": "latin-1"})
    text = sensor_table(sep="\t")
    for name, data, encoding in [
        ("utf16le", b"\xff\xfe" + text.encode("utf-16-le"), "utf-16"),
        ("utf16be", b"\xfe\xff" + text.encode("utf-16-be"), "utf-16"),
        ("utf8bom", text.encode("utf-8-sig"), "utf-8-sig"),
    ]:
        (tmp_path / f"{name}.tsv").write_bytes(data)
        add(name, tmp_path / f"{name}.tsv", {"encoding": encoding, "sep": "\t"}, blocksize="16KB",
            read_options={"sep": "\t"})  # fmt: skip
    (tmp_path / "tab.tsv").write_text(text, encoding="utf-8")
    add("tab", tmp_path / "tab.tsv", {"sep": "\t"}, blocksize="16KB", read_options={"sep": "\t"})
    (tmp_path / "semicolon.csv").write_text(sensor_table(";", ","), encoding="utf-8")
    add("semicolon", tmp_path / "semicolon.csv", {"sep": ";", "decimal": ","}, blocksize="16KB",
        read_options={"sep": ";", "decimal": ","})  # fmt: skip
    compressed = {
        "gzip": gzip.compress(lesson),
        "bz2": bz2.compress(lesson),
        "xz": lzma.compress(lesson),
    }
    with zipfile.ZipFile(tmp_path / "lesson.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dg_soil_moisture.csv", lesson)
    compressed["zip"] = (tmp_path / "lesson.zip").read_bytes()
    for kind, data in compressed.items():
        path = tmp_path / f"lesson_{kind}.data"  # named like neither: the magic bytes tell
        path.write_bytes(data)
        add(kind, path, {"encoding": "latin-1", "compression": kind}, blocksize="64KB")

    # One table in three files with the same header (one per site), the last without a final line break.
    lines = lesson.split(b"\r\n") if b"\r\n" in lesson else lesson.split(b"\n")
    header, body = lines[0], [line for line in lines[1:] if line]
    files = []
    for number, site in enumerate((b'"DAVY"', b'"HDF1"', None)):
        chosen = [
            line
            for line in body
            if (site in line if site else not any(s in line for s in (b'"DAVY"', b'"HDF1"')))
        ]
        files.append(tmp_path / f"part{number}.csv")
        files[-1].write_bytes(b"\n".join([header, *chosen]) + (b"\n" if site else b""))
    tables["three_files"] = {"url": [str(f) for f in files], "blocksize": "64KB"}
    expected["three_files"] = (
        pd.concat([pd.read_csv(f, encoding="latin-1") for f in files]).groupby("year").mean(numeric_only=True)
    )

    (workdir / "kinds.yaml").write_text(yaml.safe_dump({"tables": tables}))
    targets = [f"results/tables/{name}/averages.csv" for name in tables]
    run_snakemake(workdir, *targets, "--configfile", "config/config.yaml", "kinds.yaml")

    for name, means in expected.items():
        got = pd.read_csv(workdir / f"results/tables/{name}/averages.csv", index_col=0)
        pd.testing.assert_frame_equal(got, means, check_dtype=False, check_names=False, rtol=1e-9, obj=name)
    # The small blocks really were many, and none began inside a note.
    records = json.loads((workdir / "results/tables/notes_small/records.json").read_text())
    assert records["splittable"] and records["quoted_line_breaks"] == 2 * len(range(0, 20000, 7))
    assert (
        "line breaks inside quoted fields" in (workdir / "logs/tables/notes_small/averages.log").read_text()
    )
    assert not json.loads((workdir / "results/tables/utf16le/records.json").read_text())["splittable"]
    assert "one piece" in (workdir / "logs/tables/utf16le/averages.log").read_text()
    sources = json.loads((workdir / "resources/tables/three_files/raw.provenance.json").read_text())[
        "sources"
    ]
    assert [r["sha256"] for r in sources] == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    # raw.csv is the plain table; the provenance records the compressed source too.
    for kind, data in compressed.items():
        assert (workdir / f"resources/tables/{kind}/raw.csv").read_bytes() == lesson
        record = json.loads((workdir / f"resources/tables/{kind}/raw.provenance.json").read_text())
        assert record["compressed"] == {
            "format": kind,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        assert record["sha256"] == hashlib.sha256(lesson).hexdigest()
