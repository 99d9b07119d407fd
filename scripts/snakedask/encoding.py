"""Detect a CSV's text encoding with chardet, without trusting a low-confidence guess.

chardet 7.7 reads the lesson's Latin-1 file (its only non-ASCII byte is 0xB3,
the ``³`` of ``m³/m³ VWC``) as Windows-1251 with ~1 % confidence: that decodes
without error but turns ``³`` into ``і``. So a guess below ``min_confidence``
counts as "unknown", and then strict UTF-8 and a list of candidates are tried.
Whatever is chosen must decode the *whole* file, not only the detection sample.
One exception to "unknown": chardet names Cyrillic and Greek codepages (cp1251,
KOI8-R, cp1253) at ~0.2 confidence, and Latin-1 would read their words as runs of
accented letters (``àñòîê``); where the Latin candidate reads most accented
words so, chardet's guess is taken if it decodes the whole file, else the file
is refused (:func:`other_script_words`).

The record (``encoding.json``) keeps apart what was chosen and what chardet
said: ``encoding`` (Python's codec name), ``method`` (``config``: the table's
``encoding:`` key; ``chardet``: its confident guess; ``utf-8``: strict UTF-8 (without control characters, or
as the last resort with them);
``candidate``: the first of ``encoding_detection.candidates`` that decodes),
``why`` (the same in a sentence, with what was tried first), ``chardet``
(``guess``, ``confidence``, ``used``) and ``checked`` (the whole-file check).
"""

import codecs
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import chardet

from snakedask.errors import EncodingError
from snakedask.object_storage import object_size, open_binary

# C0/C1 control characters other than tab/CR/LF never appear in a scientist's CSV;
# decoding into them means the encoding is wrong (e.g. cp1252 bytes read as Latin-1).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_READ_SIZE = 1 << 22


