"""Trace files into DuckDB: a typed ``spans`` table and a ``quarantine`` of rows that break
the contract, each with its row number and reason.

Everything row-level happens in DuckDB's own readers and SQL; Python only looks at the
first bytes of a file (to name its format) and at its column headers (to map them).
A call either loads all its files or, on an unreadable file, nothing at all.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from audit import importers
from audit.db import quote_ident
from audit.errors import InputFileError
from audit.precheck import Checked, precheck
from audit.progress import Progress, no_progress, scaled
from audit.receipt import unmapped_note
from audit.schema import CANONICAL, ColumnMapping, map_columns, suggest
from audit.settings import Settings

SNIFF_BYTES = 64 * 1024
EXPECTED = "a CSV (optionally .csv.gz), Parquet or JSON Lines file of spans"

OK_WORDS = ("ok", "unset", "success", "succeeded", "true", "status_code_ok", "status_code_unset", "completed")
ERROR_WORDS = ("error", "failed", "failure", "fail", "false", "status_code_error", "exception")
TRUE_WORDS = ("true", "1", "yes", "y", "t", "pass", "passed", "correct")
FALSE_WORDS = ("false", "0", "no", "n", "f", "fail", "failed", "incorrect")
KINDS = ("agent", "chain", "llm", "tool", "retriever", "embedding", "router", "validator", "guardrail", "other")
KIND_SYNONYMS = {"reranker": "retriever", "evaluator": "validator", "prompt": "other", "unknown": "other",
                 "generation": "llm", "span": "chain", "event": "other", "parser": "other"}


@dataclass
class SourceFile:
    """A file to load and the name it is known by (its file name, or the upload's name)."""

    path: Path
    name: str

    @classmethod
    def of(cls, path: str | Path, name: str | None = None) -> SourceFile:
        p = Path(path)
        return cls(path=p, name=name or p.name)


@dataclass
class LoadResult:
    """What one file contributed."""

    name: str
    format: str
    sha256: str
    rows_loaded: int
    rows_quarantined: int
    mapping: ColumnMapping
    notes: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)  # every attribute kept but not mapped, in full


def load_traces(
    con: duckdb.DuckDBPyConnection,
    files: list[SourceFile],
    column_overrides: dict[str, str] | None = None,
    input_format: str | None = None,
    settings: Settings | None = None,
    progress: Progress = no_progress,
) -> list[LoadResult]:
    """Load trace files into ``spans``/``quarantine``, replacing earlier loads of the same names.

    Args:
        con: an audit database (see ``audit.db.connect``).
        files: the files, in order.
        column_overrides: canonical column -> header, for files whose headers do not match.
        input_format: force an export format (``audit.importers.FORMATS``) instead of detecting it.
        settings: the limits (size, rows, JSON depth, field size, time range); defaults if None.
        progress: told each file's pre-check and load, with the share of the files' bytes done.

    Raises:
        InputFileError: a file cannot be read at all; nothing from this call is loaded.
        LimitError: a file is past a limit of the settings; nothing from this call is loaded.
    """
    settings = settings or Settings()
    con.execute("BEGIN TRANSACTION")
    try:
        sizes = [_size(f.path) for f in files]
        results = []
        for i, f in enumerate(files):
            part = scaled(progress, sum(sizes[:i]) / (sum(sizes) or 1), sum(sizes[: i + 1]) / (sum(sizes) or 1))
            results.append(_load_one(con, f, column_overrides, input_format, settings, part))
        progress("loaded", 1.0)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        drop_scratch(con)
        for variable in ("audit_too_deep", "audit_line_size", "audit_max_depth", "audit_max_message"):
            con.execute(f"RESET VARIABLE {variable}")
    return results


SCRATCH_TABLES = ("__raw", "__staged", "__verdicts", "__lines", "__records", "__rejected_lines", "__mapped",
                  "__rejects", "__reject_scans", "__otlp_batch", "__otlp_keys")


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Free the loader's scratch tables (a JSON Lines file's text can be large)."""
    con.execute(f"DROP VIEW IF EXISTS {CSV_VIEW}")
    for table in SCRATCH_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # sniff names the problem


def sniff_format(path: Path) -> str:
    """Name a file's format from its first bytes: ``csv``, ``parquet`` or ``json``."""
    return sniff(path)[0]


