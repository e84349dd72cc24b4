"""The real-desktop harness, importable as ``qgis_desktop`` by every test here.

Tests import with --import-mode=importlib (no package, no sys.path change), so the harness
module is registered by name once, before the test modules are collected.
"""
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

if "qgis_desktop" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("qgis_desktop", Path(__file__).with_name("qgis_desktop.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["qgis_desktop"] = _module
    _spec.loader.exec_module(_module)

# Every test here starts the QGIS desktop: mark them, and say what is missing when it cannot run.
DESKTOP_MARKS = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("qgis") is None or shutil.which("Xvfb") is None,
                       reason="needs the QGIS desktop (apt: qgis) and Xvfb (apt: xvfb)"),
]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            for mark in DESKTOP_MARKS:
                item.add_marker(mark)
