"""The import contracts of pyproject.toml (``make lint``): kept by the code, and broken by the imports they forbid.

The second half copies the package to a temporary folder, adds one forbidden import at a time and checks that
scripts/lint_imports.py says which contract broke: a contract that nothing can break would be a stub.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "scripts" / "lint_imports.py"), "--no-logo"], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_the_code_keeps_every_contract():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("satellite_tasking")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.ui", "*.qml", "*.svg", "*.png", "*.json", "*.tif")
    for name in ("plugin", "ui"):
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    for name in ("__init__.py", "service.py", "pyproject.toml", "scripts/lint_imports.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    return root


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # Processing is a front end beside ui/, and the core is below ui/.
        ("plugin/processing/products_algorithm.py", "from ...ui import schema_form",
         "Processing is a front end beside ui/"),
        ("plugin/sync.py", "from ..ui import monitor_dock", "the core never imports ui/"),
        # Providers: no Qt, no QGIS, not one another, not another's wire allowlist, nothing above them.
        ("plugin/providers/up42.py", "import qgis.core", "Providers import neither QGIS nor Qt"),
        ("plugin/providers/planet.py", "from qgis.PyQt import QtCore", "Providers import neither QGIS nor Qt"),
        ("plugin/providers/stapi.py", "from . import up42", "none imports another"),
        ("plugin/providers/up42.py", "from . import planet_wire", "Each provider reads only its own wire"),
        ("plugin/providers/base.py", "from .. import store", "Inside plugin/"),
        # The wire and the model are at the bottom.
        ("plugin/http.py", "from . import tasks", "Inside plugin/"),
        # The sandbox stands alone.
        ("plugin/sandbox/core.py", "from .. import model", "plugin/sandbox/"),
        # No cycles: the order dialog and the opportunities dialog once imported each other.
        ("ui/opportunities.py", "from . import order_dialog", "No import cycles"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(package_copy, module, line, broken):
    path = package_copy / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + f"\n{line}  # noqa\n", encoding="utf-8")
        result = lint(package_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0, result.stdout
    report = " ".join(result.stdout.split())  # the report wraps long names over lines
    broken_part = report.split("Broken contracts", 1)[-1]
    assert broken in broken_part, report


def test_a_new_module_must_be_placed_in_a_layer(package_copy):
    path = package_copy / "plugin" / "unplaced.py"
    try:
        path.write_text('"""A module no layer names."""\n', encoding="utf-8")
        result = lint(package_copy)
    finally:
        path.unlink()
    assert result.returncode != 0
    assert "satellite_tasking.plugin.unplaced" in result.stdout