def sniff(path: Path) -> tuple[str, bytes]:
    """A file's format (``csv``, ``parquet`` or ``json``) and its first (decompressed) bytes,
    as UTF-8 when the file is UTF-16 with a BOM. Other encodings are handled by ``precheck``.

    Raises:
        InputFileError: missing, empty or binary.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as e:
        raise InputFileError(f"{path.name}: cannot open ({e.strerror or e})") from e
    if not head:
        raise InputFileError(f"{path.name} is empty; expected {EXPECTED}")
    if head.startswith(b"PAR1"):
        return "parquet", head
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path, "rb") as gz:
                head = gz.read(SNIFF_BYTES)
        except (OSError, EOFError) as e:
            raise InputFileError(f"{path.name} looks gzip-compressed but cannot be decompressed: {e}") from e
        if not head:
            raise InputFileError(f"{path.name} is empty once decompressed; expected {EXPECTED}")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head[: len(head) // 2 * 2].decode("utf-16", errors="ignore").encode("utf-8")
    if b"\x00" in head:
        raise InputFileError(f"{path.name} is binary (it contains NUL bytes), not text; expected {EXPECTED}")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise InputFileError(f"{path.name} holds only white space; expected {EXPECTED}")
    return ("json" if stripped[:1] in (b"{", b"[") else "csv"), head


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_one(
    con: duckdb.DuckDBPyConnection, source: SourceFile, overrides: dict[str, str] | None,
    input_format: str | None, settings: Settings, progress: Progress = no_progress,
) -> LoadResult:
    fmt, head = sniff(source.path)
    json_lines = fmt == "json" and is_json_lines(head)
    progress(f"Pre-checking {source.name} (encoding, line sizes, nesting)", 0.0)
    checked = precheck(source.path, source.name, fmt, json_lines, settings) if fmt != "parquet" else None
    progress(f"Loading the rows of {source.name}", 0.2)  # the pre-check is one quick pass over the bytes
    try:
        return _load_checked(con, source, overrides, input_format, settings, fmt, head, checked)
    finally:
        if checked and checked.read_path != source.path:  # a transcoded copy: DuckDB has read it
            checked.read_path.unlink(missing_ok=True)


def _load_checked(
    con: duckdb.DuckDBPyConnection, source: SourceFile, overrides: dict[str, str] | None,
    input_format: str | None, settings: Settings, fmt: str, head: bytes, checked: Checked | None,
) -> LoadResult:
    json_lines = fmt == "json" and is_json_lines(head)
    readable = SourceFile(checked.read_path if checked else source.path, source.name)
    set_reader_variables(con, checked, settings)
    export = input_format or importers.detect(source.path, fmt, head)
    unmapped: list[str] = []
    key_notes: list[str] = []
    direct, rejects = False, 0
    if export not in importers.FORMATS:
        raise InputFileError(f"unknown input format {export!r}; expected one of {', '.join(importers.FORMATS)}")
    if export == "otlp":
        con.execute("CREATE OR REPLACE TEMP TABLE __rejected_lines (source_row BIGINT, raw VARCHAR, reason VARCHAR)")
        _read_export(con, readable, importers.LABELS["otlp"],
                     lambda c, path: importers.read_otlp(c, path, lines=json_lines))
        rejects = int((con.execute("SELECT count(*) FROM __rejected_lines").fetchone() or (0,))[0])
        overrides = None
        unmapped = [f"attribute {k}" for k in importers.unmapped_otlp_keys(con)]
    elif export == "chat":
        con.execute("CREATE OR REPLACE TEMP TABLE __rejected_lines (source_row BIGINT, raw VARCHAR, reason VARCHAR)")
        _read_export(con, readable, importers.LABELS["chat"], importers.read_chat)
        rejects = int((con.execute("SELECT count(*) FROM __rejected_lines").fetchone() or (0,))[0])
        overrides = None
    elif fmt == "csv" and export == "canonical" and _plain_csv(con, readable, input_format):
        direct = True  # typed straight from the reader: no text copy of the file (see stage_csv)
    else:
        rejects, key_notes = read_raw(con, readable, fmt, json_lines)
    headers = raw_headers(con, CSV_VIEW if direct else "__raw")
    if not input_format and export == "canonical":
        export = importers.detect_columns(headers)
    if export in importers.TABULAR:
        _read_export(con, source, importers.LABELS[export],
                     lambda c, _path: unmapped.extend(importers.transform_tabular(c, export, headers)))
        headers, overrides = raw_headers(con), None
    mapping = map_columns(headers, overrides)
    missing = mapping.missing_required()
    if missing:
        hints = "".join(suggest(m, headers) for m in missing)
        raise InputFileError(
            f"{source.name}: no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}{hints}. "
            f"Expected the columns of TRACE_FORMAT.md ({', '.join(CANONICAL[:5])}, ...); "
            f"found: {', '.join(headers[:20]) or 'none'}",
            found_columns=headers, file=source.name,
        )
    if not direct:
        (n_rows,) = con.execute("SELECT count(*) FROM __raw").fetchone() or (0,)
        if n_rows == 0 and rejects == 0:
            raise InputFileError(f"{source.name} has a header but no data rows")

    con.execute("DELETE FROM spans WHERE source_file = ?", [source.name])
    con.execute("DELETE FROM quarantine WHERE source_file = ?", [source.name])
    con.execute("DELETE FROM sources WHERE source_file = ?", [source.name])
    staging = {"source": source.name, "min_time": settings.min_time, "max_time": settings.max_time,
               "max_field": settings.max_field_chars}
    if direct:
        rejects = stage_csv(con, source.name, mapping, staging)
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE __staged AS {_staging_sql(mapping)}", staging)
    mark_duplicates(con, source.name)
    con.execute(_INSERT_SPANS_SQL)
    if direct:  # the file is read again only when some of its rows are quarantined
        if (con.execute("SELECT count(*) FILTER (WHERE reason IS NOT NULL) FROM __staged").fetchone() or (0,))[0]:
            con.execute(insert_quarantine_sql(headers, ("__audit_row", "raw_rowid"), CSV_VIEW), [source.name])
    else:
        con.execute(insert_quarantine_sql(headers, ("rowid", "raw_rowid")), [source.name])
    con.execute(INSERT_REJECTED_SQL, [source.name])
    loaded, quarantined, truncated = con.execute(
        "SELECT count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL), "
        "count(*) FILTER (WHERE reason IS NULL AND truncated) FROM __staged"
    ).fetchone() or (0, 0, 0)
    rootless = break_parent_cycles(con)
    quarantined += rejects
    sha = checked.sha256 if checked else file_sha256(source.path)  # the file as given, not a transcoded copy
    label = fmt if export == "canonical" else export
    con.execute(
        "INSERT INTO sources VALUES (?, 'traces', ?, ?, ?, ?, ?, ?)",
        [source.name, label, sha, loaded, quarantined, json.dumps(mapping.mapped), json.dumps(list(mapping.extra))],
    )
    notes = [*(checked.notes if checked else []), *key_notes, *_load_notes(checked, settings, truncated, rootless)]
    notes += [f"column `{h}` read as {c}" for c, h in mapping.mapped.items() if h != c]
    if export != "canonical":
        how = "read as" if input_format else "detected"
        mapped = ", ".join(c for c in mapping.mapped if c in CANONICAL)
        notes[:0] = [f"{how} {importers.LABELS[export]} export ({export}); mapped onto the trace format: {mapped}"]
        if unmapped:
            notes.append(unmapped_note(unmapped))
    return LoadResult(source.name, label, sha, loaded, quarantined, mapping, notes, unmapped)


def prechecked(con: duckdb.DuckDBPyConnection, source: SourceFile, fmt: str, head: bytes,
               settings: Settings) -> SourceFile:
    """The file to hand to the readers once ``audit.precheck`` has passed it (a UTF-8 copy
    when it was transcoded), with the reader variables set."""
    checked = None
    if fmt != "parquet":
        checked = precheck(source.path, source.name, fmt, fmt == "json" and is_json_lines(head), settings)
    set_reader_variables(con, checked, settings)
    return SourceFile(checked.read_path if checked else source.path, source.name)


def set_reader_variables(con: duckdb.DuckDBPyConnection, checked: Checked | None, settings: Settings) -> None:
    """What the readers need from the pre-check, as connection variables (per session)."""
    con.execute("SET VARIABLE audit_too_deep = ?", [checked.too_deep_lines if checked else []])
    con.execute("SET VARIABLE audit_line_size = ?", [checked.line_size if checked else 2 * 2**20])
    con.execute("SET VARIABLE audit_max_depth = ?", [settings.max_json_depth])
    con.execute("SET VARIABLE audit_max_message = ?", [settings.max_message_chars])


def _load_notes(checked: Checked | None, settings: Settings, truncated: int, rootless: list[str]) -> list[str]:
    notes = []
    if checked and checked.too_deep_lines:
        notes.append(f"{len(checked.too_deep_lines):,} record(s) nested deeper than {settings.max_json_depth} "
                     "levels quarantined (setting max_json_depth)")
    if truncated:
        notes.append(f"{truncated:,} row(s) had text fields longer than {settings.max_field_chars:,} characters, "
                     f"stored truncated with the marker '{TRUNCATION_MARK}' (setting max_field_chars)")
    if rootless:
        shown = ", ".join(rootless[:5]) + (" …" if len(rootless) > 5 else "")
        notes.append(f"{len(rootless):,} trace(s) had no root (their parent links form a cycle): the earliest "
                     f"span of each was taken as the root, every span kept ({shown})")
    return notes


def break_parent_cycles(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Give a root to every trace of this load that has none (its parent links form a cycle,
    or a span is its own parent): the trace's earliest span becomes the root. Returns the traces."""
    rootless = [r[0] for r in con.execute(_ROOTLESS_SQL).fetchall()]
    if rootless:
        con.execute(
            "UPDATE spans SET parent_span_id = NULL FROM (SELECT trace_id, arg_min(span_id, (start_time, span_id)) AS "
            "span_id FROM spans WHERE list_contains($t, trace_id) GROUP BY trace_id) r "
            "WHERE spans.trace_id = r.trace_id AND spans.span_id = r.span_id", {"t": rootless})
    return rootless


