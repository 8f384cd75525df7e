"""Exports of tracing tools, mapped onto the canonical span columns with DuckDB SQL (no row
loops). Each importer fills the ``__raw`` table with canonical column names as text; the
canonical ingest then types, checks and quarantines as usual. One module per export:

- ``otlp``: OpenTelemetry OTLP JSON (whole request or one per line), GenAI and OpenInference;
- ``phoenix``, ``langsmith``, ``langfuse``: the tools' span/run/observation tables;
- ``chat``: chat transcripts (OpenAI message format, one conversation per line).

``conventions`` holds what frameworks write (agent attributes, in-band error shapes) as data
that every importer reads, so supporting the next framework is a table row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb

from audit.importers.chat import read_chat
from audit.importers.common import Columns, read_lines
from audit.importers.langfuse import langfuse_sql
from audit.importers.langsmith import langsmith_sql
from audit.importers.otlp import read_otlp, unmapped_otlp_keys
from audit.importers.phoenix import phoenix_sql

__all__ = ["FORMATS", "LABELS", "TABULAR", "Columns", "detect", "detect_columns", "read_chat", "read_lines",
           "read_otlp", "transform_tabular", "unmapped_otlp_keys"]

FORMATS = ("canonical", "otlp", "phoenix", "langsmith", "langfuse", "chat")
LABELS = {"canonical": "the trace format", "otlp": "OpenTelemetry OTLP JSON", "phoenix": "Phoenix spans",
          "langsmith": "LangSmith runs", "langfuse": "Langfuse observations", "chat": "chat transcripts"}


def detect(path: Path, sniffed: str, head: bytes) -> str:
    """The export format from the file's structure (``otlp``, ``chat``), else ``canonical``;
    tables are told apart by their columns later (``detect_columns``)."""
    if sniffed != "json":
        return "canonical"
    if b'"resourceSpans"' in head:
        return "otlp"
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    try:
        record = json.loads(first)
    except (ValueError, RecursionError):  # too deep: audit.precheck quarantines or refuses it
        return "canonical"
    if isinstance(record, dict) and isinstance(record.get("messages"), list):
        return "chat"
    return "canonical"


def detect_columns(headers: list[str]) -> str:
    """The export format from a table's columns; ``canonical`` when it is none of the tools'."""
    cols = {h.strip().lower() for h in headers}
    if {"context.trace_id", "context.span_id"} <= cols:
        return "phoenix"
    if "traceid" in cols and "id" in cols and cols & {"type", "parentobservationid", "starttime"}:
        return "langfuse"
    if {"id", "trace_id"} <= cols and cols & {"run_type", "parent_run_id"}:
        return "langsmith"
    return "canonical"



TABULAR: dict[str, Callable[[Columns], str]] = {"phoenix": phoenix_sql, "langsmith": langsmith_sql, "langfuse": langfuse_sql}


def transform_tabular(con: duckdb.DuckDBPyConnection, fmt: str, headers: list[str]) -> list[str]:
    """Replace ``__raw`` (the export as read) by its canonical columns; returns the export's
    columns that were not used, so the user can see what was left unmapped."""
    columns = Columns(headers)
    con.execute(f"CREATE OR REPLACE TEMP TABLE __mapped AS {TABULAR[fmt](columns)}")
    con.execute("DROP TABLE __raw")
    con.execute("ALTER TABLE __mapped RENAME TO __raw")
    return [h for h in headers if h not in columns.used]


