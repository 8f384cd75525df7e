"""The engine's one entry point: an ``Audit`` owns a DuckDB database, loads traces and
runs the whole audit into an ``AuditReport``. The CLI and the app both use only this."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from pydantic import TypeAdapter, ValidationError

from audit import __version__
from audit.backend import Backend, as_backend, fetchone
from audit.checklist import score_checklist
from audit.classify import classify
from audit.cost import PriceTable, compute_cost, load_prices, money_lost
from audit.db import connect, open_read_only, table_names
from audit.errors import AuditError, OutOfMemoryError
from audit.evals import load_evals
from audit.exports import FINDING_COLUMNS
from audit.fingerprints import build_fingerprints, summarise_fingerprints
from audit.fixfirst import fix_first as rank_fixes
from audit.ingest import LoadResult, SourceFile, load_traces
from audit.models import (
    AuditReport,
    Cost,
    Finding,
    ModeCount,
    Provenance,
    QuarantineRow,
    SourceInfo,
    Summary,
    TimeBucket,
    TimeUnit,
)
from audit.progress import Progress, no_progress, scaled
from audit.redact import redact_report, redact_sql, redacted_spans, sql_parameters
from audit.reliability import LAYER_ORDER, compute_reliability
from audit.rules import catalog, load_rule_file
from audit.rules.base import RuleSpec
from audit.saved import SavedReportError, load_saved_report
from audit.settings import Settings, load_settings
from audit.tempdir import private_temp_dir

if TYPE_CHECKING:
    import pandas as pd  # DataFrames are for the app; the CLI never loads pandas


class Audit:
    """An audit database plus the settings, rules and prices it is judged by."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        settings: Settings | None = None,
        rules: list[RuleSpec] | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.con = con
        self.settings = settings or Settings()
        self.rules = rules or catalog()
        self.prices = prices or load_prices()

    @classmethod
    def open(
        cls,
        db: str | Path | None = None,
        *,
        settings_file: str | Path | None = None,
        rules_file: str | Path | None = None,
        prices_file: str | Path | None = None,
        **setting_overrides: Any,
    ) -> Audit:
        """Open (or create) an audit database; validate settings, rules and prices first.

        Raises:
            SettingsError, RuleDefinitionError: a bad settings, price or rule file.
        """
        settings = load_settings(settings_file, **setting_overrides)
        rules = catalog(load_rule_file(rules_file) if rules_file else None)
        prices = load_prices(prices_file)
        return cls(connect(db, settings), settings, rules, prices)

    @classmethod
    def open_saved(cls, db: str | Path) -> tuple[Audit, AuditReport]:
        """Open a saved audit read-only, with the settings it was made with (its report's provenance).

        Raises:
            DatabaseFileError: not an audit database with a saved report.
            SavedReportError: a saved report this version cannot read.
        """
        con = open_read_only(db)
        try:
            report = load_saved_report(con)
            if report is None:  # open_read_only checked the table; a race with a writer is still possible
                raise SavedReportError(f"{db} holds no saved report")
            try:
                settings = Settings.model_validate(report.summary.provenance.settings)
            except ValidationError:
                settings = Settings()  # another engine's settings: the app's defaults for what it recomputes
            return cls(con, settings), report
        except BaseException:
            con.close()
            raise

    @property
    def has_spans(self) -> bool:
        """Whether the database holds the spans and their facts (a report-only file does not)."""
        return {"spans", "span_facts", "trace_facts"} <= table_names(self.con)

    def load(self, files: list[SourceFile], column_overrides: dict[str, str] | None = None,
             input_format: str | None = None, progress: Progress = no_progress) -> list[LoadResult]:
        """Load trace files (see ``audit.ingest.load_traces``)."""
        self.con.execute("SET preserve_insertion_order = true")  # rows keep their file row numbers
        with self._memory_bound("loading"):
            return load_traces(self.con, files, column_overrides, input_format, self.settings, progress)

    def load_evals(self, source: SourceFile) -> LoadResult:
        self.con.execute("SET preserve_insertion_order = true")
        return load_evals(self.con, source, self.settings)

    def classify(self, progress: Progress = no_progress) -> None:
        """Facts, rules and findings. Every query orders what it depends on, so DuckDB need not
        keep insertion order here (loading needs it, for row numbers): without it, queries
        buffer less and may spill more freely; the findings are the same."""
        self.con.execute("SET preserve_insertion_order = false")
        classify(self.con, self.rules, self.settings, progress)
        progress("Fingerprinting the errors", 1.0)
        build_fingerprints(self.con)

    def run(self, redact: bool = False, progress: Progress = no_progress) -> AuditReport:
        """Classify, compute reliability, cost and checklist; the whole audit as one model.
        ``progress`` hears of each stage (facts, each rule, reliability, cost, checklist, report).

        With ``redact``, span text is redacted before the rules cut it into evidence (a secret
        cut at the edge would otherwise survive in part), then every string of the report."""
        with self._memory_bound("the audit"):
            if not redact:
                return self._run(progress)
            with redacted_spans(self.con):
                return redact_report(self._run(progress))

    @contextlib.contextmanager
    def _memory_bound(self, step: str) -> Iterator[None]:
        """DuckDB's out-of-memory error as an ``OutOfMemoryError`` naming the setting to raise."""
        try:
            yield
        except duckdb.OutOfMemoryException as e:
            detail = str(e).strip().splitlines()[0].removeprefix("Out of Memory Error: ")
            raise OutOfMemoryError(step, self.settings.memory_limit_mb, detail) from e

    def _run(self, progress: Progress = no_progress) -> AuditReport:
        self.classify(scaled(progress, 0.0, 0.75))
        quarantine, quarantine_omitted = self._quarantine()
        # the listed rows and the omitted ones are every quarantined row (_quarantine counted them)
        return build_report(as_backend(self.con), self.settings, self.rules, self.prices,
                            ReportInputs(sources=self.sources(), quarantine=quarantine,
                                         quarantine_omitted=quarantine_omitted,
                                         quarantined_rows=len(quarantine) + quarantine_omitted),
                            progress)

    # -- queries the app and exports use -------------------------------------------------

    def frame(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """A read-only query over the audit's tables as a DataFrame (values bound, never spliced)."""
        return self.con.execute(sql, params or []).df()

    def write_findings(self, path: str | Path, redact: bool = False, fmt: str | None = None) -> int:
        """Every finding to ``path`` (``fmt`` ``parquet`` or ``csv``; by default ``.parquet`` by its
        name, else CSV) by DuckDB itself, never through Python objects, so the file grows with
        the findings while the report stays bounded. CSV text cells that a spreadsheet would
        evaluate get a leading quote; with ``redact``, text is masked in SQL (``redact_sql``).

        Raises:
            AuditError: the file cannot be written.
        """
        target = Path(path)
        parquet = (fmt or ("parquet" if target.suffix.lower() == ".parquet" else "csv")) == "parquet"
        columns = ", ".join(_findings_column(c, csv=not parquet, redact=redact) for c in FINDING_COLUMNS)
        relation = self.con.sql(f"SELECT {columns} FROM findings ORDER BY {FINDINGS_ORDER}",
                                params=sql_parameters() if redact else None)
        try:
            if parquet:
                relation.write_parquet(str(target))
            else:
                relation.write_csv(str(target))
        except (duckdb.Error, OSError) as e:
            raise AuditError(f"cannot write findings to {target}: {str(e).splitlines()[0]}") from e
        (n,) = self.con.execute("SELECT count(*) FROM findings").fetchone() or (0,)
        return int(n)

    def findings_csv(self, redact: bool = False) -> bytes:
        """Every finding as CSV bytes (the app's download), written by DuckDB through a private
        temporary file, never through a Python object per finding."""
        spool = private_temp_dir() / f"findings-{os.getpid()}-{threading.get_ident()}.csv"
        try:
            self.write_findings(spool, redact=redact, fmt="csv")
            return spool.read_bytes()
        finally:
            spool.unlink(missing_ok=True)

    def export_spans(self, path: str | Path) -> None:
        """The loaded spans as Parquet in the canonical schema (``spans``), written by DuckDB:
        the input of ``--engine spark`` (docs/SCALE.md).

        Raises:
            AuditError: the file cannot be written.
        """
        try:
            self.con.sql("SELECT * FROM spans").write_parquet(str(path))
        except (duckdb.Error, OSError) as e:
            raise AuditError(f"cannot write spans to {path}: {str(e).splitlines()[0]}") from e

    def spans_preview(self, limit: int = 200) -> pd.DataFrame:
        return self.frame("SELECT * EXCLUDE (extra) FROM spans ORDER BY source_file, source_row LIMIT ?", [limit])

    def quarantine_frame(self) -> pd.DataFrame:
        return self.frame("SELECT source_file, source_row, reason, raw FROM quarantine ORDER BY source_file, source_row")

    def findings_frame(self) -> pd.DataFrame:
        return self.frame(f"SELECT * FROM findings ORDER BY {FINDINGS_ORDER}")

    def sources(self) -> list[SourceInfo]:
        return [
            SourceInfo(name=n, role=r, format=f, sha256=h, rows_loaded=lo, rows_quarantined=q)
            for n, r, f, h, lo, q in self.con.execute(
                "SELECT source_file, role, format, sha256, rows_loaded, rows_quarantined FROM sources ORDER BY 1"
            ).fetchall()
        ]

    # -- report parts ----------------------------------------------------------------------

    def _quarantine(self) -> tuple[list[QuarantineRow], int]:
        """The first ``report_quarantine_rows`` quarantined rows, and how many more there are."""
        limit = self.settings.report_quarantine_rows
        rows = [
            QuarantineRow(source_file=f, source_row=r, reason=why, raw=raw)
            for f, r, why, raw in self.con.execute(
                "SELECT source_file, source_row, reason, raw FROM quarantine ORDER BY source_file, source_row "
                "LIMIT ?", [limit]).fetchall()
        ]
        (total,) = self.con.execute("SELECT count(*) FROM quarantine").fetchone() or (0,)
        return rows, max(int(total) - limit, 0)


# -- the report, from the audit's tables on either engine -------------------------------------

@dataclass(frozen=True)
class ReportInputs:
    """What the report says of its inputs, which only the loading engine knows."""

    sources: list[SourceInfo]
    quarantine: list[QuarantineRow] = field(default_factory=list)
    quarantine_omitted: int = 0
    quarantined_rows: int = 0


def build_report(db: Backend, settings: Settings, rules: list[RuleSpec], prices: PriceTable,
                 inputs: ReportInputs, progress: Progress = no_progress) -> AuditReport:
    """Reliability, cost, checklist and the bounded report from the classified tables
    (``findings``, ``span_facts``, ``trace_facts``, ``finding_fingerprints``). The same
    statements on DuckDB and on Spark: only aggregates and the kept findings reach Python."""
    progress("Computing reliability", 0.75)
    reliability = compute_reliability(db, settings)
    progress("Computing cost", 0.85)
    cost = compute_cost(db, prices, settings)
    progress("Scoring the checklist", 0.92)
    checklist = score_checklist(db, settings)
    progress("Writing the report", 0.96)
    fix_first = rank_fixes(db, cost)
    modes = mode_counts(db, settings.report_findings_per_mode)
    summary = build_summary(db, modes, reliability.observed_success, reliability.predicted_success, cost,
                            settings, rules, prices, inputs)
    return AuditReport(
        summary=summary, findings=report_findings(db, settings.report_findings_per_mode),
        findings_omitted=sum(m.omitted for m in modes),
        reliability=reliability, cost=cost, fix_first=fix_first, checklist=checklist,
        quarantine=inputs.quarantine, quarantine_omitted=inputs.quarantine_omitted,
        fingerprints=summarise_fingerprints(db),
    )


def report_findings(db: Backend, per_mode: int) -> list[Finding]:
    """The report's findings: the top ``per_mode`` of each (layer, mode), chosen by a window
    in SQL, so only the kept rows ever become Python objects."""
    columns = ", ".join(f'"{c}"' for c in Finding.model_fields)
    sql = (f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY layer, mode ORDER BY {MODE_RANK}) "
           f"AS mode_rank FROM findings) WHERE mode_rank <= ? ORDER BY {FINDINGS_ORDER}, span_id, rule_id")
    names = list(Finding.model_fields)
    return _FINDINGS.validate_python([dict(zip(names, row, strict=True)) for row in db.fetchall(sql, [per_mode])])


