"""The monitor dock as a model/view: a table model filtered and sorted in itself, a monitor without widgets that
speaks through signals, the dock owning every question, and team mode (who placed an order, "Mine only", the
shared store's announcements refreshing the dock at once)."""
import ast
import gc
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from qgis.core import QgsProject
from qgis.PyQt.QtCore import QAbstractTableModel, QCoreApplication, Qt

from satellite_tasking.plugin.layers import set_project_store_path
from satellite_tasking.plugin.listed_order import LISTED_ID
from satellite_tasking.plugin.model import Decision, Order, OrderStatus, Status
from satellite_tasking.plugin.monitor import OrderMonitor, read_dock_snapshot
from satellite_tasking.plugin.store import CaptureSummary, TaskingStore
from satellite_tasking.plugin.tasks import TaskRunner
from satellite_tasking.ui.monitor_dock import MonitorDock
from satellite_tasking.ui.orders_table_model import NAME_COLUMN, UPDATED_COLUMN, OrdersTableModel, row_order

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
WAIT = 10000


def an_order(number: int, code: OrderStatus = OrderStatus.ACCEPTED, name: str = "", connection: str = "c1",
             decision: Decision = Decision.NONE) -> Order:
    return Order(id=f"{number:08x}-7e5a-4d9c-9b43-2a8e4f6d9c33", connection_id=connection,
                 name=name or f"Field {number} [qgis-0123456789ab]", status=Status(code, code.value.upper()),
                 product_id="planet:area", updated_at=NOW - timedelta(hours=number),
                 acquisition_start=NOW, acquisition_end=NOW + timedelta(days=5), decision=decision, api="planet")


ORDERS = [an_order(1, name="Bravo [qgis-0123456789ab]"), an_order(2, OrderStatus.COMPLETED, name="alpha"),
          an_order(3, OrderStatus.HELD, name="Charlie"), an_order(4, name="Delta", decision=Decision.QUOTATION),
          an_order(5, OrderStatus.FAILED, name="Echo", connection="c2")]
NAMES = {"c1": "Planet team", "c2": "UP42 team"}


def names_shown(dock) -> list:
    return [row["Name"].replace("● ", "") for row in dock.rows()]


@pytest.fixture
def dock(qgis_app):
    made = MonitorDock()
    yield made
    made.deleteLater()


def test_the_view_shows_a_table_model_filtered_and_sorted_in_itself(dock):
    dock.set_orders(ORDERS, {(o.connection_id, o.id): CaptureSummary(2, 1, 1, 0.1, 4) for o in ORDERS}, NAMES)
    model = dock.ordersView.model()
    assert isinstance(model, OrdersTableModel) and isinstance(model, QAbstractTableModel)
    # Last changed first; plain words, no ids, no references.
    assert names_shown(dock) == ["Bravo", "alpha", "Charlie", "Delta", "Echo"]
    first = dock.rows()[0]
    assert first["Connection"] == "Planet team" and first["Status"] == "Accepted" and first["Captures"] == "2 / 1 / 1"
    assert not any("9b43" in str(value) or "qgis-" in str(value) for row in dock.rows() for value in row.values())
    # A header click sorts in the model; the selection follows its order.
    assert dock.select_order("c1", ORDERS[2].id)
    dock.ordersView.sortByColumn(NAME_COLUMN, Qt.SortOrder.AscendingOrder)
    assert names_shown(dock) == ["alpha", "Bravo", "Charlie", "Delta", "Echo"]
    assert dock.current_order().name == "Charlie"
    dock.ordersView.sortByColumn(UPDATED_COLUMN, Qt.SortOrder.DescendingOrder)
    assert dock.current_order().name == "Charlie"
    # Filters: one pass in the model; the selection stays while its row is shown.
    dock.statusFilter.setCurrentIndex(dock.statusFilter.findData("active"))
    assert names_shown(dock) == ["Bravo", "Charlie", "Delta"]
    assert dock.current_order().name == "Charlie"
    dock.statusFilter.setCurrentIndex(dock.statusFilter.findData("waiting"))
    assert names_shown(dock) == ["Charlie", "Delta"]
    dock.statusFilter.setCurrentIndex(0)
    dock.textFilter.setText("0123456789ab")  # the reference is searched, not shown
    assert names_shown(dock) == ["Bravo"]
    dock.textFilter.setText("up42 team")
    assert names_shown(dock) == ["Echo"]
    assert dock.current_order() is None and not dock.cancelButton.isEnabled()  # nothing selected: no actions
    dock.textFilter.setText("")
    dock.connectionFilter.setCurrentIndex(dock.connectionFilter.findData("c2"))
    assert names_shown(dock) == ["Echo"]


