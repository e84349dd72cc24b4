"""The real QGIS desktop, started on a fresh profile under Xvfb, loads the plugin as a user would see it."""
import shutil
from pathlib import Path

import pytest
import qgis_desktop  # registered by conftest.py

ARTIFACTS = qgis_desktop.ARTIFACTS_DIR / "desktop_loads_plugin"

# Inside QGIS: open the order monitor the way a user does (its toolbar button) and photograph it.
SHOW_MONITOR = """
def scenario(ctx):
    from qgis.PyQt.QtWidgets import QDockWidget, QToolBar
    window = iface.mainWindow()
    toolbar = window.findChild(QToolBar, "SatelliteTaskingToolbar")
    dock = window.findChild(QDockWidget, "SatelliteTaskingMonitorDock")
    ctx.report["monitor_visible_before"] = dock.isVisible()
    monitor_button = [a for a in toolbar.actions() if a.text() == "Order monitor"][0]
    monitor_button.trigger()
    yield dock.isVisible
    yield 0.5
    ctx.report["monitor_visible_after"] = dock.isVisible()
    ctx.screenshot("monitor_open")
"""


@pytest.fixture(scope="module")
def desktop_run(tmp_path_factory):
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    return qgis_desktop.run_qgis(tmp_path_factory.mktemp("qgis-profiles"), SHOW_MONITOR, timeout=120,
                                 artifacts_dir=ARTIFACTS)


def _by_object_name(items, name):
    return next((item for item in items if item["objectName"] == name), None)


def test_qgis_starts_and_quits_cleanly(desktop_run):
    assert not desktop_run.timed_out, desktop_run.describe()
    assert desktop_run.report.get("finished"), desktop_run.describe()
    assert "driver_error" not in desktop_run.report, desktop_run.describe()
    assert desktop_run.returncode == 0, desktop_run.describe()
    assert desktop_run.duration < 60, desktop_run.describe()


def test_plugin_is_loaded_and_active(desktop_run):
    report = desktop_run.report
    assert report.get("plugin_loaded") and report.get("plugin_active"), desktop_run.describe()
    assert report["plugin_class"] == "TaskingPlugin"


def test_no_python_error_for_the_plugin(desktop_run):
    assert desktop_run.python_errors == [], desktop_run.describe()
    assert desktop_run.stderr_python_errors() == [], desktop_run.stderr
    assert desktop_run.report.get("scenario_error") is None, desktop_run.report.get("scenario_error")


def test_nothing_modal_popped_up(desktop_run):
    # First-run, news, migration or error dialogs would block a user (and the plugin's start-up) too.
    assert desktop_run.report["modal_dialogs"] == [], desktop_run.describe()


def test_no_network_request_left_the_machine(desktop_run):
    remote = [r["url"] for r in desktop_run.report["network_requests"]
              if not r["url"].startswith(("http://127.0.0.1", "file:", "qrc:", "data:"))]
    assert remote == []


def test_toolbar_is_shown_with_its_actions(desktop_run):
    toolbar = _by_object_name(desktop_run.report["toolbars"], "SatelliteTaskingToolbar")
    assert toolbar is not None, [t["objectName"] for t in desktop_run.report["toolbars"]]
    assert toolbar["title"] == "Satellite tasking"
    assert toolbar["visible"]
    assert "Order monitor" in toolbar["actions"]


def test_monitor_dock_is_present_and_opens_from_the_toolbar(desktop_run):
    dock = _by_object_name(desktop_run.report["docks"], "SatelliteTaskingMonitorDock")
    assert dock is not None, [d["objectName"] for d in desktop_run.report["docks"]]
    assert desktop_run.report.get("monitor_visible_after") is True, desktop_run.describe()


def test_web_menu_has_the_plugin_menu(desktop_run):
    menus = {m["title"]: m["entries"] for m in desktop_run.report["web_menu"]}
    assert "Satellite tasking" in menus, menus
    assert "Order monitor" in menus["Satellite tasking"]


def test_plugin_unloads_when_qgis_quits(desktop_run):
    # File ▸ Exit unloads every plugin; an error in unload() would surface as a Python error after the
    # final report — the report is rewritten for each error, so it is caught here too.
    final = desktop_run.report["final_state"]
    assert final["plugin_loaded"], final
    assert desktop_run.python_errors == []


def test_screenshots_are_saved_as_artifacts(desktop_run):
    for name in ("startup", "monitor_open"):
        path = desktop_run.screenshots.get(name)
        assert path is not None and path.parent == ARTIFACTS, desktop_run.screenshots
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 20_000  # a black or empty screen compresses to a few kB


# -- the harness itself: it must see a broken plugin, and must be able to kill QGIS at a chosen moment.

MINIMAL_METADATA = """[general]
name=Harness check
qgisMinimumVersion=3.22
description=A throwaway plugin for the e2e harness's own tests
about=-
version=0.0.1
author=-
email=harness@example.org
repository=https://example.org
"""

FAILING_INIT = """
def classFactory(iface):
    class Failing:
        def initGui(self):
            raise RuntimeError("harness check: initGui failed")

        def unload(self):
            pass

    return Failing()
"""


def _minimal_plugin(folder: Path, init_source: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "metadata.txt").write_text(MINIMAL_METADATA, encoding="utf-8")
    (folder / "__init__.py").write_text(init_source, encoding="utf-8")
    return folder


def test_harness_reports_a_plugin_whose_init_gui_fails(tmp_path):
    plugin = _minimal_plugin(tmp_path / "failing", FAILING_INIT)
    run = qgis_desktop.run_qgis(tmp_path / "profiles", "", timeout=90, plugin_source=plugin)

    assert run.report.get("finished"), run.describe()
    assert not run.report["plugin_loaded"]
    assert any("harness check: initGui failed" in e["message"] for e in run.python_errors), run.describe()
    # QGIS shows the traceback in a modal dialog; the driver records and closes it so the run goes on.
    assert [d["objectName"] for d in run.report["modal_dialogs"]] == ["QgsMessageViewer"]


def test_harness_kills_qgis_on_a_scenario_event(tmp_path):
    # The plugin is switched off: this is about the harness, and QGIS alone is enough to kill.
    plugin = _minimal_plugin(tmp_path / "off", FAILING_INIT)
    scenario = (
        "def scenario(ctx):\n"
        "    ctx.event('halfway', orders=1)\n"
        "    yield 60\n"
        "    ctx.report['survived'] = True\n"
    )
    run = qgis_desktop.run_qgis(tmp_path / "profiles", scenario, timeout=90, plugin_source=plugin,
                                extra_settings={"PythonPlugins/satellite_tasking": False},
                                kill_on_event="halfway")

    assert run.killed_on_event == "halfway", run.describe()
    assert run.returncode == -9
    assert not run.timed_out and run.duration < 45
    assert [e["name"] for e in run.report["events"]] == ["halfway"]
    assert run.report["events"][0]["orders"] == 1
    assert "survived" not in run.report and not run.report["finished"]
