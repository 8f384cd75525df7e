"""Trace files into DuckDB: a typed ``spans`` table and a ``quarantine`` of rows that break
the contract, each with its row number and reason.

Everything row-level happens in DuckDB's own readers and SQL; Python only looks at the
first bytes of a file (to name its format) and at its column headers (to map them).
A call either loads all its files or, on an unreadable file, nothing at all.
"""

from __future__ import annotations

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
from audit.schema import CANONICAL, ColumnMapping, map_columns, suggest

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


def load_traces(
    con: duckdb.DuckDBPyConnection,
    files: list[SourceFile],
    column_overrides: dict[str, str] | None = None,
    input_format: str | None = None,
) -> list[LoadResult]:
    """Load trace files into ``spans``/``quarantine``, replacing earlier loads of the same names.

    Args:
        con: an audit database (see ``audit.db.connect``).
        files: the files, in order.
        column_overrides: canonical column -> header, for files whose headers do not match.
        input_format: force an export format (``audit.importers.FORMATS``) instead of detecting it.

    Raises:
        InputFileError: a file cannot be read at all; nothing from this call is loaded.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        results = [_load_one(con, f, column_overrides, input_format) for f in files]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        drop_scratch(con)
    return results


SCRATCH_TABLES = ("__raw", "__staged", "__verdicts", "__lines", "__records", "__rejected_lines", "__mapped",
                  "__rejects", "__reject_scans")


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Free the loader's scratch tables (a JSON Lines file's text can be large)."""
    for table in SCRATCH_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def sniff_format(path: Path) -> str:
    """Name a file's format from its first bytes: ``csv``, ``parquet`` or ``json``."""
    return sniff(path)[0]


