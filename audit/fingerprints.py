"""Error fingerprints: every finding gets the id of its failure, so that the same failure
can be counted across traces, and joined across two audits (``audit.compare``).

A fingerprint is the md5 of ``layer|mode|step|template``, where the template is the
finding's error text (``error_type: error_message`` of its span, or the rule's title when
the span carries no error) with the parts that vary between occurrences masked: URLs,
e-mail addresses, timestamps, UUIDs, hex, paths, quoted values, ids and numbers. So
"order ORD-1234 not found" and "order ORD-9876 not found" are one failure, and the same
message gives the same id on any machine. All of it is SQL over distinct messages;
nothing loops over rows in Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from audit.backend import Connection, as_backend
from audit.models import Fingerprint

if TYPE_CHECKING:
    import pandas as pd  # for the app's tables; the CLI never loads pandas

TEMPLATE_MAX_CHARS = 300
# Placeholders that protect dictionary keys ('error': ...) while quoted values are masked;
# control characters, so no message text can collide with them.
_KEY_OPEN, _KEY_CLOSE = "\x01", "\x02"

# (RE2 pattern, replacement), applied in order: the wider shapes first, so a URL's digits
# or a timestamp's parts are not masked piecemeal as numbers.
MASKS: tuple[tuple[str, str], ...] = (
    (r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>)\]}]+", "<url>"),
    (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+", "<email>"),
    (r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?", "<ts>"),
    (r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<ts>"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>"),
    (r"\b0[xX][0-9a-fA-F]+\b", "<hex>"),
    (r"\b[0-9a-fA-F]{12,}\b", "<hex>"),  # hashes, trace and span ids; shorter mixes are ids, below
    (r"(?:[A-Za-z]:)?(?:[\\/][\w.@~-]+){2,}[\\/]?", "<path>"),
    # dictionary keys survive: 'error': {...} keeps the word "error"
    (r"'(\w{1,40})'(\s*):", _KEY_OPEN + r"\1" + _KEY_CLOSE + r"\2:"),
    (r"'[^'\n]{0,60}'", "'<v>'"),
    (r"\"[^\"\n]{0,60}\"", "\"<v>\""),
    (r"`[^`]*`", "`<v>`"),
    (_KEY_OPEN + r"(\w{1,40})" + _KEY_CLOSE, r"'\1'"),
    # ids: a word that mixes letters and digits (ORD-1234, tr-0042, a8Fk29, user_17)
    (r"\b[A-Za-z][A-Za-z_]*[-_:#]?\d[\w-]*", "<id>"),
    (r"[-+]?\d+(?:[.,]\d+)*", "<n>"),
    (r"\s+", " "),
)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def template_sql(column: str) -> str:
    """The SQL expression that turns a message column into its template."""
    expr = column
    for pattern, replacement in MASKS:
        expr = f"regexp_replace({expr}, {_sql_literal(pattern)}, {_sql_literal(replacement)}, 'g')"
    return f"left(trim({expr}), {TEMPLATE_MAX_CHARS})"


def fingerprint_sql(layer: str, mode: str, step: str, template: str) -> str:
    """A stable id: the same layer, mode, step and template give the same id on any machine."""
    return (f"'fp-' || left(md5(concat_ws('|', {layer}, {mode}, coalesce({step}, ''), {template})), 12)")


FINGERPRINTS_SQL = f"""
CREATE OR REPLACE TABLE finding_fingerprints AS
WITH f AS (
    SELECT DISTINCT f.trace_id, f.span_id, f.rule_id, f.layer, f.mode, f.step,
           CASE WHEN nullif(trim(coalesce(s.error_message, '')), '') IS NOT NULL
                  OR nullif(trim(coalesce(s.error_type, '')), '') IS NOT NULL
                THEN concat_ws(': ', nullif(trim(s.error_type), ''), nullif(trim(s.error_message), ''))
                ELSE f.title END AS message
    FROM findings f
    LEFT JOIN span_facts s ON s.trace_id = f.trace_id AND s.span_id = f.span_id
), templates AS (
    SELECT message, {template_sql('message')} AS template FROM (SELECT DISTINCT message FROM f)
)
SELECT f.trace_id, f.span_id, f.rule_id, f.message, t.template,
       {fingerprint_sql('f.layer', 'f.mode', 'f.step', 't.template')} AS fingerprint
