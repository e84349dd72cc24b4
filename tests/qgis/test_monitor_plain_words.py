"""The monitor in plain words: product titles (with their provider) instead of ids, one name per state on the
badge and in the filter, status sentences, parameters as a label/value table, columns sized to their content,
actions only with an order selected, and a failed sync that QGIS does not announce as "Task complete"."""
import re

import pytest
from qgis.core import QgsApplication, QgsTask
from qgis_harness import save_unreachable_planet

import satellite_tasking
from satellite_tasking.plugin.model import Aoi, OrderDraft
from satellite_tasking.plugin.settings import SANDBOX_CONNECTION_ID
from satellite_tasking.ui.monitor_dock import ORDER_COLUMNS, RAW_STATUS_COLUMN

WAIT = 20000
SAR = "up42:d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CODE = re.compile(r"\b[A-Z]+_[A-Z_]+\b")
WINDOW = {"acquisitionStart": "2026-01-05T06:00:00Z", "acquisitionEnd": "2026-01-25T00:00:00Z"}


@pytest.fixture
def plugin(load_plugin, recording_iface, tmp_path):
    loaded = load_plugin(seed=5, sync_interval=600, store_path=tmp_path / "orders.gpkg")
    recording_iface.main_window.show()
    loaded.monitor.is_app_active = lambda: True
    return loaded


def place(plugin, product_id, name, params):
    connection = next(c for c in plugin.provider_factory.connections() if c.id == SANDBOX_CONNECTION_ID)
    provider = plugin.provider_factory.provider_for(connection)
    geometry = {"type": "Polygon", "coordinates": [[[13, 52], [13.05, 52], [13.05, 52.05], [13, 52.05], [13, 52]]]}
    outcome = provider.place(OrderDraft(SANDBOX_CONNECTION_ID, product_id, name, params, [Aoi(geometry)],
                                        f"ref-{name}"))[0]
    assert outcome.placed, outcome.error
    return outcome.order


def open_and_sync(plugin, qtbot):
    rounds = []
    plugin.monitor.roundFinished.connect(rounds.append)
    plugin.monitor_dock.setUserVisible(True)
    qtbot.waitUntil(lambda: bool(rounds), timeout=WAIT)
    qtbot.waitUntil(plugin.monitor.dock_up_to_date, timeout=WAIT)
    return rounds


def visible_cells(dock):
    view = dock.ordersView
    return [dock.proxy.index(row, column).data() for row in range(dock.proxy.rowCount())
            for column in range(len(ORDER_COLUMNS)) if not view.isColumnHidden(column)]


def test_rows_and_details_read_as_words(plugin, qtbot):
    order = place(plugin, SAR, "Radar", {**WINDOW, "acquisitionMode": "stripmap", "polarization": "HH",
                                          "maxIncidenceAngle": 40})
    open_and_sync(plugin, qtbot)
    dock = plugin.monitor_dock
    qtbot.waitUntil(lambda: dock.rows() and "SAR" in dock.rows()[0]["Product"], timeout=WAIT)
    row = dock.rows()[0]
    assert row["Product"] == "Capella Space Tasking SAR", row  # the catalogue's title, naming its provider
    assert dock.ordersView.isColumnHidden(RAW_STATUS_COLUMN)
    for cell in visible_cells(dock):
        assert not UUID.search(cell or ""), cell
        assert not CODE.search(cell or ""), cell
    names = {dock.statusFilter.itemText(i) for i in range(dock.statusFilter.count())}
    assert "Waiting for you" in names and "Held" not in names
    assert row["Status"] in names

    assert dock.select_order(SANDBOX_CONNECTION_ID, order.id)
    details = dock.detailsText.toPlainText()
    assert "{" not in details and "Parameters" in details
    assert re.search(r"Max incidence angle:\s+40", details) or re.search(r"Maximum incidence angle \(°\):\s+40",
                                                                          details), details
    # Once the product's order form is read, the parameters carry the schema's titles.
    qtbot.waitUntil(lambda: "Maximum incidence angle (°):" in dock.detailsText.toPlainText(), timeout=WAIT)
    assert "The provider says:" in details

    header = dock.ordersView.horizontalHeader()
    for column in range(len(ORDER_COLUMNS) - 1):
        if not dock.ordersView.isColumnHidden(column):
            assert header.sectionSize(column) >= dock.ordersView.sizeHintForColumn(column), ORDER_COLUMNS[column]