def sniff(path: Path) -> tuple[str, bytes]:
    """A file's format (``csv``, ``parquet`` or ``json``) and its first (decompressed) bytes.

    Raises:
        InputFileError: missing, empty, binary or not UTF-8.
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
    if b"\x00" in head:
        raise InputFileError(f"{path.name} is binary (it contains NUL bytes), not text; expected {EXPECTED}")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # a character cut at the sniff boundary is fine
            raise InputFileError(
                f"{path.name} is not UTF-8 text (invalid byte at offset {e.start}); "
                f"re-export it as UTF-8 {EXPECTED.split(' of ')[0]}"
            ) from e
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
    input_format: str | None = None,
) -> LoadResult:
    fmt, head = sniff(source.path)
    export = input_format or importers.detect(source.path, fmt, head)
    unmapped: list[str] = []
    if export not in importers.FORMATS:
        raise InputFileError(f"unknown input format {export!r}; expected one of {', '.join(importers.FORMATS)}")
    if export == "otlp":
        con.execute("CREATE OR REPLACE TEMP TABLE __rejected_lines (source_row BIGINT, raw VARCHAR, reason VARCHAR)")
        _read_export(con, source, importers.LABELS["otlp"],
                     lambda c, path: importers.read_otlp(c, path, lines=is_json_lines(head)))
        rejects = int((con.execute("SELECT count(*) FROM __rejected_lines").fetchone() or (0,))[0])
        overrides = None
        unmapped = [f"attribute {k}" for k in importers.unmapped_otlp_keys(con)]
    elif export == "chat":
        con.execute("CREATE OR REPLACE TEMP TABLE __rejected_lines (source_row BIGINT, raw VARCHAR, reason VARCHAR)")
        _read_export(con, source, importers.LABELS["chat"], importers.read_chat)
        rejects = int((con.execute("SELECT count(*) FROM __rejected_lines").fetchone() or (0,))[0])
        overrides = None
    else:
        rejects = read_raw(con, source, fmt)
    headers = raw_headers(con)
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
    (n_rows,) = con.execute("SELECT count(*) FROM __raw").fetchone() or (0,)
    if n_rows == 0 and rejects == 0:
        raise InputFileError(f"{source.name} has a header but no data rows")

    con.execute("DELETE FROM spans WHERE source_file = ?", [source.name])
    con.execute("DELETE FROM quarantine WHERE source_file = ?", [source.name])
    con.execute("DELETE FROM sources WHERE source_file = ?", [source.name])
    con.execute(f"CREATE OR REPLACE TEMP TABLE __staged AS {_staging_sql(mapping)}", [source.name])
    con.execute(_MARK_DUPLICATES_SQL, [source.name])
    con.execute(_INSERT_SPANS_SQL)
    con.execute(insert_quarantine_sql(headers), [source.name])
    con.execute(INSERT_REJECTED_SQL, [source.name])
    loaded, quarantined = con.execute(
        "SELECT count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL) FROM __staged"
    ).fetchone() or (0, 0)
    quarantined += rejects
    sha = file_sha256(source.path)
    label = fmt if export == "canonical" else export
    con.execute(
        "INSERT INTO sources VALUES (?, 'traces', ?, ?, ?, ?, ?, ?)",
        [source.name, label, sha, loaded, quarantined, json.dumps(mapping.mapped), json.dumps(list(mapping.extra))],
    )
    notes = [f"column `{h}` read as {c}" for c, h in mapping.mapped.items() if h != c]
    if export != "canonical":
        how = "read as" if input_format else "detected"
        mapped = ", ".join(c for c in mapping.mapped if c in CANONICAL)
        notes[:0] = [f"{how} {importers.LABELS[export]} export ({export}); mapped onto the trace format: {mapped}"]
        if unmapped:
            notes.append(f"kept unmapped: {', '.join(unmapped[:30])}{' …' if len(unmapped) > 30 else ''}")
    return LoadResult(source.name, label, sha, loaded, quarantined, mapping, notes)


def raw_headers(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("DESCRIBE __raw").fetchall() if not r[0].startswith("__audit")]


def _read_export(
    con: duckdb.DuckDBPyConnection, source: SourceFile, label: str,
    reader: Callable[[duckdb.DuckDBPyConnection, str], None],
) -> None:
    try:
        reader(con, str(source.path))
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(f"{source.name} could not be read as {label}: {first}") from e


def read_raw(con: duckdb.DuckDBPyConnection, source: SourceFile, fmt: str) -> int:
    """Read a file as all-text columns into ``__raw`` with its 1-based data row number.

    Rows the CSV parser rejects go to ``__rejected_lines`` (data row, raw line, reason);
    returns how many there are.
    """
    path = str(source.path)
    con.execute("CREATE OR REPLACE TEMP TABLE __rejected_lines (source_row BIGINT, raw VARCHAR, reason VARCHAR)")
    try:
        if fmt == "csv":
            con.execute("DROP TABLE IF EXISTS __rejects")
            con.execute("DROP TABLE IF EXISTS __reject_scans")
            con.execute(
                "CREATE OR REPLACE TEMP TABLE __raw AS SELECT *, row_number() OVER () AS __audit_row "
                "FROM read_csv(?, all_varchar = true, header = true, store_rejects = true, "
                "rejects_table = '__rejects', rejects_scan = '__reject_scans')",
                [path],
            )
            con.execute(_REJECTED_LINES_SQL)
            (n,) = con.execute("SELECT count(*) FROM __rejected_lines").fetchone() or (0,)
            if n:
                con.execute(_RENUMBER_SQL)
            return int(n)
        if fmt == "json" and is_json_lines(sniff(source.path)[1]):
            read_json_lines(con, path)
            table, rows = "__records", "__line"
        else:
            relation = con.read_parquet(path) if fmt == "parquet" else con.read_json(path, format="auto")
            relation.create_view("__typed", replace=True)
            table, rows = "__typed", "row_number() OVER ()"
        columns = con.table(table)
        as_text = ", ".join(_as_text(name, str(type_)) for name, type_ in zip(columns.columns, columns.types,
                                                                             strict=True) if name != "__line")
        con.execute(f"CREATE OR REPLACE TEMP TABLE __raw AS SELECT {as_text}, {rows} AS __audit_row FROM {table}")
        con.execute(f"DROP {'TABLE' if table == '__records' else 'VIEW'} {table}")
        (n,) = con.execute("SELECT count(*) FROM __rejected_lines").fetchone() or (0,)
        return int(n)
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
# row r_j (the j-th, 1-based) with r_j - j < k.
_RENUMBER_SQL = """
UPDATE __raw SET __audit_row = __audit_row + (
    SELECT count(*) FROM (
        SELECT source_row - row_number() OVER (ORDER BY source_row) AS adj FROM __rejected_lines
    ) r WHERE r.adj < __raw.__audit_row)