# Traces loaded by this call in which every span has a parent span present in the trace.
# Only traces without a parentless span can be rootless: the self-join runs over those few.
_ROOTLESS_SQL = """
WITH candidates AS (
    SELECT s.trace_id
    FROM spans s JOIN (SELECT DISTINCT trace_id FROM __staged WHERE reason IS NULL) t USING (trace_id)
    GROUP BY s.trace_id
    HAVING count(*) FILTER (WHERE s.parent_span_id IS NULL) = 0
)
SELECT s.trace_id
FROM spans s
JOIN candidates t USING (trace_id)
LEFT JOIN spans p ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
GROUP BY s.trace_id
HAVING count(*) FILTER (WHERE p.span_id IS NULL) = 0
ORDER BY s.trace_id
"""


def raw_headers(con: duckdb.DuckDBPyConnection, relation: str = "__raw") -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall() if not r[0].startswith("__audit")]


def _read_export(
    con: duckdb.DuckDBPyConnection, source: SourceFile, label: str,
    reader: Callable[[duckdb.DuckDBPyConnection, str], None],
) -> None:
    try:
        reader(con, str(source.path))
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(f"{source.name} could not be read as {label}: {first}") from e


CSV_VIEW = "__csv"


def _plain_csv(con: duckdb.DuckDBPyConnection, source: SourceFile, input_format: str | None) -> bool:
    """Open a CSV file as the view ``__csv`` (text columns and the data row number, read
    from the file on each use, never copied); whether it is in the canonical format, so
    that ``stage_csv`` can type it in one pass. Other tools' CSV exports return False."""
    try:
        reader = con.read_csv(str(source.path), all_varchar=True, header=True, store_rejects=True,
                              rejects_table="__rejects", rejects_scan="__reject_scans",
                              max_line_size=_line_size(con))
        reader.project("*, row_number() OVER () AS __audit_row").create_view(CSV_VIEW, replace=True)
        headers = raw_headers(con, CSV_VIEW)
    except duckdb.Error as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(f"{source.name} could not be read as CSV: {first_line}") from e
    if input_format not in (None, "canonical") or importers.detect_columns(headers) != "canonical":
        con.execute(f"DROP VIEW {CSV_VIEW}")
        return False
    return True


