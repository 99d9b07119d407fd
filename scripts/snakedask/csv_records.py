"""Where a CSV's records start, so that blocks never begin inside a quoted field.

A quoted field may hold line breaks (``"a note\r\nover two lines"``): such a
line break does not end a record, and a block that starts after it would
parse the rest of the field as a record of its own (wrong numbers, no error).
One sequential pass over the bytes tracks whether each byte lies inside
quotes. RFC 4180's escaped quote (``""``) flips the state twice, so it needs
no special case. A record ends, as in pandas' and pyarrow's readers, at a line
feed or at a carriage return not followed by one (``\n``, ``\r\n`` and
classic Mac ``\r``, mixed as they come). Every ``step`` bytes (:func:`default_step`) the pass records the first record start
(a line break outside quotes), so a block of any size can start at one of them.

The pass works on bytes, so it needs an encoding in which the quote character
and the line feed are the plain ASCII bytes and never part of another
character (UTF-8, Latin-1, cp1252, ...). For other encodings (UTF-16, UTF-32)
and for files whose quotes do not pair up, nothing is recorded but the first
record: the file is read in one piece, and the index says why.
"""

import codecs
from pathlib import Path
from typing import Any

import numpy as np

from snakedask.object_storage import object_size, open_binary

# One recorded start per `step` bytes: 1/1024 of the file, from 4 KiB to 1 MiB. A block starts
# within a step of its nominal place, so blocks smaller than a step come out a step long.
MIN_STEP, MAX_STEP = 1 << 12, 1 << 20
_READ = 1 << 24
# Files from this size on are scanned by the compiled loop: loading numba and its cached loop costs
# ~0.4 s per process, which numpy's passes (~6x slower per byte with the stray-quote check, on the
# lesson's file with its quoted text fields) lose back past ~80 MB. Measured: 0.59 s against 0.73 s at
# 124 MB, 1.1 s against 4.6 s at 1.26 GB.
COMPILED_FROM = 64 << 20


