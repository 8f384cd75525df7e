"""Property: no trace file makes ``report`` end in a traceback, a signal or a hang, and every
record it accepts is either loaded or quarantined (issue 9). Hypothesis writes random CSV and
JSON Lines traces: random unicode, numbers at their limits, random nesting, missing and extra
columns, duplicate ids, parent cycles."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.cli import main

COLUMNS = ["trace_id", "span_id", "parent_span_id", "name", "kind", "agent", "start_time", "end_time",
           "duration_ms", "status", "error_type", "error_message", "attempt", "model", "input_tokens",
           "output_tokens", "cost_usd", "input", "output", "eval_passed", "metadata"]
EDGE_NUMBERS = ["nan", "NaN", "inf", "-Infinity", "1e300", "1e309", "-0", "0", "1.5", "9e15", "1e21",
                "9223372036854775808", "100000000000000000000", "-1", "2", ""]
EDGE_TIMES = ["2026-01-01T00:00:00", "2026-01-01T00:00:01Z", "0000-01-01", "10000-01-01T00:00:00", "Infinity",
              "-infinity", "1767225600", "1767225600000", "1767225600000000000", "1e21", "9999-12-31T23:59:59",
              "yesterday", ""]
IDS = st.sampled_from(["a", "b", "c", "", "a "])


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


cell = st.one_of(
    st.text(max_size=30),
    st.sampled_from(EDGE_NUMBERS),
    st.sampled_from(EDGE_TIMES),
    st.sampled_from(["ok", "error", "OK", "weird"]),
    st.integers(min_value=0, max_value=300).map(lambda d: json.dumps(nested(d))),
)
span = st.fixed_dictionaries(
    {"trace_id": IDS, "span_id": IDS, "parent_span_id": IDS},
    optional={c: cell for c in COLUMNS if c not in ("trace_id", "span_id", "parent_span_id")}
    | {"extra_" + str(i): cell for i in range(3)},
)
traces = st.lists(span, min_size=1, max_size=12)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> int:
    header = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return len(rows)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> int:
    lines = []
    for r in rows:
        record = {k: (json.loads(v) if k == "metadata" and v[:1] in ("[", "{") else v) for k, v in r.items()}
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


def check_report(path: Path, records: int, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code = main(["report", str(path), "--format", "json"])  # an exception here is the traceback
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert elapsed < 20 + 30 * path.stat().st_size / 2**20
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1
        return
    summary = json.loads(out)["summary"]
    assert summary["spans"] + summary["quarantined_rows"] == records, err


PROPERTY = settings(max_examples=10, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@PROPERTY
@given(rows=traces)
def test_random_csv_traces_load_or_refuse_cleanly(rows: list[dict[str, Any]], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "random.csv"
    records = write_csv(path, rows)
    check_report(path, records, capsys)


@PROPERTY
@given(rows=traces)
def test_random_jsonl_traces_load_or_refuse_cleanly(rows: list[dict[str, Any]], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "random.jsonl"
    records = write_jsonl(path, rows)
    check_report(path, records, capsys)


def json_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((json_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((json_depth(v) for v in value.values()), default=0)
    return 0


tricky_text = st.text(alphabet='[]{}"\\\\ a\u00e9\n', max_size=8)
json_values = st.recursive(st.one_of(st.integers(), tricky_text, st.none()),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
                           max_leaves=25)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(json_values, min_size=1, max_size=5), chunk=st.integers(min_value=1, max_value=64))
def test_precheck_depth_matches_the_json_parser(values: list[Any], chunk: int, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectorised scan agrees with Python's parser on every line, whatever the chunking
    (strings holding brackets, quotes and backslashes; lines split across chunks)."""
    from audit import precheck
    from audit.settings import Settings

    monkeypatch.setattr(precheck, "CHUNK", chunk)
    path = tmp_path / "v.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
    depths = [json_depth(v) for v in values]
    checked = precheck.precheck(path, path.name, "json", True, Settings(max_json_depth=2))
    assert checked.too_deep_lines == [i + 1 for i, d in enumerate(depths) if d > 2]
    assert checked.lines == len(values)
    doc = tmp_path / "v.json"
    doc.write_text(json.dumps(values, indent=1), encoding="utf-8")
    assert precheck.precheck(doc, doc.name, "json", False, Settings(max_json_depth=5000)).max_depth == \
        json_depth(values)
