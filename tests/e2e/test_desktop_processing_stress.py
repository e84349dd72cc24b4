"""In the real QGIS desktop: the Processing dialogs of List, Estimate and Place run twenty times while the
order monitor syncs every fraction of a second, through QgsProcessingAlgorithmDialogBase::runAlgorithm as a
user's click does. QGIS must not crash (issue 13: signal 11 there, from a QgsSettings object the algorithms
shared with the monitor across threads)."""

import pytest
import qgis_desktop  # registered by conftest.py

ARTIFACTS = qgis_desktop.ARTIFACTS_DIR / "desktop_processing_stress"
ROUNDS = 20

STRESS_SCENARIO = """
def scenario(ctx):
    import json
    from datetime import datetime, timedelta, timezone

    import processing
    import qgis.utils
    from qgis.core import QgsApplication, QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer

    plugin = qgis.utils.plugins["satellite_tasking"]
    yield lambda: plugin.sandbox.running
    plugin.monitor.set_interval(0.2)
    # Xvfb has no window manager to make QGIS the active application; the monitor syncs only then.
    plugin.monitor.is_app_active = lambda: True
    plugin.monitor_action.trigger()
    yield lambda: plugin.monitor_dock.isVisible() and plugin.monitor.timer.isActive()
    rounds = []
    plugin.monitor.roundFinished.connect(rounds.append)

    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "fields", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt("POLYGON((13 52, 13.05 52, 13.05 52.05, 13 52.05, 13 52))"))
    layer.dataProvider().addFeatures([feature])
    QgsProject.instance().addMapLayer(layer)
    start = datetime.now(timezone.utc) + timedelta(days=1)
    window = {"START": f"{start:%Y-%m-%dT00:00:00Z}", "END": f"{start + timedelta(days=14):%Y-%m-%dT00:00:00Z}"}
    params = json.dumps({"acquisitionMode": "stripmap", "polarization": "HH", "maxIncidenceAngle": 40})
    sar = "up42:d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"
    runs = []

    def run(name, parameters):
        dialog = processing.createAlgorithmDialog(f"satellitetasking:{name}", parameters)
        dialog.show()
        dialog.runAlgorithm()  # the toolbox's Run: QgsProcessingAlgorithmDialogBase::runAlgorithm
        return dialog

    product = None
    for number in range(""" + str(ROUNDS) + """):
        for name in ("listproducts", "estimateorders", "placeorders"):
            if name == "placeorders" and number % 5:
                continue
            if name == "listproducts":
                parameters = {"CONNECTION": "Sandbox", "OUTPUT": "TEMPORARY_OUTPUT"}
            else:
                if product is None:
                    made = QgsApplication.processingRegistry().createAlgorithmById("satellitetasking:estimateorders")
                    options = made.parameterDefinition("PRODUCT").options()
                    product = next(option for option in options if option.endswith(sar))
                parameters = {"CONNECTION": "Sandbox", "PRODUCT": product, "INPUT": layer.id(),
                              "NAME": f"Stress {number}", "PARAMS": params, "OUTPUT": "TEMPORARY_OUTPUT", **window}
            dialog = run(name, parameters)
            yield lambda: dialog.wasExecuted()
            runs.append(name)
            if number == 0 and name == "estimateorders":
                ctx.screenshot("estimate_dialog")
            dialog.close()
            dialog.deleteLater()
    ctx.report["runs"] = runs
    ctx.report["sync_rounds"] = len(rounds)
    ctx.screenshot("after_stress")
    # Layers and the project's dirty flag are left for the harness, which clears them before QGIS quits.
"""


@pytest.fixture(scope="module")
def desktop_run(desktop_with_sandbox):
    return desktop_with_sandbox(STRESS_SCENARIO, ARTIFACTS, timeout=420, sandbox_speed="60", step_timeout=60)


def test_processing_dialogs_twenty_times_beside_the_monitors_sync_do_not_crash_qgis(desktop_run):
    report = desktop_run.report
    assert not desktop_run.timed_out and report.get("scenario_error") is None, desktop_run.describe()
    assert desktop_run.python_errors == [], desktop_run.describe()
    runs = report["runs"]
    assert runs.count("listproducts") == ROUNDS and runs.count("estimateorders") == ROUNDS
    assert runs.count("placeorders") == ROUNDS // 5
    assert report["sync_rounds"] > ROUNDS, "the monitor synced all along"
