"""Benchmark: ``compare`` of two datasets against one ``report`` of one of them.

Target (issue 8): comparing two 1M-span datasets takes at most 2.2x one ``report``.
Both datasets come from the sample generator (the candidate with the handoff layer fixed
and a new tool failure); both commands run in fresh processes in the same run, so the
ratio holds on any machine.

    python bench/bench_compare.py --spans 1000000
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_audit import REPO, SPANS_PER_TRACE, parse_args, timed

CANDIDATE_SHARES = {"output_parse_error": 0.0, "schema_mismatch": 0.0, "invalid_tool_args": 0.0, "unknown_tool": 0.05}
GENERATE = (
    "import sys, json; from audit.sample import write_sample; "
    "write_sample(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]) or None)"
)


def dataset(spans: int, workdir: Path, name: str, seed: int, shares: dict[str, float]) -> Path:
    """A generated canonical CSV of about ``spans`` spans, made once and reused."""
    import json

    data = workdir / f"compare_{name}_{spans}.csv"
    if not data.exists():
        traces = max(1, int(spans / SPANS_PER_TRACE))
        print(f"generating ~{spans:,} spans ({traces:,} traces) into {data} ...", flush=True)
        subprocess.run([sys.executable, "-c", GENERATE, str(data), str(traces), str(seed), json.dumps(shares)],
                       cwd=REPO, check=True)
    return data


def main() -> None:
    args = parse_args(__doc__ or "")
    baseline = dataset(args.spans, args.workdir, "baseline", 11, {})
    candidate = dataset(args.spans, args.workdir, "candidate", 12, CANDIDATE_SHARES)
    with tempfile.TemporaryDirectory() as tmp:
        report_s, report_mb = timed([sys.executable, "-m", "audit", "report", str(baseline), "--format", "json",
                                     "--output", str(Path(tmp) / "report.json")])
        compare_s, compare_mb = timed([sys.executable, "-m", "audit", "compare", str(baseline), "--against",
                                       str(candidate), "--format", "json", "--output", str(Path(tmp) / "cmp.json")])
    print(f"datasets: {baseline.name}, {candidate.name} ({baseline.stat().st_size / 1e6:,.0f} MB each)")
    print(f"one report:          {report_s:7.2f} s   (peak memory {report_mb:,.0f} MB)")
    print(f"compare of the two:  {compare_s:7.2f} s   (peak memory {compare_mb:,.0f} MB)")
    print(f"ratio compare / report: {compare_s / report_s:5.2f}x   (target <= 2.2x)")


if __name__ == "__main__":
    main()
