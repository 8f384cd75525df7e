"""One streaming pass over a trace file before any parser sees it.

DuckDB's and Python's JSON parsers recurse per nesting level (a record nested thousands of
levels deep crashes or hangs them), gzip's CRC is only checked at the end of the stream, and a
small ``.csv.gz`` can expand to many gigabytes. So every file is read once, in chunks, to:

- verify the whole compressed stream (CRC and length) and stop past the expanded-size limit;
- count lines (stop past the row limit) and measure the longest line (the CSV reader's
  ``max_line_size``);
- find the text encoding: UTF-8, else UTF-16 with a BOM or Windows-1252, transcoded to a
  UTF-8 copy in the private temp directory;
- measure JSON nesting per line (JSON Lines: a line too deep is quarantined) or for the
  whole document (refused), with a vectorised, string-aware bracket scan.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import os
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from audit.errors import InputFileError, LimitError
from audit.settings import Settings
from audit.tempdir import private_temp_dir

CHUNK = 4 * 2**20
DUCKDB_MIN_LINE = 2 * 2**20  # read_csv's default max_line_size



@dataclass
class Checked:
    """What the pass found: the path to read (a UTF-8 copy when transcoded) and facts for the loader."""

    read_path: Path
    lines: int = 0
    max_line_bytes: int = 0
    encoding: str = "utf-8"
    too_deep_lines: list[int] = field(default_factory=list)
    max_depth: int = 0
    open_line: int = 0  # bytes of the line still unfinished at the end of the last chunk
    sha256: str = ""  # of the file's bytes as given (compressed when gzip): read in the same pass

    @property
    def notes(self) -> list[str]:
        if self.encoding == "utf-8":
            return []
        return [f"decoded as {self.encoding} (not valid UTF-8) and read as UTF-8"]

    @property
    def line_size(self) -> int:
        """A ``max_line_size`` for DuckDB's CSV reader that fits the longest line."""
        return max(DUCKDB_MIN_LINE, self.max_line_bytes + 1024)


@dataclass
class _DepthState:
    """Carry of the bracket scan between blocks of whole lines."""

    depth: int = 0  # open levels at the end of the last block (whole documents only)
    line: int = 1  # 1-based line number of the next block's first line
    pending: list[bytes] = field(default_factory=list)  # the unfinished last line, scanned once whole


def precheck(path: Path, name: str, fmt: str, json_lines: bool, settings: Settings) -> Checked:
    """Stream the whole file once; refuse it past a limit, transcode it if it is not UTF-8.

    Raises:
        LimitError: expanded size, rows or (whole-document) JSON depth past the settings.
        InputFileError: a corrupt gzip stream or an undecodable file.
    """
    try:
        return _pass(path, name, fmt, json_lines, settings, encoding=None)
    except _NotUtf8:
        return _pass(path, name, fmt, json_lines, settings, encoding="windows-1252")


class _NotUtf8(Exception):
    """Raised mid-stream: start again, decoding the whole file as Windows-1252."""


