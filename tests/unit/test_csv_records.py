"""Record starts and block ranges on adversarial CSVs: blocks never begin inside a quoted field."""

import itertools

import pandas as pd
import pytest

from snakedask.csv_records import ascii_compatible, block_ranges, record_offsets
from tests.helpers import read_blocks

HEADER = b'"id","note","value"\r\n'


def rows(count: int, note_every: int = 3) -> bytes:
    """Records whose quoted `note` holds CRLF line breaks, an escaped quote, and a line that looks like a row."""
    out = [HEADER]
    for i in range(count):
        # A quoted note with line breaks, escaped quotes and a full-looking row inside it, or a plain one.
        note = f'"said ""hi""\r\n{i + 1000},""x"",{i}.5\r\nend"' if i % note_every == 0 else '"plain"'
        out.append(f"{i},{note},{i * 0.25}\r\n".encode())
    return b"".join(out)


def all_record_starts(data: bytes) -> set[int]:
    """Offsets where a record starts, by walking the quotes (an independent, plain-Python reading)."""
    starts, inside = {len(HEADER)}, False
    for i, byte in enumerate(data):
        if byte == ord('"'):
            inside = not inside
        elif byte == ord("\n") and not inside and i + 1 < len(data):
            starts.add(i + 1)
    return starts


# Both scanners (numba's loop from COMPILED_FROM bytes on, numpy's passes below it), reading the
# whole file at once or in pieces that cut quoted fields, CRLFs and escaped quotes apart.
SCANNERS = {"numpy": {"compiled_from": 1 << 62}, "compiled": {"compiled_from": 0}}
SCANS = pytest.mark.parametrize(
    "scan",
    [dict(options, read_size=size) for options in SCANNERS.values() for size in (1 << 24, 997)],
    ids=[f"{name}-{size}" for name in SCANNERS for size in ("whole", "997-byte-reads")],
)


@SCANS
@pytest.mark.parametrize("step", [4096, 4097, 5000])
def test_recorded_starts_are_record_starts_and_cover_every_step(tmp_path, step, scan):
    data = rows(2000)
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    index = record_offsets(path, "latin-1", step=step, **scan)
    truth = all_record_starts(data)
    assert index["splittable"] and index["starts"][0] == len(HEADER)
    assert set(index["starts"]) <= truth
    assert index["quoted_line_breaks"] == 2 * len(range(0, 2000, 3))
    for mark in range(step, len(data) - step, step):  # one start per step: the first record at/after it
        assert min(s for s in index["starts"] if s >= mark) == min(s for s in truth if s >= mark)


@pytest.mark.parametrize("blocksize", [1, 300, 4096, 10_000, None])
def test_blocks_are_whole_records_and_averages_equal_pandas(tmp_path, blocksize):
    data = rows(3000)
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    index = record_offsets(path, "latin-1", step=4096)
    ranges = block_ranges(index, blocksize)
    assert ranges[0][0] == len(HEADER) and ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert {start for start, _ in ranges} <= all_record_starts(data)
    expected = pd.read_csv(path, encoding="latin-1")
    got = read_blocks(path, "latin-1", blocksize or len(data), records=index)
    assert len(got) == len(expected) == 3000
    pd.testing.assert_series_equal(got["value"], expected["value"].astype(float), check_names=False)
    assert got["note"].tolist() == expected["note"].tolist()


@SCANS
def test_a_quote_right_at_a_step_and_an_empty_last_line(tmp_path, scan):
    # Pad so that a quoted field opens exactly at the step boundary (4096), then end with an empty line.
    first = HEADER + b"0," + b'"' + b"a" * (4096 - len(HEADER) - 4) + b'",1\r\n'
    body = first + b'1,"x\r\ny",2\r\n' * 400 + b"\r\n"
    path = tmp_path / "t.csv"
    path.write_bytes(body)
    index = record_offsets(path, "utf-8", step=4096, **scan)
    assert set(index["starts"]) <= all_record_starts(body) | {len(body)}
    got = read_blocks(path, "utf-8", 4096, records=index)
    expected = pd.read_csv(path)
    assert len(got) == len(expected) == 401 and got["value"].sum() == expected["value"].sum()


def test_crlf_is_never_split_between_two_blocks(tmp_path):
    data = rows(500, note_every=10**9)
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    for start, end in block_ranges(record_offsets(path, "utf-8", step=4096), 1):
        assert data[start - 2 : start] == b"\r\n" and data[end - 2 : end] == b"\r\n"


