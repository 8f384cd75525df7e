"""Benchmark: real-sized spans. A real LangGraph export (the framework corpus, about 5.8 KB
per span with the model messages, one OTLP export request of 40-700 KB per line) replicated
with fresh trace ids to ``--spans``, then a full ``report`` at the default settings against
DuckDB's bare read of the same lines, both in fresh processes in the same run.

Target (issue 11): 1,000,000 real-sized spans (about 6 GB) audit at the default settings
with peak memory under 2 GB.

    python bench/bench_fat_spans.py --spans 100000
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_audit import parse_args, timed  # noqa: E402

CORPUS = REPO / "tests" / "frameworks" / "corpus" / "langgraph.otlp.jsonl.gz"
BARE_READ = (
    "import duckdb, sys; con = duckdb.connect(); "
    "con.execute(\"CREATE TABLE t AS SELECT * FROM read_csv(?, header = false, columns = {'line': 'VARCHAR'}, "
    "delim = chr(31), quote = '', escape = '', auto_detect = false, max_line_size = 16777216)\", [sys.argv[1]]); "
    "print(con.execute('SELECT count(*) FROM t').fetchone()[0])"
)


def fresh_trace_id() -> str:
    """A new trace id in protobuf's JSON mapping (base64 of 16 bytes), as the corpus writes them."""
    return base64.b64encode(os.urandom(16)).decode()


def replicate(spans: int, workdir: Path) -> tuple[Path, int]:
    """The corpus's export requests written again and again, each copy under fresh trace ids,
    until ``spans`` spans; made once and reused."""
    lines = gzip.decompress(CORPUS.read_bytes()).decode().splitlines()
    per_line = [(line, json.loads(line)) for line in lines if line.strip()]
    target = workdir / f"fat_{spans}.otlp.jsonl"
    written = 0
    if not target.exists():
        print(f"replicating {CORPUS.name} to ~{spans:,} spans into {target} ...", flush=True)
        with target.open("w", encoding="utf-8") as out:
            while written < spans:
                for line, request in per_line:
                    ids = {s["traceId"] for rs in request["resourceSpans"] for ss in rs["scopeSpans"]
                           for s in ss["spans"]}
                    for old in ids:
                        line = line.replace(f'"{old}"', f'"{fresh_trace_id()}"')
                    out.write(line + "\n")
                    written += sum(len(ss["spans"]) for rs in request["resourceSpans"] for ss in rs["scopeSpans"])
                    if written >= spans:
                        break
    return target, written


def main() -> None:
    args = parse_args(__doc__ or "")
    data, _ = replicate(args.spans, args.workdir)
    size_mb = data.stat().st_size / 1e6
    bare_s, bare_mb = timed([sys.executable, "-c", BARE_READ, str(data)])
    report = args.workdir / "fat_report.json"
    audit_s, audit_mb = timed([sys.executable, "-m", "audit", "report", str(data), "--format", "json",
                               "--output", str(report)])
    print(f"{args.spans:,} real-sized spans ({size_mb:,.0f} MB of OTLP JSON Lines)")
    print(f"bare read of the lines: {bare_s:.1f} s, peak {bare_mb:,.0f} MB")
    print(f"full audit:             {audit_s:.1f} s, peak {audit_mb:,.0f} MB "
          f"({audit_s / bare_s:.1f}x the bare read; target peak <= 2,048 MB)")
    print(f"JSON report: {report.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