def test_a_new_read_keeps_the_selection_and_redraws_only_what_changed(dock):
    dock.set_orders(ORDERS, {}, NAMES)
    assert dock.select_order("c1", ORDERS[1].id)
    selected = []
    dock.orderSelected.connect(selected.append)
    reset = []
    dock.orders_model.modelReset.connect(lambda: reset.append(True))
    # The same orders read again: nothing reset, the selection and the map's selection left alone.
    assert not dock.orders_model.set_rows(list(dock.orders_model.all_rows()))
    dock.set_orders(list(ORDERS), {}, NAMES)
    assert reset == [] and selected == []
    # An order added: rows are chosen again, the selected order stays selected without telling the map again.
    dock.set_orders([an_order(0, name="Newest")] + ORDERS, {}, NAMES)
    assert reset and names_shown(dock)[0] == "Newest"
    assert dock.current_order().name == "alpha" and selected == []


def test_the_rows_are_tuples_of_atoms_that_the_collector_stops_following(dock, tmp_path):
    """An object per row would be walked at every full pass of Python's collector in QGIS's process, and those passes
    stall the GUI thread (two of them, 20-27 ms, while the dock filled with 20,000 orders): the rows, as read from the
    store and as the model holds them, are plain tuples that the collector stops tracking after one look."""
    store = TaskingStore(tmp_path / "orders.gpkg")
    store.apply("c1", ORDERS[:4], [])
    store.apply("c2", ORDERS[4:], [])
    orders, summaries, placers = read_dock_snapshot(store)
    assert all(type(order) is tuple for order in orders)
    dock.set_orders(orders, {key: CaptureSummary(2, 1, 1, 0.1, 4) for key in ((o.connection_id, o.id)
                                                                               for o in ORDERS)}, NAMES, placers)
    rows = dock.orders_model.all_rows()
    assert len(rows) == len(ORDERS) and all(type(row) is tuple for row in rows)
    gc.collect()
    assert not [row for row in rows if gc.is_tracked(row)]
    assert not [order for order in orders if gc.is_tracked(order)]
    # What the rows show is what the orders say: the details read the order in full.
    assert dock.select_order("c1", ORDERS[3].id)
    assert dock.current_order() == ORDERS[3] and "● Delta" in [row["Name"] for row in dock.rows()]


def test_who_placed_an_order_and_mine_only(dock):
    placers = {("c1", ORDERS[0].id): dock.user_name, ("c1", ORDERS[1].id): "colleague"}
    assert not dock.mineFilter.isVisibleTo(dock)
    dock._store_opened(None)  # a store of its own: no "Mine only"
    dock.set_orders(ORDERS, {}, NAMES, placers)
    assert not dock.ordersView.isColumnHidden(dock.orders_model.columnCount() - 1)  # "Placed by" shown
    assert dock.rows()[1]["Placed by"] == "colleague"
    dock.set_filters(placed_by=dock.user_name)
    assert names_shown(dock) == ["Bravo"]
    dock.set_filters(placed_by="")
    dock.textFilter.setText("colleague")
    assert names_shown(dock) == ["alpha"]


class FakeSharedStore:
    """Stands in for PostgisStore where the dock touches it: ``shared`` and ``listen`` (a socket to watch)."""

    shared = True

    def __init__(self):
        self.ours, self.theirs = socket.socketpair()
        self.ours.setblocking(False)

    def listen(self):
        store = self

        class Listener:
            def fileno(self):
                return store.ours.fileno()

            def take(self):
                try:
                    data = store.ours.recv(4096)
                except BlockingIOError:
                    return []
                return [{"connection_id": "c1"}] * data.count(b"\n")

            def close(self):
                store.ours.close()

        return Listener()

    def announce(self):
        self.theirs.send(b"synced\n")


