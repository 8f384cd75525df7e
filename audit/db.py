"""The embedded DuckDB database: in memory by default, a file when an audit should be reopened."""

from __future__ import annotations

from pathlib import Path

import duckdb

from audit.errors import AuditError
from audit.settings import Settings
from audit.tempdir import spill_dir

SCHEMA_VERSION = 1
META_TABLE = "coordination_audit_meta"
DUCKDB_MAGIC = b"DUCK"  # at byte offset 8 of every DuckDB database file


class DatabaseFileError(AuditError):
    """A ``--db`` path that is not an audit database this tool created."""

    title = "Cannot use this database file"

TABLES_DDL = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    agent VARCHAR,
    start_time TIMESTAMP NOT NULL,
    end_time TIMESTAMP NOT NULL,
    duration_ms DOUBLE NOT NULL,
    status VARCHAR NOT NULL,
    error_type VARCHAR,
    error_message VARCHAR,
    attempt INTEGER NOT NULL,
    model VARCHAR,
    provider VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE,
    input VARCHAR,
    output VARCHAR,
    eval_passed BOOLEAN,
    metadata VARCHAR,
    extra VARCHAR,
    source_file VARCHAR NOT NULL,
    source_row BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    source_file VARCHAR NOT NULL,
    source_row BIGINT,
    raw VARCHAR,
    reason VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    source_file VARCHAR PRIMARY KEY,
    role VARCHAR NOT NULL,          -- 'traces' or 'evals'
    format VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    mapped_columns VARCHAR NOT NULL,
    extra_columns VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS evals (
    trace_id VARCHAR,               -- the trace judged, or
    span_id VARCHAR,                -- the span (run, observation) the verdict is attached to
    eval_passed BOOLEAN NOT NULL,
    source_file VARCHAR NOT NULL
);
"""


def connect(path: str | Path | None = None, settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """Open (or create) an audit database with the tables the engine expects.

    Times are stored as UTC ``TIMESTAMP``; the session time zone is pinned to UTC so
    that an ISO 8601 time without an offset reads as UTC. The memory limit and a
    private spill directory (settings ``memory_limit_mb``, ``spill_directory``) keep a
    10M-span audit within a laptop's memory: past the limit DuckDB spills, never fails.

    Raises:
        DatabaseFileError: ``path`` exists but is not an audit database (another DuckDB
            database, another kind of file, a directory), or its folder does not exist.
    """
    if path:
        check_database_path(Path(path))
    try:
        con = duckdb.connect(str(path) if path else ":memory:", config={"autoinstall_known_extensions": False,
                                                                       "autoload_known_extensions": False})
    except duckdb.Error as e:
        raise DatabaseFileError(f"{path}: cannot be opened as a DuckDB database ({_first_line(e)})") from e
    try:
        if path:
            _claim(con, Path(path))
        con.execute("SET TimeZone = 'UTC'")
        settings = settings or Settings()
        con.execute(f"SET memory_limit = '{int(settings.memory_limit_mb)}MB'")  # an int: nothing spliced
        con.execute("SET temp_directory = ?", [str(spill_dir(settings.spill_directory))])
        con.execute("SET preserve_insertion_order = true")
        con.execute(TABLES_DDL)
    except BaseException:
        con.close()
        raise
    return con


def open_read_only(path: str | Path, settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """Open an existing audit database to browse it, never to change it: the DuckDB engine's
    ``--db`` file, or a report-only file of another engine (``findings`` and ``saved_report``).

    Raises:
        DatabaseFileError: no such file, not a DuckDB database, or one without a saved audit.
    """
    path = Path(path)
    if not path.is_file():
        raise DatabaseFileError(f"{path}: no such file" if not path.exists() else f"{path} is not a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError as e:
        raise DatabaseFileError(f"{path}: cannot be read ({e.strerror or e})") from e
    if head[8:12] != DUCKDB_MAGIC:
        raise DatabaseFileError(f"{path} is not a DuckDB database (an audit saved with `report --db`)")
    try:
        con = duckdb.connect(str(path), read_only=True, config={"autoinstall_known_extensions": False,
                                                                "autoload_known_extensions": False})
    except duckdb.Error as e:
        raise DatabaseFileError(f"{path}: cannot be opened as a DuckDB database ({_first_line(e)})") from e
    try:
        missing = {"findings", "saved_report"} - table_names(con)
        if missing:
            raise DatabaseFileError(
                f"{path} holds no saved audit (table(s) {', '.join(sorted(missing))} missing); write one with "
                "`python -m audit report --db FILE` of this version")
        con.execute("SET TimeZone = 'UTC'")
        settings = settings or Settings()
        con.execute(f"SET memory_limit = '{int(settings.memory_limit_mb)}MB'")  # an int: nothing spliced
        con.execute("SET temp_directory = ?", [str(spill_dir(settings.spill_directory))])
    except BaseException:
        con.close()
        raise
    return con


def table_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The tables of the open database's main schema."""
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'main'").fetchall()}


def check_database_path(path: Path) -> None:
    """Refuse, before DuckDB touches it, a path that cannot be an audit database."""
    if path.is_dir():
        raise DatabaseFileError(f"{path} is a directory; give a file name for the audit database")
    if not path.parent.is_dir():
        raise DatabaseFileError(f"{path}: the folder {path.parent} does not exist")
    if path.exists():
        try:
            with path.open("rb") as fh:
                head = fh.read(12)
        except OSError as e:
            raise DatabaseFileError(f"{path}: cannot be read ({e.strerror or e})") from e
        if head and head[8:12] != DUCKDB_MAGIC:
            raise DatabaseFileError(f"{path} exists and is not a DuckDB database; refusing to overwrite it")


def _claim(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Mark a new database as the audit's, or check that an existing one is."""
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()").fetchall()}
    if not tables:
        con.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
        con.execute(f"INSERT INTO {META_TABLE} VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        return
    version = None
    if META_TABLE in tables:
        row = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'").fetchone()
        version = row[0] if row else None
    if version is None:
        raise DatabaseFileError(
            f"{path} is a DuckDB database the audit did not create (it has tables such as "
            f"{', '.join(sorted(tables)[:3])}); give a new file name, nothing was changed")
    if version != str(SCHEMA_VERSION):
        raise DatabaseFileError(f"{path} was written by another version of the audit (schema {version}, "
                                f"expected {SCHEMA_VERSION}); give a new file name")


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def quote_ident(name: str) -> str:
    """A SQL identifier for any column name a user's file may carry."""
    return '"' + name.replace('"', '""') + '"'