def mode_counts(db: Backend, per_mode: int) -> list[ModeCount]:
    """Findings per (layer, mode) over the whole ``findings`` table, with how many the list keeps."""
    return [
        ModeCount(layer=layer, mode=mode, findings=n, primary=p, silenced=s, listed=min(n + s, per_mode),
                  omitted=max(n + s - per_mode, 0))
        for layer, mode, n, p, s in db.fetchall(
            "SELECT layer, mode, count(*) FILTER (WHERE NOT silenced), "
            "count(*) FILTER (WHERE NOT silenced AND \"primary\"), count(*) FILTER (WHERE silenced) "
            "FROM findings GROUP BY layer, mode ORDER BY 4 DESC, 3 DESC, layer, mode")
    ]


def timeline(db: Backend) -> list[TimeBucket]:
    """Traces and failed traces per time bucket, the bucket sized to the data's time span."""
    span = fetchone(db, "SELECT min(started_at), max(started_at) FROM trace_facts")
    if not span or span[0] is None:
        return []  # no timestamps: no time chart, no time filter
    unit = timeline_unit((span[1] - span[0]).total_seconds())
    return [
        TimeBucket(start=s, traces=n, failed=f, unit=unit)
        for s, n, f in db.fetchall(
            "SELECT date_trunc(?, started_at) AS b, count(*), count(CASE WHEN failed THEN 1 END) "
            "FROM trace_facts WHERE started_at IS NOT NULL GROUP BY b ORDER BY b", [unit])
    ]


