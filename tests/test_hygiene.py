"""The engine is a library: it never imports the UI layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_engine_never_imports_streamlit() -> None:
    code = ("import sys, pkgutil, importlib, audit\n"
            "for m in pkgutil.walk_packages(audit.__path__, 'audit.'):\n"
            "    if m.name != 'audit.__main__': importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] == 'streamlit']\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_no_streamlit_in_engine_source() -> None:
    for path in (REPO / "audit").rglob("*.py"):
        assert "streamlit" not in path.read_text(), path
