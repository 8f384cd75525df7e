import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def pytest_collection_modifyitems(items: list) -> None:
    """Under pytest-xdist (``--dist loadgroup``), the framework runs and the browser tests take
    turns on one worker: a framework's own retry "at once" is timed by the wall clock, and with
    a browser, a Streamlit server and another framework beside it on two cores it once took
    longer than a real back-off. The Spark tests share one worker too, so one JVM (the
    module's session) serves them all."""
    import pytest

    for item in items:
        if item.path.name.startswith("test_browser") or "regenerated" in item.name:
            item.add_marker(pytest.mark.xdist_group("wall_clock"))
        elif item.path.name == "test_spark.py":
            item.add_marker(pytest.mark.xdist_group("spark"))
