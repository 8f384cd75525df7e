"""A private temporary directory per process: DuckDB's spill files and transcoded copies of
uploads live there, readable by this user only (mode 0700), removed when the process exits
and, after a kill, by the next process that starts."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

PREFIX = "coordination-audit-"
_lock = threading.Lock()
_dir: Path | None = None


def private_temp_dir() -> Path:
    """This process's private directory (created on first use, mode 0700)."""
    global _dir
    with _lock:
        if _dir is None or not _dir.is_dir():
            remove_stale_dirs()
            _dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
            os.chmod(_dir, 0o700)
            atexit.register(shutil.rmtree, _dir, True)
        return _dir


def remove_stale_dirs(root: Path | None = None) -> list[Path]:
    """Remove directories left by processes of this user that no longer run; returns them."""
    root = root or Path(tempfile.gettempdir())
    removed = []
    for candidate in root.glob(f"{PREFIX}*-*"):
        pid = candidate.name.removeprefix(PREFIX).split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or process_alive(int(pid)):
            continue
        try:
            if candidate.is_dir() and not candidate.is_symlink() and candidate.stat().st_uid == os.getuid():
                shutil.rmtree(candidate, ignore_errors=True)
                removed.append(candidate)
        except OSError:
            continue
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process of this id runs (a folder named after a dead one may be removed)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spill_dir(root: str | Path | None = None) -> Path:
    """Where DuckDB spills: ``spill`` in this process's private directory, or a private
    (0700, removed at exit) folder of this process inside ``root``.

    Raises:
        SettingsError: ``root`` is not a folder this user can write in.
    """
    if root is None:
        return private_temp_dir() / "spill"
    folder = Path(root).expanduser()
    try:
        made = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=folder))
    except OSError as e:
        from audit.errors import SettingsError

        raise SettingsError(f"spill_directory {folder}: cannot create a folder there ({e.strerror or e})") from e
    os.chmod(made, 0o700)
    atexit.register(shutil.rmtree, made, True)
    return made