FROM f JOIN templates t ON t.message = f.message
"""

SUMMARY_SQL = """
WITH fp AS (
    SELECT f.*, x.fingerprint, x.template, t.failed AS trace_failed,
           CASE f.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END AS severity_rank
    FROM findings f
    JOIN finding_fingerprints x ON x.trace_id = f.trace_id AND x.span_id = f.span_id AND x.rule_id = f.rule_id
    JOIN trace_facts t ON t.trace_id = f.trace_id
    WHERE NOT f.silenced
), failed AS (
    SELECT count(*) AS n FROM trace_facts WHERE failed
)
SELECT fingerprint, min(layer), min(mode), min(step), min(template), min(rule_id),
       CASE min(severity_rank) WHEN 0 THEN 'high' WHEN 1 THEN 'medium' ELSE 'low' END,
       count(*), count(DISTINCT trace_id), count(DISTINCT CASE WHEN trace_failed THEN trace_id END),
       count(DISTINCT CASE WHEN "primary" THEN trace_id END),
       count(DISTINCT CASE WHEN trace_failed THEN trace_id END) / greatest(max(failed.n), 1),
       min(start_time), max(start_time),
       -- the example: a root cause in a failed run if there is one, else the earliest
       arg_min(trace_id, (NOT "primary", NOT trace_failed, start_time, trace_id, span_id)),
       arg_min(span_id, (NOT "primary", NOT trace_failed, start_time, trace_id, span_id)),
       min(remedy)
FROM fp, failed
GROUP BY fingerprint
ORDER BY count(DISTINCT trace_id) DESC, min(severity_rank), fingerprint
"""

FINGERPRINT_FIELDS = (
    "fingerprint", "layer", "mode", "step", "template", "rule_id", "severity", "findings", "traces",
    "failed_traces", "root_cause_traces", "share_of_failed", "first_seen", "last_seen", "example_trace_id",
    "example_span_id", "remedy",
)


def build_fingerprints(con: Connection) -> None:
    """(Re)create ``finding_fingerprints`` (one row per finding) from ``findings`` and ``span_facts``."""
    as_backend(con).execute(FINGERPRINTS_SQL)


def summarise_fingerprints(con: Connection) -> list[Fingerprint]:
    """One row per fingerprint of the unsilenced findings, most traces first."""
    return [Fingerprint(**dict(zip(FINGERPRINT_FIELDS, row, strict=True)))
            for row in as_backend(con).fetchall(SUMMARY_SQL)]


def message_templates(con: duckdb.DuckDBPyConnection, messages: list[str]) -> list[str]:
    """Templates of arbitrary messages, by the same SQL (for tests and for explaining a grouping)."""
    rows = con.execute(
        f"SELECT {template_sql('m.message')} FROM unnest(?) WITH ORDINALITY AS m(message, i) ORDER BY m.i",
        [messages],
    ).fetchall()
    return [r[0] for r in rows]


GROUP_COLUMNS = ("fingerprint", "layer", "mode", "step", "severity", "traces", "findings", "share_of_failed",
                 "first_seen", "last_seen", "example_trace_id", "template", "remedy")


def fingerprint_frame(fingerprints: list[Fingerprint]) -> pd.DataFrame:
    """The Failures page's grouped view: one row per fingerprint, most traces first."""
    import pandas as pd

    return pd.DataFrame([f.model_dump() for f in fingerprints], columns=list(GROUP_COLUMNS))


def findings_of(con: duckdb.DuckDBPyConnection, findings: pd.DataFrame, fingerprint_ids: list[str]) -> pd.DataFrame:
    """The rows of a findings frame that carry one of these fingerprints."""
    keys = con.execute(
        "SELECT DISTINCT trace_id, span_id, rule_id FROM finding_fingerprints WHERE list_contains(?, fingerprint)",
        [fingerprint_ids],
    ).df()
    return findings.merge(keys, on=["trace_id", "span_id", "rule_id"], how="inner")
