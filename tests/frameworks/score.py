"""Score the audit on a labelled corpus of real framework runs.

    .venv/bin/python tests/frameworks/score.py tests/frameworks/corpus/langgraph.otlp.jsonl.gz

reads ``<name>.labels.csv`` beside the spans file (or ``--labels``) and prints, per layer, the
recall (a trace labelled with a layer has an active finding in that layer; how many also name
the labelled mode is shown beside it), how often
the root cause is right (a failed trace's primary finding is in the labelled layer), how many
clean runs stay quiet (no medium or high finding) and whether each run's failed/ok outcome
matches, then every miss with what the audit said instead. Runs in the app's environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from audit.engine import Audit  # noqa: E402
from audit.ingest import SourceFile  # noqa: E402

RECALL_FLOOR = 0.95
CLEAN_QUIET_FLOOR = 0.98


@dataclass
class Score:
    """Per-layer recall and root cause, clean runs left quiet, outcome agreement, and the misses."""

    recall: dict[str, tuple[int, int]] = field(default_factory=dict)  # layer -> (detected, labelled)
    modes: dict[str, tuple[int, int]] = field(default_factory=dict)  # layer -> (mode also right, labelled)
    root_cause: dict[str, tuple[int, int]] = field(default_factory=dict)  # layer -> (right, failed)
    clean: tuple[int, int] = (0, 0)  # (quiet, clean runs)
    outcome: tuple[int, int] = (0, 0)  # (agreeing, traces)
    misses: list[dict[str, str]] = field(default_factory=list)

    def failures(self) -> list[str]:
        """What falls short of the floors, one line each (empty when the corpus passes)."""
        out = [f"{layer} recall {d}/{n}" for layer, (d, n) in self.recall.items() if d < RECALL_FLOOR * n]
        out += [f"{layer} root cause {r}/{n}" for layer, (r, n) in self.root_cause.items() if r < RECALL_FLOOR * n]
        quiet, total = self.clean
        if quiet < CLEAN_QUIET_FLOOR * total:
            out.append(f"clean runs quiet {quiet}/{total}")
        return out


def labels_for(spans: Path) -> Path:
    name = spans.name.split(".")[0]
    return spans.with_name(f"{name}.labels.csv")


def score(spans: Path, labels: Path | None = None) -> Score:
    """Audit ``spans`` and compare with its labels."""
    audit = Audit.open()
    audit.load([SourceFile.of(spans)])
    audit.classify()
    con = audit.con
    con.execute("CREATE TABLE labels AS SELECT * FROM read_csv(?, all_varchar = true)", [str(labels or labels_for(spans))])
    rows = con.execute("""
        SELECT l.scenario, l.trace_id, l.layer, l.mode, l.failed = 'true' AS should_fail,
               t.failed AS did_fail,
               EXISTS (SELECT 1 FROM findings f WHERE f.trace_id = l.trace_id AND NOT f.silenced
                       AND f.layer = l.layer) AS detected,
               EXISTS (SELECT 1 FROM findings f WHERE f.trace_id = l.trace_id AND NOT f.silenced
                       AND f.layer = l.layer AND f.mode = l.mode) AS mode_right,
               (SELECT any_value(f.layer || '/' || f.mode) FROM findings f
                 WHERE f.trace_id = l.trace_id AND f."primary") AS primary_finding,
               (SELECT count(*) FROM findings f WHERE f.trace_id = l.trace_id AND NOT f.silenced
                 AND f.severity IN ('high', 'medium')) AS loud,
               (SELECT string_agg(f.layer || '/' || f.mode || ' ' || f.severity || ' [' || f.rule_id || '] '
                                  || left(f.evidence, 160), ' | ' ORDER BY f."primary" DESC, f.start_time)
                  FROM findings f WHERE f.trace_id = l.trace_id AND NOT f.silenced) AS said
        FROM labels l LEFT JOIN trace_facts t USING (trace_id) ORDER BY l.layer, l.scenario""").fetchall()
    result = Score()
    agree = 0
    for scenario, trace_id, layer, mode, should_fail, did_fail, detected, mode_right, primary, loud, said in rows:
        agree += int(bool(did_fail) == should_fail)
        why = []
        if layer == "none":
            quiet, total = result.clean
            result.clean = (quiet + int(loud == 0), total + 1)
            if loud:
                why.append("clean run has a medium/high finding")
        else:
            d, n = result.recall.get(layer, (0, 0))
            result.recall[layer] = (d + int(detected), n + 1)
            m, _ = result.modes.get(layer, (0, 0))
            result.modes[layer] = (m + int(mode_right), n + 1)
            if not detected:
                why.append(f"no {layer} finding")
            elif not mode_right:
                why.append(f"{layer} found, but not mode {mode}")
            if should_fail:
                r, f = result.root_cause.get(layer, (0, 0))
                right = bool(primary) and primary.split("/")[0] == layer
                result.root_cause[layer] = (r + int(right), f + 1)
                if not right:
                    why.append(f"primary is {primary or 'none'}")
        if bool(did_fail) != should_fail:
            why.append(f"judged {'failed' if did_fail else 'ok'}, expected {'failed' if should_fail else 'ok'}")
        if why:
            result.misses.append({"scenario": scenario, "trace_id": trace_id, "expected": f"{layer}/{mode}",
                                  "why": "; ".join(why),
                                  "said": " ".join((said or "(no findings)").split())})
    result.outcome = (agree, len(rows))
    con.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spans", type=Path)
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--json", action="store_true", help="print the score as JSON")
    args = parser.parse_args()
    s = score(args.spans, args.labels)
    if args.json:
        print(json.dumps(s.__dict__, indent=1, default=list))
        return 0
    for layer, (d, n) in sorted(s.recall.items()):
        r, f = s.root_cause.get(layer, (0, 0))
        print(f"{layer:<9} recall {d}/{n} (mode right {s.modes[layer][0]})   root cause right {r}/{f}")
    print(f"clean runs quiet {s.clean[0]}/{s.clean[1]}   outcome agrees {s.outcome[0]}/{s.outcome[1]}")
    for m in s.misses:
        print(f"MISS {m['scenario']} ({m['trace_id'][:12]}) expected {m['expected']}: {m['why']}\n     said: {m['said']}")
    print("PASS" if not s.failures() else "FAIL: " + "; ".join(s.failures()))
    return 0 if not s.failures() else 1


if __name__ == "__main__":
    raise SystemExit(main())
