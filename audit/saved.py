"""A saved audit: the ``AuditReport`` kept beside the findings in an audit database.

Any engine that can write two tables can hand its audit to the app: ``findings`` (the
columns of the DuckDB engine's findings table) and ``saved_report`` (one row, the report
as JSON). The DuckDB engine's ``--db`` file has them too, beside the spans; a Spark
engine's file has only these, so a lead browses a billion-span audit without the spans.
"""

from __future__ import annotations

import duckdb
from pydantic import ValidationError

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
