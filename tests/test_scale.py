"""What keeps a large audit inside one machine's memory: the memory limit and the spill folder."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from audit.cli import main
from audit.db import connect
from audit.errors import SettingsError
from audit.settings import Settings


def test_memory_limit_and_spill_folder_come_from_the_settings(tmp_path: Path) -> None:
    con = connect(settings=Settings(memory_limit_mb=300, spill_directory=str(tmp_path)))
    limit, folder = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone() or ("", "")
    assert limit.replace(" ", "") in {"300.0MB", "286.1MiB"}
    spill = Path(folder)
    assert spill.parent == tmp_path and stat.S_IMODE(spill.stat().st_mode) == 0o700


def test_default_spill_folder_is_private(tmp_path: Path) -> None:
    con = connect()
    (folder,) = con.execute("SELECT current_setting('temp_directory')").fetchone() or ("",)
    assert Path(folder).name == "spill" and stat.S_IMODE(Path(folder).parent.stat().st_mode) == 0o700


def test_a_spill_folder_that_cannot_be_made_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="spill_directory"):
        connect(settings=Settings(spill_directory=str(tmp_path / "missing" / "deeper")))


def test_memory_flag_is_validated_like_every_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traces = tmp_path / "t.csv"
    traces.write_text("trace_id,span_id,name,start_time,end_time,status\nt,s,x,2026-01-01,2026-01-01,ok\n")
    assert main(["report", "--memory-limit-mb", "50", str(traces)]) == 2
    assert "memory_limit_mb" in capsys.readouterr().err


def test_out_of_memory_is_one_line_naming_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A step that cannot spill and needs more than the limit: exit 2 with the remedy, no traceback."""
    import duckdb

    import audit.engine

    def exhausted(*args: object) -> None:
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block of size 256.0 KiB")

    monkeypatch.setattr(audit.engine, "classify", exhausted)
    traces = tmp_path / "t.csv"
    traces.write_text("trace_id,span_id,name,start_time,end_time,status\nt,s,x,2026-01-01,2026-01-01,ok\n")
    assert main(["report", "--memory-limit-mb", "300", str(traces)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Out of memory" in err and "300 MB" in err and "--memory-limit-mb" in err


def test_facts_run_in_stages_give_the_table_one_query_gives() -> None:
    """SPAN_FACTS_SQL runs as temporary tables per stage (a table spills past the memory limit,
    a materialised CTE does not): the stages must give exactly what the one query gives."""
    from audit import facts
    from audit.engine import Audit
    from audit.ingest import SourceFile

    audit = Audit.open()
    audit.load([SourceFile.of(Path(__file__).parent.parent / "data" / "sample_traces.csv")])
    con = audit.con
    for statement in facts.SPAN_WALK_STATEMENTS:
        con.execute(statement)
    con.execute(facts.SPAN_FACTS_SQL.replace("TABLE span_facts", "TABLE one_query"))
    facts.build_facts(con)
    statements = facts.staged(facts.SPAN_FACTS_SQL, facts.STAGES)
    assert len(statements) == len(facts.STAGES) + 1
    order = "ORDER BY trace_id, span_id"
    assert con.execute(f"SELECT * FROM one_query {order}").fetchall() == \
        con.execute(f"SELECT * FROM span_facts {order}").fetchall()
    assert con.execute("SELECT count(*) FROM span_facts").fetchone() == (3650,)
    leftovers = con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_\\_%' ESCAPE '\\'"
                            ).fetchall()
    assert leftovers == []


def test_no_scratch_tables_left_after_an_audit() -> None:
    """The facts' stages and the reliability walk are temporary tables dropped once read."""
    from audit.engine import Audit
    from audit.ingest import SourceFile

    audit = Audit.open()
    audit.load([SourceFile.of(Path(__file__).parent.parent / "data" / "sample_traces.csv")])
    audit.run()
    left = audit.con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_\\_%' ESCAPE '\\'"
                             ).fetchall()
    assert left == []


def test_each_facts_stage_table_is_dropped_once_the_next_has_read_it() -> None:
    """At 10M spans each stage table is gigabytes past the memory limit: kept to the end, they
    are all spilled; so at most one stage table (and only the walk's agents) lives at a time."""
    from audit import facts
    from audit.engine import Audit
    from audit.ingest import SourceFile

    audit = Audit.open()
    audit.load([SourceFile.of(Path(__file__).parent.parent / "data" / "sample_traces.csv")])
    seen: list[list[str]] = []

    def tables(stage: str, share: float) -> None:
        seen.append([r[0] for r in audit.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_\\_%' ESCAPE '\\' ORDER BY 1"
        ).fetchall()])

    facts.build_facts(audit.con, tables)
    assert seen[0] == []
    for stage, before in zip(facts.STAGES, seen[2:], strict=False):  # before stages 2.., after the one before
        assert before == ["__facts_" + stage, "__span_agents", "__span_ids"]
    assert seen[-1] == []  # the trace facts read span_facts only


def test_a_stage_table_is_read_in_place_never_copied_into_a_materialised_cte() -> None:
    """A CTE read twice is materialised by DuckDB: an in-memory copy of the whole stage table
    before it (steps, classified and the final statement read theirs 2-4 times; at 1M spans the
    copies cost a quarter of the facts' CPU). The CTE naming the stage before must be inlined
    (but for ``COPIED_STAGES``, see there)."""
    from audit import facts
    from audit.engine import Audit
    from audit.ingest import SourceFile

    audit = Audit.open()
    audit.load([SourceFile.of(Path(__file__).parent.parent / "data" / "sample_traces.csv")])
    con = audit.con
    for statement in facts.SPAN_WALK_STATEMENTS:
        con.execute(statement)
    for statement in facts.SPAN_FACTS_STATEMENTS:
        plan = "\n".join(row[1] for row in con.execute("EXPLAIN " + statement).fetchall())
        copied = [stage for stage in facts.STAGES if f"CTE Name: {stage} " in plan and stage not in facts.COPIED_STAGES]
        assert copied == [], f"stage table(s) {copied} copied into a materialised CTE"
        con.execute(statement)
