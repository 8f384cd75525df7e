"""Progress of a load: the engine names each stage through a plain callable, and the Upload page
shows it as a progress bar inside its status box, from writing the file to the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from audit.engine import Audit
from audit.ingest import SourceFile
from audit.progress import scaled

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_traces.csv"
STAGES = ("Pre-checking", "Loading the rows", "Deriving the span facts: agents", "Deriving the span facts: stage 1", "Deriving the trace facts", "Running rule",
          "Computing reliability", "Computing cost", "Scoring the checklist", "Writing the report")


def in_order(calls: list[tuple[str, float]]) -> None:
    """Every stage is heard of, in the order of the work, and the share done never goes back."""
    shares = [done for _, done in calls]
    assert shares == sorted(shares) and shares[0] >= 0.0 and shares[-1] <= 1.0, shares
    firsts = [next(i for i, (stage, _) in enumerate(calls) if stage.startswith(s)) for s in STAGES]
    assert firsts == sorted(firsts), [calls[i][0] for i in firsts]


def test_the_engine_reports_each_stage_in_order() -> None:
    calls: list[tuple[str, float]] = []
    audit = Audit.open()
    audit.load([SourceFile.of(SAMPLE)], progress=scaled(lambda s, d: calls.append((s, d)), 0.0, 0.4))
    audit.run(progress=scaled(lambda s, d: calls.append((s, d)), 0.4, 1.0))
    in_order(calls)
    assert sum(s.startswith("Running rule") for s, _ in calls) == len(audit.rules)


def test_scaled_keeps_a_part_inside_its_share() -> None:
    seen: list[float] = []
    part = scaled(lambda _s, d: seen.append(d), 0.2, 0.6)
    for done in (-1.0, 0.0, 0.5, 1.0, 2.0):
        part("x", done)
    assert seen == pytest.approx([0.2, 0.2, 0.4, 0.6, 0.6])


def test_the_upload_page_shows_the_load_as_a_progress_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    import pages.common

    calls: list[tuple[str, float]] = []
    real = pages.common._audit

    def watched(*args, progress, **kwargs):  # type: ignore[no-untyped-def]
        def both(stage: str, done: float) -> None:
            calls.append((stage, done))
            progress(stage, done)
        return real(*args, progress=both, **kwargs)

    monkeypatch.setattr(pages.common, "_audit", lambda *a, **k: watched(*a[:6], progress=a[6], **k))
    monkeypatch.setattr(pages.common, "WRITE_CHUNK", 100_000)  # the sample in slices, as a large file is
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    at.switch_page("pages/upload.py").run()
    at.file_uploader[0].set_value((SAMPLE.name, SAMPLE.read_bytes(), "text/csv")).run()
    assert not at.exception and not at.error
    writes = [d for s, d in calls if s.startswith("Writing sample_traces.csv")]
    assert len(writes) == -(-SAMPLE.stat().st_size // 100_000) and writes == sorted(writes)
    in_order(calls)
    [status] = at.status
    assert status.label.startswith("Audited ") and status.icon == ":material/check:"
    [bar] = at.get("progress")
    assert bar.proto.value == 100 and bar.proto.text == "Done"
