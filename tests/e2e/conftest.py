"""The real-desktop harness, importable as ``qgis_desktop`` by every test here.

Tests import with --import-mode=importlib (no package, no sys.path change), so the harness
module is registered by name once, before the test modules are collected.

Fixtures:
- ``desktop_with_sandbox(scenario, artifacts, timeout, sandbox_speed="0", step_timeout=30)`` (module scope): runs
  the scenario in QGIS on a fresh profile with the plugin's own sandbox started at once (as ``make run`` does),
  its artifacts folder emptied first; the ``DesktopRun``. A scenario's ``ctx`` offers ``fields_layer()``,
  ``task_from_toolbar()`` and ``choose_product()`` besides screenshots and reports (qgis_desktop.Driver).
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


@pytest.fixture(scope="module")
def desktop_with_sandbox(tmp_path_factory):
    def run(scenario: str, artifacts: Path, timeout: float, sandbox_speed: str = "0", step_timeout: float = 30):
        if artifacts.exists():
            shutil.rmtree(artifacts)
        environment = {"SATELLITE_TASKING_START_SANDBOX": "1", "SATELLITE_TASKING_SANDBOX_PORT": "0"}
        if sandbox_speed is not None:
            environment["SATELLITE_TASKING_SANDBOX_SPEED"] = sandbox_speed
        return sys.modules["qgis_desktop"].run_qgis(
            tmp_path_factory.mktemp("qgis-profiles"), scenario, timeout=timeout, artifacts_dir=artifacts,
            step_timeout=step_timeout, extra_env=environment)

    return run


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            for mark in DESKTOP_MARKS:
                item.add_marker(mark)