def _line_size(con: duckdb.DuckDBPyConnection) -> int:
    """The reader's line limit, as the pre-check measured it."""
    [(size,)] = con.execute("SELECT coalesce(getvariable('audit_line_size'), 2097152)").fetchall()
    return int(size)


def stage_csv(con: duckdb.DuckDBPyConnection, name: str, mapping: ColumnMapping, params: dict[str, object]) -> int:
    """``__staged`` typed in one pass over the CSV reader (the text path's ``__raw`` copy is
    never made); rows the parser rejects go to ``__rejected_lines`` and the good rows get
    their file row numbers back. Returns the number of rejected lines.

    Raises:
        InputFileError: the file cannot be parsed, or has a header and no data rows.
    """
    con.execute("DROP TABLE IF EXISTS __rejects")
    con.execute("DROP TABLE IF EXISTS __reject_scans")
    con.execute("CREATE OR REPLACE TEMP TABLE __rejected_lines (source_row BIGINT, raw VARCHAR, reason VARCHAR)")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE __staged AS {_staging_sql(mapping, CSV_VIEW, '__audit_row')}",
                    params)
        if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '__rejects'").fetchone() != (0,):
            con.execute(_REJECTED_LINES_SQL)
    except duckdb.Error as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(f"{name} could not be read as CSV: {first_line}") from e
    (n,) = con.execute("SELECT count(*) FROM __rejected_lines").fetchone() or (0,)
    if n:
        con.execute(_renumber_sql("__staged", "source_row"))
    if not (con.execute("SELECT count(*) FROM __staged").fetchone() or (0,))[0] and not n:
        raise InputFileError(f"{name} has a header but no data rows")
    return int(n)


def read_raw(con: duckdb.DuckDBPyConnection, source: SourceFile, fmt: str,
             json_lines: bool | None = None) -> tuple[int, list[str]]:
    """Read a file as all-text columns into ``__raw`` with its 1-based data row number.

    Rows the CSV parser rejects go to ``__rejected_lines`` (data row, raw line, reason);
    returns how many there are, and notes on JSON keys merged by case.
    """
    if json_lines is None:
        json_lines = fmt == "json" and is_json_lines(sniff(source.path)[1])
    path = str(source.path)
    con.execute("CREATE OR REPLACE TEMP TABLE __rejected_lines (source_row BIGINT, raw VARCHAR, reason VARCHAR)")
    try:
        if fmt == "csv":
            con.execute("DROP TABLE IF EXISTS __rejects")
            con.execute("DROP TABLE IF EXISTS __reject_scans")
            con.execute(
                "CREATE OR REPLACE TEMP TABLE __raw AS SELECT *, row_number() OVER () AS __audit_row "
                "FROM read_csv(?, all_varchar = true, header = true, store_rejects = true, "
                "rejects_table = '__rejects', rejects_scan = '__reject_scans', "
                "max_line_size = coalesce(getvariable('audit_line_size'), 2097152))",
                [path],
            )
            con.execute(_REJECTED_LINES_SQL)
            (n,) = con.execute("SELECT count(*) FROM __rejected_lines").fetchone() or (0,)
            if n:
                con.execute(_renumber_sql("__raw", "__audit_row"))
            return int(n), []
        notes: list[str] = []
        if fmt == "json" and json_lines:
            notes = read_json_lines(con, path)
        else:
            relation = con.read_parquet(path) if fmt == "parquet" else con.read_json(path, format="auto")
            relation.create_view("__typed", replace=True)
            columns = con.table("__typed")
            as_text = ", ".join(_as_text(name, str(type_)) for name, type_ in zip(columns.columns, columns.types,
                                                                                 strict=True))
            con.execute(f"CREATE OR REPLACE TEMP TABLE __raw AS SELECT {as_text}, row_number() OVER () AS "
                        "__audit_row FROM __typed")
            con.execute("DROP VIEW __typed")
        (n,) = con.execute("SELECT count(*) FROM __rejected_lines").fetchone() or (0,)
        return int(n), notes
    except duckdb.Error as e:
        label = {"csv": "CSV", "parquet": "Parquet", "json": "JSON"}[fmt]
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(f"{source.name} could not be read as {label}: {first_line}") from e


