"""Ingest of good files and of every kind of bad one."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import root, span, write_csv

from audit.db import connect
from audit.engine import Audit
from audit.errors import InputFileError
from audit.evals import load_evals
from audit.ingest import SourceFile, load_traces


def spans_count(con) -> int:
    return con.execute("SELECT count(*) FROM spans").fetchone()[0]


def test_aliases_case_and_extra_columns(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(
        " Trace_ID ,SpanId,parent_id,NAME,Span_Kind,start,latency_ms,STATUS,prompt_tokens,completion_tokens,team\n"
        "t1,s1,,run,AGENT,2026-01-01T00:00:00Z,1000,OK,,,core\n"
        "t1,s2,s1,call,LLM,2026-01-01T00:00:00.100+02:00,500,success,100,20,core\n"
        "t1,s3,s1,rank,RERANKER,1767225600000,20,UNSET,,,core\n"
    )
    con = connect()
    [res] = load_traces(con, [SourceFile.of(p)])
    assert (res.rows_loaded, res.rows_quarantined) == (3, 0)
    rows = con.execute("SELECT span_id, kind, status, duration_ms, input_tokens, extra, start_time FROM spans "
                       "ORDER BY span_id").fetchall()
    assert rows[0][:5] == ("s1", "agent", "ok", 1000.0, None)
    assert rows[1][1:5] == ("llm", "ok", 500.0, 100)
    assert str(rows[1][6]) == "2025-12-31 22:00:00.100000"  # offset applied, stored in UTC
    assert rows[2][1] == "retriever" and str(rows[2][6]) == "2026-01-01 00:00:00"  # epoch ms
    assert json.loads(rows[0][5]) == {"team": "core"}


@pytest.mark.parametrize(("cells", "reason"), [
    ({"trace_id": ""}, "missing trace_id"),
    ({"name": ""}, "missing name"),
    ({"start_time": "yesterday"}, "unparseable start_time 'yesterday'"),
    ({"end_time": "2025-12-31T00:00:00"}, "end_time before start_time"),
    ({"input_tokens": "-4"}, "negative tokens"),
    ({"status": "maybe"}, "unknown status 'maybe'"),
    ({"attempt": "0"}, "attempt must be a whole number >= 1"),
    ({"eval_passed": "perhaps"}, "eval_passed must be true or false"),
    ({"end_time": ""}, "missing end_time and duration_ms"),
])
def test_bad_rows_are_quarantined_with_reason(tmp_path: Path, cells: dict, reason: str) -> None:
    good = span("s1", "step")
    bad = {**span("s2", "step", at=100), **cells}
    con = connect()
    [res] = load_traces(con, [SourceFile.of(write_csv(tmp_path / "t.csv", [good, bad]))])
    assert (res.rows_loaded, res.rows_quarantined) == (1, 1)
    row, why = con.execute("SELECT source_row, reason FROM quarantine").fetchone()
    assert row == 2 and reason in why


def test_duplicate_span_id_quarantined_and_reload_replaces(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "t.csv", [root(), span("a", "x"), span("a", "x", at=5)])
    con = connect()
    load_traces(con, [SourceFile.of(p)])
    assert spans_count(con) == 2
    assert "duplicate span_id 'a' in trace 't1' (first at row 2)" in con.execute("SELECT reason FROM quarantine").fetchone()[0]
    load_traces(con, [SourceFile.of(p)])  # the same file again replaces, not doubles
    assert spans_count(con) == 2
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1


def test_malformed_csv_row_is_quarantined_with_its_row(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "t.csv", [root(), span("a", "x"), span("b", "y", at=10)])
    lines = p.read_text().splitlines()
    lines.insert(2, "t1,zz,root,broken,chain,2026-01-01T00:00:00,2026-01-01T00:00:01,ok,extra,cells,too,many,"
                    "a,b,c,d,e,f,g,h,i")
    p.write_text("\n".join(lines) + "\n")
    con = connect()
    [res] = load_traces(con, [SourceFile.of(p)])
    assert (res.rows_loaded, res.rows_quarantined) == (3, 1)
    assert con.execute("SELECT source_row FROM quarantine").fetchone()[0] == 2
    assert con.execute("SELECT source_row FROM spans WHERE span_id = 'b'").fetchone()[0] == 4


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
    (b"trace_id,span_id,name,start_time,end_time,status\n", "no data rows"),
    (b"span,name,start_time,end_time,status\nx,y,2026-01-01,2026-01-01,ok\n", "no trace_id"),
    (b"traceid_x,spn,name,start_time,status\na,b,c,2026-01-01,ok\n", "did you mean"),
    (b"   \n\n", "white space"),
])
def test_unreadable_files_get_one_clear_message(tmp_path: Path, content: bytes, message: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        load_traces(connect(), [SourceFile.of(p)])


def test_nothing_is_loaded_when_one_file_of_a_call_is_unreadable(tmp_path: Path) -> None:
    good = write_csv(tmp_path / "good.csv", [root(), span("a", "x")])
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    con = connect()
    with pytest.raises(InputFileError):
        load_traces(con, [SourceFile.of(good), SourceFile.of(bad)])
    assert spans_count(con) == 0
    assert con.execute("SELECT count(*) FROM sources").fetchone()[0] == 0


def test_gzip_parquet_and_jsonl(tmp_path: Path) -> None:
    rows = [root(), span("a", "x", input_tokens=5)]
    csv_path = write_csv(tmp_path / "t.csv", rows)
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(csv_path.read_bytes()))
    df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    pq = tmp_path / "t.parquet"
    df.assign(trace_id="t2").to_parquet(pq)
    jl = tmp_path / "t.jsonl"
    jl.write_text("\n".join(json.dumps({**r, "trace_id": "t3", "metadata": {"k": [1, 2]}}) for r in rows))
    con = connect()
    res = load_traces(con, [SourceFile.of(gz), SourceFile.of(pq), SourceFile.of(jl)])
    assert [r.format for r in res] == ["csv", "parquet", "json"]
    assert con.execute("SELECT count(DISTINCT trace_id), count(*) FROM spans").fetchone() == (3, 6)
    assert json.loads(con.execute("SELECT metadata FROM spans WHERE trace_id='t3' AND span_id='a'").fetchone()[0]) == {"k": [1, 2]}


def test_bad_json_lines_are_quarantined_and_the_rest_loads(tmp_path: Path) -> None:
    good = {**span("a", "x"), "metadata": {"k": 1}}
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps(good) + '\n{"trace_id": "t1", "spa\n[1, 2]\n\n' + json.dumps(span("b", "y")) + "\n")
    con = connect()
    [res] = load_traces(con, [SourceFile.of(p)])
    assert (res.rows_loaded, res.rows_quarantined) == (2, 2)
    assert con.execute("SELECT source_row, reason FROM quarantine ORDER BY 1").fetchall() == [
        (2, "malformed JSON record on line 2: not valid JSON"), (3, "malformed JSON record on line 3: not a JSON object")]
    assert con.execute("SELECT span_id, source_row FROM spans ORDER BY 1").fetchall() == [("a", 1), ("b", 5)]


def test_truncated_json_document_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "t.json"
    p.write_text('[{"trace_id": "t1", "span_id": "a", "name": "x"},\n {"trace_id": "t1", "spa')
    with pytest.raises(InputFileError, match="could not be read as JSON"):
        load_traces(connect(), [SourceFile.of(p)])


def test_evals_join_onto_root(tmp_path: Path) -> None:
    traces = write_csv(tmp_path / "t.csv", [root(), span("a", "x"), root(trace="t2"), span("a", "x", trace="t2")])
    evals = tmp_path / "evals.csv"
    evals.write_text("trace_id,eval_passed\nt1,false\nt2,true\nt3,maybe\n")
    audit = Audit.open()
    audit.load([SourceFile.of(traces)])
    res = audit.load_evals(SourceFile.of(evals))
    assert (res.rows_loaded, res.rows_quarantined) == (2, 1)
    report = audit.run()
    assert report.summary.failed_traces == 1 and report.summary.silent_failures == 1
    assert [f.trace_id for f in report.findings if f.primary] == ["t1"]


def test_evals_file_without_columns(tmp_path: Path) -> None:
    evals = tmp_path / "e.csv"
    evals.write_text("trace,verdict\nt1,false\n")
    with pytest.raises(InputFileError, match=r"not an evals file\. Expected columns trace_id and eval_passed"):
        load_evals(connect(), SourceFile.of(evals))


def test_database_file_can_be_reopened(tmp_path: Path) -> None:
    db = tmp_path / "audit.duckdb"
    audit = Audit.open(db)
    audit.load([SourceFile.of(write_csv(tmp_path / "t.csv", [root(), span("a", "x")]))])
    audit.con.close()
    again = Audit.open(db)
    assert again.run().summary.spans == 2


def test_several_malformed_rows_each_quarantined_once(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "t.csv", [root(), span("a", "x"), span("b", "y", at=10), span("c", "z", at=20)])
    lines = p.read_text().splitlines()
    bad = "t1,zz,root,broken,chain,2026-01-01T00:00:00,2026-01-01T00:00:01,ok,a,b,c,d,e,f,g,h,i,j,k,l,m,n"
    lines[2:2] = [bad, bad.replace("zz", "zy"), "only,three,cells"]
    p.write_text("\n".join(lines) + "\n")
    con = connect()
    [res] = load_traces(con, [SourceFile.of(p)])
    assert (res.rows_loaded, res.rows_quarantined) == (4, 3)
    assert [r[0] for r in con.execute("SELECT source_row FROM quarantine ORDER BY 1").fetchall()] == [2, 3, 4]
    rows = dict(con.execute("SELECT span_id, source_row FROM spans").fetchall())
    assert rows == {"root": 1, "a": 5, "b": 6, "c": 7}


def test_missing_kind_is_llm_when_the_span_names_a_model(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "t.csv", [root(), span("a", "call", kind="", model="gpt-4o"), span("b", "x", kind="")])
    con = connect()
    load_traces(con, [SourceFile.of(p)])
    assert dict(con.execute("SELECT span_id, kind FROM spans").fetchall()) == {"root": "agent", "a": "llm", "b": "other"}


def test_loader_leaves_no_scratch_tables(tmp_path: Path) -> None:
    jl = tmp_path / "t.jsonl"
    jl.write_text(json.dumps(span("a", "x")) + "\nnot json\n")
    con = connect()
    load_traces(con, [SourceFile.of(jl), SourceFile.of(write_csv(tmp_path / "t.csv", [root()]))])
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() UNION ALL "
                                        "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert not {t for t in tables if t.startswith("__")}, tables


def test_json_lines_detected_when_the_first_line_is_longer_than_the_sniff(tmp_path: Path) -> None:
    """A real OTLP export request per line runs to ~1 MB: still JSON Lines, read line by line."""
    from audit.ingest import SNIFF_BYTES, is_json_lines

    big = {"trace_id": "t1", "span_id": "s1", "name": "step", "start_time": "2026-01-01T00:00:00Z",
           "duration_ms": 5, "status": "ok", "output": "x" * (2 * SNIFF_BYTES)}
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps(big) + "\n" + json.dumps({**big, "span_id": "s2"}) + "\n")
    assert is_json_lines(path.read_bytes()[:SNIFF_BYTES])
    assert not is_json_lines(b'{\n  "resourceSpans": [\n')
    audit = Audit.open()
    [res] = audit.load([SourceFile.of(path)])
    assert (res.rows_loaded, res.rows_quarantined) == (2, 0)


def test_canonical_csv_typed_in_one_pass_gives_the_text_paths_tables(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-pass CSV load (no text copy) and the text path agree on spans, quarantine and
    row numbers: with a parser reject, typing failures, and duplicates in and across files."""
    import audit.ingest as ingest

    first = write_csv(tmp_path / "a.csv", [root(), span("a", "x"), span("b", "y", at=10), span("c", "z", at=20),
                                           {**span("d", "w"), "status": "??"}, span("a", "x", at=30)])
    lines = first.read_text().splitlines()
    lines.insert(3, "t1,zz,root,broken,chain,2026-01-01T00:00:00,2026-01-01T00:00:01,ok,a,b,c,d,e,f,g,h,i,j,k")
    first.write_text("\n".join(lines) + "\n")
    second = write_csv(tmp_path / "b.csv", [span("c", "z", at=20), span("e", "v", at=40, input_tokens="1.5")])
    tables = ("SELECT * FROM spans ORDER BY ALL", "SELECT * FROM quarantine ORDER BY ALL")

    def load(direct: bool) -> list[list[tuple[object, ...]]]:
        con = connect()
        if not direct:
            monkeypatch.setattr(ingest, "_plain_csv", lambda *args: False)
        else:  # the one-pass path never makes the text copy
            monkeypatch.setattr(ingest, "read_raw", lambda *args: pytest.fail("text path taken"))
        load_traces(con, [SourceFile.of(first), SourceFile.of(second)])
        monkeypatch.undo()
        return [con.execute(sql).fetchall() for sql in tables]

    direct, text = load(True), load(False)
    assert direct == text
    reasons = sorted((q[1], q[3].split(" (")[0]) for q in direct[1])
    assert [r for r, _ in reasons] == [1, 2, 3, 6, 7]  # file rows: b.csv 1-2, a.csv 3 (malformed), 6, 7
    assert any("malformed CSV row" in why for _, why in reasons)
    assert any("already loaded from a.csv row" in q[3] for q in direct[1])


def test_a_files_hash_is_read_in_the_precheck_pass_as_stored(tmp_path: Path) -> None:
    """The pre-check hashes the bytes as stored (gzip too), the same digest a read of its own gave;
    a file transcoded from Windows-1252 is hashed as given, not as its UTF-8 copy."""
    import gzip
    import hashlib

    from audit.engine import Audit
    from audit.ingest import SourceFile

    rows = "trace_id,span_id,name,start_time,end_time,status\nt,s,caf\xe9,2026-01-01,2026-01-01,ok\n"
    plain = tmp_path / "plain.csv"
    plain.write_text(rows, encoding="utf-8")
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(rows.encode() * 1))
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes(rows.encode("windows-1252"))
    audit = Audit.open()
    audit.load([SourceFile.of(p) for p in (plain, packed, legacy)])
    stored = dict(audit.con.execute("SELECT source_file, sha256 FROM sources").fetchall())
    assert stored == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (plain, packed, legacy)}
