"""Benchmark: the full audit against DuckDB's bare ``read_csv`` of the same file, at two sizes.

Targets (issue 11): at 1,000,000 spans a full ``report`` within 3x the bare load; 10x the
spans within 11x the time; peak memory under 2 GB at both sizes; reports whose size does
not grow with the findings. Every figure is measured in this one run, each command in a
fresh process, so the ratios hold on any machine (absolute seconds do not: give the
machine's cores and load beside them, as printed).

    python -m bench.bench_audit                     # 1M and 10M spans (10M takes minutes)
    python -m bench.bench_audit --spans 1000000     # one size
    python -m bench.bench_audit --breakdown         # also time each stage at the smallest size
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # also run as a script (python bench/bench_audit.py)
    sys.path.insert(0, str(REPO))
SPANS_PER_TRACE = 9.1  # what the generator averages
TARGET_RATIO, TARGET_GROWTH, TARGET_MB = 3.0, 11.0, 2048

BARE_LOAD = (
    "import duckdb, sys; con = duckdb.connect(); "
    "con.execute('CREATE TABLE t AS SELECT * FROM read_csv(?)', [sys.argv[1]]); "
    "print(con.execute('SELECT count(*) FROM t').fetchone()[0])"
)

PEAK_WRAPPER = (
    "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE); "
    "sys.stdout.write(p.stdout.decode()); print(); u = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(u.ru_utime + u.ru_stime, u.ru_maxrss); sys.exit(p.returncode)"
)
LAST_CPU: list[float] = [0.0]  # CPU seconds (user + system) of the last timed command


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one child process, measured on its own."""
    seconds, peak_mb, _ = timed_output(cmd)
    return seconds, peak_mb


def timed_output(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (MB) and stdout of one child process, on its own;
    its CPU seconds in ``LAST_CPU`` (less disturbed than wall time when cores are shared)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *cmd], cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {out.returncode} after {seconds:.0f} s: "
                           + " | ".join(out.stderr.strip().splitlines()[-3:]))
    *lines, usage = out.stdout.strip().splitlines()
    cpu, peak = usage.split()
    LAST_CPU[0] = float(cpu)
    return seconds, int(peak) / 1024, "\n".join(lines)


