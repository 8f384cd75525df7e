"""A saved audit: the ``AuditReport`` kept beside the findings in an audit database.

Any engine that can write two tables can hand its audit to the app: ``findings`` (the
columns of the DuckDB engine's findings table) and ``saved_report`` (one row, the report
as JSON). The DuckDB engine's ``--db`` file has them too, beside the spans; a Spark
engine's file has only these, so a lead browses a billion-span audit without the spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
from pydantic import ValidationError

from audit.db import DatabaseFileError, connect, table_names
from audit.errors import AuditError
from audit.models import AuditReport

SAVED_REPORT_TABLE = "saved_report"


class SavedReportError(AuditError):
    """A ``saved_report`` table that does not hold one report of this version's shape."""

    title = "Cannot read the saved audit"


def save_report(con: duckdb.DuckDBPyConnection, report: AuditReport) -> None:
    """Keep ``report`` in the database (replacing any earlier one), so opening the file
    shows the audit at once instead of running it again."""
    con.execute(f"CREATE OR REPLACE TABLE {SAVED_REPORT_TABLE} (report_json VARCHAR NOT NULL)")
    con.execute(f"INSERT INTO {SAVED_REPORT_TABLE} VALUES (?)", [report.model_dump_json()])


def load_saved_report(con: duckdb.DuckDBPyConnection) -> AuditReport | None:
    """The report saved in the database, or None when the file has none.

    Raises:
        SavedReportError: the table exists but holds no row, several, or JSON that is not a report.
    """
    if not _has_table(con, SAVED_REPORT_TABLE):
        return None
    rows = con.execute(f"SELECT report_json FROM {SAVED_REPORT_TABLE} LIMIT 2").fetchall()
    if len(rows) != 1:
        raise SavedReportError(f"table `{SAVED_REPORT_TABLE}` must hold exactly one report, it holds {len(rows)}"
                               + (" or more" if len(rows) > 1 else ""))
    try:
        return AuditReport.model_validate_json(rows[0][0] or "")
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the report"
        raise SavedReportError(f"the saved report is not one this version reads ({e.error_count()} problem(s); "
                               f"first: {where}: {first['msg']})") from e


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """A table of the open database (not of an attached one, not a temporary table)."""
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
                      "AND table_schema = 'main' AND table_name = ?", [name]).fetchone()
    return bool(row and row[0])


# The findings table of a report-only file: the DuckDB engine's columns, in its order.
FINDINGS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rule_id", "VARCHAR"), ("trace_id", "VARCHAR"), ("span_id", "VARCHAR"), ("layer", "VARCHAR"),
    ("mode", "VARCHAR"), ("severity", "VARCHAR"), ("title", "VARCHAR"), ("evidence", "VARCHAR"),
    ("remedy", "VARCHAR"), ("recovered", "BOOLEAN"), ("primary", "BOOLEAN"), ("silenced", "BOOLEAN"),
    ("silence_reason", "VARCHAR"), ("step", "VARCHAR"), ("agent", "VARCHAR"), ("kind", "VARCHAR"),
    ("start_time", "TIMESTAMP"),
)
_ARROW_TYPES = {"VARCHAR": "string", "BOOLEAN": "bool_", "TIMESTAMP": "timestamp"}


def save_report_only(path: str | Path, report: AuditReport, findings: Iterable[Sequence[Sequence[Any]]]) -> int:
    """A report-only audit database at ``path`` (``findings`` + ``saved_report``, no spans), the
    form in which another engine (Spark) hands an audit to the app; ``findings`` comes in
    chunks of rows in ``FINDINGS_COLUMNS`` order, each chunk inserted as one Arrow table.
    Returns the number of findings written.

    Raises:
        DatabaseFileError: ``path`` is not a new file or a report-only audit database (a full
            audit's file keeps its spans: it is never overwritten by a report-only one).
    """
    import pyarrow as pa

    con = connect(path)
    try:
        if {"span_facts", "trace_facts"} & table_names(con):
            raise DatabaseFileError(f"{path} holds a full audit (spans and facts); give a new file name for a "
                                    "report-only audit, nothing was changed")
        for table in ("spans", "quarantine", "sources", "evals"):  # the empty tables connect() made
            con.execute(f"DROP TABLE IF EXISTS {table}")
        spec = ", ".join(f'"{c}" {t}' for c, t in FINDINGS_COLUMNS)
        con.execute(f"CREATE OR REPLACE TABLE findings ({spec})")
        schema = pa.schema([(c, pa.timestamp("us") if t == "TIMESTAMP" else getattr(pa, _ARROW_TYPES[t])())
                            for c, t in FINDINGS_COLUMNS])
        written = 0
        for rows in findings:
            chunk = pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema)
            con.register("__findings_chunk", chunk)
            con.execute("INSERT INTO findings SELECT * FROM __findings_chunk")
            con.unregister("__findings_chunk")
            written += len(rows)
        save_report(con, report)
        return written
    finally:
        con.close()
