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


def test_app_uses_material_icons_not_emoji() -> None:
    """Emoji need an emoji font the browser may not have (empty boxes); Material icons ship with Streamlit."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    emoji = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B50\u2B55]")
    for path in [repo / "app.py", *sorted((repo / "pages").glob("*.py"))]:
        found = emoji.findall(path.read_text(encoding="utf-8"))
        assert not found, (path.name, found)


def test_readme_links_stay_in_the_repository() -> None:
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    readme = (repo / "README.md").read_text(encoding="utf-8")
    assert "../" not in readme
    for target in re.findall(r"\]\(([^)#]+)", readme):
        assert not target.startswith(("http", "../", "/")), target
        assert (repo / target).exists(), target
