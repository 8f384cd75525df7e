"""Progress of a long load or audit, reported to whoever shows it (the app's progress bar; the
CLI passes nothing). A plain callable, so the engine knows nothing of the interface."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, float], None]
"""Called with what is being done now and the share of the call's work done before it (0 to 1)."""


def no_progress(stage: str, done: float) -> None:
    """The default: nobody is watching."""


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """A part of a larger job: ``done`` of the part reported as ``start`` to ``end`` of the whole."""
    return lambda stage, done: progress(stage, start + (end - start) * min(max(done, 0.0), 1.0))
