"""The engine's one entry point: an ``Audit`` owns a DuckDB database, loads traces and
runs the whole audit into an ``AuditReport``. The CLI and the app both use only this."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from pydantic import TypeAdapter

from audit import __version__
from audit.checklist import score_checklist
from audit.classify import classify
from audit.cost import PriceTable, compute_cost, load_prices, money_lost
from audit.db import connect
from audit.errors import AuditError
from audit.evals import load_evals
from audit.exports import FINDING_COLUMNS
from audit.fingerprints import build_fingerprints, summarise_fingerprints
from audit.fixfirst import fix_first as rank_fixes
from audit.ingest import LoadResult, SourceFile, load_traces
from audit.models import (
    AuditReport,
    Cost,
    Finding,
    Provenance,
    QuarantineRow,
    SourceInfo,
    Summary,
    TimeBucket,
    TimeUnit,
)
from audit.redact import redact_report, redacted_spans
from audit.reliability import LAYER_ORDER, compute_reliability
from audit.rules import catalog, load_rule_file
from audit.rules.base import RuleSpec
from audit.settings import Settings, load_settings

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
        return cls(connect(db), settings, rules, prices)

    def load(self, files: list[SourceFile], column_overrides: dict[str, str] | None = None,
             input_format: str | None = None) -> list[LoadResult]:
        """Load trace files (see ``audit.ingest.load_traces``)."""
        return load_traces(self.con, files, column_overrides, input_format, self.settings)

    def load_evals(self, source: SourceFile) -> LoadResult:
        return load_evals(self.con, source, self.settings)

    def classify(self) -> None:
        classify(self.con, self.rules, self.settings)
        build_fingerprints(self.con)

    def run(self, redact: bool = False) -> AuditReport:
        """Classify, compute reliability, cost and checklist; the whole audit as one model.

        With ``redact``, span text is redacted before the rules cut it into evidence (a secret
        cut at the edge would otherwise survive in part), then every string of the report."""
        if not redact:
            return self._run()
        with redacted_spans(self.con):
            return redact_report(self._run())

    def _run(self) -> AuditReport:
        self.classify()
        reliability = compute_reliability(self.con, self.settings)
        cost = compute_cost(self.con, self.prices, self.settings)
        checklist = score_checklist(self.con, self.settings)
        fix_first = rank_fixes(self.con, cost)
        findings = self._findings()
        quarantine = self._quarantine()
        summary = self._summary(findings, reliability.observed_success, reliability.predicted_success, cost)
        report = AuditReport(
            summary=summary, findings=findings, reliability=reliability, cost=cost, fix_first=fix_first,
            checklist=checklist, quarantine=quarantine, fingerprints=summarise_fingerprints(self.con),
        )
        return report

    # -- queries the app and exports use -------------------------------------------------

    def frame(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """A read-only query over the audit's tables as a DataFrame (values bound, never spliced)."""
        return self.con.execute(sql, params or []).df()

    def write_findings(self, path: str | Path) -> int:
        """Every finding to ``path`` (``.parquet``, else CSV) by DuckDB itself, never through
        Python objects, so the file grows with the findings while the report stays bounded.
        CSV text cells that a spreadsheet would evaluate get a leading quote.

        Raises:
            AuditError: the file cannot be written.
        """
        target = Path(path)
        columns = ", ".join(_findings_column(c, csv=target.suffix.lower() != ".parquet") for c in FINDING_COLUMNS)
        relation = self.con.sql(f"SELECT {columns} FROM findings ORDER BY {FINDINGS_ORDER}")
        try:
            if target.suffix.lower() == ".parquet":
                relation.write_parquet(str(target))
            else:
                relation.write_csv(str(target))
        except (duckdb.Error, OSError) as e:
            raise AuditError(f"cannot write findings to {target}: {str(e).splitlines()[0]}") from e
        (n,) = self.con.execute("SELECT count(*) FROM findings").fetchone() or (0,)
        return int(n)

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

    def _findings(self) -> list[Finding]:
        cur = self.con.execute(f"SELECT * FROM findings ORDER BY {FINDINGS_ORDER}")
        names = [d[0] for d in cur.description or []]
        return _FINDINGS.validate_python([dict(zip(names, row, strict=True)) for row in cur.fetchall()])

    def _quarantine(self) -> list[QuarantineRow]:
        return [
            QuarantineRow(source_file=f, source_row=r, reason=why, raw=raw)
            for f, r, why, raw in self.con.execute(
                "SELECT source_file, source_row, reason, raw FROM quarantine ORDER BY source_file, source_row"
            ).fetchall()
        ]

    def _timeline(self) -> list[TimeBucket]:
        span = self.con.execute("SELECT min(started_at), max(started_at) FROM trace_facts").fetchone()
        if not span or span[0] is None:
            return []  # no timestamps: no time chart, no time filter
        unit = timeline_unit((span[1] - span[0]).total_seconds())
        return [
            TimeBucket(start=s, traces=n, failed=f, unit=unit)
            for s, n, f in self.con.execute(
                "SELECT date_trunc(?, started_at) AS b, count(*), count(CASE WHEN failed THEN 1 END) "
                "FROM trace_facts WHERE started_at IS NOT NULL GROUP BY b ORDER BY b",
                [unit],
            ).fetchall()
        ]

    def _summary(self, findings: list[Finding], observed: float, predicted: float, cost: Cost) -> Summary:
        con = self.con
        traces, failed, silent, first, last = con.execute(
            "SELECT count(*), count(CASE WHEN failed THEN 1 END), count(CASE WHEN silent THEN 1 END), "
            "min(started_at), max(ended_at) FROM trace_facts"
        ).fetchone() or (0, 0, 0, None, None)
        (spans,) = con.execute("SELECT count(*) FROM spans").fetchone() or (0,)
        (quarantined,) = con.execute("SELECT count(*) FROM quarantine").fetchone() or (0,)
        active = [f for f in findings if not f.silenced]
        primary = [f for f in active if f.primary]
        modes: dict[tuple[str, str], int] = {}
        for f in primary:
            modes[(f.layer, f.mode)] = modes.get((f.layer, f.mode), 0) + 1
        top = sorted(((layer, mode, n) for (layer, mode), n in modes.items()), key=lambda x: (-x[2], x[0], x[1]))
        return Summary(
            traces=traces, spans=spans, quarantined_rows=quarantined, failed_traces=failed, silent_failures=silent,
            observed_success=observed, predicted_success=predicted, coordination_gap=predicted - observed,
            findings=len(active), silenced_findings=len(findings) - len(active),
            primary_by_layer={layer: sum(1 for f in primary if f.layer == layer) for layer in LAYER_ORDER},
            findings_by_layer={layer: sum(1 for f in active if f.layer == layer) for layer in LAYER_ORDER},
            findings_by_severity={s: sum(1 for f in active if f.severity == s) for s in ("high", "medium", "low")},
            top_modes=top[:10],
            total_cost_usd=cost.total_cost_usd,
            cost_per_successful_run_usd=cost.cost_per_successful_run_usd,
            money_lost_usd=money_lost(cost), unpriced_spans=cost.unpriced_spans,
            first_seen=first, last_seen=last, timeline=self._timeline(),
            provenance=Provenance(
                version=__version__, generated_at=datetime.now(UTC), inputs=self.sources(),
                price_table_as_of=self.prices.as_of, settings=self.settings.model_dump(mode="json"),
                rules=[f"{r.id} {r.name} ({r.source})" for r in self.rules], redacted=False,
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


def _findings_column(name: str, csv: bool) -> str:
    """A findings column for the findings file; in CSV, text a spreadsheet would run as a
    formula is prefixed with a quote (the same rule as ``exports.neutralise_formula``)."""
    column = f'"{name}"'
    if not csv or name in ("primary", "recovered", "silenced", "start_time"):
        return column
    # chr(39) is the quote itself; tab and carriage return as chr() so the SQL stays printable
    starts = " OR ".join(f"starts_with({column}, {p})" for p in ("'='", "'+'", "'-'", "'@'", "chr(9)", "chr(13)"))
    return f"CASE WHEN {starts} THEN chr(39) || {column} ELSE {column} END AS {column}"


FINDINGS_ORDER = "\"primary\" DESC, CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, trace_id, start_time"
