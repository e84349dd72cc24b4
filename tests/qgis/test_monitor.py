"""The order monitor: background sync into the store, the dock, the layers, notices and actions, against the
in-process sandbox."""
import re
import socket
from pathlib import Path

import pytest
import requests
from qgis.core import NULL, Qgis, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QDialog, QFileDialog, QMessageBox

from satellite_tasking.plugin.layers import CAPTURES_ROLE, ORDERS_ROLE, find_layers
from satellite_tasking.plugin.model import Aoi, Connection, ConnectionKind, OrderDraft
from satellite_tasking.plugin.settings import SANDBOX_CONNECTION_ID, store_credentials
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.ui.monitor_dock import WAITING_MARKER, OrderEditDialog

WAIT = 20000
DAY = 86400
BLACKSKY = "up42:c0d3f8b2-7e5a-4d9c-9b43-2a8e4f6d9c33"
SAR = "up42:d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"
UP42_WINDOW = {"acquisitionStart": "2026-01-05T06:00:00Z", "acquisitionEnd": "2026-01-25T00:00:00Z"}
LOCK_IN = {"start_time": "2026-01-05T01:00:00Z", "end_time": "2026-01-12T01:00:00Z"}


def square(x, y, size=0.05):
    return {"type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]}


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "orders.gpkg"


@pytest.fixture
def plugin(load_plugin, store_path, qgis_iface):
    qgis_iface.messageBar().clear_messages()
    return load_plugin(seed=5, sync_interval=0.2, store_path=store_path)


@pytest.fixture
def sandbox(plugin):
    return plugin.sandbox


def notices(qgis_iface):
    bar = qgis_iface.messageBar()
    return [m for level in (Qgis.Info, Qgis.Success, Qgis.Warning) for m in bar.get_messages(level)]


def sandbox_connection(plugin):
    return next(c for c in plugin.provider_factory.connections() if c.id == SANDBOX_CONNECTION_ID)


def place(plugin, product_id, name, params, geometries):
    provider = plugin.monitor.provider(sandbox_connection(plugin))
    draft = OrderDraft(SANDBOX_CONNECTION_ID, product_id, name, dict(params), [Aoi(g) for g in geometries],
                       # A UP42 tag takes letters, digits, spaces and . - _ / : only (the placement checks it).
                       "ref-" + re.sub(r"[^A-Za-z0-9 ._/:-]", "", name))
    outcomes = provider.place(draft)
    assert all(o.placed for o in outcomes), [o.error for o in outcomes]
    return [o.order for o in outcomes]


def advance(plugin, seconds):
    answer = requests.post(f"{plugin.sandbox.url()}/_sandbox/clock", json={"advance_seconds": seconds}, timeout=10)
    assert answer.ok


def open_monitor(plugin, recording_iface, qtbot):
    recording_iface.main_window.show()
    recording_iface.main_window.activateWindow()
    plugin.monitor_dock.setUserVisible(True)
    qtbot.waitUntil(lambda: plugin.monitor_dock.isVisible() and plugin.monitor.should_run(), timeout=WAIT)
    plugin.monitor_dock.mapButton.click()  # opening the dock adds no layers; "Show on map" does


def refresh_and_wait(plugin, qtbot):
    """One sync round started by "Refresh now", after any round already under way."""
    qtbot.waitUntil(lambda: not plugin.monitor.syncing, timeout=WAIT)
    with qtbot.waitSignal(plugin.monitor.roundFinished, timeout=WAIT) as blocker:
        plugin.monitor_dock.refreshButton.click()
    # The dock reads the store in the background and fills its rows in batches.
    qtbot.waitUntil(plugin.monitor.dock_up_to_date, timeout=WAIT)
    return blocker.args[0]


def short_name(name):
    """An order's name without the marker and the draft reference Planet orders carry."""
    return re.sub(r" \[ref-[^\]]*\]$", "", name.replace(WAITING_MARKER, ""))


def rows_by_name(plugin):
    return {short_name(row["Name"]): row for row in plugin.monitor_dock.rows()}


def plain(value):
    return None if value is None or value == NULL else value


def test_timer_sync_fills_dock_and_layers_and_notifies_once_per_round(plugin, recording_iface, qtbot, qgis_iface):
    planet = place(plugin, "planet:area", "Harbour", LOCK_IN, [square(13, 52), square(13.2, 52)])
    up42 = place(plugin, BLACKSKY, "Point <b>rush</b>", {**UP42_WINDOW, "maxCloudCover": 30, "priority": "STANDARD"},
                 [{"type": "Point", "coordinates": [2.35, 48.85]}])
    quoted = place(plugin, SAR, "Radar", {**UP42_WINDOW, "acquisitionMode": "stripmap", "polarization": "HH",
                                           "maxIncidenceAngle": 40}, [square(-3.7, 40.4)])
    assert plugin.monitor_dock.rows() == []

    # The dock opens and "Show on map" adds its layers; the timer's task syncs without anyone asking.
    open_monitor(plugin, recording_iface, qtbot)
    qtbot.waitUntil(lambda: len(plugin.monitor_dock.rows()) == 4, timeout=WAIT)
    layers = find_layers(QgsProject.instance())
    assert set(layers) == {ORDERS_ROLE, CAPTURES_ROLE}
    assert layers[ORDERS_ROLE].featureCount() == 4
    assert notices(qgis_iface) == [], "the first sync is the baseline: no notices"
    rows = rows_by_name(plugin)
    assert set(rows) == {"Harbour 1", "Harbour 2", "Point <b>rush</b>", "Radar"}
    assert rows["Harbour 1"]["Connection"] == "Sandbox"
    # Provider text is shown as the characters it is.
    cell_tip = plugin.monitor_dock.proxy.index(0, 0).data(3)  # Qt.ToolTipRole
    assert "<b>" not in cell_tip and "&lt;b&gt;" in "".join(
        plugin.monitor_dock.proxy.index(r, 0).data(3) for r in range(4))

    # From here on one round at a time, started by "Refresh now".
    plugin.monitor.set_interval(3600)
    qtbot.waitUntil(lambda: not plugin.monitor.syncing, timeout=WAIT)
    before = len(notices(qgis_iface))
    advance(plugin, 8 * DAY)
    results = refresh_and_wait(plugin, qtbot)
    assert [r.connection_id for r in results] == [SANDBOX_CONNECTION_ID] and results[0].ok
    events = results[0].events
    assert len(events) >= 2, events
    after = notices(qgis_iface)
    assert len(after) == before + 1, after  # one grouped notice for the round
    assert f"{len(events)} order updates" in after[-1]

    rows = rows_by_name(plugin)
    assert rows["Point <b>rush</b>"]["Status"] == "Completed"
    assert rows["Point <b>rush</b>"]["Provider status"].startswith("FULFILLED")
    store = TaskingStore(plugin.monitor.store.path)
    for order in planet:
        captures = store.captures(SANDBOX_CONNECTION_ID, order.id)
        published = sum(1 for c in captures if c.status == "PUBLISHED")
        assert rows[short_name(order.name)]["Captures"].startswith(f"{published} / "), captures
    assert any(store.captures(SANDBOX_CONNECTION_ID, o.id) for o in planet)
    # The radar order waits for a price decision: marked and bold.
    radar_index = next(plugin.monitor_dock.proxy.index(r, 0) for r in range(4)
                       if "Radar" in plugin.monitor_dock.proxy.index(r, 0).data())
    assert radar_index.data().startswith(WAITING_MARKER)
    assert radar_index.data(0x0006).bold()  # Qt.FontRole
    assert store.order(SANDBOX_CONNECTION_ID, quoted[0].id).decision.value == "quotation"

    # The layers hold what the store holds.
    orders_layer, captures_layer = layers[ORDERS_ROLE], layers[CAPTURES_ROLE]
    by_id = {f["order_id"]: f for f in orders_layer.getFeatures()}
    assert set(by_id) == {o.id for o in planet + up42 + quoted}
    assert by_id[up42[0].id]["status"] == "completed"
    assert by_id[up42[0].id]["raw_status"] == "FULFILLED"
    assert {plain(f["order_id"]) for f in captures_layer.getFeatures()} <= {o.id for o in planet}
    assert captures_layer.featureCount() == len(store.captures(SANDBOX_CONNECTION_ID))

    # Filters: status, text, connection.
    dock = plugin.monitor_dock
    dock.statusFilter.setCurrentIndex(dock.statusFilter.findData("waiting"))
    assert [r["Name"] for r in dock.rows()] == [WAITING_MARKER + "Radar"]
    dock.statusFilter.setCurrentIndex(0)
    dock.textFilter.setText("harbour")
    assert sorted(short_name(r["Name"]) for r in dock.rows()) == ["Harbour 1", "Harbour 2"]
    dock.textFilter.setText("")
    assert len(dock.rows()) == 4


def test_a_broken_connection_shows_its_error_and_the_others_still_sync(plugin, recording_iface, qtbot,
                                                                       clean_settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    broken = Connection(id="broken1", name="Broken Planet", kind=ConnectionKind.PLANET,
                        base_url=f"http://127.0.0.1:{closed_port}/tasking/v2")
    broken.authcfg = store_credentials(broken, "planet-key", "")
    clean_settings.save(broken)
    place(plugin, "planet:area", "Harbour", LOCK_IN, [square(13, 52)])

    results = refresh_and_wait(plugin, qtbot)
    by_id = {r.connection_id: r for r in results}
    assert set(by_id) == {"broken1", SANDBOX_CONNECTION_ID}
    assert by_id[SANDBOX_CONNECTION_ID].ok and by_id[SANDBOX_CONNECTION_ID].orders_added == 1
    assert by_id["broken1"].error
    dock = plugin.monitor_dock
    assert dock.errorLabel.text().startswith("Broken Planet: ")
    assert by_id["broken1"].error in dock.errorLabel.text()
    assert [short_name(r["Name"]) for r in dock.rows()] == ["Harbour"]

    # The next round retries; once the connection is deleted its error and rows are forgotten.
    clean_settings.remove("broken1")
    refresh_and_wait(plugin, qtbot)
    assert dock.errorLabel.text() == ""
    assert not plugin.monitor.store.sync_state("broken1").last_error


def test_the_dock_shows_the_stored_orders_after_a_restart_without_any_sync(plugin, recording_iface, qtbot,
                                                                           store_path, sandbox, load_plugin):
    place(plugin, "planet:area", "Harbour", LOCK_IN, [square(13, 52), square(13.2, 52)])
    refresh_and_wait(plugin, qtbot)
    shown = sorted(r["Name"] for r in plugin.monitor_dock.rows())
    assert [short_name(name) for name in shown] == ["Harbour 1", "Harbour 2"]
    plugin.unload()
    sandbox.stop()

    assert sorted(o.name for o in TaskingStore(store_path).orders()) == shown
    again = load_plugin(seed=5, sync_interval=0.2, store_path=store_path)
    try:
        assert not again.sandbox.running and again.monitor.syncing == {}
        qtbot.waitUntil(again.monitor.dock_up_to_date, timeout=WAIT)  # read from the store, no network
        assert not again.sandbox.running
        assert sorted(r["Name"] for r in again.monitor_dock.rows()) == shown
        assert {r["Status"] for r in again.monitor_dock.rows()} <= {"Received", "Accepted", "Scheduled",
                                                                        "Tasked"}
    finally:
        again.unload()
        plugin.initGui()  # the fixture unloads it once more


def test_cancel_with_confirmation_and_edit_a_planet_order(plugin, recording_iface, qtbot, monkeypatch):
    first, second = place(plugin, "planet:area", "Field", LOCK_IN, [square(13, 52), square(13.2, 52)])
    refresh_and_wait(plugin, qtbot)
    dock = plugin.monitor_dock
    assert dock.select_order(SANDBOX_CONNECTION_ID, first.id)
    # Planet's rules: a RECEIVED order can be cancelled but not edited yet.
    assert rows_by_name(plugin)["Field 1"]["Provider status"] == "RECEIVED"
    assert dock.cancelButton.isEnabled() and not dock.editButton.isEnabled()
    advance(plugin, 600)
    refresh_and_wait(plugin, qtbot)
    assert rows_by_name(plugin)["Field 1"]["Provider status"] == "PENDING"
    assert dock.cancelButton.isEnabled() and dock.editButton.isEnabled()
    assert not dock.downloadButton.isEnabled() and not dock.decideButton.isEnabled()

    asked = []

    def answer(reply):
        def question(*args, **kwargs):
            asked.append(args[2])
            return reply
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    dock.cancelButton.click()
    assert len(asked) == 1 and first.name in asked[0]
    assert plugin.monitor.syncing == {} and plugin.task_runner.running == 0

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    dock.cancelButton.click()
    qtbot.waitUntil(lambda: rows_by_name(plugin)["Field 1"]["Status"] == "Cancelled", timeout=WAIT)
    assert rows_by_name(plugin)["Field 1"]["Provider status"] == "CANCELLED"

    def edit(self):
        self.nameEdit.setText("Field two, renamed")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(OrderEditDialog, "exec", edit)
    assert dock.select_order(SANDBOX_CONNECTION_ID, second.id)
    dock.editButton.click()
    qtbot.waitUntil(lambda: "Field two, renamed" in rows_by_name(plugin), timeout=WAIT)
    store = plugin.monitor.store
    assert store.order(SANDBOX_CONNECTION_ID, second.id).name == "Field two, renamed"
    assert "Field two, renamed" in dock.detailsText.toPlainText()


def test_selection_follows_between_dock_and_layers(plugin, recording_iface, qtbot):
    orders = place(plugin, "planet:area", "Plot", LOCK_IN, [square(13, 52), square(13.2, 52), square(13.4, 52)])
    plugin.monitor.show_layers()
    advance(plugin, 8 * DAY)
    refresh_and_wait(plugin, qtbot)
    layers = find_layers(QgsProject.instance())
    orders_layer, captures_layer = layers[ORDERS_ROLE], layers[CAPTURES_ROLE]
    feature_of = {f["order_id"]: f.id() for f in orders_layer.getFeatures()}
    dock = plugin.monitor_dock

    dock.select_order(SANDBOX_CONNECTION_ID, orders[1].id)
    assert orders_layer.selectedFeatureIds() == [feature_of[orders[1].id]]
    selected_captures = {f["order_id"] for f in captures_layer.getSelectedFeatures()}
    assert selected_captures <= {orders[1].id}
    assert captures_layer.selectedFeatureCount() == sum(
        1 for f in captures_layer.getFeatures() if f["order_id"] == orders[1].id)

    # The other way round: selecting on the map selects the dock row, and nothing loops back.
    orders_layer.selectByIds([feature_of[orders[2].id]])
    QCoreApplication.processEvents()
    assert dock.current_order().id == orders[2].id
    assert orders_layer.selectedFeatureIds() == [feature_of[orders[2].id]]
    # Selecting a capture selects its order, in the dock and on the orders layer.
    capture = next(f for f in captures_layer.getFeatures() if f["order_id"] == orders[0].id)
    captures_layer.selectByIds([capture.id()])
    assert dock.current_order().id == orders[0].id
    assert orders_layer.selectedFeatureIds() == [feature_of[orders[0].id]]
    assert captures_layer.selectedFeatureIds() == [capture.id()]


def test_download_a_up42_delivery_and_add_it_to_the_map(plugin, recording_iface, qtbot, monkeypatch, tmp_path):
    (order,) = place(plugin, BLACKSKY, "Delivered", {**UP42_WINDOW, "maxCloudCover": 30, "priority": "STANDARD"},
                     [{"type": "Point", "coordinates": [2.35, 48.85]}])
    advance(plugin, 8 * DAY)
    refresh_and_wait(plugin, qtbot)
    dock = plugin.monitor_dock
    assert dock.select_order(SANDBOX_CONNECTION_ID, order.id)
    assert rows_by_name(plugin)["Delivered"]["Status"] == "Completed"
    assert dock.downloadButton.isEnabled() and not dock.cancelButton.isEnabled()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "imagery"))
    dock.downloadButton.click()

    def rasters():
        return [layer for layer in QgsProject.instance().mapLayers().values() if isinstance(layer, QgsRasterLayer)]
    qtbot.waitUntil(lambda: bool(rasters()), timeout=WAIT)
    raster = rasters()[0]
    assert raster.isValid() and raster.name().startswith("Delivered")
    assert Path(raster.source()).is_relative_to(tmp_path / "imagery")
    assert raster.width() > 0 and raster.bandCount() >= 1
    # Found through UP42's STAC assets API, with a signed URL asked for right before the download.
    asked = [(e["method"], e["path"]) for e in requests.get(f"{plugin.sandbox.url()}/_sandbox/requests",
                                                            timeout=10).json()["requests"]]
    assert ("POST", "/v2/assets/stac/search") in asked
    signing = [i for i, (m, p) in enumerate(asked) if m == "POST" and p.endswith("/download-url")]
    fetching = [i for i, (m, p) in enumerate(asked) if p.startswith("/signed/assets/")]
    assert len(signing) == 1 and fetching and fetching[0] > signing[0]
    assert not any(p == "/v2/assets" for _, p in asked)  # the legacy listing, which has no orderId filter


