"""The order dialog and “Find opportunities” against the real STAPI reference server (needs QGIS).

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest tests/stapi``. The reference server runs
in .venv-stapi; without it this test fails and says to run `make setup`.
"""
import importlib.util
import sys
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer
from qgis.PyQt.QtWidgets import QMessageBox
from qgis_harness import order_an_opportunity

from satellite_tasking.plugin.drafts import DraftStore
from satellite_tasking.plugin.http import build_session
from satellite_tasking.plugin.model import Connection, OrderStatus
from satellite_tasking.plugin.providers.stapi import FILTER_FIELD, StapiProvider
from satellite_tasking.plugin.tasks import TaskRunner
from satellite_tasking.ui.opportunities import LAYER_KIND, LAYER_PROPERTY, cql2_filter, filter_form_schema
from satellite_tasking.ui.order_dialog import PRODUCT_ROLE, OrderDialog

WAIT = 30000
TOKEN = "dialog-token"


def _reference_server():
    name = "_stapi_reference_server"
    if name not in sys.modules:
        path = Path(__file__).resolve().with_name("reference_server.py")
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


class Credentials:
    username = TOKEN
    password = ""


class OneConnection:
    """The provider factory of the order dialog, for one STAPI connection."""

    def __init__(self, url):
        self.connection = Connection("stapi-ref", "STAPI reference", "stapi", base_url=url)

    def connections(self):
        return [self.connection]

    def default_connection_id(self):
        return self.connection.id

    def provider_for(self, connection):
        return StapiProvider(connection, Credentials(), build_session(connection.name, "SatelliteTasking/test"))


@pytest.fixture
def reference_url():
    server = _reference_server()
    if not server.STAPI_PYTHON.exists():
        pytest.fail(server.MISSING_VENV)
    with server.running(token=TOKEN) as url:
        yield url


def fields_layer():
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "fields", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt("POLYGON((13.30 52.45, 13.40 52.45, 13.40 52.52, 13.30 52.52, "
                                            "13.30 52.45))"))
    layer.dataProvider().addFeatures([feature])
    QgsProject.instance().addMapLayer(layer)
    layer.selectAll()
    return layer


def test_filter_form_from_queryables_gives_cql2():
    schema, mapping = filter_form_schema({"properties": {
        "off_nadir": {"type": "number", "minimum": 0, "maximum": 45, "title": "Off-nadir"},
        "satellite": {"type": "string", "enum": ["A", "B"]},
        "looks": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}})
    assert {"off_nadir__min", "off_nadir__max", "satellite__in", "looks__min", "looks__max"} == set(
        schema["properties"])
    assert cql2_filter({}, mapping) is None
    assert cql2_filter({"off_nadir__max": 20}, mapping) == {"op": "<=", "args": [{"property": "off_nadir"}, 20]}
    assert cql2_filter({"off_nadir__max": 20, "satellite__in": ["A"]}, mapping) == {"op": "and", "args": [
        {"op": "<=", "args": [{"property": "off_nadir"}, 20]},
        {"op": "in", "args": [{"property": "satellite"}, ["A"]]}]}


@pytest.mark.parametrize("searchable", ["optical-30", "optical-async"])
def test_find_an_opportunity_and_order_it_from_the_order_dialog(qgis_app, qtbot, reference_url, tmp_path,
                                                                monkeypatch, searchable):
    """``optical-async`` offers only asynchronous searches: the same dialog finds and orders its opportunities
    (a search record polled until completed, then its opportunities read)."""
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    factory = OneConnection(reference_url)
    layer = fields_layer()
    dialog = OrderDialog(None, factory, TaskRunner(), DraftStore(tmp_path / "drafts"), layers=[layer])
    qtbot.addWidget(dialog)
    try:
        qtbot.waitUntil(lambda: bool(dialog.products), timeout=WAIT)
        # The SAR product has no opportunities: the button stays off.
        for wanted, offers in (("sar-strip", False), (searchable, True)):
            row = next(r for r in range(dialog.product_model.rowCount())
                       if dialog.product_model.item(r).data(PRODUCT_ROLE) == wanted)
            dialog.productCombo.setCurrentIndex(row)
            qtbot.waitUntil(lambda w=wanted: dialog.form is not None and dialog.form_product is dialog.products[w],
                            timeout=WAIT)
            assert dialog.opportunitiesButton.isEnabled() is offers
        # A form load still under way from an earlier product choice would replace the form.
        qtbot.waitUntil(lambda: QgsApplication.taskManager().countActiveTasks() == 0, timeout=WAIT)
        form = dialog.form
        assert form.field("max_cloud_cover") is not None and form.field("priority") is not None
        form.set_values({**form.values(), "max_cloud_cover": 12})
        dialog.nameEdit.setText("Berlin")

        dialog.opportunitiesButton.click()
        finder = dialog._opportunities_dialog
        qtbot.waitUntil(lambda: finder.filter_form is not None, timeout=WAIT)
        assert finder.filter_form.field("off_nadir__max") is not None
        finder.filter_form.set_values({"off_nadir__max": 20})
        finder.searchButton.click()
        qtbot.waitUntil(lambda: not finder.busy and finder.opportunityTable.rowCount() > 0, timeout=WAIT)
        found = finder.opportunities
        assert all(o.properties["off_nadir"] <= 20 for o in found)
        layer_found = finder.layer()
        assert layer_found is not None and layer_found.featureCount() == len(found)
        assert layer_found.customProperty(LAYER_PROPERTY) == LAYER_KIND
        assert all(f.hasGeometry() for f in layer_found.getFeatures())

        chosen, outcome = order_an_opportunity(qtbot, finder, dialog, timeout=WAIT)
        assert dialog.form.values()[FILTER_FIELD] == {"op": "<=", "args": [{"property": "off_nadir"}, 20]}

        provider = factory.provider_for(factory.connection)
        order = provider.order(outcome["order_id"])
        assert (order.acquisition_start, order.acquisition_end) == (chosen.start, chosen.end)
        assert order.params["max_cloud_cover"] == 12
        assert order.raw["properties"]["search_parameters"]["filter"] == chosen.order_body["filter"]
        history = provider.status_history(order)
        assert [e.status.code for e in history] == [OrderStatus.RECEIVED, OrderStatus.ACCEPTED]
    finally:
        dialog.close()
        QgsProject.instance().removeAllMapLayers()
