"""Mask secrets and personal data in everything an audit exports.

The detector is this module's own pattern table, modelled on the regular expressions of
Yelp's detect-secrets plugins (AWS keys, JWT, basic auth, private keys, keyword=secret
assignments) and Microsoft Presidio's recognizers (phone numbers, IP addresses, US SSN,
e-mail, Luhn-checked card numbers). It is a table rather than those libraries because the
same patterns must also run inside DuckDB (RE2 syntax: no look-arounds), so that text is
redacted *before* rules cut it into evidence: a secret cut at the edge would survive in part.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import duckdb

from audit.models import AuditReport

# (pattern, replacement); RE2- and Python-compatible, applied in order.
PATTERNS: tuple[tuple[str, str], ...] = (
    (r"-----BEGIN[A-Z ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END[A-Z ]*PRIVATE KEY( BLOCK)?-----|$)",
     "[REDACTED-PRIVATE-KEY]"),
    (r"-----BEGIN[A-Z ]*PRIVATE KEY[\s\S]*$", "[REDACTED-PRIVATE-KEY]"),  # a block cut before its header ends
    (r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(\.[A-Za-z0-9_-]*)?", "[REDACTED-JWT]"),
    (r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*", "Bearer [REDACTED-TOKEN]"),
    (r"(?i)\bbasic\s+[A-Za-z0-9+/]{6,}=*", "Basic [REDACTED-TOKEN]"),
    (r"\b(sk|rk|pk)-(ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{16,}", "[REDACTED-KEY]"),
    (r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", "[REDACTED-KEY]"),
    (r"\bAIza[0-9A-Za-z\-_]{35}\b", "[REDACTED-KEY]"),
    (r"\b(ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{20,}", "[REDACTED-KEY]"),
    (r"\bxox[abprs]-[A-Za-z0-9\-]{10,}", "[REDACTED-KEY]"),
    (r"(?i)\b(aws_secret_access_key|aws_session_token|secret_access_key|client_secret|api[_-]?key|secret|"
     r"password|passwd|pwd|access[_-]?token|auth[_-]?token|refresh[_-]?token|private[_-]?key)"
     r"(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+", r"\1\2[REDACTED]"),
    (r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", "[REDACTED-EMAIL]"),
    (r"\b\d{3}-\d{2}-\d{4}\b", "[REDACTED-SSN]"),
    (r"\b((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b",
     "[REDACTED-IP]"),
    (r"(?i)\b([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b", "[REDACTED-IP]"),
    (r"(?i)\b([0-9a-f]{1,4}:){1,6}(:[0-9a-f]{1,4}){1,6}\b", "[REDACTED-IP]"),
    (r"(?i)\b([0-9a-f]{1,4}:){1,7}:", "[REDACTED-IP]"),
    (r"\+[1-9][0-9]{0,2}([\s.\-]?\(?[0-9]{1,4}\)?){2,5}", "[REDACTED-PHONE]"),
    (r"(\([0-9]{3}\)\s?|\b[0-9]{3}[\-.\s])[0-9]{3}[\-.\s][0-9]{4}\b", "[REDACTED-PHONE]"),
)
_COMPILED = tuple((re.compile(p), r) for p, r in PATTERNS)
_CARD = re.compile(r"(?<![0-9])(?:[0-9][ \-]?){12,18}[0-9](?![0-9])")
# Inside DuckDB there is no Luhn check: every card-shaped digit run is masked there.
SQL_CARD = r"\b([0-9][ \-]?){12,18}[0-9]\b"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[^0-9]", "", match.group(0))
    return "[REDACTED-CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def redact_text(text: str) -> str:
    """Secrets and personal data masked: keys, tokens, JWTs, private keys, passwords,
    e-mail addresses, phone numbers, IP addresses, US SSNs and card numbers (Luhn-valid)."""
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return _CARD.sub(_mask_card, text)


def redact_sql(expr: str) -> str:
    """The same masking as a DuckDB expression over ``expr``; patterns are bound as
    ``$redact_p0`` ... (see ``sql_parameters``), never spliced into the SQL."""
    for i in range(len(PATTERNS) + 1):
        expr = f"regexp_replace({expr}, $redact_p{i}, $redact_r{i}, 'g')"
    return expr


def sql_parameters() -> dict[str, str]:
    params: dict[str, str] = {}
    for i, (pattern, replacement) in enumerate([*PATTERNS, (SQL_CARD, "[REDACTED-CARD]")]):
        params[f"redact_p{i}"], params[f"redact_r{i}"] = pattern, replacement
    return params


# The long text that rules cut into evidence. Ids and names are left as they are here (two ids
# masked alike would merge traces); the report-level pass masks them in what is exported.
REDACTED_COLUMNS = ("error_type", "error_message", "input", "output", "metadata", "extra")


@contextlib.contextmanager
def redacted_spans(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Within the block, ``spans`` reads as a redacted copy (a temporary table that shadows
    it), so rules cut evidence from text that is already redacted; the stored spans stay."""
    columns = ", ".join(f"{redact_sql(c)} AS {c}" if c in REDACTED_COLUMNS else c for c in _span_columns(con))
    con.execute(f"CREATE OR REPLACE TEMP TABLE spans AS SELECT {columns} FROM main.spans", sql_parameters())
    try:
        yield
    finally:
        con.execute("DROP TABLE IF EXISTS temp.spans")


def _span_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = 'spans' "
        "ORDER BY ordinal_position").fetchall()]


def redact_tree(value: Any) -> Any:
    """``redact_text`` applied to every string inside a JSON-like structure."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    return value


def redact_report(report: AuditReport) -> AuditReport:
    """A copy of the report with every string redacted, marked as such in its provenance."""
    redacted = AuditReport.model_validate(redact_tree(report.model_dump(mode="json")))
    redacted.summary.provenance.redacted = True
    return redacted
