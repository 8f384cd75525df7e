"""Error fingerprints: messages that differ only in ids, numbers and other variable parts
group together; different messages, steps or modes stay apart; ids are stable anywhere."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import audit_rows, root, span

from audit.db import connect
from audit.fingerprints import message_templates

SAME = [
    ("order ORD-1234 not found", "order ORD-9876 not found"),
    ("retry 3 of 5 failed after 1.5s", "retry 4 of 10 failed after 12.25s"),
    ("session 3f2a9c1e-1234-4abc-9def-0123456789ab expired",
     "session 00000000-aaaa-4bbb-8ccc-123456789abc expired"),
    ("bad pointer 0x7ffe1234 in worker", "bad pointer 0xDEADBEEF in worker"),
    ("cache miss for 5d41402abc4b2a76b9719d911017c592", "cache miss for 7d793037a0760186574b0282f2f435e1"),
    ("KeyError: 'customer_id'", "KeyError: 'order_total'"),
    ('unknown user "alice" in tenant', 'unknown user "bob" in tenant'),
    ("cannot open /var/data/run-17/input.json", "cannot open /tmp/x/y/z.csv"),
    ("GET https://api.example.com/v1/orders/17?x=1 failed", "GET http://10.0.0.1:8080/health failed"),
    ("deadline at 2026-11-20T10:11:12.123Z passed", "deadline at 2025-01-02 03:04:05+02:00 passed"),
    ("mail to ann@example.com bounced", "mail to bob.smith@corp.example.org bounced"),
    ("Error code: 400 - {'error': {'message': 'bad', 'code': 'x1'}}",
     "Error code: 429 - {'error': {'message': 'slow', 'code': 'y2'}}"),
]
APART = [
    ("order ORD-1234 not found", "payment ORD-1234 declined"),
    ("KeyError: 'customer_id'", "ValueError: 'customer_id'"),
    ("Error code: 400 - {'error': {'code': 'x'}}", "Error code: 400 - {'detail': {'code': 'x'}}"),
    ("Request timed out.", "Connection error."),
    ("'NoneType' object has no attribute 'get'", "division by zero"),
]


@pytest.fixture(scope="module")
def templates() -> dict[str, str]:
    messages = sorted({m for pair in SAME + APART for m in pair})
    return dict(zip(messages, message_templates(connect(), messages), strict=True))


@pytest.mark.parametrize(("a", "b"), SAME, ids=[a[:30] for a, _ in SAME])
def test_messages_differing_only_in_variable_parts_share_a_template(templates: dict[str, str], a: str, b: str) -> None:
    assert templates[a] == templates[b]
    assert not any(ch.isdigit() for ch in templates[a])


@pytest.mark.parametrize(("a", "b"), APART, ids=[a[:30] for a, _ in APART])
def test_different_messages_keep_different_templates(templates: dict[str, str], a: str, b: str) -> None:
    assert templates[a] != templates[b]


def test_template_is_readable() -> None:
    (template,) = message_templates(connect(), ["order ORD-1234 not found at /srv/a/b after 3 tries"])
    assert template == "order <id> not found at <path> after <n> tries"


def _failing(trace: str, step: str, message: str, error_type: str = "LookupError") -> list[dict[str, object]]:
    return [root(trace, status="error", error_type=error_type, error_message=message),
            span("a", step, trace=trace, kind="tool", status="error", error_type=error_type, error_message=message)]


def test_findings_group_by_fingerprint_and_ids_are_stable(tmp_path: Path) -> None:
    rows = (_failing("t1", "lookup_order", "order ORD-1234 not found")
            + _failing("t2", "lookup_order", "order ORD-9876 not found")
            + _failing("t3", "lookup_order", "warehouse closed")
            + _failing("t4", "issue_refund", "order ORD-5555 not found")
            + [root("t5"), span("a", "lookup_order", trace="t5", kind="tool")])
    _, report = audit_rows(tmp_path, rows)
    lookup = [fp for fp in report.fingerprints if fp.step == "lookup_order"]
    templates = {fp.template: fp for fp in lookup}
    grouped = templates["LookupError: order <id> not found"]
    assert grouped.traces == 2 and grouped.failed_traces == 2 and grouped.root_cause_traces == 2
    assert grouped.share_of_failed == pytest.approx(2 / 4)
    assert grouped.example_trace_id in {"t1", "t2"}
    assert "LookupError: warehouse closed" in templates
    refund = [fp for fp in report.fingerprints if fp.step == "issue_refund"]
    assert len(refund) == 1 and refund[0].fingerprint != grouped.fingerprint  # same text, another step
    # the id is md5 of layer|mode|step|template: the same on any machine, and in a second audit
    expected = "fp-" + hashlib.md5(
        f"{grouped.layer}|{grouped.mode}|lookup_order|{grouped.template}".encode()).hexdigest()[:12]
    assert grouped.fingerprint == expected
    (tmp_path / "again").mkdir()
    _, again = audit_rows(tmp_path / "again", list(reversed(rows)))
    assert {f.fingerprint for f in again.fingerprints} == {f.fingerprint for f in report.fingerprints}


def test_findings_without_error_text_use_the_rule_title(tmp_path: Path) -> None:
    rows = [root("t1", eval_passed="false"), span("a", "answer", trace="t1")]
    _, report = audit_rows(tmp_path, rows)
    assert report.fingerprints, "a verdict-only failure still has a fingerprint"
    assert report.fingerprints[0].template == report.findings[0].title
