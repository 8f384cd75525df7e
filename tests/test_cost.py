"""Cost model: prices, recorded costs, roll-ups, unpriced spans, layers and payback."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import audit_rows, root, span

from audit.cost import load_prices
from audit.errors import SettingsError


def test_bundled_prices_validate_and_are_dated() -> None:
    table = load_prices()
    assert table.as_of == "2026-11-24"
    assert any(p.pattern.startswith("gpt-4o") for p in table.prices)
    assert any("sonnet" in p.pattern for p in table.prices)
    assert any(p.pattern.startswith("gemini") for p in table.prices)


def test_tokens_priced_and_recorded_cost_wins(tmp_path: Path) -> None:
    rows = [root(), span("a", "ChatOpenAI", kind="llm", model="gpt-4o-2024-08-06", input_tokens=1_000_000,
                         output_tokens=100_000),
            span("b", "ChatOpenAI", kind="llm", at=200, model="gpt-4o", input_tokens=1_000_000, cost_usd=0.5)]
    _, report = audit_rows(tmp_path, rows)
    assert report.cost.computed_cost_usd == pytest.approx(2.5 + 1.0)  # $2.50/M in, $10/M out
    assert report.cost.recorded_cost_usd == pytest.approx(0.5)
    assert report.cost.total_cost_usd == pytest.approx(4.0)


def test_parent_rollup_not_counted_twice(tmp_path: Path) -> None:
    rows = [root(cost_usd=0.30), span("a", "step", cost_usd=0.10), span("b", "step2", at=200, cost_usd=0.20)]
    _, report = audit_rows(tmp_path, rows)
    assert report.cost.total_cost_usd == pytest.approx(0.30)


def test_parent_with_own_cost_beyond_children(tmp_path: Path) -> None:
    rows = [root(cost_usd=0.50), span("a", "step", cost_usd=0.10)]
    _, report = audit_rows(tmp_path, rows)
    assert report.cost.total_cost_usd == pytest.approx(0.50)  # 0.40 own + 0.10 child


def test_unpriced_tokens_are_reported(tmp_path: Path) -> None:
    rows = [root(), span("a", "llm", kind="llm", model="my-local-llama", input_tokens=500, output_tokens=50)]
    _, report = audit_rows(tmp_path, rows)
    assert report.cost.unpriced_spans == 1 and report.cost.unpriced_tokens == 550
    assert report.cost.unpriced_models == ["my-local-llama"]


def test_failed_and_retry_spend_by_layer_and_payback(tmp_path: Path) -> None:
    rows = [
        root("t1", status="error"),
        span("a", "draft", trace="t1", status="error", error_type="ValidationError",
             error_message="1 validation error for X", cost_usd=1.0),
        root("t2"),
        span("a", "fetch", trace="t2", status="error", error_type="ReadTimeout", error_message="timed out", cost_usd=0.25),
        span("b", "fetch", trace="t2", at=2000, attempt=2, cost_usd=0.25),
    ]
    _, report = audit_rows(tmp_path, rows, business_cost_per_failure_usd=10.0, monthly_runs=200,
                           engineering_cost_usd=1100.0)
    c = report.cost
    assert c.failed_cost_usd == pytest.approx(1.0)
    assert c.retry_cost_usd == pytest.approx(0.25)
    assert c.useful_cost_usd == pytest.approx(0.25)
    assert c.cost_per_successful_run_usd == pytest.approx(1.5)
    handoff = c.by_layer["handoff"]
    assert (handoff.failed_traces, handoff.business_cost_usd) == (1, 10.0)
    assert handoff.monthly_loss_usd == pytest.approx((1.0 + 10.0) * 100)  # 200 runs / 2 traces
    assert handoff.payback_months == pytest.approx(1100 / 1100)
    assert c.by_layer["recovery"].retry_cost_usd == pytest.approx(0.25)
    assert c.monthly_failure_loss_usd == pytest.approx((1.0 + 0.25 + 10.0) * 100)


def test_bad_price_file_names_row_and_field(tmp_path: Path) -> None:
    p = tmp_path / "prices.toml"
    p.write_text('as_of = "2026-01-01"\n[[prices]]\npattern = "x*"\ninput_per_mtok = -1\noutput_per_mtok = 2\n')
    with pytest.raises(SettingsError, match=r"prices\.0\.input_per_mtok"):
        load_prices(p)


def test_a_model_call_without_tokens_or_cost_is_unpriced_not_free(tmp_path: Path) -> None:
    """A fake or un-instrumented model call records no usage: its cost is unknown, never $0.00."""
    from audit.cost import unpriced_note

    _, report = audit_rows(tmp_path, [root(), span("l", "ChatOpenAI", kind="llm", model="gpt-4o")])
    assert report.cost.unpriced_spans == 1
    assert unpriced_note(report.cost).startswith("1 spans unpriced (no tokens or cost recorded")
