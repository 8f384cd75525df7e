"""Evaluator verdicts kept apart from the spans, in the shapes tools write them: the
canonical (``trace_id``, ``eval_passed``), LangSmith feedback, Langfuse scores and Phoenix
span annotations. Each becomes pass/fail for a trace (or a span inside it); which score
counts and its pass threshold are settings."""

from __future__ import annotations

import json

import duckdb

from audit.errors import InputFileError
from audit.importers import Columns
from audit.ingest import (
    FALSE_WORDS,
    INSERT_REJECTED_SQL,
    TRUE_WORDS,
    LoadResult,
    SourceFile,
    drop_scratch,
    file_sha256,
    insert_quarantine_sql,
    prechecked,
    raw_headers,
    read_raw,
    sniff,
    word_list,
)
from audit.schema import map_columns
from audit.settings import Settings

SHAPES = ("canonical", "langsmith_feedback", "langfuse_scores", "phoenix_annotations")


def detect_shape(headers: list[str]) -> str | None:
    cols = {h.strip().lower() for h in headers}
    if "run_id" in cols and "key" in cols:
        return "langsmith_feedback"
    if "traceid" in cols and "name" in cols and cols & {"value", "stringvalue"}:
        return "langfuse_scores"
    if cols & {"span_id", "context.span_id"} and "name" in cols and cols & {"label", "score", "result.label",
                                                                            "result.score"}:
        return "phoenix_annotations"
    mapped = map_columns(headers).mapped
    if "trace_id" in mapped and "eval_passed" in mapped:
        return "canonical"
    return None


def _columns_sql(shape: str, c: Columns, headers: list[str]) -> str:
    """(trace_id, span_id, score_name, score, label) of each verdict row."""
    if shape == "langsmith_feedback":
        return (f"{c.col('trace_id')}, {c.col('run_id')}, {c.col('key')}, TRY_CAST({c.col('score')} AS DOUBLE), "
                f"{c.col('value')}")
    if shape == "langfuse_scores":
        return (f"CASE WHEN {c.col('observationId')} IS NULL THEN {c.col('traceId')} END, {c.col('observationId')}, "
                f"{c.col('name')}, TRY_CAST({c.col('value')} AS DOUBLE), {c.col('stringValue')}")
    if shape == "phoenix_annotations":
        return (f"NULL, {c.col('span_id', 'context.span_id')}, {c.col('name')}, "
                f"TRY_CAST({c.col('score', 'result.score')} AS DOUBLE), {c.col('label', 'result.label')}")
    mapped = map_columns(headers).mapped
    return f"{c.col(mapped['trace_id'])}, NULL, NULL, NULL, {c.col(mapped['eval_passed'])}"


def load_evals(con: duckdb.DuckDBPyConnection, source: SourceFile, settings: Settings | None = None) -> LoadResult:
    """Load evaluator verdicts; they join onto each trace when the audit runs and win over
    a verdict recorded on the root. Rows without a verdict are quarantined; scores with
    another name than ``settings.eval_score_name`` are counted and reported, not used.

    Raises:
        InputFileError: unreadable file, or columns of no known verdict shape.
    """
    settings = settings or Settings()
    con.execute("BEGIN TRANSACTION")
    try:
        fmt, head = sniff(source.path)
        readable = prechecked(con, source, fmt, head, settings)
        try:
            rejects, _ = read_raw(con, readable, fmt)
        finally:
            if readable.path != source.path:  # a transcoded copy: DuckDB has read it
                readable.path.unlink(missing_ok=True)
        headers = raw_headers(con)
        shape = detect_shape(headers)
        if shape is None:
            raise InputFileError(
                f"{source.name}: not an evals file. Expected columns trace_id and eval_passed, LangSmith feedback "
                f"(run_id, key, score/value), Langfuse scores (traceId, name, value) or Phoenix span annotations "
                f"(span_id, name, label/score); found: {', '.join(headers) or 'none'}"
            )
        words = word_list(TRUE_WORDS + FALSE_WORDS)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __verdicts AS
            SELECT __audit_row AS source_row, v.*,
                   CASE WHEN lower(label) IN ({word_list(TRUE_WORDS)}) THEN true
                        WHEN lower(label) IN ({word_list(FALSE_WORDS)}) THEN false
                        WHEN score IS NOT NULL THEN score >= $threshold END AS eval_passed,
                   $name IS NULL OR score_name = $name AS selected
            FROM (SELECT __audit_row, {_columns_sql(shape, Columns(headers), headers)} FROM __raw)
                 AS v(__audit_row, trace_id, span_id, score_name, score, label)""",
            {"threshold": settings.eval_pass_threshold, "name": settings.eval_score_name},
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __staged AS
            SELECT source_row, trace_id, span_id, eval_passed, selected,
                   CASE WHEN trace_id IS NULL AND span_id IS NULL THEN 'missing trace_id (or run/span id)'
                        WHEN eval_passed IS NULL THEN 'no verdict: label must be one of {words.replace("'", "")} '
                             || 'or a numeric score' END AS reason
            FROM __verdicts"""
        )
        for table in ("evals", "quarantine", "sources"):
            con.execute(f"DELETE FROM {table} WHERE source_file = ?", [source.name])
        con.execute("INSERT INTO evals SELECT trace_id, span_id, eval_passed, ? FROM __staged "
                    "WHERE reason IS NULL AND selected", [source.name])
        con.execute(insert_quarantine_sql(headers), [source.name])
        con.execute(INSERT_REJECTED_SQL, [source.name])
        loaded, quarantined, ignored = con.execute(
            "SELECT count(*) FILTER (WHERE reason IS NULL AND selected), count(*) FILTER (WHERE reason IS NOT NULL), "
            "count(*) FILTER (WHERE reason IS NULL AND NOT selected) FROM __staged"
        ).fetchone() or (0, 0, 0)
        sha = file_sha256(source.path)
        con.execute(
            "INSERT INTO sources VALUES (?, 'evals', ?, ?, ?, ?, ?, '[]')",
            [source.name, shape if shape != "canonical" else fmt, sha, loaded, quarantined + rejects,
             json.dumps({"shape": shape})],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        drop_scratch(con)
    notes = [f"read as {shape.replace('_', ' ')}"]
    if ignored:
        notes.append(f"{ignored} scores named other than {settings.eval_score_name!r} were not used")
    return LoadResult(source.name, shape, sha, loaded, quarantined + rejects, map_columns(headers), notes)
