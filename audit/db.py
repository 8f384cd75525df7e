"""The embedded DuckDB database: in memory by default, a file when an audit should be reopened."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

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


def connect(path: str | Path | None = None, memory_limit: str = "1500MB") -> duckdb.DuckDBPyConnection:
    """Open (or create) an audit database with the tables the engine expects.

    Times are stored as UTC ``TIMESTAMP``; the session time zone is pinned to UTC so
    that an ISO 8601 time without an offset reads as UTC. The memory limit and a
    spill directory keep 10M-span audits within a laptop's memory.
    """
    con = duckdb.connect(str(path) if path else ":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    spill = Path(tempfile.gettempdir()) / "coordination-audit-spill"
    con.execute("SET temp_directory = ?", [str(spill)])
    con.execute("SET preserve_insertion_order = true")
    con.execute(TABLES_DDL)
    return con


def quote_ident(name: str) -> str:
    """A SQL identifier for any column name a user's file may carry."""
    return '"' + name.replace('"', '""') + '"'