class NoConnections:
    sandbox = None

    def connections(self):
        return []


class Messages:
    def __init__(self):
        self.said = []

    def __getattr__(self, level):
        return lambda text, *rest: self.said.append((level, text))


@pytest.fixture
def monitor_and_dock(qgis_app, qgis_iface, clean_settings, tmp_path):
    project = QgsProject.instance()
    set_project_store_path(project, tmp_path / "orders.gpkg")
    TaskingStore(tmp_path / "orders.gpkg").apply("c1", ORDERS[:2], [])
    runner = TaskRunner()
    monitor = OrderMonitor(qgis_iface, NoConnections(), runner, Messages(), project=project)
    dock = MonitorDock()
    dock.attach(monitor)
    yield monitor, dock
    dock.detach()
    monitor.stop()
    runner.cancel_all()
    set_project_store_path(project, "")
    dock.deleteLater()
    monitor.deleteLater()


def test_the_monitor_has_no_widgets_and_speaks_through_signals(monitor_and_dock, qtbot):
    monitor, dock = monitor_and_dock
    with qtbot.waitSignal(monitor.storeRead, timeout=WAIT) as read:
        monitor.start()
    orders, summaries, placers = read.args[0]
    assert {o[LISTED_ID] for o in orders} == {o.id for o in ORDERS[:2]} and placers == {}
    qtbot.waitUntil(lambda: len(dock.rows()) == 2, timeout=WAIT)
    assert not monitor.should_run()  # the dock is hidden: no timer
    assert not hasattr(monitor, "dock")


def test_the_monitor_opens_no_window_and_imports_nothing_of_ui():
    tree = ast.parse((ROOT / "plugin" / "monitor.py").read_text(encoding="utf-8"))
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [name for name in imported if name.split(".")[0] == "ui" or ".ui." in f".{name}."], imported
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not names & {"QMessageBox", "QFileDialog", "QDialog", "OrderEditDialog", "QInputDialog"}


def test_a_shared_store_announcement_refreshes_the_dock_at_once(monitor_and_dock, qtbot):
    monitor, dock = monitor_and_dock
    with qtbot.waitSignal(monitor.storeRead, timeout=WAIT):
        monitor.start()
    store = FakeSharedStore()
    monitor.storeOpened.emit(store)
    assert dock.store_listener is not None and monitor.store_listened
    assert dock.mineFilter.isVisibleTo(dock)
    monitor.storeSyncChanged.emit("Kept current by the sync service on tasking-host; last synced 20 s ago.")
    assert dock.teamLabel.isVisibleTo(dock) and "sync service" in dock.teamLabel.text()
    qtbot.waitUntil(lambda: dock.store_listener.listening, timeout=WAIT)
    # Another QGIS (or the service) wrote to the store and announced it: the dock reads it at once.
    TaskingStore(monitor.store.path).apply("c1", ORDERS[2:4], [])
    with qtbot.waitSignal(monitor.storeRead, timeout=WAIT):
        store.announce()
    qtbot.waitUntil(lambda: len(dock.rows()) == 4, timeout=WAIT)
    # Back to a store of its own: the listener is closed, "Mine only" and the sentence go.
    listener = dock.store_listener
    monitor.storeOpened.emit(monitor.store)
    monitor.storeSyncChanged.emit("")
    QCoreApplication.processEvents()
    assert dock.store_listener is None and not listener.listening and not monitor.store_listened
    assert not dock.mineFilter.isVisibleTo(dock) and not dock.teamLabel.isVisibleTo(dock)


def test_the_dock_asks_before_cancelling_and_the_monitor_acts_only_on_the_answer(monitor_and_dock, monkeypatch):
    from qgis.PyQt.QtWidgets import QMessageBox

    monitor, dock = monitor_and_dock
    sent = []
    monkeypatch.setattr(monitor, "cancel_order", sent.append)
    dock.detach()
    dock.attach(monitor)  # the patched slot is the one connected
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    assert not dock.ask_to_cancel(ORDERS[0]) and sent == []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert dock.ask_to_cancel(ORDERS[0]) and sent == [ORDERS[0]]


