"""Classifier accuracy on generated labelled traces (a seed the sample data does not use)."""

from __future__ import annotations

from pathlib import Path

from audit.engine import Audit
from audit.ingest import SourceFile
from audit.sample import write_sample

RECALL_FLOOR = 0.9
CLEAN_QUIET_FLOOR = 0.98


def test_per_layer_recall_and_quiet_clean_traces(tmp_path: Path) -> None:
    spans = tmp_path / "gen.csv"
    _, labels = write_sample(spans, traces=3000, seed=20261124)
    audit = Audit.open()
    audit.load([SourceFile.of(spans)])
    audit.classify()
    audit.con.execute("CREATE TABLE labels AS SELECT * FROM read_csv(?, all_varchar = true)", [str(labels)])
    per_layer = audit.con.execute("""
        SELECT l.layer, count(*) AS n,
               count(CASE WHEN EXISTS (SELECT 1 FROM findings f WHERE f.trace_id = l.trace_id
                                        AND f.layer = l.layer AND f.mode = l.mode) THEN 1 END) AS detected,
               count(CASE WHEN l.failed = 'true' THEN 1 END) AS failed,
               count(CASE WHEN l.failed = 'true' AND EXISTS (SELECT 1 FROM findings f WHERE f.trace_id = l.trace_id
                                        AND f."primary" AND f.layer = l.layer) THEN 1 END) AS root_cause_right
        FROM labels l WHERE l.layer <> 'none' GROUP BY l.layer ORDER BY l.layer""").fetchall()
    clean_total, clean_quiet = audit.con.execute("""
        SELECT count(*), count(CASE WHEN NOT EXISTS (SELECT 1 FROM findings f WHERE f.trace_id = l.trace_id)
                                    THEN 1 END)
        FROM labels l WHERE l.layer = 'none'""").fetchone()
    print()
    for layer, n, detected, failed, right in per_layer:
        print(f"{layer:<9} recall {detected / n:.3f} ({detected}/{n}); root cause right "
              f"{right / failed if failed else 1:.3f} ({right}/{failed})")
    print(f"clean traces without findings: {clean_quiet / clean_total:.3f} ({clean_quiet}/{clean_total})")
    assert {layer for layer, *_ in per_layer} == {"handoff", "state", "routing", "recovery"}
    for layer, n, detected, failed, right in per_layer:
        assert detected / n >= RECALL_FLOOR, layer
        assert not failed or right / failed >= RECALL_FLOOR, layer
    assert clean_quiet / clean_total >= CLEAN_QUIET_FLOOR
    (trace_failures,) = audit.con.execute(
        "SELECT count(*) FROM labels l JOIN trace_facts t USING (trace_id) WHERE (l.failed = 'true') <> t.failed"
    ).fetchone()
    assert trace_failures == 0