# One row per rejected line (the parser may report several errors for one line).
_REJECTED_LINES_SQL = """
INSERT INTO __rejected_lines
SELECT line - 1, min(csv_line), 'malformed CSV row: ' || string_agg(DISTINCT error_message, '; ')
FROM __rejects GROUP BY line
"""

# Good rows get their file row number back: the k-th good row sits after every rejected
# row r_j (the j-th, 1-based) with r_j - j < k. r_j - j never decreases, so the count is the
# largest such j: one ASOF join, linear in rows + rejects (a correlated count was rows x rejects).
def _renumber_sql(table: str, column: str) -> str:
    """Renumber ``column`` of ``table`` (``__raw``, or ``__staged`` typed straight from the
    reader, whose ``raw_rowid`` keeps the reader's own number to join a quarantined row back to
    its text) by the rejected lines before each row."""
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT g.* REPLACE (g.{column} + coalesce(r.j, 0) AS {column})
FROM {table} g
ASOF LEFT JOIN (  -- per distinct r_j - j, the last j: rejected rows in a row share it
    SELECT adj, max(j) AS j
    FROM (SELECT source_row - row_number() OVER (ORDER BY source_row) AS adj,
                 row_number() OVER (ORDER BY source_row) AS j FROM __rejected_lines)
    GROUP BY adj
) r ON g.{column} > r.adj
ORDER BY g.{column}
"""


def is_json_lines(head: bytes) -> bool:
    """One JSON object per line (JSON Lines), as opposed to one document (array or object).

    Decided by the first line's structure, however long it is: a line that runs past the
    sniffed bytes and opens an object is a compact record (real OTLP lines reach ~1 MB),
    never a pretty-printed document, whose first line is short.
    """
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if b"\n" not in stripped and stripped.startswith(b"{") and len(head) >= SNIFF_BYTES:
        return True
    first = stripped.split(b"\n", 1)[0].rstrip()
    try:
        return isinstance(json.loads(first), dict)
    except RecursionError:  # nested too deep for Python: one object on the line all the same
        return first.startswith(b"{")
    except ValueError:
        return False


MAX_JSON_KEYS = 2000


def read_json_lines(con: duckdb.DuckDBPyConnection, path: str) -> list[str]:
    """JSON Lines into ``__raw``: one text column per top-level key (values as text, objects
    and arrays as JSON text), ``__audit_row`` = line number. Every value is read as text, so
    one record's types never spoil another's; keys that differ only in case (``Trace_ID``,
    ``trace_id``) are one column. Lines that are not JSON objects go to ``__rejected_lines``
    so the records around them still load. Returns notes on merged keys.
    """
    importers.read_lines(con, path)
    keys = [k for (k,) in con.execute(_KEYS_SQL).fetchall()]
    if not keys:
        raise InputFileError(f"{Path(path).name}: no line holds a JSON object")
    columns: dict[str, list[str]] = {}
    for key in keys:  # the keys of the file (columns), not its rows
        columns.setdefault(key.lower(), []).append(key)
    if len(columns) > MAX_JSON_KEYS:
        raise InputFileError(f"{Path(path).name}: its records have {len(columns):,} different keys; at most "
                             f"{MAX_JSON_KEYS:,} are read as columns (is it a table of spans?)")
    pointers = [_pointer(k) for k in keys]
    position = {k: i + 1 for i, k in enumerate(keys)}
    select = ", ".join(
        f"coalesce({', '.join(f'v[{position[k]}]' for k in spellings)}) AS {quote_ident(spellings[0])}"
        for spellings in columns.values())
    con.execute(f"CREATE OR REPLACE TEMP TABLE __raw AS SELECT {select}, n AS __audit_row FROM "
                "(SELECT n, json_extract_string(line, $p) AS v FROM __lines WHERE is_object)", {"p": pointers})
    return [f"keys {', '.join(f'`{k}`' for k in spellings)} differ only in case: read as one column"
            for spellings in columns.values() if len(spellings) > 1]


# Top-level keys in order of first appearance.
_KEYS_SQL = """
SELECT k FROM (SELECT n, unnest(json_keys(line)) AS k, generate_subscripts(json_keys(line), 1) AS i
               FROM __lines WHERE is_object)
