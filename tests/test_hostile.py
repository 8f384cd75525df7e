"""Hostile and odd input (issue 9): no crash, no silent loss, no injection, no leak.

A corpus of hostile files goes through the CLI's ``report``: each exits 0 (with every record
either loaded or quarantined) or 2 (one line naming the problem), never a traceback, a signal
or a hang. Then the cases one by one, and the files the tool writes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from audit import tempdir
from audit.charts import step_reliability, trace_waterfall
from audit.cli import main
from audit.db import connect
from audit.engine import Audit
from audit.exports import render
from audit.ingest import SourceFile
from audit.redact import redact_text

HEADER = ["trace_id", "span_id", "parent_span_id", "name", "start_time", "end_time", "duration_ms", "status",
          "input_tokens", "cost_usd", "attempt", "error_message"]
BASE = {"trace_id": "t1", "span_id": "root", "parent_span_id": "", "name": "pipeline",
        "start_time": "2026-01-01T00:00:00", "end_time": "2026-01-01T00:00:01", "duration_ms": "",
        "status": "ok", "input_tokens": "", "cost_usd": "", "attempt": "", "error_message": ""}


def row(span_id: str, **cells: Any) -> dict[str, Any]:
    return {**BASE, "span_id": span_id, "parent_span_id": "root" if span_id != "root" else "", "name": span_id,
            **cells}


def csv_bytes(rows: list[dict[str, Any]], header: list[str] = HEADER) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def jsonl_bytes(records: list[Any]) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def deep(levels: int, open_: str = "[", close: str = "]") -> str:
    return open_ * levels + close * levels


def otlp_span(span_id: str, start: str | int = "1767225600000000000", end: str = "1767225601000000000",
              parent: str = "") -> dict[str, Any]:
    return {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": span_id, "parentSpanId": parent,
            "name": "step", "startTimeUnixNano": start, "endTimeUnixNano": end, "status": {"code": 1}}


def otlp_doc(spans: list[dict[str, Any]]) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()


def chat_line(tool_name: Any) -> dict[str, Any]:
    return {"id": "conv1", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": tool_name, "arguments": "{}"}},
                        {"id": "c2", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "tool", "tool_call_id": "c2", "content": "ok"},
        {"role": "assistant", "content": "done"}]}


def gz_with_bad_crc(payload: bytes) -> bytes:
    data = bytearray(gzip.compress(payload))
    data[-8] ^= 0xFF  # the CRC32 in the trailer
    return bytes(data)


def big_csv(rows: int) -> bytes:
    return csv_bytes([row("root")] + [row(f"s{i}", start_time=f"2026-01-01T00:00:{i % 60:02d}",
                                           end_time=f"2026-01-01T00:01:{i % 60:02d}") for i in range(rows)])


# name -> (file name, bytes, records in the file (None: refused), text that must be in the outcome)
CORPUS: dict[str, tuple[str, bytes, int | None, str]] = {
    "deep_first_line": ("t.jsonl", jsonl_bytes([b'{"trace_id":"t1","x":' + deep(50_000).encode() + b"}",
                                                {**BASE}]), 2, "nested deeper than 128"),
    "deep_later_line": ("t.jsonl", jsonl_bytes([{**BASE}, b'{"trace_id":"t1","span_id":"x","y":'
                                                + deep(30_000, "{\"a\":", "}").encode().replace(b"{\"a\":}", b"1")
                                                + b"}"]), 2, "nested deeper"),
    "deep_whole_record": ("t.jsonl", jsonl_bytes([{**BASE}, deep(20_000).encode()]), 2, "nested deeper"),
    "deep_document": ("t.json", deep(100_000).encode(), None, "max_json_depth"),
    "deep_in_string_is_fine": ("t.jsonl", jsonl_bytes([{**BASE, "input": deep(5000)}]), 1, ""),
    "duration_edges": ("t.csv", csv_bytes([row("root")] + [
        row(f"d{i}", end_time="", duration_ms=v) for i, v in enumerate(["nan", "inf", "-inf", "1e300", "9e15"])]),
        6, "duration_ms"),
    "time_edges": ("t.csv", csv_bytes([row("root")] + [
        row(f"t{i}", start_time=v) for i, v in enumerate(
            ["0000-01-01T00:00:00", "10000-01-01T00:00:00", "Infinity", "-Infinity", "1e21",
             "100000000000000000000000"])] + [row("late", start_time="9999-12-31T00:00:00", end_time="",
                                                  duration_ms="9e15")]), 8, "outside the accepted range"),
    "year_10000_end": ("t.csv", csv_bytes([row("root", end_time="10000-01-01T00:00:00")]), 1, ""),
    "otlp_time_beyond_int64": ("t.json", otlp_doc([otlp_span("00f067aa0ba902b7"),
                                                   otlp_span("00f067aa0ba902b8", start=100000000000000000000,
                                                             parent="00f067aa0ba902b7")]), 2,
                               "outside the accepted range"),
    "otlp_undecodable_span_id": ("t.json", otlp_doc([otlp_span("00f067aa0ba902b7"),
                                                     otlp_span("!!not-base64!!", parent="00f067aa0ba902b7")]), 2, ""),
    "cost_edges": ("t.csv", csv_bytes([row("root", cost_usd="0.5")] + [
        row(f"c{i}", cost_usd=v) for i, v in enumerate(["nan", "inf", "1e309", "-inf"])]), 5, "cost_usd"),
    "fractional_counts": ("t.csv", csv_bytes([row("root"), row("a", input_tokens="1.5"), row("b", attempt="1.5")]),
                          3, "whole number"),
    "parent_cycle": ("t.csv", csv_bytes([row("a", trace_id="cyc", parent_span_id="b", status="error"),
                                         row("b", trace_id="cyc", parent_span_id="a"),
                                         row("self", trace_id="selfie", parent_span_id="self"), row("root")]),
                     4, ""),
    "gzip_bad_crc_small": ("t.csv.gz", gz_with_bad_crc(big_csv(5)), None, "CRC check failed"),
    "gzip_bad_crc_large": ("t.csv.gz", gz_with_bad_crc(big_csv(2000)), None, "CRC check failed"),
    "jsonl_mixed_types": ("t.jsonl", jsonl_bytes([{**BASE, "start_time": 1767225600}, {**BASE, "span_id": "b"},
                                                  {**BASE, "span_id": "c", "input_tokens": "7"}]), 3, ""),
    "jsonl_case_duplicate_key": ("t.jsonl", jsonl_bytes([{**BASE}, {**{k: v for k, v in BASE.items()
                                                                       if k != "trace_id"}, "Trace_ID": "t1",
                                                                    "span_id": "b"}]), 2, "differ only in case"),
    "jsonl_not_objects": ("t.jsonl", jsonl_bytes([{**BASE}, b"[1,2]", b"not json", b"42"]), 4, "not valid JSON"),
    "chat_tool_name_null": ("t.jsonl", jsonl_bytes([chat_line(None)]), 5, "missing name"),
    "latin1_csv": ("t.csv", csv_bytes([row("root", name="café résumé")]).decode().encode("cp1252"), 1,
                   "windows-1252"),
    "utf16_bom_csv": ("t.csv", csv_bytes([row("root", name="naïve")]).decode().encode("utf-16"), 1, "utf-16"),
    "huge_csv_field": ("t.csv", csv_bytes([row("root", error_message="E" * 3_000_000), row("b")]), 2,
                       "truncated"),
    "huge_jsonl_line": ("t.jsonl", jsonl_bytes([{**BASE, "input": "x" * 3_000_000}, {**BASE, "span_id": "b"}]), 2,
                        "truncated"),
    "ansi_header": ("t.csv", csv_bytes([{**row("root"), "\x1b]0;pwned\x07\x1b[2Jextra": "v"}],
                                       [*HEADER, "\x1b]0;pwned\x07\x1b[2Jextra"]), 1, ""),
    "binary": ("t.csv", b"\x89PNG\r\n\x1a\n\x00\x00", None, "binary"),
    "empty": ("t.csv", b"", None, "empty"),
}


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", list(CORPUS))
def test_hostile_corpus_exits_cleanly_and_counts_every_record(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, content, records, expect = CORPUS[case]
    path = tmp_path / name
    path.write_bytes(content)
    started = time.monotonic()
    code, out, err = run_cli(["report", str(path), "--format", "json", "--db", str(tmp_path / "a.duckdb")], capsys)
    assert time.monotonic() - started < 30 + 20 * len(content) / 2**20
    assert "Traceback" not in err and "\x1b" not in err + out
    if records is None:
        assert code == 2 and err.count("\n") == 1 and expect in err, err
        return
    assert code == 0, err
    report = json.loads(out)
    s = report["summary"]
    assert s["spans"] + s["quarantined_rows"] == records, (s["spans"], s["quarantined_rows"])
    assert expect in err + json.dumps(report["quarantine"]), err


def test_deep_json_lines_do_not_kill_the_process(tmp_path: Path) -> None:
    """Before the guard, DuckDB's recursive JSON functions segfaulted or hung on these."""
    path = tmp_path / "deep.jsonl"
    path.write_bytes(jsonl_bytes([{**BASE}, b'{"trace_id":"t1","x":' + deep(20_000).encode() + b"}"]))
    proc = subprocess.run([sys.executable, "-m", "audit", "report", str(path), "--format", "json"],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr
    quarantine = json.loads(proc.stdout)["quarantine"]
    assert [(q["source_row"], "nested deeper than 128 levels" in q["reason"]) for q in quarantine] == [(2, True)]


def test_decompression_bomb_stops_at_the_expanded_size_limit(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(csv_bytes([row("root")]) + b"a" * 50_000_000))
    code, _, err = run_cli(["report", str(path), "--max-expanded-bytes", "10000000"], capsys)
    assert code == 2 and "max_expanded_bytes" in err and "--max-expanded-bytes" in err


def test_row_limit_names_the_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(big_csv(50))
    code, _, err = run_cli(["report", str(path), "--max-rows", "10"], capsys)
    assert code == 2 and "more than 10 rows" in err and "--max-rows" in err


def test_parent_cycle_keeps_the_trace_and_its_error(tmp_path: Path) -> None:
    audit = Audit.open()
    path = tmp_path / "cycle.csv"
    path.write_bytes(CORPUS["parent_cycle"][1])
    [result] = audit.load([SourceFile.of(path)])
    report = audit.run()
    assert report.summary.traces == 3 and report.summary.spans == 4
    assert any("no root" in n and "cyc" in n for n in result.notes)
    assert report.summary.failed_traces >= 1


def test_bad_costs_are_quarantined_and_totals_kept(tmp_path: Path) -> None:
    audit = Audit.open()
    path = tmp_path / "costs.csv"
    path.write_bytes(CORPUS["cost_edges"][1])
    audit.load([SourceFile.of(path)])
    report = audit.run()
    assert report.cost.total_cost_usd == pytest.approx(0.5)
    assert report.summary.cost_per_successful_run_usd is not None


def test_year_10000_is_quarantined_so_the_report_builds(tmp_path: Path) -> None:
    audit = Audit.open()
    path = tmp_path / "y.csv"
    path.write_bytes(csv_bytes([row("root"), row("late", start_time="10000-01-01T00:00:00",
                                                  end_time="10000-01-01T00:00:01")]))
    [result] = audit.load([SourceFile.of(path)])
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert audit.run().summary.last_seen is not None


def test_one_chat_record_quarantines_only_its_bad_span(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_bytes(CORPUS["chat_tool_name_null"][1])
    con = connect()
    audit = Audit(con)
    [result] = audit.load([SourceFile.of(path)])
    assert (result.rows_loaded, result.rows_quarantined) == (4, 1)
    assert [r[0] for r in con.execute("SELECT reason FROM quarantine").fetchall()] == ["missing name"]


def test_undecodable_otlp_span_id_quarantines_that_span(tmp_path: Path) -> None:
    path = tmp_path / "otlp.json"
    path.write_bytes(CORPUS["otlp_undecodable_span_id"][1])
    [result] = Audit.open().load([SourceFile.of(path)])
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)


def test_latin1_and_utf16_files_load_with_a_note(tmp_path: Path) -> None:
    for case, text, encoding in (("latin1_csv", "café résumé", "windows-1252"), ("utf16_bom_csv", "naïve", "utf-16")):
        audit = Audit.open()
        path = tmp_path / f"{case}.csv"
        path.write_bytes(CORPUS[case][1])
        [result] = audit.load([SourceFile.of(path)])
        assert any(encoding in n for n in result.notes)
        assert audit.con.execute("SELECT name FROM spans").fetchone() == (text,)
        assert not list(tempdir.private_temp_dir().glob("*.utf8.*"))  # the UTF-8 copy is gone


def test_huge_field_is_truncated_with_marker_and_note(tmp_path: Path) -> None:
    audit = Audit.open()
    path = tmp_path / "huge.csv"
    path.write_bytes(CORPUS["huge_csv_field"][1])
    [result] = audit.load([SourceFile.of(path)])
    (length, tail) = audit.con.execute("SELECT length(error_message), right(error_message, 14) FROM spans "
                                       "WHERE span_id = 'root'").fetchone()
    assert length == 2**20 + len(" …[truncated]") and tail.endswith("…[truncated]")
    assert any("max_field_chars" in n for n in result.notes)


def test_jsonl_mixed_types_keep_every_record(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(CORPUS["jsonl_mixed_types"][1])
    [result] = Audit.open().load([SourceFile.of(path)])
    assert (result.rows_loaded, result.rows_quarantined) == (3, 0)


# -- injection and terminal safety --------------------------------------------------------

HOSTILE_NAME = "![x](https://attacker.invalid/x.png) [y](javascript:alert(1)) # heading <a href='https://e.invalid'>z</a>"


def hostile_report(tmp_path: Path) -> Any:
    audit = Audit.open()
    path = tmp_path / "inj.csv"
    path.write_bytes(csv_bytes([row("root", name=HOSTILE_NAME, status="error", error_message=HOSTILE_NAME)]))
    audit.load([SourceFile.of(path)])
    return audit, audit.run()


def test_markdown_export_never_emits_a_link_or_image_from_the_data(tmp_path: Path) -> None:
    _, report = hostile_report(tmp_path)
    md = render(report, "md")
    assert HOSTILE_NAME not in md
    for unsafe in ("![", "](", "<a", "https://", "\n# heading"):
        assert unsafe not in md, unsafe


def test_chart_labels_and_hover_escape_trace_text(tmp_path: Path) -> None:
    audit, report = hostile_report(tmp_path)
    labels = [str(x) for trace in step_reliability(report).data for x in trace.x]
    assert labels and all("<a" not in x and "&lt;a" in x for x in labels)
    from audit.explore import trace_tree

    fig = trace_waterfall(trace_tree(audit.con, "t1"))
    assert "<a" not in str(fig.layout.yaxis.ticktext) and "<a" not in str(fig.data[0].hovertext)


def test_cli_strips_control_characters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ansi.csv"
    path.write_bytes(csv_bytes([row("root", name="\x1b[2J\x1b]0;title\x07step")]))
    for fmt in ("md", "csv", "json"):
        code, out, err = run_cli(["report", str(path), "--format", fmt], capsys)
        assert code == 0 and "\x1b" not in out + err and "\x07" not in out + err


# -- redaction ----------------------------------------------------------------------------

SECRETS = {
    "phone_us_intl": "+1 (415) 555-0132", "phone_us": "415-555-0132", "phone_uk": "+44 20 7946 0958",
    "ipv4": "203.0.113.42", "ipv6": "2001:db8:85a3::8a2e:370:7334", "ipv6_full": "2001:0db8:0000:0000:0000:ff00:0042:8329",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "basic_auth": "Authorization: Basic dXNlcjpwYXNzd29yZA==", "aws_secret": "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG",
    "ssn": "078-05-1120", "email": "alice.smith@example.com", "aws_key": "AKIAIOSFODNN7EXAMPLE",
    "card": "4111 1111 1111 1111", "bearer": "Bearer Zq9xTokenVal8823kk",
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----",
}
SECRET_CORES = {"phone_us_intl": "555-0132", "phone_us": "555-0132", "phone_uk": "7946 0958", "ipv4": "203.0.113",
                "ipv6": "8a2e:370", "ipv6_full": "ff00:0042", "jwt": "dozjgNryP4J3", "basic_auth": "dXNlcjpw",
                "aws_secret": "wJalrXUtnFEMI", "ssn": "078-05", "email": "alice.smith", "aws_key": "AKIAIOSFODNN7",
                "card": "4111 1111 1111", "bearer": "Zq9xTokenVal8823", "pem": "MIIEowIBAAKC"}


@pytest.mark.parametrize("kind", list(SECRETS))
def test_redact_text_masks_every_secret_kind(kind: str) -> None:
    assert SECRET_CORES[kind] not in redact_text(f"context {SECRETS[kind]} more")


def test_redaction_covers_every_export_format_even_at_a_truncation_edge(tmp_path: Path) -> None:
    # Each secret sits where rules cut evidence (160-240 characters), so a partial would leak
    # if text were cut before it is redacted.
    rows = [row("root", status="error", error_message="x" * 150 + " " + secret + " tail")
            for secret in SECRETS.values()]
    rows = [{**r, "trace_id": f"t{i}"} for i, r in enumerate(rows)]
    path = tmp_path / "secrets.csv"
    path.write_bytes(csv_bytes(rows))
    audit = Audit.open()
    audit.load([SourceFile.of(path)])
    report = audit.run(redact=True)
    assert report.findings
    overrides = {report.checklist[0].id: {"score": "pass", "note": "ask alice.smith@example.com, 415-555-0132"}}
    for fmt in ("json", "md", "html", "csv"):
        text = render(report, fmt, overrides)
        for kind, core in SECRET_CORES.items():
            assert core not in text, (fmt, kind)
    # the stored spans keep their text; only what leaves the tool is redacted
    assert audit.con.execute("SELECT count(*) FROM spans WHERE error_message LIKE '%alice.smith%'").fetchone() == (1,)


# -- files the tool writes ---------------------------------------------------------------

@pytest.fixture
def sample_csv(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    path.write_bytes(csv_bytes([row("root")]))
    return path


@pytest.mark.parametrize("kind", ["text", "sqlite", "directory", "missing_folder", "foreign_duckdb"])
def test_db_refuses_anything_the_audit_did_not_create(
    kind: str, tmp_path: Path, sample_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    db = tmp_path / "x.db"
    if kind == "text":
        db.write_text("my notes\n")
    elif kind == "sqlite":
        import sqlite3

        sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    elif kind == "directory":
        db.mkdir()
    elif kind == "missing_folder":
        db = tmp_path / "nope" / "x.db"
    else:
        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE spans (x INTEGER)")
        con.execute("INSERT INTO spans VALUES (1), (2)")
        con.close()
    before = db.read_bytes() if db.is_file() else None
    code, _, err = run_cli(["report", str(sample_csv), "--db", str(db)], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    if before is not None and kind != "foreign_duckdb":
        assert db.read_bytes() == before
    if kind == "foreign_duckdb":
        con = duckdb.connect(str(db))
        assert con.execute("SELECT count(*) FROM spans").fetchone() == (2,)
        assert [r[0] for r in con.execute("SHOW TABLES").fetchall()] == ["spans"]


def test_db_created_by_the_audit_reopens(tmp_path: Path, sample_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "audit.duckdb"
    assert run_cli(["report", str(sample_csv), "--db", str(db)], capsys)[0] == 0
    assert run_cli(["report", str(sample_csv), "--db", str(db)], capsys)[0] == 0


def test_output_equal_to_an_input_is_refused(sample_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sample_csv.read_bytes()
    code, _, err = run_cli(["report", str(sample_csv), "--output", str(sample_csv)], capsys)
    assert code == 2 and "input" in err and sample_csv.read_bytes() == before


def test_unwritable_output_is_refused_before_the_audit(sample_csv: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[bool] = []
    monkeypatch.setattr(Audit, "run", lambda *a, **k: ran.append(True))
    code, _, err = run_cli(["report", str(sample_csv), "--output", str(tmp_path / "missing" / "out.json")], capsys)
    assert code == 2 and "does not exist" in err and not ran


def test_spill_directory_is_private_and_stale_ones_are_removed(tmp_path: Path) -> None:
    private = tempdir.private_temp_dir()
    assert private.is_dir() and (private.stat().st_mode & 0o777) == 0o700
    assert str(os.getpid()) in private.name
    con = connect()
    (spill,) = con.execute("SELECT current_setting('temp_directory')").fetchone()
    assert Path(spill).parent == private
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / f"{tempdir.PREFIX}{dead}-abc"
    stale.mkdir()
    (stale / "spill.tmp").write_bytes(b"x" * 100)
    alive = tmp_path / f"{tempdir.PREFIX}{os.getpid()}-abc"
    alive.mkdir()
    assert tempdir.remove_stale_dirs(tmp_path) == [stale]
    assert not stale.exists() and alive.exists()
