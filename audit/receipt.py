"""The load receipt in few words: long lists of unmapped attribute names summarised by prefix."""

from __future__ import annotations

import re
from collections import Counter

UNMAPPED_PREFIX = "kept unmapped: "


def attribute_prefix(name: str, depth: int = 2) -> str:
    """``llm.input_messages.0.message.role`` -> ``llm.input_messages``: the first dotted parts
    before any list index."""
    name = name.removeprefix("attribute ").strip()
    parts: list[str] = []
    for part in name.split("."):
        if re.fullmatch(r"\d+", part) or len(parts) == depth:
            break
        parts.append(part)
    return ".".join(parts) or name


def summarise_unmapped(names: list[str]) -> list[tuple[str, int]]:
    """(prefix, how many names) for the unmapped names, most first."""
    return Counter(attribute_prefix(n) for n in names).most_common()


def unmapped_note(names: list[str], prefixes: int = 8) -> str:
    """One line for the load notes: how many attributes were kept unmapped, by prefix. A real
    OTLP export has hundreds (one per message and index), far too many to list by name."""
    groups = summarise_unmapped(names)
    shown = ", ".join(f"{prefix} ({n})" for prefix, n in groups[:prefixes])
    more = f" and {len(groups) - prefixes} more prefixes" if len(groups) > prefixes else ""
    return f"{UNMAPPED_PREFIX}{len(names):,} attributes (in each span's attributes), by prefix: {shown}{more}"
