"""Encoding detection: chardet's low-confidence guesses are not trusted."""

import chardet
import numpy as np
import pandas as pd
import pytest

from snakedask.encoding import _CONTROL, decode_problem, detect_encoding, single_byte_codec
from snakedask.errors import EncodingError, TableError
from snakedask.table_header import check_header

HEADER = b'"timestamp","year","unit"\r\n'
ROW = b'"2014-07-01 00:00:00",2014,"m\xb3/m\xb3 VWC"\r\n'


def test_lesson_layout_is_latin1_not_chardets_guess(sample):
    raw = sample["csv"].read_bytes()
    guess = chardet.detect(raw[:100_000])
    result = detect_encoding(sample["csv"])
    assert result["encoding"] == "iso8859-1"
    assert result["method"] == "candidate"
    # chardet's own guess and confidence, kept apart from the choice, and said in words.
    assert result["chardet"] == {
        "guess": guess["encoding"],
        "confidence": round(guess["confidence"], 4),
        "used": False,
    }
    assert f"chardet's guess {guess['encoding']} was set aside" in result["why"]
    assert result["why"].endswith("latin-1 decodes the whole file")
    assert result["checked"] == f"decodes all {len(raw)} bytes of the file, without control characters"
    # The chosen encoding gives the unit as written, which chardet's guess does not.
    assert "m³/m³ VWC" in raw.decode(result["encoding"])
    if guess["encoding"] and guess["confidence"] < 0.5:
        assert "m³/m³ VWC" not in raw.decode(guess["encoding"], errors="replace")


