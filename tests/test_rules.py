"""Every rule fires on its positive cases and stays quiet on near misses (tests/rule_cases.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from helpers import audit_rows, span

from audit.errors import RuleDefinitionError
from audit.rules import BUILTIN_RULES, load_rule_file

CASES: dict[str, list[dict[str, Any]]] = yaml.safe_load((Path(__file__).parent / "rule_cases.yaml").read_text())


def case_rows(case: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [span("root", "pipeline", parent=None, ms=20_000, kind="agent", **(case.get("root") or {}))]
    for s in case["spans"]:
        s = dict(s)
        rows.append(span(s.pop("id"), s.pop("name"), **s))
    return rows


PARAMS = [pytest.param(rule_id, c, id=f"{rule_id}-{c['id']}") for rule_id, cases in CASES.items() for c in cases]


@pytest.mark.parametrize(("rule_id", "case"), PARAMS)
def test_rule_case(tmp_path: Path, rule_id: str, case: dict[str, Any]) -> None:
    """The rule fires on exactly the listed spans, and a failed case gets exactly one primary
    finding (checked on the same audit: auditing every case twice cost a minute of suite time)."""
    _, report = audit_rows(tmp_path, case_rows(case))
    fired = sorted(f.span_id for f in report.findings if f.rule_id == rule_id)
    assert fired == sorted(case["fires"]), [f"{f.rule_id}:{f.span_id}:{f.evidence}" for f in report.findings]
    primaries = [f for f in report.findings if f.primary]
    assert len(primaries) == report.summary.failed_traces, [f"{f.rule_id}:{f.span_id}" for f in primaries]


def test_every_rule_has_positive_and_negative_cases() -> None:
    for rule in BUILTIN_RULES:
        cases = CASES.get(rule.id, [])
        assert any(c["fires"] for c in cases), f"{rule.id} has no positive case"
        assert any(not c["fires"] for c in cases), f"{rule.id} has no near-miss case"


@pytest.mark.parametrize("rule", BUILTIN_RULES, ids=lambda r: r.id)
def test_rule_sql_transpiles_to_spark(rule: Any) -> None:
    sql = rule.sql
    for p in rule.parameters():
        sql = sql.replace(f"${p}", "5")
    spark = sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)[0]
    assert "span_facts" in spark or "trace_facts" in spark


def test_docs_list_every_rule() -> None:
    catalog_md = (Path(__file__).parent.parent / "docs" / "RULES.md").read_text()
    for rule in BUILTIN_RULES:
        assert f"## {rule.id} `{rule.name}`" in catalog_md, f"{rule.id} missing from docs/RULES.md (regenerate it)"


def test_user_rule_file_adds_a_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('''
[[rules]]
id = "XX01"
name = "custom.refund_over_limit"
layer = "handoff"
mode = "business_rule"
severity = "low"
title = "A refund step failed on the amount limit."
description = "Our refund service rejects amounts over the limit."
remedy = "Check the amount before calling refund."
sql = "SELECT trace_id, span_id, 'limit: ' || error_message AS evidence FROM span_facts WHERE error_message LIKE '%over limit%'"
''')
    rows = case_rows({"root": {"status": "error"}, "spans": [
        {"id": "r", "name": "refund", "status": "error", "error_type": "RefundError", "error_message": "amount over limit"}]})
    _, report = audit_rows(tmp_path, rows, rules_file=rules)
    assert [f.span_id for f in report.findings if f.rule_id == "XX01"] == ["r"]


@pytest.mark.parametrize(("body", "message"), [
    ('[[rules]]\nid = "bad"\n', "rule bad: id: String should match pattern"),
    ('[[rules]]\nid = "XX02"\nname = "a.b"\nlayer = "network"\nmode = "m"\nseverity = "low"\ntitle = "title"\n'
     'description = "descr"\nremedy = "remedy"\nsql = "SELECT 1 AS x FROM span_facts"\n', "rule XX02: layer: Input should be"),
    ('[[rules]]\nid = "XX03"\nname = "a.b"\nlayer = "state"\nmode = "m"\nseverity = "low"\ntitle = "title"\n'
     'description = "descr"\nremedy = "remedy"\nsql = "DELETE FROM spans"\n', "rule XX03: sql: Value error, SQL must be exactly one SELECT"),
    ('[[rules]]\nid = "HO01"\nname = "a.b"\nlayer = "state"\nmode = "m"\nseverity = "low"\ntitle = "title"\n'
     'description = "descr"\nremedy = "remedy"\nsql = "SELECT trace_id, span_id, 1 AS evidence FROM span_facts"\n', "reuses the id"),
])
def test_broken_rule_file_names_rule_and_field(tmp_path: Path, body: str, message: str) -> None:
    from audit.engine import Audit

    path = tmp_path / "rules.toml"
    path.write_text(body)
    with pytest.raises(RuleDefinitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Audit.open(rules_file=path)


def test_rule_sql_missing_columns_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [{
        "id": "XX04", "name": "a.b", "layer": "state", "mode": "m", "severity": "low", "title": "title",
        "description": "descr", "remedy": "remedy", "sql": "SELECT trace_id FROM span_facts"}]}))
    with pytest.raises(RuleDefinitionError, match=r"XX04.*missing evidence, span_id"):
        audit_rows(tmp_path, case_rows({"spans": []}), rules_file=path)


def test_rule_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("rules: []\n")
    with pytest.raises(RuleDefinitionError, match="non-empty list"):
        load_rule_file(path)


def test_documented_fact_columns_exist(tmp_path: Path) -> None:
    from audit.facts import SPAN_FACT_COLUMNS, TRACE_FACT_COLUMNS

    audit, _ = audit_rows(tmp_path, case_rows({"spans": [{"id": "a", "name": "x"}]}))
    span_cols = {r[0] for r in audit.con.execute("DESCRIBE span_facts").fetchall()}
    trace_cols = {r[0] for r in audit.con.execute("DESCRIBE trace_facts").fetchall()}
    assert set(SPAN_FACT_COLUMNS) <= span_cols, set(SPAN_FACT_COLUMNS) - span_cols
    assert set(TRACE_FACT_COLUMNS) <= trace_cols, set(TRACE_FACT_COLUMNS) - trace_cols