def parse_args(doc: str, sizes: bool = False) -> argparse.Namespace:
    """``--spans`` (one size; several with ``sizes``) and ``--workdir``, for every bench script."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if sizes:
        parser.add_argument("--spans", type=int, nargs="+", default=[1_000_000, 10_000_000])
        parser.add_argument("--memory-limit-mb", type=int, help="the audit's memory_limit_mb (default: the setting's)")
        parser.add_argument("--breakdown", action="store_true",
                            help="time each stage at the smallest size (always done when the ratio misses its target)")
    else:
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


def measure(data: Path, flags: list[str]) -> dict[str, float]:
    """Bare load, full audit (JSON report) and the report's size in each format."""
    from audit.exports import render
    from audit.models import AuditReport

    bare_s, bare_mb = timed([sys.executable, "-c", BARE_LOAD, str(data)])
    bare_cpu = LAST_CPU[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        full_s, full_mb = timed([sys.executable, "-m", "audit", "report", str(data), "--format", "json",
                                    "--output", str(out), *flags])
        full_cpu = LAST_CPU[0]
        text = out.read_text(encoding="utf-8")
    report = AuditReport.model_validate_json(text)  # bounded: the other formats render from it
    return {"mb": data.stat().st_size / 1e6, "spans": report.summary.spans, "findings": report.summary.findings,
            "listed": len(report.findings), "bare_cpu": bare_cpu, "full_cpu": full_cpu, "bare_s": bare_s, "bare_mb": bare_mb, "full_s": full_s,
            "full_mb": full_mb, "json_kb": len(text.encode()) / 1e3,
            "md_kb": len(render(report, "md").encode()) / 1e3, "html_kb": len(render(report, "html").encode()) / 1e3}


def breakdown(data: Path, flags: list[str]) -> dict[str, Any]:
    """Wall and CPU seconds per stage of one audit, and of the facts' parts, in one process
    (``bench/stages.py``), with its peak memory."""
    _, peak_mb, out = timed_output([sys.executable, "-m", "bench.stages", str(data), *flags])
    result = json.loads(out.strip().splitlines()[-1])
    return {**result, "peak_mb": round(peak_mb)}


REPEATED = "report model (all aggregates again + findings)"  # re-runs the aggregates: not added to the sum


def print_breakdown(spans: int, stages: dict[str, Any], bare_s: float, bare_cpu: float) -> None:
    """Each stage as seconds and as a multiple of the bare load, then where the floor of the
    ratio target is: the stages that alone already cost more than the target allows."""
    wall, cpu = stages["seconds"], stages["cpu_seconds"]
    print(f"\nstages at {spans:,} spans (one process, peak {stages['peak_mb']:,} MB; x bare = seconds / the bare "
          f"read_csv's {bare_s:.2f} s wall, {bare_cpu:.2f} s CPU, measured in this run):")
    print(f"  {'stage':<34} {'wall s':>8} {'x bare':>7} {'CPU s':>8} {'x bare':>7}")
    for name, value in wall.items():
        c = cpu.get(name)
        label = "report model (aggregates again)" if name == REPEATED else name
        print(f"  {label:<34} {value:8.2f} {value / bare_s:6.2f}x "
              + (f"{c:8.2f} {c / bare_cpu:6.2f}x" if c is not None else ""))
    for name, value in stages.get("facts_parts", {}).items():
        print(f"    facts: {name:<40} {value:8.2f}")
    total = sum(v for k, v in wall.items() if k != REPEATED and not k.startswith("render"))
    load = wall.get("load", 0.0)
    print(f"  floor of the ratio target: {TARGET_RATIO:.0f}x bare is {TARGET_RATIO * bare_s:.1f} s; loading alone "
          f"(pre-check pass, typing and quarantine in SQL, the spans table) takes {load:.1f} s = "
          f"{load / bare_s:.1f}x, load + facts {load + wall.get('facts', 0.0):.1f} s = "
          f"{(load + wall.get('facts', 0.0)) / bare_s:.1f}x; all stages {total:.1f} s = {total / bare_s:.1f}x")


def main() -> None:
    args = parse_args(__doc__ or "", sizes=True)
    print(f"machine: {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f} "
          "(cores shared with other jobs inflate wall times; the ratios are measured side by side)", flush=True)
    rows = {}
    flags = ["--memory-limit-mb", str(args.memory_limit_mb)] if args.memory_limit_mb else []
    if flags:
        print(f"audit run with {' '.join(flags)}")
    for spans in sorted(args.spans):
        data = sample_csv(spans, args.workdir)
        try:
            rows[spans] = m = measure(data, flags)
        except RuntimeError as e:  # a failed audit is a result: say how it failed, go on
            print(f"\n{data.name}: FAILED: {e}", flush=True)
            continue
        print(f"\n{m['spans']:,} spans ({data.name}, {m['mb']:,.0f} MB): {m['findings']:,} findings, "
              f"{m['listed']:,} listed in the report")
        print(f"  bare DuckDB read_csv:   {m['bare_s']:8.2f} s   peak {m['bare_mb']:7,.0f} MB")
        print(f"  full audit (report):    {m['full_s']:8.2f} s   peak {m['full_mb']:7,.0f} MB"
              f"   (target <= {TARGET_MB:,} MB)")
        print(f"  ratio full / bare:      {m['full_s'] / m['bare_s']:8.2f}x  (target <= {TARGET_RATIO:.0f}x at 1M); "
              f"in CPU seconds {m['full_cpu']:.1f} / {m['bare_cpu']:.1f} = {m['full_cpu'] / m['bare_cpu']:.2f}x")
        print(f"  report sizes:           JSON {m['json_kb']:,.0f} KB, Markdown {m['md_kb']:,.0f} KB, "
              f"HTML {m['html_kb']:,.0f} KB", flush=True)
    sizes = sorted(rows)
    if not sizes:
        return
    if len(sizes) > 1:
        small, large = rows[sizes[0]], rows[sizes[-1]]
        print(f"\ngrowth {sizes[-1]:,} / {sizes[0]:,} spans: full audit {large['full_s'] / small['full_s']:.2f}x "
              f"(CPU {large['full_cpu'] / small['full_cpu']:.2f}x) "
              f"(target <= {TARGET_GROWTH:.0f}x for 10x), bare load {large['bare_s'] / small['bare_s']:.2f}x, "
              f"report JSON {large['json_kb'] / small['json_kb']:.2f}x")
    first = rows[sizes[0]]
    if args.breakdown or first["full_s"] / first["bare_s"] > TARGET_RATIO:
        stages = breakdown(sample_csv(sizes[0], args.workdir), flags)
        print_breakdown(sizes[0], stages, first["bare_s"], first["bare_cpu"])
    print_targets(rows)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


def print_targets(rows: dict[int, dict[str, float]]) -> None:
    """The three targets of issue 11, each as measured in this run: met or not."""
    sizes = sorted(rows)
    first = rows[sizes[0]]
    print("\ntargets (this run):")
    ratio = first["full_s"] / first["bare_s"]
    print(f"  ratio   full / bare at {sizes[0]:,}: {ratio:.2f}x wall, {first['full_cpu'] / first['bare_cpu']:.2f}x CPU "
          f"(target <= {TARGET_RATIO:.0f}x): {'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    if len(sizes) > 1:
        small, large = rows[sizes[0]], rows[sizes[-1]]
        growth, allowed = large["full_s"] / small["full_s"], TARGET_GROWTH * sizes[-1] / sizes[0] / 10
        print(f"  growth  {sizes[-1]:,} / {sizes[0]:,}: {growth:.2f}x wall, "
              f"{large['full_cpu'] / small['full_cpu']:.2f}x CPU (target <= {allowed:.1f}x): "
              f"{'met' if growth <= allowed else 'NOT met'}")
    for spans in sizes:
        mb = rows[spans]["full_mb"]
        print(f"  memory  peak at {spans:,}: {mb:,.0f} MB (target <= {TARGET_MB:,} MB): "
              f"{'met' if mb <= TARGET_MB else 'NOT met'}")


if __name__ == "__main__":
    main()
