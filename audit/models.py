"""The exported audit, defined once as pydantic models; its JSON Schema is published
(``python -m audit schema``, ``docs/report.schema.json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FindingLayer = Literal["handoff", "state", "routing", "recovery", "unclassified"]
Score = Literal["pass", "warn", "fail", "unknown"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Finding(Strict):
    """One failure event, with what triggered it."""

    trace_id: str
    span_id: str
    rule_id: str
    layer: FindingLayer
    mode: str
    severity: Literal["high", "medium", "low"]
    title: str
    evidence: str = Field(description="The values that triggered the rule")
    remedy: str
    recovered: bool = Field(description="The run got past this event (e.g. a later retry succeeded)")
    primary: bool = Field(description="The root cause of a failed trace; one per failed trace")
    silenced: bool = False
    silence_reason: str | None = None
    step: str | None = None
    agent: str | None = None
    kind: str | None = None
    start_time: datetime | None = None


class StepReliability(Strict):
    name: str
    agent: str | None
    kind: str | None
    runs: int
    retries: int
    traces: int
    trace_share: float = Field(description="Share of traces in which the step appears")
    first_attempt_rate: float
    first_attempt_ci: tuple[float, float] = Field(description="Wilson 95% interval")
    effective_rate: float = Field(
        description="Share of the step's invocations (a first attempt and its retries) where some attempt passed; "
                    "never below first_attempt_rate"
    )
    effective_ci: tuple[float, float]
    p50_ms: float
    p95_ms: float
    latency_share: float = Field(description="Step time over total run (root) time; nested steps overlap")
    in_pipeline: bool = Field(
        description="Counted in the predicted product: a top-level stage (child of the root) in enough traces"
    )


class WhatIf(Strict):
    success_if_layer_fixed: dict[str, float] = Field(
        description="Observed success if the failed traces rooted in a layer had succeeded"
    )
    retryable_failed_traces: dict[str, int] = Field(
        default_factory=dict,
        description="Failed traces by root-cause layer that another attempt could rescue (a transient error "
                    "not retried); exhausted retries and non-transient errors are not counted",
    )
    retry_success_rate: float = Field(
        1.0, description="Share of retries after a transient error that succeeded (what one more attempt buys)"
    )
    predicted_with_attempts: dict[int, float] = Field(
        description="Predicted end-to-end success with k attempts per pipeline step (independent failures); "
                    "empty without pipeline steps"
    )


class Reliability(Strict):
    traces: int
    failed_traces: int
    observed_success: float
    observed_ci: tuple[float, float]
    predicted_success: float | None = Field(description="Product of the pipeline steps' effective rates; none when no step runs in at least pipeline_min_trace_share of the traces (nothing to multiply)")
    predicted_first_attempt: float | None = Field(
        description="Product of the pipeline steps' first-attempt rates; none when no step runs in at least pipeline_min_trace_share of the traces (nothing to multiply)")
    coordination_gap: float | None = Field(description="predicted_success - observed_success; none without a prediction")
    pipeline_steps: list[str]
    steps: list[StepReliability]
    what_if: WhatIf


class LayerCost(Strict):
    failed_traces: int
    failed_cost_usd: float = Field(description="Token cost of failed runs rooted in this layer")
    business_cost_usd: float = Field(description="Failed runs x business cost per failure")
    retry_cost_usd: float = Field(description="Token cost of retried attempts in runs that then succeeded")
    monthly_loss_usd: float
    payback_months: float | None = Field(description="Engineering cost / monthly loss; none when no loss")
    payback: str = Field("no loss measured", description="Payback in words; past the horizon: not worth it")


class PriceRow(Strict):
    pattern: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    provider: str | None = None
    as_of: str
    source: str


class Cost(Strict):
    traces: int
    failed_traces: int
    total_cost_usd: float
    recorded_cost_usd: float = Field(description="Part taken from cost_usd in the traces")
    computed_cost_usd: float = Field(description="Part priced from tokens with the price table")
    cost_per_trace_usd: float
    cost_per_successful_run_usd: float | None
    failed_cost_usd: float
    retry_cost_usd: float
    useful_cost_usd: float = Field(description="Total minus failed runs minus retried attempts")
    business_cost_per_failure_usd: float
    monthly_runs: int
    monthly_cost_usd: float
    monthly_failure_loss_usd: float
    engineering_cost_usd: float
    payback_horizon_months: float = Field(24.0, description="A fix paying back later than this is not worth it")
    by_layer: dict[str, LayerCost]
    unpriced_spans: int = Field(description="Spans with tokens but no cost and no matching price")
    unpriced_tokens: int
    unpriced_models: list[str]
    price_table_as_of: str
    prices: list[PriceRow]


class FixFirstItem(Strict):
    """One root-cause failure mode, priced: the Overview's and the exports' "Fix first" list."""

    layer: FindingLayer
    mode: str
    rules: list[str]
    failed_traces: int = Field(description="Failed traces whose root cause is this mode")
    failed_cost_usd: float = Field(description="Token cost of those failed runs (priced spans only)")
    business_cost_usd: float = Field(0.0, description="Failed runs x business cost per failure")
    money_lost_usd: float = Field(0.0, description="failed_cost_usd + business_cost_usd; the ranking key")
    monthly_loss_usd: float = Field(0.0, description="money_lost_usd scaled to the monthly run volume")
    success_gain: float = Field(0.0, description="End-to-end success gained if fixed (its failed traces succeed)")
    remedy: str
    example_traces: list[str]


class ChecklistItem(Strict):
    id: str
    layer: Literal["handoff", "state", "routing", "recovery", "observability"]
    title: str
    score: Score
    evidence: str = Field(description="The numbers behind the score")
    remedy: str
    override: Score | None = None
    override_note: str | None = None


class QuarantineRow(Strict):
    source_file: str
    source_row: int | None
    reason: str
    raw: str | None


class SourceInfo(Strict):
    name: str
    role: str
    format: str
    sha256: str
    rows_loaded: int
    rows_quarantined: int


class Provenance(Strict):
    tool: str = "coordination-audit"
    version: str
    generated_at: datetime
    inputs: list[SourceInfo]
    price_table_as_of: str
    settings: dict[str, object]
    rules: list[str]
    redacted: bool


TimeUnit = Literal["second", "minute", "hour", "day", "week"]


class TimeBucket(Strict):
    start: datetime
    traces: int
    failed: int
    unit: TimeUnit = Field("hour", description="Width of the bucket, chosen from the time the data covers")


class ModeCount(Strict):
    """One failure mode over all findings, counted in SQL: the aggregate that stays exact when
    the report's findings list is cut to the top few of each mode."""

    layer: FindingLayer
    mode: str
    findings: int = Field(description="Unsilenced findings of this mode")
    primary: int = Field(description="Unsilenced primary (root-cause) findings of this mode")
    silenced: int = Field(0, description="Silenced findings of this mode")
    listed: int = Field(description="Of its findings (silenced included), how many the report's findings list carries")
    omitted: int = Field(description="How many it leaves out (all are in the findings file, --findings FILE)")