GROUP BY k ORDER BY min(n * 100000 + i), k
"""


def _pointer(key: str) -> str:
    """A JSON Pointer (RFC 6901) to a top-level key, for any key a file may carry."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _as_text(name: str, type_: str) -> str:
    col = quote_ident(name)
    if type_.startswith(("STRUCT", "MAP", "JSON")) or type_.endswith("]"):
        return f"CAST(to_json({col}) AS VARCHAR) AS {col}"
    return f"CAST({col} AS VARCHAR) AS {col}"


TRUNCATION_MARK = " …[truncated]"


def _text(mapping: ColumnMapping, canonical: str) -> str:
    header = mapping.mapped.get(canonical)
    return f"NULLIF(TRIM({_cut(quote_ident(header))}), '')" if header else "CAST(NULL AS VARCHAR)"


def _cut(expr: str) -> str:
    """A text field past ``$max_field`` characters, cut with a marker."""
    return (f"CASE WHEN length({expr}) > $max_field THEN left({expr}, $max_field) || '{TRUNCATION_MARK}' "
            f"ELSE {expr} END")


def _too_long(expr: str) -> str:
    return f"coalesce(length({expr}) > $max_field, false)"


def _timestamp(expr: str) -> str:
    """ISO 8601 (no offset = UTC) or epoch seconds / ms / µs / ns, to UTC TIMESTAMP; NULL when
    it cannot be read (never an error, whatever the value)."""
    number = f"TRY_CAST({expr} AS DOUBLE)"
    micros = (f"TRY_CAST(CASE WHEN {number} >= 1e17 THEN {number} / 1000 WHEN {number} >= 1e14 THEN {number} "
              f"WHEN {number} >= 1e11 THEN {number} * 1000 ELSE {number} * 1000000 END AS BIGINT)")
    ts = (f"CASE WHEN regexp_full_match({expr}, '[0-9]{{1,30}}([.][0-9]+)?') "
          f"THEN CASE WHEN {micros} BETWEEN -2e17 AND 9e18 THEN make_timestamp({micros}) END "
          f"ELSE CAST(TRY_CAST({expr} AS TIMESTAMPTZ) AS TIMESTAMP) END")
    return ts


def _in_range(ts: str) -> str:
    """A parsed time inside the accepted ``$min_time`` .. ``$max_time``, else NULL."""
    return f"CASE WHEN isfinite({ts}) AND {ts} BETWEEN $min_time AND $max_time THEN {ts} END"


def _row_json(headers: list[str], alias: str = "", cut: bool = False) -> str:
    """Columns as the file gave them, as one JSON object (extra columns; quarantined rows)."""
    prefix = f"{alias}." if alias else ""
    fields = ", ".join(f"{quote_ident(h)} := {_cut(prefix + quote_ident(h)) if cut else prefix + quote_ident(h)}"
                       for h in headers)
    return f"CAST(to_json(struct_pack({fields})) AS VARCHAR)"


def word_list(words: tuple[str, ...]) -> str:
    return ", ".join(f"'{w}'" for w in words)  # constants of this module, never user data