def _pass(path: Path, name: str, fmt: str, json_lines: bool, settings: Settings, encoding: str | None) -> Checked:
    checked = Checked(read_path=path)
    digest = hashlib.sha256()
    state = _DepthState()
    decode: codecs.IncrementalDecoder | None = None
    utf8 = codecs.getincrementaldecoder("utf-8")()
    out: BinaryIO | None = None
    total = 0
    last_byte = b"\n"
    try:
        for i, chunk in enumerate(_chunks(path, name, digest)):
            total += len(chunk)
            if total > settings.max_expanded_bytes:
                raise LimitError(name, f"is larger than {settings.max_expanded_bytes:,} bytes "
                                 "(after decompression)", "max_expanded_bytes")
            if i == 0 and encoding is None and chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                encoding = "utf-16"
            if encoding and decode is None:
                errors = "strict" if encoding == "utf-16" else "cp1252_as_latin1"
                decode = codecs.getincrementaldecoder(encoding)(errors=errors)
                checked.encoding = encoding
                fd, copy = tempfile.mkstemp(prefix=f"{_safe_stem(name)}.", suffix=f".utf8{_suffix(name)}",
                                            dir=private_temp_dir())
                checked.read_path = Path(copy)
                out = os.fdopen(fd, "wb")
            if decode is not None and out is not None:
                try:
                    data = decode.decode(chunk).encode("utf-8")
                except UnicodeDecodeError as e:
                    raise InputFileError(f"{name} starts like UTF-16 but does not decode ({e})") from e
                out.write(data)
            else:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError as e:
                    raise _NotUtf8 from e
                data = chunk
            _count_lines(data, checked)
            if checked.lines > settings.max_rows + 1:
                raise LimitError(name, f"has more than {settings.max_rows:,} rows", "max_rows")
            if fmt == "json":
                end = data.rfind(b"\n") + 1
                if end:  # scan whole lines only: a string never spans one
                    block = b"".join([*state.pending, data[:end]])
                    state.pending = [data[end:]]
                    _scan_depth(block, state, json_lines, settings.max_json_depth, checked)
                else:
                    state.pending.append(data)
                if not json_lines and checked.max_depth > settings.max_json_depth:
                    raise LimitError(name, f"is JSON nested deeper than {settings.max_json_depth} levels",
                                     "max_json_depth")
            if data:
                last_byte = data[-1:]
        if fmt == "json" and state.pending:
            _scan_depth(b"".join(state.pending), state, json_lines, settings.max_json_depth, checked)
        if not json_lines and checked.max_depth > settings.max_json_depth:
            raise LimitError(name, f"is JSON nested deeper than {settings.max_json_depth} levels", "max_json_depth")
        if decode is not None and out is not None:
            out.write(decode.decode(b"", final=True).encode("utf-8"))
        elif encoding is None:
            try:
                utf8.decode(b"", final=True)
            except UnicodeDecodeError as e:
                raise _NotUtf8 from e
    finally:
        if out is not None:
            out.close()
    if last_byte != b"\n":
        checked.lines += 1  # a last line without a newline
    checked.too_deep_lines = sorted(set(checked.too_deep_lines))
    checked.sha256 = digest.hexdigest()
    return checked


def _chunks(path: Path, name: str, digest: hashlib._Hash) -> Iterator[bytes]:
    """The file's bytes, decompressed when gzip, with the stream's CRC and length verified;
    ``digest`` is fed the bytes as stored, so the file is hashed without a read of its own."""
    with path.open("rb") as stored:
        gz = stored.read(2) == b"\x1f\x8b"
        stored.seek(0)
        raw = _Hashing(stored, digest)
        if not gz:
            yield from iter(lambda: raw.read(CHUNK), b"")
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            try:
                yield from iter(lambda: stream.read(CHUNK), b"")
            except (OSError, EOFError, zlib.error) as e:
                raise InputFileError(f"{name} is a damaged gzip file ({e}); nothing was loaded") from e


