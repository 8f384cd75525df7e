"""Build tiny traces for tests from compact span descriptions."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from audit.engine import Audit
from audit.ingest import SourceFile
from audit.models import AuditReport

BASE = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = ("trace_id", "span_id", "parent_span_id", "name", "kind", "agent", "start_time", "end_time", "status",
           "error_type", "error_message", "attempt", "model", "provider", "input_tokens", "output_tokens",
           "cost_usd", "input", "output", "eval_passed")


def span(span_id: str, name: str, *, trace: str = "t1", parent: str | None = "root", at: float = 0,
         ms: float = 100, **cols: Any) -> dict[str, Any]:
    """One span row; ``at`` and ``ms`` are milliseconds from the trace's start."""
    start = BASE + timedelta(milliseconds=at)
    row = {"trace_id": trace, "span_id": span_id, "parent_span_id": parent or "", "name": name,
           "kind": cols.pop("kind", "chain"), "start_time": start.isoformat(),
           "end_time": (start + timedelta(milliseconds=ms)).isoformat(), "status": cols.pop("status", "ok")}
    row.update(cols)
    return row


def root(trace: str = "t1", ms: float = 10_000, **cols: Any) -> dict[str, Any]:
    return span("root", "pipeline", trace=trace, parent=None, ms=ms, kind="agent", **cols)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        # columns beyond the canonical ones (a tool's argument schema) land in `extra`
        extra = sorted({k for r in rows for k in r} - set(COLUMNS))
        writer = csv.DictWriter(fh, fieldnames=[*COLUMNS, *extra])
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in (*COLUMNS, *extra)})
    return path


def audit_rows(tmp_path: Path, rows: list[dict[str, Any]], **settings: Any) -> tuple[Audit, AuditReport]:
    audit = Audit.open(**settings)
    audit.load([SourceFile.of(write_csv(tmp_path / "traces.csv", rows))])
    return audit, audit.run()