def _scan(data, follow, previous, quote, sep, inside, base, next_mark, step, starts, count, breaks, stray):
    """One chunk of the pass (compiled by :func:`_scanner`): returns the state to carry into the next chunk.

    ``follow`` is the byte after the chunk (-1 at the end of the file): it tells whether a
    carriage return at the chunk's end is the first half of ``\r\n``. ``previous`` is the byte
    before it (-1 at the start of the file). ``stray``: the offset of the first quote that does
    not open or close a field (-1: none), see :func:`_stray_quotes`.
    """
    size = data.shape[0]
    for i in range(size):
        byte = data[i]
        if byte == quote:
            if stray < 0:
                if inside:  # closing: the field must end here (or "" escape a quote)
                    after = data[i + 1] if i + 1 < size else follow
                    if not (after == sep or after == 10 or after == 13 or after == quote or after < 0):  # noqa: SIM109 - numba's loop
                        stray = base + i
                else:  # opening: only at a field's start (or the second quote of "")
                    before = data[i - 1] if i > 0 else previous
                    if not (before == sep or before == 10 or before == 13 or before == quote or before < 0):  # noqa: SIM109
                        stray = base + i
            inside ^= 1
        elif byte == 10 or (byte == 13 and (data[i + 1] if i + 1 < size else follow) != 10):
            if inside:
                breaks += 1
            else:
                position = base + i + 1
                if position >= next_mark:
                    starts[count] = position
                    count += 1
                    next_mark = (position // step + 1) * step
    return inside, next_mark, count, breaks, stray


def _stray_quotes(data, follow, previous, quote, sep, inside, quotes):
    """Offsets (in ``data``) of quotes that neither open a field (after a separator, a line break or
    another quote) nor close one (before those, or the end). pandas reads such a quote as text
    (``5" pipe``, a comment line's ``10" depth``), so counting it would misplace record starts."""
    if quotes.size == 0:
        return quotes
    allowed = np.zeros(256, bool)
    allowed[[byte for byte in (sep, 10, 13, quote) if byte >= 0]] = True
    size = data.shape[0]
    wrong_before = ~allowed[data[np.maximum(quotes - 1, 0)]]
    wrong_after = ~allowed[data[np.minimum(quotes + 1, size - 1)]]
    if quotes[0] == 0:  # the byte before is the previous chunk's (none at the file's start)
        wrong_before[0] = previous >= 0 and not allowed[previous]
    if quotes[-1] == size - 1:
        wrong_after[-1] = follow >= 0 and not allowed[follow]
    opening = ((np.arange(quotes.size) + inside) & 1) == 0
    return quotes[np.where(opening, wrong_before, wrong_after)]


def _scan_numpy(
    data, follow, previous, quote, sep, inside, base, next_mark, step, starts, count, breaks, stray
):
    """:func:`_scan` in numpy passes: a record end lies inside quotes when an odd number of them precede it."""
    ends = data == 10
    returns = data == 13
    if returns.any():  # a carriage return ends a record unless a line feed follows it
        lone = returns.copy()
        lone[:-1] &= data[1:] != 10
        lone[-1] &= follow != 10
        ends |= lone
    feeds = np.flatnonzero(ends)
    quotes = np.flatnonzero(data == quote)
    if stray < 0:
        found = _stray_quotes(data, follow, previous, quote, sep, inside, quotes)
        stray = int(found[0]) + base if found.size else -1
    outside = feeds[((np.searchsorted(quotes, feeds) + inside) & 1) == 0]
    positions = outside + (base + 1)
    positions = positions[positions >= next_mark]
    if positions.size:
        steps = positions // step
        first = np.ones(positions.size, bool)  # the first record start in each step
        np.not_equal(steps[1:], steps[:-1], out=first[1:])
        chosen = positions[first]
        starts[count : count + chosen.size] = chosen
        count += chosen.size
        next_mark = (int(chosen[-1]) // step + 1) * step
    return inside ^ (quotes.size & 1), next_mark, count, breaks + feeds.size - outside.size, stray


_compiled = []


def _scanner():
    """:func:`_scan` compiled (numba, cached beside this file); loaded only for files of ``COMPILED_FROM`` bytes or more."""
    if not _compiled:
        from snakedask.raster_kernels import jit

        _compiled.append(jit(_scan))
    return _compiled[0]


def ascii_compatible(encoding: str) -> bool:
    """Whether the encoding writes separators, quotes and line breaks as their ASCII bytes (and BOM-free)."""
    probe = "\n\r\",;\t'0123456789.-+eE"
    try:
        return codecs.lookup(encoding).name != "utf-8-sig" and probe.encode(encoding) == probe.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def default_step(size: int) -> int:
    return min(MAX_STEP, max(MIN_STEP, size // 1024))


def record_offsets(
    path: str | Path,
    encoding: str,
    quotechar: str = '"',
    sep: str = ",",
    step: int | None = None,
    compiled_from: int = COMPILED_FROM,
    read_size: int = _READ,
) -> dict[str, Any]:
    """The file's record starts (byte offsets, the first one after the header) and how it may be split.

    Returns ``{"size", "step", "quotechar", "starts", "quoted_line_breaks",
    "splittable", "reason"}``. ``starts`` are offsets where a record begins
    outside quotes, at most one per ``step`` bytes; when ``splittable`` is
    false it holds only the first record's start (0 for a non-ASCII-compatible
    encoding, whose header is not located on bytes) and ``reason`` says why.
    Files of ``compiled_from`` bytes or more are scanned by the compiled loop,
    smaller ones in numpy (the same result); ``read_size`` bytes are scanned at a time.
    """
    size = object_size(path)  # a local file, or an s3:// object read in place
    step = step or default_step(size)
    index = {"size": size, "step": step, "quotechar": quotechar, "quoted_line_breaks": 0}
    name = codecs.lookup(encoding).name
    if name == "utf-8-sig":
        name = "utf-8"  # the BOM is in the header line; records are plain UTF-8
    if not ascii_compatible(name):
        return {**index, "starts": [0], "splittable": False,
                "reason": f"{encoding} does not write line breaks and quotes as single ASCII bytes"}  # fmt: skip
    if len(quotechar.encode(name)) != 1:
        raise ValueError(f"quotechar {quotechar!r} is not one byte in {encoding}")
    quote = quotechar.encode(name)[0]
    # A separator of several bytes (or a regex) cannot be checked byte by byte: every quote is then stray.
    separator = sep.encode(name)[0] if len(sep.encode(name, errors="replace")) == 1 else -1
    starts = np.zeros(size // step + 3, np.int64)
    inside, next_mark, count, breaks, base, previous, stray = 0, 0, 0, 0, 0, -1, -1
    scan = _scanner() if size >= compiled_from else _scan_numpy
    with open_binary(path) as stream:
        chunk = stream.read(read_size)
        while chunk:
            following = stream.read(read_size)
            follow = following[0] if following else -1
            inside, next_mark, count, breaks, stray = scan(
                np.frombuffer(chunk, np.uint8),
                follow,
                previous,
                quote,
                separator,
                inside,
                base,
                next_mark,
                step,
                starts,
                count,
                breaks,
                stray,
            )
            base += len(chunk)
            previous = chunk[-1]
            chunk = following
    found = [int(s) for s in starts[:count]]
    header_end = found[0] if found else size
    index["quoted_line_breaks"] = int(breaks)
    if stray >= 0:  # the whole file is parsed at once, from its first byte, by the reader itself
        return {**index, "starts": [0], "splittable": False,
                "reason": f"its {quotechar} at byte {stray} neither opens nor closes a quoted field (a quote "
                "inside a value or a comment, read as text), so quotes cannot tell where records start"}  # fmt: skip
    if inside:
        return {**index, "starts": [header_end], "splittable": False,
                "reason": f"its {quotechar} quotes do not pair up (a quoted field is never closed)"}  # fmt: skip
    return {**index, "starts": found or [size], "splittable": True, "reason": None}


def block_ranges(index: dict[str, Any], blocksize: int | None) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` of whole records, about ``blocksize`` each, covering every data row."""
    starts, size = index["starts"], index["size"]
    if not index["splittable"] or not blocksize:
        return [(starts[0], size)]
    chosen, edges = [starts[0]], np.asarray(starts, np.int64)
    for nominal in range(starts[0] + blocksize, size, blocksize):
        at = int(np.searchsorted(edges, nominal))  # the first record start at or after it
        if at < len(edges) and edges[at] > chosen[-1]:
            chosen.append(int(edges[at]))
    return [(start, end) for start, end in zip(chosen, [*chosen[1:], size], strict=True) if start < end] or [
        (starts[0], starts[0])
    ]


def data_start(path: str | Path, index: dict[str, Any], comment: str | None = None) -> int:
    """Offset of the first data record: after the header, past the blank (and ``comment``) lines that
    pandas skips before it. ``index`` is the file's :func:`record_offsets`."""
    first = index["starts"][0]
    if not index["splittable"]:
        return first
    with open_binary(path) as stream:
        head = stream.read(max(first, 1 << 16))
    skipped = comment.encode() if comment else None
    bom = (
        len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    )  # before a blank or comment line too
    position = bom
    for line in head[bom:].splitlines(keepends=True):
        text = line.rstrip(b"\r\n")
        if text.strip(b" \t") and not (skipped and text.startswith(skipped)):
            break
        position += len(line)
    if position == bom:
        return first  # the usual case: the header is the first line
    # The header starts at `position`: its end is the first record end outside quotes after it.
    inside, quote = False, index["quotechar"].encode()[0]
    for at in range(position, len(head)):
        byte = head[at]
        if byte == quote:
            inside = not inside
        elif not inside and (byte == 10 or (byte == 13 and head[at + 1 : at + 2] != b"\n")):
            return at + 1
    return index["size"]