"""


def is_json_lines(head: bytes) -> bool:
    """One JSON object per line (JSON Lines), as opposed to one document (array or object)."""
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def read_json_lines(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """JSON Lines into ``__records`` (one column per key, ``__line`` = line number); lines that
    are not JSON objects go to ``__rejected_lines`` so the records around them still load."""
    importers.read_lines(con, path)
    (structure,) = con.execute(
        "SELECT json_group_structure(CAST(line AS JSON)) FROM __lines WHERE is_object"
    ).fetchone() or (None,)
    if structure is None:
        raise InputFileError(f"{Path(path).name}: no line holds a JSON object")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __records AS SELECT n AS __line, unnest(json_transform(line, $s)) "
        "FROM __lines WHERE is_object",
        {"s": str(structure)},
    )


def _as_text(name: str, type_: str) -> str:
    col = quote_ident(name)
    if type_.startswith(("STRUCT", "MAP", "JSON")) or type_.endswith("]"):
        return f"CAST(to_json({col}) AS VARCHAR) AS {col}"
    return f"CAST({col} AS VARCHAR) AS {col}"


def _text(mapping: ColumnMapping, canonical: str) -> str:
    header = mapping.mapped.get(canonical)
    return f"NULLIF(TRIM({quote_ident(header)}), '')" if header else "CAST(NULL AS VARCHAR)"


def _timestamp(expr: str) -> str:
    """ISO 8601 (no offset = UTC) or epoch seconds / ms / µs / ns, to UTC TIMESTAMP."""
    number = f"TRY_CAST({expr} AS DOUBLE)"
    return (
        f"CASE WHEN regexp_full_match({expr}, '[0-9]+(\\.[0-9]+)?') THEN make_timestamp(CAST(CASE "
        f"WHEN {number} >= 1e17 THEN {number} / 1000 "
        f"WHEN {number} >= 1e14 THEN {number} "
        f"WHEN {number} >= 1e11 THEN {number} * 1000 "
        f"ELSE {number} * 1000000 END AS BIGINT)) "
        f"ELSE CAST(TRY_CAST({expr} AS TIMESTAMPTZ) AS TIMESTAMP) END"
    )


def _row_json(headers: list[str], alias: str = "") -> str:
    """Columns as the file gave them, as one JSON object (extra columns; quarantined rows)."""
    prefix = f"{alias}." if alias else ""
    fields = ", ".join(f"{quote_ident(h)} := {prefix}{quote_ident(h)}" for h in headers)
    return f"CAST(to_json(struct_pack({fields})) AS VARCHAR)"


def word_list(words: tuple[str, ...]) -> str:
    return ", ".join(f"'{w}'" for w in words)  # constants of this module, never user data


def _staging_sql(m: ColumnMapping) -> str:
    """Typed values plus the reason a row breaks the contract (NULL when it does not)."""
    extra = _row_json(list(m.extra)) if m.extra else "CAST(NULL AS VARCHAR)"
    kinds = word_list(KINDS)
    synonyms = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in KIND_SYNONYMS.items())
    return f"""
    WITH r AS (
        SELECT __audit_row AS source_row,
               {", ".join(f"{_text(m, c)} AS r_{c}" for c in CANONICAL)},
               {extra} AS extra
        FROM __raw
    ), t AS (
        SELECT *,
            {_timestamp("r_start_time")} AS start_ts,
            {_timestamp("r_end_time")} AS end_ts,
            TRY_CAST(r_duration_ms AS DOUBLE) AS dur,
            CASE WHEN lower(r_status) IN ({word_list(OK_WORDS)}) THEN 'ok'
                 WHEN lower(r_status) IN ({word_list(ERROR_WORDS)}) THEN 'error' END AS status_v,
            TRY_CAST(TRY_CAST(r_attempt AS DOUBLE) AS INTEGER) AS attempt_v,
            TRY_CAST(TRY_CAST(r_input_tokens AS DOUBLE) AS BIGINT) AS in_tok,
            TRY_CAST(TRY_CAST(r_output_tokens AS DOUBLE) AS BIGINT) AS out_tok,
            TRY_CAST(r_cost_usd AS DOUBLE) AS cost_v,
            CASE WHEN lower(r_eval_passed) IN ({word_list(TRUE_WORDS)}) THEN true
                 WHEN lower(r_eval_passed) IN ({word_list(FALSE_WORDS)}) THEN false END AS eval_v
        FROM r
    ), typed AS (
        SELECT *, COALESCE(end_ts, start_ts + to_microseconds(CAST(dur * 1000 AS BIGINT))) AS end_v
        FROM t
    )
    SELECT
        r_trace_id AS trace_id, r_span_id AS span_id, r_parent_span_id AS parent_span_id, r_name AS name,
        CASE WHEN lower(r_kind) IN ({kinds}) THEN lower(r_kind)
             WHEN r_kind IS NULL AND (r_model IS NOT NULL OR in_tok IS NOT NULL OR out_tok IS NOT NULL) THEN 'llm'
             ELSE CASE lower(r_kind) {synonyms} ELSE 'other' END END AS kind,
        r_agent AS agent, start_ts AS start_time, end_v AS end_time,
        COALESCE(dur, date_diff('microsecond', start_ts, end_v) / 1000.0) AS duration_ms,
        status_v AS status, r_error_type AS error_type, r_error_message AS error_message,
        COALESCE(attempt_v, 1) AS attempt, r_model AS model, r_provider AS provider,
        in_tok AS input_tokens, out_tok AS output_tokens, cost_v AS cost_usd,
        r_input AS input, r_output AS output, eval_v AS eval_passed, r_metadata AS metadata,
        extra, ? AS source_file, source_row,
        NULLIF(concat_ws('; ',
            CASE WHEN r_trace_id IS NULL THEN 'missing trace_id' END,
            CASE WHEN r_span_id IS NULL THEN 'missing span_id' END,
            CASE WHEN r_name IS NULL THEN 'missing name' END,
            CASE WHEN r_start_time IS NULL THEN 'missing start_time' END,
            CASE WHEN r_start_time IS NOT NULL AND start_ts IS NULL
                 THEN 'unparseable start_time ''' || left(r_start_time, 40) || '''' END,
            CASE WHEN r_end_time IS NOT NULL AND end_ts IS NULL
                 THEN 'unparseable end_time ''' || left(r_end_time, 40) || '''' END,
            CASE WHEN r_duration_ms IS NOT NULL AND dur IS NULL
                 THEN 'unparseable duration_ms ''' || left(r_duration_ms, 40) || '''' END,
            CASE WHEN r_end_time IS NULL AND r_duration_ms IS NULL THEN 'missing end_time and duration_ms' END,
            CASE WHEN end_v < start_ts THEN 'end_time before start_time' END,
            CASE WHEN dur < 0 THEN 'negative duration_ms' END,
            CASE WHEN r_status IS NULL THEN 'missing status' END,
            CASE WHEN r_status IS NOT NULL AND status_v IS NULL
                 THEN 'unknown status ''' || left(r_status, 40) || ''' (expected ok or error)' END,
            CASE WHEN r_attempt IS NOT NULL AND (attempt_v IS NULL OR attempt_v < 1)
                 THEN 'attempt must be a whole number >= 1, got ''' || left(r_attempt, 40) || '''' END,
            CASE WHEN r_input_tokens IS NOT NULL AND in_tok IS NULL THEN 'unparseable input_tokens' END,
            CASE WHEN r_output_tokens IS NOT NULL AND out_tok IS NULL THEN 'unparseable output_tokens' END,
            CASE WHEN in_tok < 0 OR out_tok < 0 THEN 'negative tokens' END,
            CASE WHEN r_cost_usd IS NOT NULL AND cost_v IS NULL THEN 'unparseable cost_usd' END,
            CASE WHEN cost_v < 0 THEN 'negative cost_usd' END,
            CASE WHEN r_eval_passed IS NOT NULL AND eval_v IS NULL
                 THEN 'eval_passed must be true or false, got ''' || left(r_eval_passed, 40) || '''' END
        ), '') AS reason
    FROM typed
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

def insert_quarantine_sql(headers: list[str]) -> str:
    """Bad rows with the row as the file gave it; JSON is built for those rows only."""
    return f"""
INSERT INTO quarantine
SELECT ?, s.source_row, {_row_json(headers, 'r')}, s.reason
FROM __staged s JOIN __raw r ON r.__audit_row = s.source_row
WHERE s.reason IS NOT NULL ORDER BY s.source_row
"""