def build_summary(db: Backend, modes: list[ModeCount], observed: float, predicted: float | None, cost: Cost,
                  settings: Settings, rules: list[RuleSpec], prices: PriceTable, inputs: ReportInputs) -> Summary:
    """Headline counts, all computed in SQL over every finding (never from the cut list)."""
    traces, failed, silent, first, last = fetchone(
        db, "SELECT count(*), count(CASE WHEN failed THEN 1 END), count(CASE WHEN silent THEN 1 END), "
        "min(started_at), max(ended_at) FROM trace_facts") or (0, 0, 0, None, None)
    (spans,) = fetchone(db, "SELECT count(*) FROM spans") or (0,)
    severity: dict[str, int] = dict(
        db.fetchall("SELECT severity, count(*) FROM findings WHERE NOT silenced GROUP BY severity"))
    top = sorted(((m.layer, m.mode, m.primary) for m in modes if m.primary), key=lambda x: (-x[2], x[0], x[1]))
    return Summary(
        traces=traces, spans=spans, quarantined_rows=inputs.quarantined_rows, failed_traces=failed,
        silent_failures=silent, observed_success=observed, predicted_success=predicted,
        coordination_gap=None if predicted is None else predicted - observed,
        findings=sum(m.findings for m in modes), silenced_findings=sum(m.silenced for m in modes),
        primary_by_layer={layer: sum(m.primary for m in modes if m.layer == layer) for layer in LAYER_ORDER},
        findings_by_layer={layer: sum(m.findings for m in modes if m.layer == layer) for layer in LAYER_ORDER},
        findings_by_severity={s: int(severity.get(s, 0)) for s in ("high", "medium", "low")},
        top_modes=top[:10], modes=modes,
        total_cost_usd=cost.total_cost_usd,
        cost_per_successful_run_usd=cost.cost_per_successful_run_usd,
        money_lost_usd=money_lost(cost), unpriced_spans=cost.unpriced_spans,
        first_seen=first, last_seen=last, timeline=timeline(db),
        provenance=Provenance(
            version=__version__, generated_at=datetime.now(UTC), inputs=inputs.sources,
            price_table_as_of=prices.as_of, settings=settings.model_dump(mode="json"),
            rules=[f"{r.id} {r.name} ({r.source})" for r in rules], redacted=False,
        ),
    )