class Summary(Strict):
    traces: int
    spans: int
    quarantined_rows: int
    failed_traces: int
    silent_failures: int
    observed_success: float
    predicted_success: float | None = Field(description="See reliability.predicted_success")
    coordination_gap: float | None
    findings: int
    silenced_findings: int
    primary_by_layer: dict[str, int] = Field(description="Failed traces by root-cause layer (primary findings)")
    findings_by_layer: dict[str, int]
    findings_by_severity: dict[str, int]
    top_modes: list[tuple[str, str, int]] = Field(description="(layer, mode, primary findings), most first")
    modes: list[ModeCount] = Field(
        default_factory=list,
        description="Every (layer, mode) with findings, counted over all findings, with how many of them the "
                    "findings list carries and leaves out; most primary findings first")
    total_cost_usd: float
    cost_per_successful_run_usd: float | None
    money_lost_usd: float = Field(description="Failed runs + retried attempts + business cost of failures")
    unpriced_spans: int = Field(0, description="Spans with tokens but no price: not in the money figures")
    first_seen: datetime | None
    last_seen: datetime | None
    timeline: list[TimeBucket] = Field(description="Traces and failed traces per time bucket")
    provenance: Provenance


class Fingerprint(Strict):
    """One failure as it recurs: findings with the same layer, mode, step and message template."""

    fingerprint: str = Field(description="Stable id: 'fp-' + md5 of layer|mode|step|template (first 12 hex)")
    layer: FindingLayer
    mode: str
    step: str | None
    template: str = Field(description="The error text with ids, numbers, hex, UUIDs, quoted values, paths, URLs "
                                      "and timestamps masked")
    rule_id: str
    severity: Literal["high", "medium", "low"] = Field(description="The most severe of its findings")
    findings: int
    traces: int
    failed_traces: int
    root_cause_traces: int = Field(description="Failed traces whose root cause (primary finding) it is")
    share_of_failed: float = Field(description="Its failed traces over all failed traces")
    first_seen: datetime | None
    last_seen: datetime | None
    example_trace_id: str
    example_span_id: str
    remedy: str


class AuditReport(Strict):
    """Everything the audit found; the JSON export is exactly this model."""

    summary: Summary
    findings: list[Finding] = Field(
        description="Truncated: the top findings of each (layer, mode), primary first, then by severity; all of them "
                    "when a mode has at most `report_findings_per_mode` (a setting). `summary.modes` says how many "
                    "each mode leaves out; every finding is in the findings file (`--findings FILE`).",
        json_schema_extra={"x-truncated": {"per": ["layer", "mode"], "limit_setting": "report_findings_per_mode",
                                           "omitted": "findings_omitted, summary.modes[].omitted"}},
    )
    findings_omitted: int = Field(0, description="Findings left out of `findings` (sum of summary.modes[].omitted)")
    reliability: Reliability
    cost: Cost
    fix_first: list[FixFirstItem] = Field(
        default_factory=list, description="Root-cause failure modes, most costly first (money lost, then failed runs)"
    )
    checklist: list[ChecklistItem]
    quarantine: list[QuarantineRow] = Field(
        description="Truncated: the first `report_quarantine_rows` (a setting) quarantined rows by file and row; "
                    "`quarantine_omitted` says how many more there are (`summary.quarantined_rows` counts all).",
        json_schema_extra={"x-truncated": {"limit_setting": "report_quarantine_rows",
                                           "omitted": "quarantine_omitted"}},
    )
    quarantine_omitted: int = Field(0, description="Quarantined rows left out of `quarantine`")
    fingerprints: list[Fingerprint] = Field(
        default_factory=list, description="Error fingerprints of the unsilenced findings, most traces first")