@SCANS
def test_unpaired_quotes_mean_one_piece_with_the_reason(tmp_path, scan):
    path = tmp_path / "t.csv"
    path.write_bytes(HEADER + b'1,"never closed,2\r\n' + b"2,b,3\r\n" * 1000)
    index = record_offsets(path, "utf-8", step=4096, **scan)
    assert not index["splittable"] and "do not pair up" in index["reason"]
    assert block_ranges(index, 100) == [(len(HEADER), path.stat().st_size)]


def test_both_scanners_give_the_same_index(tmp_path):
    data = rows(5000, note_every=7) + b"".join(f"{i},plain,{i}\r\n".encode() for i in range(3000))
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    indexes = [record_offsets(path, "latin-1", step=4096, **scan) for scan in SCANNERS.values()]
    assert indexes[0] == indexes[1] and indexes[0]["quoted_line_breaks"] == 2 * len(range(0, 5000, 7))


@pytest.mark.parametrize(
    "encoding, expected",
    [("utf-8", True), ("latin-1", True), ("cp1252", True), ("utf-16", False), ("utf-16-le", False),
     ("utf-32", False), ("utf-8-sig", False)],
)  # fmt: skip
def test_which_encodings_can_be_split_on_bytes(encoding, expected):
    assert ascii_compatible(encoding) is expected


def record_ends_walk(data: bytes) -> set[int]:
    """Record starts by a plain-Python walk: after a line feed, or a carriage return not before one, outside quotes."""
    starts, inside = set(), False
    for i, byte in enumerate(data):
        if byte == ord('"'):
            inside = not inside
        elif not inside and (byte == 10 or (byte == 13 and data[i + 1 : i + 2] != b"\n")):
            starts.add(i + 1)
    return starts


@SCANS
@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n", b"mixed"])
def test_classic_mac_and_mixed_line_ends(tmp_path, scan, ending):
    # Classic Mac exports end lines with CR alone; pandas and pyarrow read all three kinds, mixed too.
    ends = [b"\r", b"\r\n", b"\n"] if ending == b"mixed" else [ending]
    notes = ["a\rb" if i % 5 == 0 else "ab" for i in range(2000)]
    lines = [b"id,note,value"] + [f'{i},"{note}",{i * 0.5}'.encode() for i, note in enumerate(notes)]
    data = b"".join(line + ends[i % len(ends)] for i, line in enumerate(lines))
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    index = record_offsets(path, "utf-8", step=4096, **scan)
    truth = record_ends_walk(data)
    assert index["splittable"] and index["starts"][0] == min(truth)
    assert set(index["starts"]) <= truth | {len(data)}
    assert index["quoted_line_breaks"] == len(range(0, 2000, 5))
    got = read_blocks(path, "utf-8", 4096, records=index)
    expected = pd.read_csv(path)
    assert len(got) == len(expected) == 2000 and got["note"].tolist() == expected["note"].tolist()
    assert got["value"].sum() == expected["value"].sum()


@SCANS
@pytest.mark.parametrize(
    "stray, at",
    [
        (b'2000,5,a 5" pipe\r\n', 10),  # an inch mark inside an unquoted value
        (b'2000,5,"quoted"after\r\n', 14),  # text after a closing quote
        (b'2000,5, "spaced"\r\n', 8),  # a quote after a space: pandas reads it as text
    ],
    ids=["inch-mark", "after-closing", "after-space"],
)
def test_a_quote_that_neither_opens_nor_closes_a_field_makes_the_file_one_piece(tmp_path, scan, stray, at):
    """pandas reads such a quote as text, so quote parity no longer says where records start: one piece."""
    body = rows(300)
    path = tmp_path / "t.csv"
    path.write_bytes(body + stray + rows(300)[len(HEADER) :])
    index = record_offsets(path, "latin-1", step=4096, **scan)
    assert not index["splittable"] and index["starts"] == [0]
    assert f"at byte {len(body) + at} neither opens nor closes" in index["reason"]
    # Separators other than a comma are honoured: with `;` the comma-free rows are still checked the same.
    clean = tmp_path / "semicolons.csv"
    clean.write_bytes(rows(300).replace(b",", b";"))
    assert record_offsets(clean, "latin-1", sep=";", step=4096, **scan)["splittable"]
    assert not record_offsets(clean, "latin-1", sep=",", step=4096, **scan)["splittable"]
