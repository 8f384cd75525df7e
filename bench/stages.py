"""One audit, timed stage by stage in one process: where the time of ``report`` goes.

    python -m bench.stages FILE [--report-dir DIR]

Prints one JSON object: seconds per stage (load, facts, rules and classify, fingerprints,
reliability/cost/checklist, report model, each rendering) and the report sizes in bytes.
The stages are the engine's own functions, called in the order ``Audit.run`` calls them.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit.backend import as_backend
from audit.checklist import score_checklist
from audit.classify import FINDINGS_SQL, _register_rules, _register_silences, run_rule
from audit.cost import compute_cost
from audit.engine import Audit
from audit.exports import render
from audit.facts import STAGES, build_facts
from audit.fingerprints import build_fingerprints
from audit.fixfirst import fix_first
from audit.ingest import SourceFile
from audit.reliability import compute_reliability


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--report-dir", type=Path, help="also write the reports here")
    parser.add_argument("--memory-limit-mb", type=int, help="the audit's memory_limit_mb")
    parser.add_argument("--db", type=Path, help="audit in this database file (as `report --db`), not in memory")
    args = parser.parse_args()
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times[name] = round(time.perf_counter() - start, 3)
        cpu[name] = round(time.process_time() - start_cpu, 3)
        return result

    audit = Audit.open(args.db, memory_limit_mb=args.memory_limit_mb)
    con, settings = audit.con, audit.settings
    stage("load", lambda: audit.load([SourceFile.of(args.file)]))
    con.execute("SET preserve_insertion_order = false")  # as Audit.classify runs the facts
    facts_parts = FactsParts()
    stage("facts", lambda: build_facts(con, facts_parts))
    facts_parts("done", 1.0)

    def rules() -> None:  # classify() after build_facts, as audit.classify runs it
        con.execute("CREATE OR REPLACE TABLE raw_findings (rule_id VARCHAR, trace_id VARCHAR, span_id VARCHAR, "
                    "evidence VARCHAR, recovered BOOLEAN)")
        db = as_backend(con)
        for rule in audit.rules:
            run_rule(db, rule, settings)
        _register_rules(db, audit.rules)
        _register_silences(db, settings)
        con.execute(FINDINGS_SQL)

    stage("rules+classify", rules)
    stage("fingerprints", lambda: build_fingerprints(con))

    def aggregates() -> None:
        compute_reliability(con, settings)
        fix_first(con, compute_cost(con, audit.prices, settings))
        score_checklist(con, settings)

    stage("reliability+cost+checklist", aggregates)
    audit.classify = lambda progress=None: None  # type: ignore[method-assign,misc,assignment]  # already done, stage by stage
    report = stage("report model (all aggregates again + findings)", audit.run)
    sizes = {}
    for fmt in ("json", "md", "html"):
        text = stage(f"render {fmt}", lambda f=fmt: render(report, f))  # type: ignore[misc]
        sizes[fmt] = len(text.encode("utf-8"))
        if args.report_dir:
            (args.report_dir / f"report.{fmt}").write_text(text, encoding="utf-8")
    print(json.dumps({"seconds": times, "cpu_seconds": cpu, "facts_parts": facts_parts.seconds(),
                      "report_bytes": sizes, "findings": report.summary.findings}))


class FactsParts:
    """A ``Progress`` that times the facts' own parts (the walk, each stage table, the trace facts):
    ``build_facts`` reports each part as it starts, so a part lasts until the next report (the
    last one until ``done``)."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []

    def __call__(self, stage: str, share: float) -> None:
        if " stage " in stage:  # "Deriving the span facts: stage i of n": name the table it makes
            i = int(stage.split(" stage ")[1].split()[0])
            stage = f"span facts stage {i}: " + ((*STAGES, "span_facts")[i - 1])
        self.marks.append((stage.removeprefix("Deriving the "), time.perf_counter()))

    def seconds(self) -> dict[str, float]:
        return {name: round(end - start, 3) for (name, start), (_, end) in zip(self.marks, self.marks[1:], strict=False)}


if __name__ == "__main__":
    main()
