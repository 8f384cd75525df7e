"""The rule contract: one small unit per rule whose docstring *is* its catalog entry.

A rule's SQL reads the derived tables ``span_facts`` and ``trace_facts`` (see
``audit/facts.py``) and returns one row per finding with the columns
``trace_id``, ``span_id``, ``evidence`` and optionally ``recovered`` (true when the run
got past the event: a later retry succeeded, or the event is waste rather than a
failure; it lowers the severity and keeps the finding from being a root cause).
Thresholds are named parameters (``$loop_min_runs``) bound from the settings.

Built-in rules are classes (``class HO01(Rule)``); a user's rule file becomes the same
``RuleSpec`` objects through the same validation.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlglot import exp

from audit.errors import RuleDefinitionError
from audit.settings import describe_validation_error

Layer = Literal["handoff", "state", "routing", "recovery"]
Severity = Literal["high", "medium", "low"]
LAYERS: tuple[Layer, ...] = ("handoff", "state", "routing", "recovery")
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")
SECTIONS = ("Why", "Remedy", "Fails", "Passes")


class RuleSpec(BaseModel):
    """A validated catalog entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Z]{2}[0-9]{2}$", description="Stable code: family letters and two digits")
    name: str = Field(pattern=r"^[a-z]+(\.[a-z0-9_]+)+$", description="Readable dotted name")
    layer: Layer
    mode: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Failure mode, snake_case")
    severity: Severity
    title: str = Field(min_length=5, description="The message users see")
    description: str = Field(min_length=5, description="Why it matters")
    remedy: str = Field(min_length=5)
    sql: str = Field(min_length=10, description="SELECT returning trace_id, span_id, evidence[, recovered]")
    generic: bool = Field(False, description="A catch-all: only the root cause when no specific rule explains it")
    shape: bool = Field(
        False, description="A heuristic on the trace's shape (loops, cycles, ping-pong, redundant work): as a root "
                           "cause it ranks below the run's errors")
    precedence: int = Field(
        0, description="Breaks a tie between findings on the same span: the higher is the root cause")
    fails: str = ""
    passes: str = ""
    source: str = "built-in"

    @field_validator("sql")
    @classmethod
    def _single_select(cls, sql: str) -> str:
        try:
            statements = sqlglot.parse(sql, read="duckdb")
        except sqlglot.errors.ParseError as e:
            raise ValueError(f"SQL does not parse: {str(e).splitlines()[0]}") from e
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise ValueError("SQL must be exactly one SELECT (or WITH ... SELECT) statement")
        return sql

    def parameters(self) -> list[str]:
        """Settings the SQL binds as ``$name``."""
        return sorted(set(re.findall(r"\$([a-z_]+)", self.sql)))


def parse_docstring(doc: str, where: str) -> dict[str, str]:
    """Split a rule docstring into title, description (Why), remedy, fails and passes."""
    text = re.sub(r"\n[ \t]+", "\n", doc.strip())
    title, _, rest = text.partition("\n")
    parts = dict(re.findall(r"(?ms)^(Why|Remedy|Fails|Passes):\s*(.*?)(?=^(?:Why|Remedy|Fails|Passes):|\Z)", rest))
    missing = [s for s in SECTIONS if not parts.get(s, "").strip()]
    if missing:
        raise RuleDefinitionError(f"{where}: docstring lacks section(s) {', '.join(f'{m}:' for m in missing)}")
    clean = {k: " ".join(v.split()) for k, v in parts.items()}
    clean = {k: v[:1].upper() + v[1:] for k, v in clean.items()}  # sentences, as the report shows them
    return {
        "title": title.strip(),
        "description": clean["Why"],
        "remedy": clean["Remedy"],
        "fails": clean["Fails"],
        "passes": clean["Passes"],
    }


class Rule:
    """Base class of built-in rules; subclassing validates and builds ``cls.spec``."""

    name: ClassVar[str]
    layer: ClassVar[str]
    mode: ClassVar[str]
    severity: ClassVar[str]
    sql: ClassVar[str]
    generic: ClassVar[bool] = False
    shape: ClassVar[bool] = False
    precedence: ClassVar[int] = 0
    spec: ClassVar[RuleSpec]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        where = f"rule {cls.__name__}"
        try:
            fields = parse_docstring(cls.__doc__ or "", where)
            cls.spec = RuleSpec(
                id=cls.__name__,
                name=cls.name,
                layer=cls.layer,  # type: ignore[arg-type]
                mode=cls.mode,
                severity=cls.severity,  # type: ignore[arg-type]
                sql=cls.sql,
                generic=cls.generic,
                shape=cls.shape,
                precedence=cls.precedence,
                **fields,
            )
        except AttributeError as e:
            raise RuleDefinitionError(f"{where}: missing class attribute ({e})") from e
        except ValidationError as e:
            raise RuleDefinitionError(f"{where}: {describe_validation_error(e)}") from e
