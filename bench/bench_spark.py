"""Local-mode Spark against DuckDB on the same canonical Parquet (docs/SCALE.md).

    python -m bench.bench_spark --spans 1000000 [--spans 10000000] [--master local[2]]

For each size: generate the sample (``audit.sample``), export its spans as canonical Parquet
(``report --export-spans``), then time ``report`` on that Parquet with each engine, each in a
fresh process (Spark's time includes starting its JVM). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from audit.sample import write_sample

SPANS_PER_TRACE = 9.1  # the generator's average


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def prepare(folder: Path, spans: int) -> tuple[Path, int]:
    """The sample sized for about ``spans`` spans as canonical Parquet, and how many it holds."""
    csv, parquet = folder / f"s{spans}.csv", folder / f"s{spans}.parquet"
    written, _ = write_sample(csv, traces=max(1, int(spans / SPANS_PER_TRACE)), seed=3)
    subprocess.run([sys.executable, "-m", "audit", "report", str(csv), "--export-spans", str(parquet), "-o",
                    str(folder / "prep.json")], check=True, stderr=subprocess.DEVNULL)
    csv.unlink()
    return parquet, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, action="append", required=True)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--engine", choices=["duckdb", "spark"], action="append",
                        help="time only these engines (default: both)")
    args = parser.parse_args()
    engines = args.engine or ["duckdb", "spark"]
    print("| spans | engine | report |\n|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.spans:
            parquet, written = prepare(Path(tmp), n)
            base = [sys.executable, "-m", "audit", "report", str(parquet), "--format", "json", "-o",
                    str(Path(tmp) / "r.json"), "--findings", str(Path(tmp) / "f.parquet")]
            for engine in engines:
                extra = [] if engine == "duckdb" else [
                    "--engine", "spark", "--spark-master", args.master,
                    "--spark-conf", f"spark.driver.memory={args.driver_memory}"]
                print(f"| {written:,} | {engine} | {timed([*base, *extra]):.0f} s |", flush=True)
            parquet.unlink()


if __name__ == "__main__":
    main()
