"""The order dialog places Planet Monitoring and Assured orders through the sandbox connection (needs QGIS).

Monitoring: the cadence and count chosen in the form become the order's ``rrule``; the documented limits keep the
form from placing an impossible one. Assured: "Find opportunities" runs Planet's asynchronous imaging-window
search, lists the windows with their times, satellite and cloud forecast, and orders the chosen one.
"""
from datetime import datetime, timedelta

import pytest
import requests
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QDateTime, Qt
from qgis_harness import choose_product, memory_layer, order_an_opportunity
from sandbox_harness import control

WAIT = 30000
QUIET = {"planet_rejection_rate": 0.0}


@pytest.fixture
def plugin(load_plugin):
    return load_plugin(seed=9, answer_yes=True)


def sandbox_now(plugin):
    return datetime.fromisoformat(control(plugin.sandbox, "GET", "/_sandbox/clock")["now"].replace("Z", "+00:00"))


def planet_order(plugin, order_id):
    return requests.get(f"{plugin.sandbox.url()}/tasking/v2/orders/{order_id}",
                        headers={"Authorization": "api-key sandbox-api-key"}, timeout=10).json()


def order_dialog(plugin, recording_iface, qtbot, product_id):
    control(plugin.sandbox, "POST", "/_sandbox/settings", QUIET)
    recording_iface.layer_tree_view.setCurrentLayer(memory_layer("Point", ["POINT(13.4 52.5)"], name="sites"))
    plugin.layer_task_action.trigger()
    dialog = plugin._order_dialog
    choose_product(qtbot, dialog, product_id)
    qtbot.waitUntil(lambda: QgsApplication.taskManager().countActiveTasks() == 0, timeout=WAIT)
    return dialog


def test_a_monitoring_order_from_cadence_and_count(plugin, recording_iface, qtbot):
    dialog = order_dialog(plugin, recording_iface, qtbot, "planet:monitoring")
    form = dialog.form
    assert form.field("max_cloud_cover") is None and form.field("scheduling_type") is None
    assert form.field("rrule_frequency") is not None and form.field("rrule_count") is not None
    start = (sandbox_now(plugin) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    dialog.nameEdit.setText("Dam watch")
    form.set_values({**form.values(), "start_time": start, "rrule_frequency": "DAILY", "rrule_count": 400})
    assert not form.is_valid() and "rrule_count" in form.errors()  # more than Planet's 365 instances
    assert not dialog.placeButton.isEnabled()
    form.set_values({**form.values(), "rrule_count": 3})
    qtbot.waitUntil(lambda: dialog.placeButton.isEnabled(), timeout=WAIT)
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and bool(dialog.draft.outcomes), timeout=WAIT)
    outcome = dialog.draft.outcomes["0"]
    assert outcome.get("order_id"), outcome
    order = planet_order(plugin, outcome["order_id"].split(":", 1)[-1])
    assert order["scheduling_type"] == "MONITORING" and order["rrule"] == "FREQ=DAILY;COUNT=3;INTERVAL=1"
    dialog.close()


def test_an_assured_order_from_an_imaging_window(plugin, recording_iface, qtbot):
    dialog = order_dialog(plugin, recording_iface, qtbot, "planet:assured")
    assert dialog.opportunitiesButton.isEnabled()
    dialog.nameEdit.setText("Harbour assured")
    dialog.opportunitiesButton.click()
    finder = dialog._opportunities_dialog
    qtbot.waitUntil(lambda: finder.filter_form is not None, timeout=WAIT)
    now = sandbox_now(plugin)
    for edit, moment in ((finder.startEdit, now + timedelta(hours=1)), (finder.endEdit, now + timedelta(days=5))):
        edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(moment.timestamp()), Qt.TimeSpec.UTC))
    finder.filter_form.set_values({"pl_number__eq": "PL-123456"})
    finder.searchButton.click()
    qtbot.waitUntil(lambda: not finder.busy and finder.opportunityTable.rowCount() > 0, timeout=WAIT)
    found = finder.opportunities
    headers = [finder.opportunityTable.horizontalHeaderItem(c).text()
               for c in range(finder.opportunityTable.columnCount())]
    assert headers[:3] == ["#", "Start (UTC)", "End (UTC)"] and {"satellite_type", "cloud_forecast"} <= set(headers)
    assert all(o.properties["satellite_type"] in ("SKYSAT", "PELICAN") for o in found)
    chosen, outcome = order_an_opportunity(qtbot, finder, dialog, timeout=WAIT)
    order = planet_order(plugin, outcome["order_id"].split(":", 1)[-1])
    assert order["product"] == "Assured Tasking" and order["imaging_window"] == chosen.id
    assert order["pl_number"] == "PL-123456"
    assert order["start_time"].startswith(chosen.start.strftime("%Y-%m-%dT%H:%M:%S"))
    dialog.close()