def test_up42_cancel_follows_the_sdk_rule_and_a_waiting_price_is_ended_by_rejecting_it(plugin, recording_iface,
                                                                                          qtbot):
    (fresh,) = place(plugin, BLACKSKY, "Fresh point", {**UP42_WINDOW, "maxCloudCover": 30, "priority": "STANDARD"},
                     [{"type": "Point", "coordinates": [2.35, 48.85]}])
    (quoted,) = place(plugin, SAR, "Priced radar", {**UP42_WINDOW, "acquisitionMode": "stripmap",
                                                    "polarization": "HH", "maxIncidenceAngle": 40},
                      [square(-3.7, 40.4)])
    refresh_and_wait(plugin, qtbot)
    dock = plugin.monitor_dock
    assert dock.select_order(SANDBOX_CONNECTION_ID, fresh.id)
    assert dock.cancelButton.isEnabled()  # CREATED: the SDK lets it be cancelled
    advance(plugin, DAY + 3600)  # the point order is placed; the radar order waits for a decision on its price
    refresh_and_wait(plugin, qtbot)
    assert dock.select_order(SANDBOX_CONNECTION_ID, fresh.id)
    assert not dock.cancelButton.isEnabled()  # past CREATED: the SDK refuses, so the plugin offers nothing
    assert dock.select_order(SANDBOX_CONNECTION_ID, quoted.id)
    assert not dock.cancelButton.isEnabled() and dock.decideButton.isEnabled()
    assert "reject the quotation" in dock.cancelButton.toolTip()


def test_the_monitor_syncs_in_a_process_of_its_own_which_ends_with_the_monitor(plugin, recording_iface, qtbot):
    import os
    import time

    place(plugin, "planet:area", "Harbour", LOCK_IN, [square(13, 52)])
    open_monitor(plugin, recording_iface, qtbot)
    qtbot.waitUntil(lambda: len(plugin.monitor_dock.rows()) == 1, timeout=WAIT)
    pid = plugin.monitor.sync_process.pid
    assert pid not in (None, os.getpid()), plugin.monitor.sync_process.unavailable
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"satellite_tasking" in command and b"-c" in command
    # What it wrote is what QGIS shows: the store's file, read by the dock and the layers of this process.
    assert [o.name for o in TaskingStore(plugin.monitor.store.path).orders()] == ["Harbour [ref-Harbour]"]
    plugin.monitor.stop()
    deadline = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
        if ") Z " in stat:
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or ") Z " in Path(f"/proc/{pid}/stat").read_text(), \
        "the sync process outlived the monitor"
