"""Audit settings: one pydantic table whose defaults, descriptions and file format
are the single source for the CLI, the app and the docs."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audit.errors import SettingsError


class Silence(BaseModel):
    """Silences a rule everywhere, or only in one trace. Silenced findings stay listed."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(description="Rule to silence, e.g. RC03")
    trace_id: str | None = Field(default=None, description="Only in this trace; all traces when empty")
    reason: str = Field(default="", description="Why it is silenced; shown in the report")


class Settings(BaseModel):
    """Thresholds and business assumptions of an audit."""

    model_config = ConfigDict(extra="forbid")

    loop_min_runs: int = Field(5, ge=2, description="A step run this many times in one trace is a loop")
    cycle_min_repeats: int = Field(
        3, ge=2, description="A cycle of 2-3 steps repeated this many times is a loop"
    )
    pingpong_min_handoffs: int = Field(
        3, ge=2, description="Hand-offs back and forth between the same two agents that make ping-pong"
    )
    backoff_min_ms: float = Field(
        100.0, ge=0, description="A retry sooner than this after the failed attempt has no back-off"
    )
    pipeline_min_trace_share: float = Field(
        0.5, gt=0, le=1, description="A step counts in the predicted product when in this share of traces"
    )
    business_cost_per_failure_usd: float = Field(
        0.0, ge=0, description="What a failed run costs the business beyond tokens"
    )
    monthly_runs: int = Field(100_000, ge=0, description="Run volume used for monthly projections")
    engineering_cost_usd: float = Field(
        6500.0, ge=0, description="Cost of fixing one layer (default: one engineer-week)"
    )
    payback_horizon_months: float = Field(
        24.0, gt=0, description="A fix that pays back later than this many months is not worth it at this volume"
    )
    checklist_fail_share: float = Field(
        0.01, gt=0, le=1,
        description="A checklist practice fails when its problem shows in this share of traces; below it, a warning",
    )
    eval_score_name: str | None = Field(
        None, description="Which evaluator score or feedback key decides pass/fail (default: every one)"
    )
    eval_pass_threshold: float = Field(0.5, description="A numeric evaluator score at or above this passes")
    report_findings_per_mode: int = Field(
        100, ge=0, description="The report (JSON, Markdown, HTML) lists at most this many findings per layer and "
                               "mode, primary and most severe first; all findings go to --findings FILE")
    report_quarantine_rows: int = Field(
        200, ge=0, description="The report lists at most this many quarantined rows; the count covers all")
    memory_limit_mb: int = Field(
        1500, ge=100,
        description="DuckDB's memory limit in MB; past it, DuckDB spills to disk (the peak process memory stays "
                    "about 0.5 GB above it)")
    spill_directory: str | None = Field(
        None, description="Folder in which DuckDB spills past the memory limit (a private subfolder, removed at "
                          "exit); default: the system's temporary folder")
    silence: list[Silence] = Field(default_factory=list, description="Rules or findings to silence")
    # Limits on what one file may cost: generous for real exports, finite for hostile ones.
    max_expanded_bytes: int = Field(
        20 * 10**9, ge=1, description="Largest file size in bytes after decompression; larger files are refused"
    )
    max_rows: int = Field(200_000_000, ge=1, description="Most rows (lines) one file may hold; more are refused")
    max_json_depth: int = Field(
        128, ge=2, le=5000,
        description="Deepest JSON nesting; a deeper record is quarantined, a deeper whole document refused",
    )
    max_field_chars: int = Field(
        2**20, ge=1024, description="Text fields longer than this (characters) are stored cut, with a marker and a note"
    )
    max_message_chars: int = Field(
        8_000, ge=200,
        description="Model and tool messages (a span's input and output) of an OTLP export longer than this keep "
                    "their head (a quarter) and tail, with a marker: what the audit reads is at the ends (errors, "
                    "the newest turns), and real spans would otherwise carry whole conversations through every pass",
    )
    min_time: datetime = Field(
        datetime(1970, 1, 1), description="Earliest span time accepted; earlier rows are quarantined"
    )
    max_time: datetime = Field(
        datetime(2200, 1, 1), description="Latest span time accepted; later rows are quarantined"
    )


def load_settings(path: str | Path | None, **overrides: Any) -> Settings:
    """Read a TOML or YAML settings file (optional) and apply explicit overrides.

    Raises:
        SettingsError: unreadable file or a value that does not validate.
    """
    data: dict[str, Any] = read_config_file(path) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        raise SettingsError(f"{path or 'settings'}: {describe_validation_error(e)}") from e


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse TOML (``.toml``) or YAML (anything else) into a mapping."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"cannot read {p}: {e}") from e
    try:
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
        raise SettingsError(f"{p} is not valid {'TOML' if p.suffix == '.toml' else 'YAML'}: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{p}: expected a mapping at the top level, found {type(data).__name__}")
    return data


def describe_validation_error(e: ValidationError) -> str:
    """Pydantic errors as one readable line: 'field.path: message; ...'."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
