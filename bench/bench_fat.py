"""Benchmark: real-sized spans. A real framework's OTLP export (the LangGraph corpus of
``tests/frameworks/corpus``, about 5.8 KB per span with the model messages) replicated with
fresh trace and span ids to ``--spans`` spans, then audited at the default settings.

Target (issue 11): 1M real-sized spans (about 6 GB) audit within 2 GB peak memory. Start
smaller; this machine's figures are printed with its cores and load.

    python -m bench.bench_fat --spans 100000
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_audit import REPO, parse_args, timed

CORPUS = REPO / "tests" / "frameworks" / "corpus" / "langgraph.otlp.jsonl.gz"
# DuckDB reading the same lines as text, the floor any parse of them stands on
BARE_READ = (
    "import duckdb, sys; con = duckdb.connect(); "
    "con.execute(\"CREATE TABLE t AS SELECT * FROM read_csv(?, header = false, columns = {'line': 'VARCHAR'}, "
    "delim = chr(31), quote = '', escape = '', auto_detect = false, max_line_size = 16777216)\", [sys.argv[1]]); "
    "print(con.execute('SELECT count(*) FROM t').fetchone()[0])"
)
_ID = re.compile(r'"(traceId|spanId|parentSpanId)": "([^"]*)"')


def fresh_ids(line: str, copy: int) -> str:
    """The line with every trace and span id replaced by one derived from ``copy`` (same
    length, base64 as the export writes them), so the copies are distinct traces."""
    def swap(m: re.Match[str]) -> str:
        if not m.group(2):
            return m.group(0)
        size = 16 if m.group(1) == "traceId" else 8
        digest = hashlib.md5(f"{copy}:{m.group(2)}".encode()).digest()[:size]
        return f'"{m.group(1)}": "{base64.b64encode(digest).decode()}"'
    return _ID.sub(swap, line)


def replicated(spans: int, workdir: Path) -> Path:
    """The corpus replicated to about ``spans`` spans (made once, reused)."""
    out = workdir / f"fat_{spans}.otlp.jsonl"
    if out.exists():
        return out
    lines = gzip.decompress(CORPUS.read_bytes()).decode("utf-8").splitlines()
    per_copy = sum(line.count('"spanId"') for line in lines)
    copies = max(1, round(spans / per_copy))
    print(f"writing {copies:,} copies of {CORPUS.name} ({per_copy:,} spans each) into {out} ...", flush=True)
    with out.open("w", encoding="utf-8") as fh:
        for copy in range(copies):
            for line in lines:
                fh.write(fresh_ids(line, copy) + "\n")
    return out


def main() -> None:
    args = parse_args(__doc__ or "")
    data = replicated(args.spans, args.workdir)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{data.name}: {data.stat().st_size / 1e6:,.0f} MB", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        try:
            seconds, peak_mb = timed([sys.executable, "-m", "audit", "report", str(data), "--format", "json",
                                      "--output", str(Path(tmp) / "r.json")])
        except Exception as e:  # a failed audit is a result too: say how it failed
            print(f"full audit FAILED after {time.perf_counter() - start:.1f} s: {e}")
            return
    bare_s, bare_mb = timed([sys.executable, "-c", BARE_READ, str(data)])
    print(f"bare read of the lines: {bare_s:8.2f} s   peak {bare_mb:7,.0f} MB")
    print(f"full audit (report):    {seconds:8.2f} s   peak {peak_mb:7,.0f} MB  (target <= 2,048 MB; "
          f"{seconds / bare_s:.1f}x the bare read)")


if __name__ == "__main__":
    main()