def test_actions_wait_for_a_selected_order(plugin, qtbot):
    place(plugin, SAR, "Radar", {**WINDOW, "acquisitionMode": "stripmap", "polarization": "HH",
                                  "maxIncidenceAngle": 40})
    dock = plugin.monitor_dock
    buttons = (dock.zoomButton, dock.copyIdButton, dock.cancelButton, dock.editButton, dock.decideButton,
               dock.downloadButton)
    assert not any(b.isEnabled() for b in buttons)
    open_and_sync(plugin, qtbot)
    qtbot.waitUntil(lambda: bool(dock.rows()), timeout=WAIT)
    assert not any(b.isEnabled() for b in buttons), "nothing is selected yet"
    dock.ordersView.selectRow(0)
    assert dock.zoomButton.isEnabled() and dock.copyIdButton.isEnabled()
    dock.ordersView.clearSelection()
    assert not any(b.isEnabled() for b in buttons)


def test_a_failed_sync_is_not_announced_as_complete(plugin, qtbot, clean_settings):
    save_unreachable_planet(clean_settings)
    ended = {}

    def status_changed(task_id, status):
        task = QgsApplication.taskManager().task(task_id)
        if task is not None and "Broken Planet" in task.description() and status in (QgsTask.Complete,
                                                                                       QgsTask.Terminated):
            ended[task.description()] = status

    QgsApplication.taskManager().statusChanged.connect(status_changed)
    try:
        rounds = open_and_sync(plugin, qtbot)
    finally:
        QgsApplication.taskManager().statusChanged.disconnect(status_changed)
    results = {r.connection_id: r for r in rounds[0]}
    assert results["broken1"].error
    assert "Broken Planet" in plugin.monitor_dock.errorLabel.text()
    syncs = {description: status for description, status in ended.items() if description.startswith("Syncing")}
    assert syncs and set(syncs.values()) == {QgsTask.Terminated}, syncs


def test_a_decision_taken_in_the_decisions_dialog_syncs_its_connection_at_once(plugin, qtbot):
    plugin.monitor_dock.setUserVisible(True)
    dialog = plugin.show_decisions()
    qtbot.waitUntil(lambda: not plugin.monitor.syncing, timeout=WAIT)
    dialog._decided("Price of 1 credits accepted for X.")
    assert SANDBOX_CONNECTION_ID in plugin.monitor.syncing


def test_the_badge_the_filter_and_the_map_legend_use_one_name_per_state(qgis_app):
    from pathlib import Path

    from satellite_tasking.plugin.model import OrderStatus
    from satellite_tasking.plugin.wording import status_name

    style = (Path(satellite_tasking.__file__).resolve().parent / "resources" / "styles"
             / "tasking_orders.qml").read_text(encoding="utf-8")
    legend = set(re.findall(r'label="([^"]*)"', style))
    assert {status_name(code) for code in OrderStatus} <= legend


def test_the_draft_reference_in_a_providers_order_name_is_not_shown(plugin, qtbot):
    connection = next(c for c in plugin.provider_factory.connections() if c.id == SANDBOX_CONNECTION_ID)
    provider = plugin.provider_factory.provider_for(connection)
    geometry = {"type": "Polygon", "coordinates": [[[13, 52], [13.05, 52], [13.05, 52.05], [13, 52.05], [13, 52]]]}
    window = {"start_time": "2026-01-05T01:00:00Z", "end_time": "2026-01-12T01:00:00Z"}
    outcome = provider.place(OrderDraft(SANDBOX_CONNECTION_ID, "planet:area", "Harbour", window, [Aoi(geometry)],
                                        "qgis-0123456789ab"))[0]
    assert outcome.placed, outcome.error
    open_and_sync(plugin, qtbot)
    dock = plugin.monitor_dock
    qtbot.waitUntil(lambda: bool(dock.rows()), timeout=WAIT)
    assert [row["Name"] for row in dock.rows()] == ["Harbour"]
    dock.textFilter.setText("qgis-0123456789ab")  # still found by its reference
    assert len(dock.rows()) == 1