def test_utf8_file_is_utf8(tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes(HEADER + ROW.decode("latin-1").encode("utf-8") * 50)
    assert detect_encoding(path)["encoding"] == "utf-8"


def test_whole_file_must_decode_not_only_the_sample(tmp_path):
    # ASCII for the first 200 kB, then a Latin-1 byte: the sample alone says ASCII/UTF-8.
    path = tmp_path / "late.csv"
    ascii_row = b'"2014-07-01 00:00:00",2014,"m3/m3 VWC"\r\n'
    path.write_bytes(HEADER + ascii_row * 6000 + ROW)
    path.read_bytes()[:100_000].decode("utf-8")  # the detection sample alone is valid UTF-8
    result = detect_encoding(path, sample_bytes=100_000)
    assert result["encoding"] == "iso8859-1"
    assert path.read_bytes().decode(result["encoding"]).endswith('"m³/m³ VWC"\r\n')


def test_cp1252_bytes_are_not_read_as_latin1_controls(tmp_path):
    path = tmp_path / "euro.csv"
    path.write_bytes(HEADER + '"2014-07-01 00:00:00",2014,"€ “quoted”"\r\n'.encode("cp1252"))
    result = detect_encoding(path, min_confidence=1.01)  # ignore chardet entirely
    assert result["encoding"] == "cp1252"
    assert "€ “quoted”" in path.read_bytes().decode(result["encoding"])


def test_valid_utf8_with_a_control_character_is_still_utf8(tmp_path):
    # fivethirtyeight's riddler-castles answers hold U+008D: valid UTF-8, as pandas reads it by default.
    # No plausible encoding decodes it, so strict UTF-8 wins as the last resort; Latin-1 would garble "é".
    path = tmp_path / "answers.csv"
    path.write_bytes(HEADER + '"2014-07-01 00:00:00",2014,"café \u008d note"\r\n'.encode())
    result = detect_encoding(path, min_confidence=1.01)
    assert result["encoding"] == "utf-8" and "control characters included" in result["why"]
    assert pd.read_csv(path, encoding=result["encoding"])["unit"][0] == "café \u008d note"


def test_override_is_checked_against_the_whole_file(tmp_path, sample):
    result = detect_encoding(sample["csv"], override="latin-1")
    assert (result["encoding"], result["method"], result["chardet"]) == ("iso8859-1", "config", None)
    assert result["why"] == "the table's `encoding:` key says latin-1"
    with pytest.raises(
        EncodingError, match=r"configured encoding 'utf-8' does not decode.*0xB3.*`encoding:`"
    ):
        detect_encoding(sample["csv"], override="utf-8")


def test_no_candidate_decodes(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(HEADER + b"\x81\x8d\x8f\xff\xfe" * 10)
    with pytest.raises(EncodingError, match=r"bad.csv: no encoding decodes.*`encoding:`"):
        detect_encoding(path, candidates=["cp1252"])


def test_unknown_override_name(sample):
    with pytest.raises(EncodingError, match="unknown encoding 'latin-42'"):
        detect_encoding(sample["csv"], override="latin-42")


def _decoded_problem(data: bytes, encoding: str) -> str | None:
    """The plain way: decode everything, then look for control characters."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        return f"byte 0x{err.object[err.start]:02X} at offset {err.start} is not valid {encoding}"
    if (bad := _CONTROL.search(text)) is not None:
        return f"decodes to control character U+{ord(bad.group()):04X}, so {encoding} is not plausible"
    return None


@pytest.mark.parametrize("encoding", ["iso8859-1", "cp1252", "cp1251", "koi8-r", "ascii", "mac-roman"])
def test_single_byte_check_agrees_with_decoding(tmp_path, encoding):
    assert single_byte_codec(encoding)
    rng = np.random.default_rng(7)
    clean = (HEADER + ROW * 20).decode("latin-1").encode(encoding, errors="replace")
    cases = [clean, clean + bytes(range(256)), bytes(range(255, -1, -1)) + clean]
    # One unusual byte at a random place, and files longer than one read.
    cases += [
        clean[:at] + bytes((byte,)) + clean[at:] for byte, at in rng.integers(0, [256, len(clean)], (40, 2))
    ]
    cases += [clean * 1000 + b"\x81" + clean, clean * 1000]
    for data in cases:
        path = tmp_path / "t.csv"
        path.write_bytes(data)
        assert decode_problem(path, encoding) == _decoded_problem(data, encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "shift_jis", "gbk", "big5", "utf-8-sig"])
def test_multi_byte_codecs_are_decoded(encoding):
    assert not single_byte_codec(encoding)


@pytest.mark.parametrize("encoding", ["cp1251", "koi8_r", "iso8859_5", "cp1253", "iso8859_7"])
def test_cyrillic_or_greek_bytes_are_not_read_as_accented_latin(tmp_path, encoding):
    """Found by fuzzing: chardet names these at ~0.2 confidence, below the threshold, and Latin-1 then
    read every word as accented letters ('àñòîê'): silently wrong headers and group labels."""
    words = (
        ["Черский", "Колыма", "Андрюшкино", "Походск", "тундра"]
        if encoding[-1] in "15" or encoding.startswith("koi")
        else ["Αθήνα", "Κρήτη", "Θεσσαλονίκη", "λίμνη", "δάσος"]
    )
    text = "site,year,value\n" + "".join(f"{w},{2000 + i % 3},{i * 0.5}\n" for i, w in enumerate(words * 80))
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode(encoding))
    record = detect_encoding(path)
    assert path.read_bytes().decode(record["encoding"]) == text, record
    assert record["method"] == "chardet" and "only accented letters" in record["why"]


def test_latin1_words_with_accents_stay_latin1(tmp_path):
    """The check above must not take real Latin-script text for another script: its words mix in ASCII."""
    words = ["Müller", "Größe", "Straße", "Äpfel", "côte", "forêt", "été", "Noël", "µm", "m³/m³"]
    text = "site,year,value\n" + "".join(f"{w},{2000 + i % 3},{i * 0.5}\n" for i, w in enumerate(words * 80))
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("latin-1"))
    assert detect_encoding(path)["encoding"] == "iso8859-1"


def test_a_configured_cyrillic_candidate_is_taken_as_it_is(tmp_path):
    """The accented-letters check is for Latin candidates: cp1251 reads Russian words as Cyrillic."""
    text = "site,year\n" + "".join(f"{w},{2000 + i % 3}\n" for i, w in enumerate(["Черский", "Колыма"] * 200))
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("cp1251"))
    record = detect_encoding(path, candidates=["cp1251"], min_confidence=0.99)
    assert (record["encoding"], record["method"]) == ("cp1251", "candidate"), record


def test_a_group_key_outside_ascii_that_is_not_found_points_at_the_encoding(tmp_path):
    """Shift-JIS, which detection cannot tell (a known gap): the error says where to look."""
    path = tmp_path / "t.csv"
    path.write_bytes("地点,年,値\n東京,2000,1.5\n".encode("shift_jis"))
    encoding = detect_encoding(path)["encoding"]
    with pytest.raises(TableError, match=rf"no column '年' to group by.*read as {encoding}.*`encoding:`"):
        check_header(path, encoding, "年")
