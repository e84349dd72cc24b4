"""The first hour of a new user (issue 13), in the real QGIS desktop on a fresh profile with the plugin's own
sandbox: a layer with a multipart and an invalid feature → the order dialog (window first, estimate with its
total, place after a question that names it and defaults to No) → one decision for several orders at once →
the monitor in plain words (no ids, codes or JSON in what the dock shows). Screenshots of each step are kept in
test-artifacts/e2e/desktop_first_hour. (Processing beside the monitor: test_desktop_processing_stress.py.)"""
import re

import pytest
import qgis_desktop  # registered by conftest.py

ARTIFACTS = qgis_desktop.ARTIFACTS_DIR / "desktop_first_hour"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

FIRST_HOUR = """
def scenario(ctx):
    import json
    import urllib.request

    import qgis.utils
    from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer
    from qgis.PyQt.QtCore import QItemSelectionModel
    from qgis.PyQt.QtWidgets import QMessageBox, QToolBar

    from satellite_tasking.ui.monitor_dock import ORDER_COLUMNS
    from satellite_tasking.ui.order_dialog import PRODUCT_ROLE

    plugin = qgis.utils.plugins["satellite_tasking"]
    yield lambda: plugin.sandbox.running
    ctx.report["project_dirty_at_start"] = QgsProject.instance().isDirty()
    questions = []

    def answer(parent, title, text, buttons=None, default=None):
        questions.append({"title": title, "text": text, "default_is_no": default == QMessageBox.StandardButton.No})
        return QMessageBox.StandardButton.Yes

    QMessageBox.question = staticmethod(answer)

    def advance(days):
        request = urllib.request.Request(plugin.sandbox.url() + "/_sandbox/clock", method="POST",
                                         data=json.dumps({"advance_seconds": days * 86400}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.load(reply)

    layer = ctx.fields_layer([
        "POLYGON((1489000 6891000, 1491000 6891000, 1491000 6893000, 1489000 6893000, 1489000 6891000))",
        "MULTIPOLYGON(((1500000 6891000, 1501000 6891000, 1501000 6892000, 1500000 6892000, 1500000 6891000)),"
        "((1503000 6891000, 1504000 6891000, 1504000 6892000, 1503000 6892000, 1503000 6891000)))",
        "POLYGON((1506000 6891000, 1508000 6893000, 1508000 6891000, 1506000 6893000, 1506000 6891000))",
    ], kind="MultiPolygon")
    iface.mapCanvas().setExtent(layer.extent())

    dialog = yield from ctx.task_from_toolbar()
    product_id = "up42:a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"
    yield from ctx.choose_product(dialog, product_id)
    ctx.report["form_first_rows"] = dialog.form.section.names()[:2]
    ctx.report["aois"] = [{"label": a["label"], "warnings": a.get("warnings", [])} for a in dialog.draft.aois]
    dialog.nameEdit.setText("Berlin fields")
    ctx.report["form_errors_before"] = dialog.form.errors()
    dialog.form.set_values({**dialog.form.values(), "acquisitionMode": "mono", "maxCloudCover": 10})
    yield lambda: dialog.estimateButton.isEnabled()
    ctx.screenshot("1_order_dialog")
    dialog.estimateButton.click()
    yield lambda: dialog._estimate is not None
    ctx.report["estimate_status"] = dialog.statusLabel.text()
    ctx.screenshot("2_estimate")
    dialog.placeButton.click()
    yield lambda: not dialog.busy and dialog.draft.outcomes and all(
        o.get("order_id") for o in dialog.draft.outcomes.values())
    ctx.report["placed"] = len(dialog.draft.outcomes)
    ctx.report["place_question"] = questions[-1]
    ctx.screenshot("3_placed")
    dialog.close()

    advance(4)
    decisions = plugin.show_decisions()
    yield lambda: decisions.ordersList.count() >= 2 and decisions.study is not None
    decisions.ordersList.selectAll()
    decisions.optionsList.setCurrentRow(0)
    asked = len(questions)
    decisions.confirmOptionButton.click()
    yield lambda: len(questions) > asked and not decisions.statusLabel.text().startswith("Reading")
    yield lambda: not decisions.statusLabel.text().endswith("…")
    ctx.report["option_question"] = questions[-1]
    advance(2)
    decisions.refresh()
    yield lambda: decisions.ordersList.count() >= 2 and all(
        o.decision.value == "quotation" for o in decisions.orders.values())
    decisions.ordersList.selectAll()
    yield lambda: decisions.acceptButton.isEnabled()
    ctx.screenshot("4_decisions")
    asked = len(questions)
    decisions.acceptButton.click()
    yield lambda: len(questions) > asked
    yield lambda: not decisions.statusLabel.text().endswith("…")
    ctx.report["price_question"] = questions[-1]
    decisions.close()

    plugin.monitor.is_app_active = lambda: True
    plugin.monitor_action.trigger()
    dock = plugin.monitor_dock
    yield lambda: dock.isVisible()
    ctx.report["layers_after_opening_monitor"] = sorted(
        l.name() for l in QgsProject.instance().mapLayers().values() if l.name() != "fields")
    dock.refreshButton.click()
    yield lambda: not plugin.monitor.syncing and len(dock.rows()) >= ctx.report["placed"]
    yield lambda: all("Pléiades" in r["Product"] or "Analytic" in r["Product"] for r in dock.rows())
    view = dock.ordersView
    ctx.report["shown_cells"] = [dock.proxy.index(r, c).data() for r in range(dock.proxy.rowCount())
                                 for c in range(len(ORDER_COLUMNS)) if not view.isColumnHidden(c)]
    dock.ordersView.selectRow(0)
    ctx.report["details"] = dock.detailsText.toPlainText()
    ctx.report["clock_visible"] = dock.sandboxClock.isVisible()
    dock.mapButton.click()
    yield 1.0
    ctx.screenshot("5_monitor")
    # Layers and the project's dirty flag are left for the harness, which clears them before QGIS quits.
"""


@pytest.fixture(scope="module")
def desktop_run(desktop_with_sandbox):
    return desktop_with_sandbox(FIRST_HOUR, ARTIFACTS, timeout=240, step_timeout=60)


def test_the_first_hour_of_a_new_user(desktop_run):
    report = desktop_run.report
    assert not desktop_run.timed_out and report.get("scenario_error") is None, desktop_run.describe()
    assert desktop_run.python_errors == [], desktop_run.describe()
    assert report["form_first_rows"] == ["acquisitionStart", "acquisitionEnd"]
    # The multipart feature in two parts; the bow-tie repaired (into its two triangles).
    assert len(report["aois"]) == 5, report["aois"]
    assert any(a["warnings"] for a in report["aois"])
    assert "Estimated total" in report["estimate_status"] and "credits" in report["estimate_status"]
    place = report["place_question"]
    assert place["default_is_no"] and "Estimated total:" in place["text"] and "multipart feature" in place["text"]
    assert report["option_question"]["default_is_no"] and "orders" in report["option_question"]["text"]
    price = report["price_question"]
    assert price["default_is_no"] and "in all" in price["text"] and "credits" in price["text"]
    assert report["layers_after_opening_monitor"] == [], "opening the monitor adds nothing to the project"
    cells = report["shown_cells"]
    assert cells and not any(UUID.search(str(c or "")) for c in cells), cells
    assert not any(re.search(r"\\b[A-Z]+_[A-Z_]+\\b", str(c or "")) for c in cells), cells
    assert "{" not in report["details"] and "Parameters" in report["details"]
    assert report["clock_visible"]