def _staging_sql(m: ColumnMapping, relation: str = "__raw", raw_key: str = "rowid") -> str:
    """Typed values plus the reason a row breaks the contract (NULL when it does not).

    Parameters: ``$source``, ``$min_time``, ``$max_time`` (accepted span times) and
    ``$max_field`` (longer text fields are cut). Nothing here may raise on any value: numbers
    and times at the edges (NaN, infinity, 1e300, year 10000) become a reason, not an error.
    """
    # a row with no extra value has no extra (an importer's optional column, e.g. a tool's schema)
    extra = (f"CASE WHEN {' AND '.join(f'{quote_ident(h)} IS NULL' for h in m.extra)} THEN NULL "
             f"ELSE {_row_json(list(m.extra), cut=True)} END") if m.extra else "CAST(NULL AS VARCHAR)"
    any_long = " OR ".join(_too_long(quote_ident(h)) for h in [*m.mapped.values(), *m.extra]) or "false"
    kinds = word_list(KINDS)
    synonyms = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in KIND_SYNONYMS.items())
    return f"""
    WITH r AS (
        SELECT __audit_row AS source_row, {raw_key} AS raw_rowid,
               {", ".join(f"{_text(m, c)} AS r_{c}" for c in CANONICAL)},
               {extra} AS extra, {any_long} AS truncated
        FROM {relation}
    ), t AS (
        SELECT *,
            {_timestamp("r_start_time")} AS start_p,
            {_timestamp("r_end_time")} AS end_p,
            TRY_CAST(r_duration_ms AS DOUBLE) AS dur,
            CASE WHEN lower(r_status) IN ({word_list(OK_WORDS)}) THEN 'ok'
                 WHEN lower(r_status) IN ({word_list(ERROR_WORDS)}) THEN 'error' END AS status_v,
            TRY_CAST(r_attempt AS DOUBLE) AS attempt_d,
            TRY_CAST(r_input_tokens AS DOUBLE) AS in_d,
            TRY_CAST(r_output_tokens AS DOUBLE) AS out_d,
            TRY_CAST(r_cost_usd AS DOUBLE) AS cost_v,
            CASE WHEN lower(r_eval_passed) IN ({word_list(TRUE_WORDS)}) THEN true
                 WHEN lower(r_eval_passed) IN ({word_list(FALSE_WORDS)}) THEN false END AS eval_v
        FROM r
    ), w AS (
        SELECT *, {_in_range("start_p")} AS start_ts, {_in_range("end_p")} AS end_ts,
            {_whole("attempt_d")} AS attempt_ok, {_whole("in_d")} AS in_ok, {_whole("out_d")} AS out_ok,
            coalesce(isfinite(dur) AND dur BETWEEN 0 AND date_diff('millisecond', $min_time, $max_time), false)
                AS dur_ok
        FROM t
    ), typed AS (
        SELECT *,
            CASE WHEN attempt_ok THEN TRY_CAST(attempt_d AS INTEGER) END AS attempt_v,
            CASE WHEN in_ok THEN CAST(in_d AS BIGINT) END AS in_tok,
            CASE WHEN out_ok THEN CAST(out_d AS BIGINT) END AS out_tok,
            COALESCE(end_ts, CASE WHEN dur_ok AND start_ts IS NOT NULL
                                  AND dur <= date_diff('millisecond', start_ts, $max_time)
                                  THEN start_ts + to_microseconds(CAST(dur * 1000 AS BIGINT)) END) AS end_v
        FROM w
    )
    SELECT
        r_trace_id AS trace_id, r_span_id AS span_id, r_parent_span_id AS parent_span_id, r_name AS name,
        CASE WHEN lower(r_kind) IN ({kinds}) THEN lower(r_kind)
             WHEN r_kind IS NULL AND (r_model IS NOT NULL OR in_tok IS NOT NULL OR out_tok IS NOT NULL) THEN 'llm'
             ELSE CASE lower(r_kind) {synonyms} ELSE 'other' END END AS kind,
        r_agent AS agent, start_ts AS start_time, end_v AS end_time,
        COALESCE(CASE WHEN dur_ok THEN dur END, date_diff('microsecond', start_ts, end_v) / 1000.0) AS duration_ms,
        status_v AS status, r_error_type AS error_type, r_error_message AS error_message,
        COALESCE(attempt_v, 1) AS attempt, r_model AS model, r_provider AS provider,
        in_tok AS input_tokens, out_tok AS output_tokens, cost_v AS cost_usd,
        r_input AS input, r_output AS output, eval_v AS eval_passed, r_metadata AS metadata,
        extra, $source AS source_file, source_row, raw_rowid, truncated,
        NULLIF(concat_ws('; ',
            CASE WHEN r_trace_id IS NULL THEN 'missing trace_id' END,
            CASE WHEN r_span_id IS NULL THEN 'missing span_id' END,
            CASE WHEN r_name IS NULL THEN 'missing name' END,
            CASE WHEN r_start_time IS NULL THEN 'missing start_time' END,
            CASE WHEN r_start_time IS NOT NULL AND start_p IS NULL
                 THEN 'unparseable start_time ''' || left(r_start_time, 40) || '''' END,
            CASE WHEN r_end_time IS NOT NULL AND end_p IS NULL
                 THEN 'unparseable end_time ''' || left(r_end_time, 40) || '''' END,
            CASE WHEN (start_p IS NOT NULL AND start_ts IS NULL) OR (end_p IS NOT NULL AND end_ts IS NULL)
                 THEN 'time outside the accepted range (' || coalesce(left(r_start_time, 40), '') || ' .. '
                      || coalesce(left(r_end_time, 40), '') || '; accepted ' || strftime($min_time, '%Y-%m-%d')
                      || ' to ' || strftime($max_time, '%Y-%m-%d') || ', settings min_time and max_time)' END,
            CASE WHEN r_duration_ms IS NOT NULL AND dur IS NULL
                 THEN 'unparseable duration_ms ''' || left(r_duration_ms, 40) || '''' END,
            CASE WHEN dur < 0 THEN 'negative duration_ms'
                 WHEN dur IS NOT NULL AND NOT dur_ok
                 THEN 'duration_ms ''' || left(r_duration_ms, 40) || ''' is not a finite duration within the '
                      || 'accepted time range' END,
            CASE WHEN r_end_time IS NULL AND dur_ok AND start_ts IS NOT NULL AND end_v IS NULL
                 THEN 'start_time plus duration_ms ends after ' || strftime($max_time, '%Y-%m-%d') END,
            CASE WHEN r_end_time IS NULL AND r_duration_ms IS NULL THEN 'missing end_time and duration_ms' END,
            CASE WHEN end_v < start_ts THEN 'end_time before start_time' END,
            CASE WHEN r_status IS NULL THEN 'missing status' END,
            CASE WHEN r_status IS NOT NULL AND status_v IS NULL
                 THEN 'unknown status ''' || left(r_status, 40) || ''' (expected ok or error)' END,
            CASE WHEN r_attempt IS NOT NULL AND (attempt_v IS NULL OR attempt_v < 1)
                 THEN 'attempt must be a whole number >= 1, got ''' || left(r_attempt, 40) || '''' END,
            CASE WHEN r_input_tokens IS NOT NULL AND in_tok IS NULL
                 THEN 'input_tokens must be a whole number, got ''' || left(r_input_tokens, 40) || '''' END,
            CASE WHEN r_output_tokens IS NOT NULL AND out_tok IS NULL
                 THEN 'output_tokens must be a whole number, got ''' || left(r_output_tokens, 40) || '''' END,
            CASE WHEN in_tok < 0 OR out_tok < 0 THEN 'negative tokens' END,
            CASE WHEN r_cost_usd IS NOT NULL AND cost_v IS NULL THEN 'unparseable cost_usd' END,
            CASE WHEN NOT isfinite(cost_v) OR abs(cost_v) > 1e12
                 THEN 'cost_usd must be a finite amount, got ''' || left(r_cost_usd, 40) || '''' END,
            CASE WHEN cost_v < 0 THEN 'negative cost_usd' END,
            CASE WHEN r_eval_passed IS NOT NULL AND eval_v IS NULL
                 THEN 'eval_passed must be true or false, got ''' || left(r_eval_passed, 40) || '''' END
        ), '') AS reason
    FROM typed
    """