def canonical(encoding: str) -> str:
    """Python's canonical codec name (``latin-1`` -> ``iso8859-1``); error if unknown."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise EncodingError(
            f"unknown encoding {encoding!r}: use a Python codec name such as 'utf-8' or 'latin-1'"
        ) from None


def single_byte_codec(encoding: str) -> bool:
    """True for codecs that turn every byte into one character by itself (Latin-1, cp1252, koi8-r, ...).

    Multi-byte codecs fail the pair test: in UTF-8, Shift-JIS, GBK or UTF-16
    some two-byte sequence decodes to a single character.
    """
    try:
        if len(bytes(range(256)).decode(encoding, errors="replace")) != 256:
            return False
        return all(
            len(bytes((lead, trail)).decode(encoding, errors="replace")) == 2
            for lead in range(256)
            for trail in (0x41, 0x81, 0xA1, 0xBF)
        )
    except LookupError:
        return False


def _single_byte_problem(path: str | Path, encoding: str) -> str | None:
    """:func:`decode_problem` for single-byte codecs: a lookup per byte, with no decoding."""
    chars = bytes(range(256)).decode(encoding, errors="replace")
    controls = {byte: char for byte, char in enumerate(chars) if _CONTROL.match(char)}
    bad = {byte for byte, char in enumerate(chars) if char == "\ufffd"} | set(controls)
    fine = bytes(sorted(set(range(256)) - bad))
    offset = 0
    with open_binary(path) as stream:
        while block := stream.read(_READ_SIZE):
            if found := set(block.translate(None, fine)):
                # As decoding reports them: an undecodable byte first, else the first control character.
                undecodable = {byte for byte in found if byte not in controls}
                position = min(block.find(bytes((byte,))) for byte in (undecodable or found))
                byte = block[position]
                if undecodable:
                    return f"byte 0x{byte:02X} at offset {offset + position} is not valid {encoding}"
                return f"decodes to control character U+{ord(controls[byte]):04X}, so {encoding} is not plausible"
            offset += len(block)
    return None


def decode_problem(path: str | Path, encoding: str, controls: bool = False) -> str | None:
    """Why ``encoding`` cannot be the file's encoding, or ``None`` if it decodes all of it plausibly
    (``controls``: control characters are plausible too, only undecodable bytes are not)."""
    if single_byte_codec(encoding) and not controls:
        return _single_byte_problem(path, encoding)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with open_binary(path) as stream:
        while True:
            block = stream.read(_READ_SIZE)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                return f"byte 0x{err.object[err.start]:02X} at offset {offset + err.start} is not valid {encoding}"
            if not controls and (bad := _CONTROL.search(text)) is not None:
                return (
                    f"decodes to control character U+{ord(bad.group()):04X}, so {encoding} is not plausible"
                )
            if not block:
                return None
            offset += len(block)


def latin_script(encoding: str) -> bool:
    """Whether a single-byte ``encoding``'s upper half holds Latin letters only (Latin-1, cp1252: yes;
    cp1251, a Cyrillic candidate someone configured: no)."""
    letters = [c for c in bytes(range(0xC0, 0x100)).decode(encoding, errors="ignore") if c.isalpha()]
    return bool(letters) and all(unicodedata.name(c, "").startswith("LATIN") for c in letters)


def other_script_words(sample: bytes, encoding: str) -> list[str]:
    """Words that ``encoding`` (a Latin-script one) reads from ``sample`` as 3+ accented letters and no
    plain one: how Cyrillic, Greek or Japanese bytes look when read as Latin-1 or cp1252 (``àñòîê``).
    Real Latin-script words mix in ASCII letters (``Müller``, ``forêt``). Empty unless they are at least
    3 and most of the words with an accented letter."""
    words = re.findall(r"[^\W\d_]{3,}", sample.decode(encoding, errors="replace"))
    accented = [word for word in words if not word.isascii()]
    odd = [word for word in accented if not any(letter.isascii() for letter in word)]
    return odd if len(odd) >= 3 and 2 * len(odd) > len(accented) else []


def _whole_file_guess(path: str | Path, guessed: str | None) -> str | None:
    """chardet's guess as Python's codec name, where Python knows it and it decodes the whole file."""
    if not guessed:
        return None
    try:
        encoding = canonical(guessed)
    except EncodingError:
        return None
    return encoding if decode_problem(path, encoding) is None else None


def _other_script(
    path: str | Path,
    guess: dict,
    confidence: float,
    said: dict,
    checked: str,
    tried: list[str],
    name: str,
    odd: list[str],
) -> dict:
    """chardet's low-confidence guess, where the Latin candidate would read another script's words as
    accented-letter soup; or an error asking for `encoding:` when that guess does not decode the file."""
    examples = ", ".join(repr(word) for word in list(dict.fromkeys(odd))[:3])
    soup = f"{name} would read words such as {examples}, only accented letters: another script's bytes"
    guessed = guess.get("encoding")
    if encoding := _whole_file_guess(path, guessed):
        why = "; ".join([*tried, soup, f"chardet's {guessed} ({confidence:.2f}) decodes the whole file"])
        return {"encoding": encoding, "method": "chardet", "why": why,
                "chardet": {**said, "used": True}, "checked": checked}  # fmt: skip
    raise EncodingError(
        f"{path}: {soup}, and chardet's guess ({guessed!r} at {confidence:.2f}) does not decode the file. "
        "Set the table's `encoding:` key (e.g. cp1251 or koi8-r for Russian, iso8859-7 for Greek, "
        "shift_jis for Japanese)."
    )


def detect_encoding(
    path: str | Path,
    override: str | None = None,
    candidates: Iterable[str] = ("latin-1", "cp1252"),
    min_confidence: float = 0.5,
    sample_bytes: int = 100_000,
) -> dict:
    """Return the encoding record (see the module's docstring) for the file at ``path``."""
    size = object_size(path)  # a local file, or an s3:// object read in place
    checked = f"decodes all {size} bytes of the file, without control characters"
    if override:
        encoding = canonical(override)
        if (problem := decode_problem(path, encoding)) is not None:
            raise EncodingError(
                f"{path}: the configured encoding {override!r} does not decode the file ({problem}). "
                "Fix or remove the table's `encoding:` key to let the workflow detect it."
            )
        return {
            "encoding": encoding,
            "method": "config",
            "why": f"the table's `encoding:` key says {override}",
            "chardet": None,
            "checked": checked,
        }

    with open_binary(path) as stream:
        sample = stream.read(sample_bytes)
    guess = chardet.detect(sample)
    confidence = float(guess.get("confidence") or 0.0)
    said = {"guess": guess.get("encoding"), "confidence": round(confidence, 4), "used": False}
    tried = []
    if guess.get("encoding") and confidence >= min_confidence:
        if encoding := _whole_file_guess(path, guess["encoding"]):
            why = f"chardet guessed {guess['encoding']} with confidence {confidence:.2f}"
            return {"encoding": encoding, "method": "chardet", "why": why,
                    "chardet": {**said, "used": True}, "checked": checked}  # fmt: skip
        tried.append(f"chardet's {guess['encoding']} ({confidence:.2f})")
    elif guess.get("encoding"):
        tried.append(
            f"chardet's guess {guess['encoding']} was set aside: its confidence {confidence:.2f} "
            f"is below encoding_detection.min_confidence ({min_confidence})"
        )
    else:
        tried.append("chardet made no guess")

    for method, names in (("utf-8", ["utf-8"]), ("candidate", list(candidates))):
        for name in names:
            encoding = canonical(name)
            problem = decode_problem(path, encoding)
            latin = method == "candidate" and latin_script(encoding)
            if problem is None and latin and (odd := other_script_words(sample, encoding)):
                return _other_script(path, guess, confidence, said, checked, tried, name, odd)
            if problem is None:
                why = "; ".join([*tried, f"{name} decodes the whole file"])
                return {
                    "encoding": encoding,
                    "method": method,
                    "why": why,
                    "chardet": said,
                    "checked": checked,
                }
            tried.append(f"{name}: {problem}")
    # Valid UTF-8 is strong evidence by itself (other encodings' text is almost never valid UTF-8),
    # and pandas' default: a file it decodes whole, control characters and all, is read as UTF-8.
    if decode_problem(path, "utf-8", controls=True) is None:
        why = "; ".join(
            [*tried, "utf-8 decodes the whole file (control characters included), and no other does"]
        )
        return {
            "encoding": "utf-8",
            "method": "utf-8",
            "why": why,
            "chardet": said,
            "checked": f"decodes all {size} bytes of the file as strict UTF-8 (control characters included)",
        }
    raise EncodingError(
        f"{path}: no encoding decodes the whole file (chardet guessed {guess.get('encoding')!r} "
        f"at {confidence:.2f}; tried {'; '.join(tried)}). Set the table's `encoding:` key."
    )
