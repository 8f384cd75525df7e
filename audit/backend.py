"""Where the audit's SQL runs. The stages (facts, classify, fingerprints, reliability, cost,
checklist, fix-first) are written once, in DuckDB's dialect, against this small interface:
run a statement with settings bound as parameters, create a table from a SELECT or from a
few rows of settings, fetch rows. ``DuckDB`` is the embedded engine (today's behaviour);
``audit.spark_engine.SparkBackend`` transpiles the same SQL for Apache Spark.

A stage accepts a DuckDB connection or a backend (``as_backend``), so callers that hold a
connection (the app, the tests) keep working unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import duckdb

Params = Sequence[Any] | dict[str, Any] | None
Row = tuple[Any, ...]


@runtime_checkable
class Backend(Protocol):
    """The few operations the audit's stages need from an SQL engine."""

    name: str

    def execute(self, sql: str, params: Params = None) -> None:
        """Run one statement: ``CREATE OR REPLACE [TEMP] TABLE ... AS SELECT`` or
        ``INSERT INTO ... SELECT``. Parameters are settings values, bound, never spliced."""

    def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        """All rows of a query (an aggregate: the stages never fetch spans)."""

    def columns(self, sql: str, params: Params = None) -> list[str]:
        """The column names a query would return, without running it."""

    def create_table(self, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]],
                     temp: bool = False) -> None:
        """(Re)create a small table of settings (rules, silences, prices) from rows."""

    def drop(self, name: str) -> None:
        """Forget an intermediate table (a stage of the facts) once later stages are computed."""


class DuckDB:
    """The embedded engine: statements run as written on one DuckDB connection."""

    name = "duckdb"
    error: type[Exception] = duckdb.Error

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def execute(self, sql: str, params: Params = None) -> None:
        self.con.execute(sql, params or [])

    def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        return self.con.execute(sql, params or []).fetchall()

    def columns(self, sql: str, params: Params = None) -> list[str]:
        return [c[0] for c in self.con.execute(f"DESCRIBE ({sql})", params or []).fetchall()]

    def create_table(self, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]],
                     temp: bool = False) -> None:
        spec = ", ".join(f"{c} {t}" for c, t in columns)
        self.con.execute(f"CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE {name} ({spec})")
        if rows:
            marks = ", ".join("?" for _ in columns)
            self.con.executemany(f"INSERT INTO {name} VALUES ({marks})", [list(r) for r in rows])

    def drop(self, name: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {name}")


Connection = duckdb.DuckDBPyConnection | Backend


def as_backend(con: Connection) -> Backend:
    """A backend for a stage's argument: a DuckDB connection is wrapped, a backend is kept."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        return DuckDB(con)
    return con


def fetchone(db: Backend, sql: str, params: Params = None) -> Row | None:
    """The first row of a query (an aggregate), or None."""
    rows = db.fetchall(sql, params)
    return rows[0] if rows else None


def backend_errors(db: Backend) -> tuple[type[Exception], ...]:
    """The exceptions a backend raises for SQL that fails to run (a user rule's mistake)."""
    error = getattr(db, "error", duckdb.Error)
    return error if isinstance(error, tuple) else (error,)
