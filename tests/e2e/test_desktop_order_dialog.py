"""In the real QGIS desktop, started as `make run` starts it (sandbox on): select polygons, open the order
dialog from the toolbar, get the sandbox's products and the form built from a product's schema."""

import pytest
import qgis_desktop  # registered by conftest.py

ARTIFACTS = qgis_desktop.ARTIFACTS_DIR / "desktop_order_dialog"

ORDER_SCENARIO = """
def scenario(ctx):
    import json
    import urllib.request

    import qgis.utils
    from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer
    from qgis.PyQt.QtWidgets import QToolBar

    plugin = qgis.utils.plugins["satellite_tasking"]
    yield lambda: plugin.sandbox.running
    with urllib.request.urlopen(plugin.sandbox.url() + "/_sandbox/clock", timeout=5) as answer:
        ctx.report["sandbox_clock"] = json.load(answer)

    layer = ctx.fields_layer()
    iface.mapCanvas().setExtent(layer.extent().buffered(3000))
    dialog = yield from ctx.task_from_toolbar()
    yield lambda: dialog is not None and dialog.form is not None and dialog.form_product is not None
    yield 1.0
    ctx.report["products"] = sorted(p.title for p in dialog.products.values())
    ctx.report["aoi_count"] = len(dialog.draft.aois)
    ctx.report["form_fields"] = sorted(dialog.form.values())
    ctx.report["place_enabled"] = dialog.placeButton.isEnabled()
    ctx.report["status"] = dialog.statusLabel.text()
    ctx.screenshot("order_dialog")
    dialog.close()
    QgsProject.instance().removeMapLayer(layer.id())
    QgsProject.instance().setDirty(False)
"""


@pytest.fixture(scope="module")
def desktop_run(desktop_with_sandbox):
    return desktop_with_sandbox(ORDER_SCENARIO, ARTIFACTS, timeout=150, sandbox_speed=None)


def test_the_sandbox_runs_inside_qgis_as_make_run_starts_it(desktop_run):
    assert desktop_run.report.get("scenario_error") is None, desktop_run.describe()
    assert "now" in desktop_run.report.get("sandbox_clock", {}), desktop_run.describe()


def test_order_dialog_shows_products_aois_and_the_schema_form(desktop_run):
    report = desktop_run.report
    assert report.get("aoi_count") == 2, desktop_run.describe()
    assert len(report.get("products", [])) >= 6, report.get("products")
    assert report.get("form_fields"), desktop_run.describe()
    assert desktop_run.python_errors == [], desktop_run.describe()
    shot = desktop_run.screenshots.get("order_dialog")
    assert shot is not None and shot.stat().st_size > 20_000