TIME_UNITS = (("second", 120), ("minute", 2 * 3600), ("hour", 3 * 86400), ("day", 366 * 86400))


def timeline_unit(seconds: float) -> TimeUnit:
    """The bucket that gives a readable number of points for data covering ``seconds``:
    four minutes of traces are seconds apart, not one dot; a year is days or weeks."""
    for unit, up_to in TIME_UNITS:
        if seconds <= up_to:
            return unit  # type: ignore[return-value]
    return "week"


_FINDINGS = TypeAdapter(list[Finding])


_NOT_TEXT = ("primary", "recovered", "silenced", "start_time")


def _findings_column(name: str, csv: bool, redact: bool = False) -> str:
    """A findings column for the findings file; in CSV, text a spreadsheet would run as a
    formula is prefixed with a quote (the same rule as ``exports.neutralise_formula``)."""
    column = f'"{name}"'
    value = redact_sql(column) if redact and name not in _NOT_TEXT else column
    if not csv or name in _NOT_TEXT:
        return value if value == column else f"{value} AS {column}"
    # one regexp_replace puts a quote before a leading = + - @, tab or carriage return (RE2 reads \t and \r)
    return f"regexp_replace({value}, '^([=+@\\t\\r-])', '''\\1') AS {column}"


MODE_RANK = ("\"primary\" DESC, silenced, CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, "
             "trace_id, start_time, span_id, rule_id")
"""Which findings of a mode the report keeps: unsilenced root causes first, then by severity."""

FINDINGS_ORDER = "\"primary\" DESC, CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, trace_id, start_time"
