"""The wheel holds every package of the source tree: pyproject.toml lists each planner/ folder with an __init__.py."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_planner_package_is_listed_in_pyproject():
    listed = set(re.findall(r'"(planner(?:\.[a-z_]+)*)"', (ROOT / "pyproject.toml").read_text()))
    packages = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "planner").rglob("__init__.py")}
    assert packages - listed == set()