class _Hashing:
    """A read-only file that feeds every byte read to a digest (gzip reads it forward only)."""

    def __init__(self, stored: BinaryIO, digest: hashlib._Hash) -> None:
        self.stored, self.digest = stored, digest

    def read(self, size: int = -1) -> bytes:
        data = self.stored.read(size)
        self.digest.update(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("read forward only: every byte read is hashed")


def _cp1252_as_latin1(e: UnicodeError) -> tuple[str, int]:
    """The five bytes Windows-1252 leaves undefined read as Latin-1, so no byte is lost."""
    assert isinstance(e, UnicodeDecodeError)
    return e.object[e.start:e.end].decode("latin-1"), e.end


codecs.register_error("cp1252_as_latin1", _cp1252_as_latin1)


def _count_lines(data: bytes, checked: Checked) -> None:
    """Lines so far and the longest one (bytes), carrying the unfinished last line."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    if len(ends):
        first = checked.open_line + int(ends[0]) + 1
        inner = int(np.diff(ends).max()) if len(ends) > 1 else 0
        checked.max_line_bytes = max(checked.max_line_bytes, first, inner)
        checked.open_line = len(data) - int(ends[-1]) - 1
    else:
        checked.open_line += len(data)
    checked.max_line_bytes = max(checked.max_line_bytes, checked.open_line)
    checked.lines += len(ends)


_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[[ord(ch) for ch in '"\\[]{}\n']] = True
_STEP = np.zeros(256, dtype=np.int64)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


_IS_OPEN = np.zeros(256, dtype=np.int64)
_IS_OPEN[[ord("["), ord("{")]] = 1


def _scan_depth(lines: bytes, st: _DepthState, per_line: bool, limit: int, checked: Checked) -> None:
    """Nesting depth outside strings of a block of whole lines, per line (JSON Lines) or
    carried across lines (a whole document). Lines deeper than ``limit`` are recorded
    (1-based); ``checked.max_depth`` keeps the deepest level seen.

    JSON Lines: only lines with more than ``limit`` opening brackets (strings included) can
    be too deep, so only those lines are scanned exactly (usually none).
    """
    newlines = lines.count(b"\n")
    data = np.frombuffer(lines, dtype=np.uint8)
    if not per_line:
        depth, _ = _levels(data, st.depth)
        if len(depth):
            st.depth = int(depth[-1])
            checked.max_depth = max(checked.max_depth, int(depth.max()))
        st.line += newlines
        return
    if lines.count(b"[") + lines.count(b"{") > limit:
        ends = np.flatnonzero(data == 10)
        if len(ends) == 0 or ends[-1] != len(data) - 1:
            ends = np.append(ends, len(data) - 1)  # the file's last line, without a newline
        opens = np.cumsum(_IS_OPEN[data])[ends]
        heavy = np.flatnonzero(np.diff(opens, prepend=0) > limit)
        if len(heavy):
            if len(heavy) < len(ends):  # keep the heavy lines' bytes only
                is_heavy = np.zeros(len(ends), dtype=bool)
                is_heavy[heavy] = True
                data = data[is_heavy[np.searchsorted(ends, np.arange(len(data)))]]
            depth, newline = _levels(data, 0, per_line=True)
            deepest = int(depth.max()) if len(depth) else 0
            checked.max_depth = max(checked.max_depth, deepest)
            if deepest > limit:
                local = np.cumsum(newline) - newline  # index among the heavy lines
                checked.too_deep_lines.extend(int(st.line + heavy[i]) for i in np.unique(local[depth > limit]))
    st.line += newlines


def _levels(data: np.ndarray, carry: int, per_line: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Nesting level at each special byte (quotes, backslashes, brackets, newlines) of whole
    lines, and which of those bytes are newlines. A quote is real unless an odd run of
    backslashes sits right before it; a bracket counts when an even number of real quotes
    precede it on its line. ``per_line``: levels restart on each line; else ``carry`` is the
    level before the first byte."""
    pos = np.flatnonzero(_SPECIAL[data])
    if len(pos) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    c = data[pos]
    k = np.arange(len(c))
    backslash = c == 92
    adjacent = np.concatenate(([False], (np.diff(pos) == 1) & backslash[:-1]))  # a backslash right before
    run_start = np.maximum.accumulate(np.where(backslash & ~adjacent, k, 0))
    run_before = np.where(adjacent, k - np.concatenate(([0], run_start[:-1])), 0)
    quote = (c == 34) & (run_before % 2 == 0)
    newline = c == 10
    quotes = np.cumsum(quote)
    if (quotes[newline] % 2).any():  # a line with an unclosed string: parity restarts per line
        last_nl = np.maximum.accumulate(np.where(newline, k, -1))
        quotes = quotes - np.where(last_nl >= 0, quotes[np.maximum(last_nl, 0)], 0)
    level = np.cumsum(np.where(quotes % 2 == 0, _STEP[c], 0))
    if per_line and level[newline].any():  # a line ends unbalanced: levels restart per line
        last_nl = np.maximum.accumulate(np.where(newline, k, -1))
        return level - np.where(last_nl >= 0, level[np.maximum(last_nl, 0)], 0), newline
    return (level if per_line else level + carry), newline


def _safe_stem(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in Path(name).name)[:80]


def _suffix(name: str) -> str:
    lower = name.lower()
    for ext in (".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".txt"):
        if lower.removesuffix(".gz").endswith(ext):
            return ext
    return ".csv"
