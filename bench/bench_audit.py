"""Benchmark: the full audit against DuckDB's bare ``read_csv`` of the same file.

Target (issue 2): a full ``report`` within 2x the bare load and under 2 GB peak memory at
1,000,000 spans; 10,000,000 spans must complete. Both sides run in fresh processes in
the same run, so the ratio holds on any machine.

    python bench/bench_audit.py --spans 1000000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPANS_PER_TRACE = 9.1  # what the generator averages

BARE_LOAD = (
    "import duckdb, sys; con = duckdb.connect(); "
    "con.execute('CREATE TABLE t AS SELECT * FROM read_csv(?)', [sys.argv[1]]); "
    "print(con.execute('SELECT count(*) FROM t').fetchone()[0])"
)


PEAK_WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one child process, measured on its own."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *cmd], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    seconds = time.perf_counter() - start
    return seconds, int(out.stdout.strip().splitlines()[-1]) / 1024


def parse_args(doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


def sample_csv(spans: int, workdir: Path) -> Path:
    """Generated canonical CSV of about ``spans`` spans, made once and reused."""
    data = workdir / f"spans_{spans}.csv"
    if not data.exists():
        traces = max(1, int(spans / SPANS_PER_TRACE))
        print(f"generating ~{spans:,} spans ({traces:,} traces) into {data} ...", flush=True)
        subprocess.run([sys.executable, "-m", "audit", "sample", "--traces", str(traces), "--seed", "11",
                        "--output", str(data)], cwd=REPO, check=True)
    return data


def main() -> None:
    args = parse_args(__doc__ or "")
    data = sample_csv(args.spans, args.workdir)
    size_mb = data.stat().st_size / 1e6
    bare_s, bare_mb = timed([sys.executable, "-c", BARE_LOAD, str(data)])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        full_s, full_mb = timed([sys.executable, "-m", "audit", "report", str(data), "--format", "json",
                                 "--output", str(out)])
    print(f"file: {data.name} ({size_mb:,.0f} MB)")
    print(f"bare DuckDB read_csv:   {bare_s:7.2f} s   (peak memory {bare_mb:,.0f} MB)")
    print(f"full audit (report):    {full_s:7.2f} s   (peak process memory {full_mb:,.0f} MB)")
    print(f"ratio full / bare load: {full_s / bare_s:7.2f}x   (target <= 2x)")
    print(f"peak memory:            {full_mb:7,.0f} MB  (target < 2,048 MB)")


if __name__ == "__main__":
    main()