def _whole(expr: str) -> str:
    """A finite whole number that fits BIGINT ("1.5" tokens are not silently rounded)."""
    return f"coalesce(isfinite({expr}) AND {expr} = floor({expr}) AND abs({expr}) < 9e18, false)"


def mark_duplicates(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Quarantine the second row with the same (trace_id, span_id), in this file or already
    loaded from another. One aggregate says whether there is any; only then the marking runs."""
    (any_duplicate,) = con.execute(_ANY_DUPLICATE_SQL, [source]).fetchone() or (False,)
    if any_duplicate:
        con.execute(_MARK_DUPLICATES_SQL, [source])


_ANY_DUPLICATE_SQL = """
SELECT (SELECT count(*) <> count(DISTINCT (trace_id, span_id)) FROM __staged WHERE reason IS NULL)
    OR EXISTS (SELECT 1 FROM __staged s JOIN spans e ON e.trace_id = s.trace_id AND e.span_id = s.span_id
               WHERE s.reason IS NULL AND e.source_file <> ?)
"""

# Second row with the same (trace_id, span_id), in this file or already loaded from another.
_MARK_DUPLICATES_SQL = """
UPDATE __staged SET reason = d.why
FROM (
    SELECT s.source_row,
           CASE WHEN s.first_row <> s.source_row
                THEN 'duplicate span_id ''' || s.span_id || ''' in trace ''' || s.trace_id
                     || ''' (first at row ' || s.first_row || ')'
                ELSE 'duplicate span_id ''' || s.span_id || ''' in trace ''' || s.trace_id
                     || ''' (already loaded from ' || e.source_file || ' row ' || e.source_row || ')' END AS why
    FROM (
        SELECT source_row, trace_id, span_id,
               min(source_row) OVER (PARTITION BY trace_id, span_id) AS first_row
        FROM __staged WHERE reason IS NULL
    ) s
    LEFT JOIN spans e ON e.trace_id = s.trace_id AND e.span_id = s.span_id AND e.source_file <> ?
    WHERE s.first_row <> s.source_row OR e.span_id IS NOT NULL
) d
WHERE __staged.source_row = d.source_row
"""

INSERT_REJECTED_SQL = "INSERT INTO quarantine SELECT ?, source_row, raw, reason FROM __rejected_lines"

_INSERT_SPANS_SQL = """
INSERT INTO spans
SELECT trace_id, span_id, parent_span_id, name, kind, agent, start_time, end_time, duration_ms, status,
       error_type, error_message, attempt, model, provider, input_tokens, output_tokens, cost_usd,
       input, output, eval_passed, metadata, extra, source_file, source_row
FROM __staged WHERE reason IS NULL
"""

def insert_quarantine_sql(headers: list[str], key: tuple[str, str] = ("__audit_row", "source_row"),
                          relation: str = "__raw") -> str:
    """Bad rows with the row as the file gave it; JSON is built for those rows only. ``key``
    joins ``relation`` (the file as text) to ``__staged`` and must be unique (one file row
    can make several spans)."""
    return f"""
INSERT INTO quarantine
SELECT ?, s.source_row, {_row_json(headers, 'r')}, s.reason
FROM __staged s JOIN {relation} r ON r.{key[0]} = s.{key[1]}
WHERE s.reason IS NOT NULL ORDER BY s.source_row
"""
