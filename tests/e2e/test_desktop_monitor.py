"""In the real QGIS desktop (sandbox on, as `make run` starts it): place orders through the order dialog, advance
the sandbox clock, refresh the order monitor; the dock and the styled order/capture layers show the result."""

import pytest
import qgis_desktop  # registered by conftest.py

ARTIFACTS = qgis_desktop.ARTIFACTS_DIR / "desktop_monitor"

MONITOR_SCENARIO = """
def scenario(ctx):
    import json
    import urllib.request

    import qgis.utils
    from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer
    from qgis.PyQt.QtWidgets import QMessageBox, QToolBar

    from satellite_tasking.plugin.layers import find_layers
    from satellite_tasking.ui.order_dialog import PRODUCT_ROLE

    plugin = qgis.utils.plugins["satellite_tasking"]
    yield lambda: plugin.sandbox.running
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes)

    layer = ctx.fields_layer()
    dialog = yield from ctx.task_from_toolbar()
    form = yield from ctx.choose_product(dialog, "planet:area")
    # The plugin's sandbox lives in the real present: a week's window starting within the hour.
    from datetime import datetime, timedelta, timezone
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    form.set_values({**form.values(), "start_time": f"{soon:%Y-%m-%dT%H:00:00Z}",
                     "end_time": f"{soon + timedelta(days=7):%Y-%m-%dT%H:00:00Z}"})
    dialog.nameEdit.setText("Berlin fields")
    yield lambda: form.is_valid() and dialog.placeButton.isEnabled()
    yield 0.5
    ctx.screenshot("order_dialog")
    dialog.placeButton.click()
    yield lambda: not dialog.busy and len([o for o in dialog.draft.outcomes.values() if o.get("order_id")]) == 2
    ctx.report["placed"] = sorted(o["order_id"] for o in dialog.draft.outcomes.values())
    dialog.close()

    request = urllib.request.Request(plugin.sandbox.url() + "/_sandbox/clock", method="POST",
                                     data=json.dumps({"advance_seconds": 8 * 86400}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        ctx.report["sandbox_clock"] = json.load(answer)

    plugin.monitor_action.trigger()
    dock = plugin.monitor_dock
    yield lambda: dock.isVisible()
    assert not find_layers(QgsProject.instance()), "opening the monitor adds nothing to the project"
    dock.mapButton.click()
    yield lambda: set(find_layers(QgsProject.instance())) == {"orders", "captures"}
    rounds = []
    plugin.monitor.roundFinished.connect(rounds.append)
    yield lambda: not plugin.monitor.syncing
    dock.refreshButton.click()
    yield lambda: rounds and not plugin.monitor.syncing
    yield lambda: len(dock.rows()) == 2 and all(r["Captures"] for r in dock.rows())
    layers = find_layers(QgsProject.instance())
    orders_layer, captures_layer = layers["orders"], layers["captures"]
    ctx.report["dock_rows"] = dock.rows()
    ctx.report["sync_errors"] = dock.errorLabel.text()
    ctx.report["orders_layer"] = [{"order_id": f["order_id"], "name": f["name"], "status": f["status"],
                                   "raw_status": f["raw_status"]} for f in orders_layer.getFeatures()]
    ctx.report["captures_layer"] = [{"order_id": f["order_id"], "status": f["status"], "outcome": f["outcome"]}
                                    for f in captures_layer.getFeatures()]
    ctx.report["renderers"] = [orders_layer.renderer().type(), captures_layer.renderer().type()]
    layer.removeSelection()
    dock.select_order(plugin.monitor.store.orders()[0].connection_id, ctx.report["placed"][0])
    ctx.report["selected_on_map"] = orders_layer.selectedFeatureCount()
    extent = orders_layer.extent()
    extent.combineExtentWith(captures_layer.extent())
    canvas = iface.mapCanvas()
    from qgis.core import QgsCoordinateTransform
    transform = QgsCoordinateTransform(orders_layer.crs(), canvas.mapSettings().destinationCrs(),
                                       QgsProject.instance())
    canvas.setExtent(transform.transformBoundingBox(extent).buffered(2000))
    # The user's own polygons would cover the styled footprints.
    QgsProject.instance().layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(False)
    canvas.refresh()
    yield lambda: not canvas.isDrawing()
    yield 1.0
    ctx.screenshot("monitor_and_map")
    # Layers and the project's dirty flag are left for the harness, which clears them before QGIS quits.
"""


@pytest.fixture(scope="module")
def desktop_run(desktop_with_sandbox):
    return desktop_with_sandbox(MONITOR_SCENARIO, ARTIFACTS, timeout=90)


def test_orders_placed_in_the_dialog_show_in_the_monitor_and_on_the_map(desktop_run):
    report = desktop_run.report
    assert report.get("scenario_error") is None, desktop_run.describe()
    assert desktop_run.python_errors == [], desktop_run.describe()
    placed = report["placed"]
    assert len(placed) == 2
    rows = report["dock_rows"]
    assert sorted(r["Name"].split(" [")[0] for r in rows) == ["Berlin fields 1", "Berlin fields 2"]
    assert all(r["Connection"] == "Sandbox" for r in rows)
    assert report["sync_errors"] == ""
    orders = report["orders_layer"]
    assert sorted(o["order_id"] for o in orders) == sorted(placed)
    assert all(o["status"] not in ("received", "rejected") for o in orders), orders
    captures = report["captures_layer"]
    assert captures and {c["order_id"] for c in captures} <= set(placed)
    published = sum(1 for c in captures if c["status"] == "PUBLISHED")
    assert sum(int(r["Captures"].split(" / ")[0]) for r in rows) == published
    assert report["renderers"] == ["categorizedSymbol", "categorizedSymbol"] or all(report["renderers"])
    assert report["selected_on_map"] == 1


def test_screenshots_of_the_order_dialog_and_the_monitor_are_saved(desktop_run):
    for name in ("order_dialog", "monitor_and_map"):
        shot = desktop_run.screenshots.get(name)
        assert shot is not None and shot.stat().st_size > 20_000, desktop_run.describe()
