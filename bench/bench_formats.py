"""Benchmark: loading the same spans as OTLP JSON lines vs canonical CSV.

Target (issue 4): 1,000,000 spans as OTLP JSON lines load within 4x the time of the same
spans as canonical CSV. Both loads run in fresh processes in the same run.

    python bench/bench_formats.py --spans 1000000
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.bench_audit import parse_args, sample_csv, timed  # noqa: E402

LOAD = (
    "import sys; from audit.engine import Audit; from audit.ingest import SourceFile; "
    "r = Audit.open().load([SourceFile.of(sys.argv[1])]); print(r[0].format, r[0].rows_loaded)"
)

# One OTLP export request per trace, one per line, with GenAI attributes and exception events.
TO_OTLP = """
COPY (
    SELECT [{'resource': {'attributes': [{'key': 'service.name', 'value': {'stringValue': 'bench'}}]},
             'scopeSpans': [{'scope': {'name': 'bench'}, 'spans': list(s ORDER BY start_time)}]}] AS resourceSpans
    FROM (
        SELECT trace_id, start_time, {
            'traceId': md5(trace_id), 'spanId': left(md5(trace_id || span_id), 16),
            'parentSpanId': CASE WHEN parent_span_id IS NULL THEN '' ELSE left(md5(trace_id || parent_span_id), 16) END,
            'name': name, 'kind': 1,
            'startTimeUnixNano': CAST(epoch_ns(start_time) AS VARCHAR),
            'endTimeUnixNano': CAST(epoch_ns(end_time) AS VARCHAR),
            'status': {'code': CASE WHEN status = 'error' THEN 2 ELSE 0 END, 'message': coalesce(error_message, '')},
            'attributes': [
                {'key': 'openinference.span.kind', 'value': {'stringValue': upper(kind)}},
                {'key': 'gen_ai.agent.name', 'value': {'stringValue': agent}},
                {'key': 'gen_ai.request.model', 'value': {'stringValue': model}},
                {'key': 'gen_ai.usage.input_tokens', 'value': {'stringValue': CAST(input_tokens AS VARCHAR)}},
                {'key': 'gen_ai.usage.output_tokens', 'value': {'stringValue': CAST(output_tokens AS VARCHAR)}},
                {'key': 'input.value', 'value': {'stringValue': input}}],
            'events': list_filter([{'name': 'exception', 'attributes': [
                {'key': 'exception.type', 'value': {'stringValue': coalesce(error_type, '')}},
                {'key': 'exception.message', 'value': {'stringValue': coalesce(error_message, '')}}]}],
                lambda x: status = 'error')
        } AS s
        FROM read_csv(?, all_varchar = false)
    ) GROUP BY trace_id
) TO '{out}' (FORMAT json)
"""


def main() -> None:
    args = parse_args(__doc__ or "")
    csv = sample_csv(args.spans, args.workdir)
    otlp = args.workdir / f"spans_{args.spans}.otlp.jsonl"
    if not otlp.exists():
        start = time.perf_counter()
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(TO_OTLP.replace("{out}", str(otlp).replace("'", "''")), [str(csv)])
        print(f"wrote {otlp.name} ({otlp.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - start:.1f} s")
    csv_s, csv_mb = timed([sys.executable, "-c", LOAD, str(csv)])
    otlp_s, otlp_mb = timed([sys.executable, "-c", LOAD, str(otlp)])
    print(f"canonical CSV load:    {csv_s:7.2f} s  (peak {csv_mb:,.0f} MB)")
    print(f"OTLP JSON lines load:  {otlp_s:7.2f} s  (peak {otlp_mb:,.0f} MB)")
    print(f"ratio OTLP / CSV:      {otlp_s / csv_s:7.2f}x  (target <= 4x)")


if __name__ == "__main__":
    main()
