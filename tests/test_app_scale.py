"""What keeps the dashboard fast at 10M spans answers the same as the slow way: the Costs
page's breakdowns from the span rollup (sums exactly, p50 and p95 within the latency bin's
2.2%, under agent, model and step filters), a trace found through the trace index."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from audit import explore
from audit.cli import main
from audit.cost import load_prices
from audit.engine import Audit
from audit.ingest import SourceFile

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_traces.csv"
SUMS = ["spans", "errors", "input_tokens", "output_tokens", "unpriced_spans"]
BIN = 2 ** (1 / (2 * explore.DURATION_BINS_PER_DOUBLING))  # half a bin: the furthest a percentile can be


@pytest.fixture(scope="module")
def audit() -> Audit:
    audit = Audit.open()
    audit.load([SourceFile.of(SAMPLE)])
    audit.run()
    return audit


def nth_duration(con: duckdb.DuckDBPyConnection, by: str, key: str, q: float) -> float:
    """The order statistic the bins stand for: the smallest duration with at least q of the spans at or below it."""
    column = "coalesce(model, '(no model)')" if by == "model" else "name"
    durations = sorted(r[0] for r in con.execute(f"SELECT duration_ms FROM span_facts WHERE {column} = ?",
                                                 [key]).fetchall())
    return float(durations[math.ceil(q * len(durations)) - 1])


@pytest.mark.parametrize("by", ["model", "step"])
@pytest.mark.parametrize("filters", [explore.Filters(), explore.Filters(agents=("researcher", "writer")),
                                     explore.Filters(steps=("ChatOpenAI",))], ids=["all", "agents", "step"])
def test_the_rollup_breakdown_equals_the_spans(audit: Audit, by: str, filters: explore.Filters) -> None:
    con = audit.con.cursor()
    exact = explore.breakdown(con, load_prices(), by, filters).set_index(by).sort_index()  # type: ignore[arg-type]
    rollup = explore.span_rollup(con, load_prices())
    assert len(rollup) < len(con.execute("SELECT * FROM span_facts").fetchall()) / 2  # a summary, not the spans
    binned = explore.rollup_breakdown(con, rollup, by, filters).set_index(by).sort_index()  # type: ignore[arg-type]
    assert not exact.empty and list(binned.index) == list(exact.index)
    pd.testing.assert_frame_equal(binned[SUMS], exact[SUMS], check_dtype=False)
    for column in ("cost_usd", "total_ms", "error_rate"):
        assert binned[column].to_numpy() == pytest.approx(exact[column].to_numpy(), rel=1e-9, abs=1e-12)
    if filters == explore.Filters():
        for key in exact.index:
            for q, column in ((0.5, "p50_ms"), (0.95, "p95_ms")):
                truth = 1 + nth_duration(con, by, str(key), q)
                assert 1 / BIN <= (1 + binned.loc[key, column]) / truth <= BIN, (key, column)


def test_a_time_window_is_refused_by_the_rollup(audit: Audit) -> None:
    con = audit.con.cursor()
    first = con.execute("SELECT min(start_time) FROM span_facts").fetchone()[0]  # type: ignore[index]
    with pytest.raises(ValueError, match="time window"):
        explore.rollup_breakdown(con, explore.span_rollup(con, load_prices()), "step", explore.Filters(start=first))


def test_the_cli_db_file_keeps_the_rollup_of_its_prices(audit: Audit, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    assert main(["report", str(SAMPLE), "--db", str(db), "-o", str(tmp_path / "r.json")]) == 0
    saved, _ = Audit.open_saved(db)
    con = saved.con.cursor()
    from_file = explore.rollup_breakdown(con, explore.ROLLUP_TABLE, "step", explore.Filters())
    fresh = explore.rollup_breakdown(con, explore.span_rollup(con, load_prices()), "step", explore.Filters())
    pd.testing.assert_frame_equal(from_file, fresh)


def test_a_trace_found_through_the_index_is_the_same_tree(audit: Audit) -> None:
    con = audit.con.cursor()
    explore.save_trace_index(audit.con)
    traces = [r[0] for r in con.execute("SELECT trace_id FROM trace_facts ORDER BY trace_id").fetchall()]
    for trace_id in traces[::7]:
        pd.testing.assert_frame_equal(explore.trace_tree(con, trace_id, indexed=True),
                                      explore.trace_tree(con, trace_id))
    assert explore.trace_tree(con, "no such trace", indexed=True).empty


def test_the_cli_db_file_keeps_the_trace_index(tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    assert main(["report", str(SAMPLE), "--db", str(db), "-o", str(tmp_path / "r.json")]) == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM trace_index").fetchone() == con.execute(
        "SELECT count(*) FROM span_facts").fetchone()


def test_costs_page_reads_the_spans_for_a_time_window_and_the_rollup_otherwise() -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    at.switch_page("pages/costs.py").run()
    assert any("latency bins" in c.value for c in at.caption)
    loaded = at.session_state["loaded"]
    con = loaded.cursor()
    first, last = con.execute("SELECT min(start_time), max(start_time) FROM span_facts").fetchone()  # type: ignore[misc]
    # after switch_page AppTest runs the page alone (no sidebar): set what the Time slider sets
    at.session_state["filters"] = explore.Filters(start=first, end=first + (last - first) / 2)
    at.run()
    assert not at.exception and not at.error
    assert not any("latency bins" in c.value for c in at.caption)
    window = at.session_state["filters"]
    exact = explore.breakdown(con, load_prices(), "step", window)
    shown = next(d.value for d in at.dataframe if "spans" in d.value.columns and "step" in d.value.columns)
    assert shown["spans"].sum() == exact["spans"].sum() < con.execute("SELECT count(*) FROM span_facts").fetchone()[0]  # type: ignore[index]
