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


def split_notes(notes: list[str]) -> tuple[list[str], list[str]]:
    """The notes other than the unmapped list, and the unmapped names."""
    other, unmapped = [], []
    for note in notes:
        if note.startswith(UNMAPPED_PREFIX):
            unmapped += [n.strip() for n in note.removeprefix(UNMAPPED_PREFIX).split(", ") if n.strip()]
        else:
            other.append(note)
    return other, unmapped
