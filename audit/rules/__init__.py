"""The rule catalog: built-in families registered explicitly, plus users' rule files.

A user's rule goes through the same ``RuleSpec`` validation as the built-ins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from audit.errors import RuleDefinitionError, SettingsError
from audit.rules import handoff, recovery, routing, state
from audit.rules.base import LAYERS, SEVERITIES, Rule, RuleSpec
from audit.settings import describe_validation_error, read_config_file

BUILTIN_RULES: tuple[RuleSpec, ...] = tuple(
    r.spec for family in (handoff, state, routing, recovery) for r in family.RULES
)

__all__ = ["BUILTIN_RULES", "LAYERS", "SEVERITIES", "Rule", "RuleSpec", "catalog", "load_rule_file"]


def load_rule_file(path: str | Path) -> list[RuleSpec]:
    """Rules from a TOML (``[[rules]]`` tables) or YAML (``rules:`` list) file.

    Raises:
        RuleDefinitionError: the file does not parse, or a rule breaks the contract
            (the message names the rule and the field).
    """
    try:
        data = read_config_file(path)
    except SettingsError as e:
        raise RuleDefinitionError(e.message) from e
    entries: Any = data.get("rules")
    if not isinstance(entries, list) or not entries:
        raise RuleDefinitionError(f"{path}: expected a non-empty list under `rules`")
    rules = []
    for i, entry in enumerate(entries, start=1):
        label = entry.get("id", f"#{i}") if isinstance(entry, dict) else f"#{i}"
        if not isinstance(entry, dict):
            raise RuleDefinitionError(f"{path}: rule {label} must be a table of fields")
        try:
            rules.append(RuleSpec.model_validate({**entry, "source": str(Path(path).name)}))
        except ValidationError as e:
            raise RuleDefinitionError(f"{path}: rule {label}: {describe_validation_error(e)}") from e
    return rules


def catalog(extra: list[RuleSpec] | None = None) -> list[RuleSpec]:
    """Built-in rules followed by ``extra``; ids must be unique.

    Raises:
        RuleDefinitionError: two rules share an id.
    """
    rules = [*BUILTIN_RULES, *(extra or [])]
    seen: dict[str, str] = {}
    for r in rules:
        if r.id in seen:
            raise RuleDefinitionError(f"rule {r.id} from {r.source} reuses the id of a rule from {seen[r.id]}")
        seen[r.id] = r.source
    return rules
