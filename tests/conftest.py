from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="session")
def catalog():
    from planner.catalog import default_catalog

    return default_catalog()


DATA = ROOT / "tests" / "data"


def reference_data(name: str):
    """A published-reference file of ``tests/data`` (sources in ``tests/data/README.md``)."""
    import json

    return json.loads((DATA / name).read_text())
