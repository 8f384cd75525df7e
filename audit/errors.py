"""One error family for everything the engine refuses, each with a human title.

Pages show ``title`` with the details folded away; the CLI prints one line.
"""

from __future__ import annotations


class AuditError(Exception):
    """Base class: a problem the user can fix, never a bug."""

    title = "The audit could not run"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def one_line(self) -> str:
        return f"{self.title}: {self.message}".replace("\n", " ")


class InputFileError(AuditError):
    """A trace file that cannot be read at all (wrong format, no columns, empty)."""

    title = "Cannot read trace file"

    def __init__(self, message: str, found_columns: list[str] | None = None, file: str | None = None) -> None:
        super().__init__(message)
        self.found_columns = found_columns  # set when only the column mapping is wrong
        self.file = file


class LimitError(InputFileError):
    """A file past one of the size limits (settings), refused before it is parsed."""

    title = "File over a limit"

    def __init__(self, file: str, what: str, setting: str) -> None:
        flag = "--" + setting.replace("_", "-")
        super().__init__(f"{file} {what}: the limit is the setting `{setting}`; if the file is trusted, raise "
                         f"it with {flag} or `{setting} = ...` in a settings file (python -m audit report "
                         "--settings FILE)", file=file)
        self.setting = setting


class RuleDefinitionError(AuditError):
    """A rule (built-in or from a user's rule file) that breaks the catalog contract."""

    title = "Invalid rule definition"


class SettingsError(AuditError):
    """A settings, price or evals file that does not validate."""

    title = "Invalid settings"


class OutOfMemoryError(AuditError):
    """DuckDB needed more memory than its limit for a step that cannot spill to disk."""

    title = "Out of memory"

    def __init__(self, step: str, limit_mb: int, detail: str) -> None:
        super().__init__(f"{step} needed more than the memory limit of {limit_mb:,} MB ({detail}); raise it with "
                         "--memory-limit-mb or `memory_limit_mb = ...` in a settings file if the machine has the "
                         "memory, or audit fewer spans at a time")