def test_many_rows_are_prepared_in_a_background_task_and_the_monitor_waits_for_them(monitor_and_dock, qtbot,
                                                                                      monkeypatch):
    import satellite_tasking.ui.monitor_dock as monitor_dock

    monkeypatch.setattr(monitor_dock, "PREPARE_IN_BACKGROUND_FROM", 0)  # every read, however small
    monitor, dock = monitor_and_dock
    prepared_in = []
    real = monitor_dock.prepare_rows

    def recording(rows, ticket):
        from qgis.PyQt.QtCore import QThread

        prepared_in.append(QThread.currentThread() is QCoreApplication.instance().thread())
        return real(rows, ticket)

    monkeypatch.setattr(monitor_dock, "prepare_rows", recording)
    with qtbot.waitSignal(monitor.storeRead, timeout=WAIT):
        monitor.start()
    assert dock.filling and not monitor.dock_up_to_date()  # read, not yet shown
    qtbot.waitUntil(monitor.dock_up_to_date, timeout=WAIT)
    assert len(dock.rows()) == 2 and prepared_in == [False]  # prepared off the GUI thread
    assert dock.select_order("c1", ORDERS[1].id)
    # Two reads in a row: only the last one's rows are shown; the selection stays.
    from dataclasses import replace

    with_params = replace(ORDERS[1], params={"maxCloudCover": 20}, updated_at=ORDERS[1].updated_at)
    TaskingStore(monitor.store.path).apply("c1", [*ORDERS[2:4], with_params], [])
    monitor.reload_dock()
    monitor.reload_dock()
    qtbot.waitUntil(lambda: monitor.dock_up_to_date() and len(dock.rows()) == 4, timeout=WAIT)
    assert dock.current_order().id == ORDERS[1].id
    # The rows hold light orders; the selected one is read in full by its key (its parameters in the details).
    assert row_order(dock.orders_model.row_of(("c1", ORDERS[1].id))).params == {}
    assert dock.current_order().params == {"maxCloudCover": 20}
    assert "Max cloud cover" in dock.detailsText.toPlainText()


def test_on_a_real_shared_store_the_dock_refreshes_when_another_desktop_announces_a_sync(
        postgis_conninfo, qgis_iface, clean_settings, qtbot):
    """PostgreSQL + PostGIS of the tests' own: the project's store is the shared one; another desktop writes two
    orders and NOTIFYs; the dock (LISTENing through ui/store_listener) shows them without the monitor asking."""
    from satellite_tasking.plugin.store_choice import set_project_shared_store
    from satellite_tasking.plugin.store_postgis import PostgisStore

    project = QgsProject.instance()
    set_project_shared_store(project, postgis_conninfo, schema="dock_team")
    runner = TaskRunner()
    monitor = OrderMonitor(qgis_iface, NoConnections(), runner, Messages(), project=project)
    dock = MonitorDock()
    dock.attach(monitor)
    try:
        with qtbot.waitSignal(monitor.storeRead, timeout=WAIT):
            monitor.start()
        assert getattr(monitor.store, "shared", False) and dock.mineFilter.isVisibleTo(dock)
        qtbot.waitUntil(lambda: dock.store_listener is not None and dock.store_listener.listening, timeout=WAIT)
        assert monitor.store_listened and dock.rows() == []
        other_desktop = PostgisStore(postgis_conninfo, schema="dock_team")
        other_desktop.apply("c1", ORDERS[:2], [])
        other_desktop.notify_synced("c1", changed=True)
        qtbot.waitUntil(lambda: len(dock.rows()) == 2, timeout=WAIT)
        assert {row["Name"] for row in dock.rows()} == {"Bravo", "alpha"}
    finally:
        dock.detach()
        monitor.stop()
        runner.cancel_all()
        set_project_shared_store(project, None)
        dock.deleteLater()
        monitor.deleteLater()
