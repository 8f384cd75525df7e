"""The LangGraph corpus's spans as a Phoenix spans dataframe, by Phoenix itself, offline.

    /work/venvs/langgraph-phoenix/bin/python phoenix_export.py \\
        --spans ../corpus/langgraph.otlp.jsonl.gz --out ../corpus/langgraph.phoenix.parquet

Starts a local Phoenix server (``phoenix serve``) on 127.0.0.1 with a throw-away SQLite working
directory, posts every OTLP export request of the corpus to its ``/v1/traces`` collector (the
same spans, as protobuf, the way an OTLP/HTTP exporter sends them), waits until Phoenix has
ingested them all, reads them back with the Phoenix client's ``get_spans_dataframe()`` and saves
that dataframe as Parquet. The labels file of the OTLP corpus applies unchanged (trace ids are
the same). Needs its own environment (``phoenix-requirements.txt``): arize-phoenix pins an older
``anthropic`` than the generator's. Nested columns (events, metadata, llm.input_messages ...) hold
lists/dicts of mixed inner types that Parquet cannot store, so they are written as JSON text.
Takes about a minute (server start with its SQLite migrations ~20-30 s, then ingestion).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from phoenix.client import Client

PORT, GRPC_PORT = 6761, 6762
BASE = f"http://127.0.0.1:{PORT}"
PROJECT = "default"


def start_server(workdir: str) -> subprocess.Popen[bytes]:
    env = {**os.environ,
           "PHOENIX_WORKING_DIR": workdir, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(PORT),
           "PHOENIX_GRPC_PORT": str(GRPC_PORT), "PHOENIX_TELEMETRY_ENABLED": "false",
           "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false", "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
           "PHOENIX_SQL_DATABASE_URL": f"sqlite:///{workdir}/phoenix.db"}
    log = open(Path(workdir) / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen([sys.executable, "-m", "phoenix.server.main", "serve"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 180
    try:
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"phoenix exited: {(Path(workdir) / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{BASE}/healthz", timeout=1).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError("phoenix did not start within 180 s")
    except BaseException:
        stop_server(proc)
        raise


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _ingested(http: httpx.Client) -> int:
    """Spans Phoenix holds in the project so far (its GraphQL API)."""
    data = http.post("/graphql", json={"query": "{ projects { edges { node { name recordCount } } } }"}).json()
    return sum(e["node"]["recordCount"] for e in data["data"]["projects"]["edges"] if e["node"]["name"] == PROJECT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with gzip.open(args.spans, "rt") as f:
        requests = [Parse(line, ExportTraceServiceRequest()) for line in f if line.strip()]
    expected = sum(len(ss.spans) for r in requests for rs in r.resource_spans for ss in rs.scope_spans)
    with tempfile.TemporaryDirectory(prefix="phoenix-") as workdir:
        t0 = time.time()
        proc = start_server(workdir)
        print(f"phoenix up in {time.time() - t0:.1f} s", file=sys.stderr)
        try:
            with httpx.Client(base_url=BASE, timeout=30) as http:
                for req in requests:
                    http.post("/v1/traces", content=req.SerializeToString(),
                              headers={"content-type": "application/x-protobuf"}).raise_for_status()
                deadline = time.time() + 120
                while _ingested(http) < expected:  # Phoenix's bulk inserter writes in batches
                    if time.time() > deadline:
                        raise RuntimeError(f"phoenix ingested {_ingested(http)} of {expected} spans")
                    time.sleep(0.5)
            print(f"{expected} spans ingested after {time.time() - t0:.1f} s", file=sys.stderr)
            df = Client(base_url=BASE).spans.get_spans_dataframe(project_identifier=PROJECT, limit=expected + 1000,
                                                                 timeout=300)
            if len(df) != expected:
                raise RuntimeError(f"phoenix returned {len(df)} spans, expected {expected}")
        finally:
            stop_server(proc)
    df = df.reset_index(drop=True).sort_values(["context.trace_id", "start_time", "context.span_id"]).reset_index(drop=True)
    # Parquet needs one type per column: the columns Phoenix fills with lists/dicts (events, metadata,
    # llm.input_messages ...) of mixed inner types are stored as JSON text, None stays null.
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = [None if v is None else json.dumps(v, default=str) if isinstance(v, (list, dict)) else str(v)
                       for v in df[col]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(args.out, index=False, compression="zstd")
    print(json.dumps({"spans": len(df), "traces": int(df["context.trace_id"].nunique()), "columns": len(df.columns),
                      "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
