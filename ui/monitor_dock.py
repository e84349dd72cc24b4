"""The order monitor dock: the orders of every connection, their status, captures and actions.

The dock shows and asks; ``plugin/monitor.py`` (OrderMonitor, no widgets) syncs, reads the store and carries
out what the user decided. ``attach`` connects the two: the monitor's signals fill the dock, the dock's
buttons (after their questions: the confirmation, the edit form, the folder) call the monitor. The orders
are a ``QAbstractTableModel`` over compact rows (``orders_table_model.py``), filtered and sorted in the
model, so the dock stays light with tens of thousands of orders.

Everything a provider wrote is shown as plain text: table cells are plain by nature, labels are
``Qt.PlainText``, details are ``QPlainTextEdit``s, and tooltips (which Qt would guess to be rich text) are
escaped first.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from qgis.gui import QgsDockWidget
from qgis.PyQt import sip, uic
from qgis.PyQt.QtCore import QDateTime, QItemSelectionModel, Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QApplication,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QToolButton,
    QWidget,
)

from ..plugin.listed_order import LISTED_API, LISTED_CONNECTION, LISTED_ID, LISTED_PRODUCT, listed_form
from ..plugin.model import Decision, Order, OrderStatus
from ..plugin.monitor import DOWNLOAD_FOLDER_KEY, EDITABLE_FIELDS, OrderMonitor, current_user_name, download_folder
from ..plugin.tasks import BackgroundTask, TaskRunner
from ..plugin.wording import (
    field_label,
    order_status_name,
    plural,
    product_title,
    status_name,
    status_sentence,
    value_text,
)
from .orders_table_model import (
    ACTIVE_FILTER,
    KEY_ROLE,
    NAME_COLUMN,
    ORDER_COLUMNS,
    PLACED_BY_COLUMN,
    RAW_STATUS_COLUMN,
    ROW_PLACED_BY,
    ROW_WAITING,
    STATUS_COLOURS,
    UPDATED_COLUMN,
    WAITING_FILTER,
    WAITING_MARKER,
    OrdersTableModel,
    PreparedRows,
    order_row,
    plain_tooltip,
    prepare_rows,
    row_order,
    short_time,
    shown_name,
)
from .sandbox_clock import SandboxClockBar
from .schema_form_widgets import rich_tooltip
from .store_listener import StoreListener

logger = logging.getLogger(__name__)

# The .ui's top level is a plain QDockWidget (uic cannot make a QGIS class the base);
# the class below puts the form on a QgsDockWidget, which adds setUserVisible().
FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("monitor_dock.ui")))

PUBLISHED = "PUBLISHED"
CANCEL_TOOLTIP = "Cancel the order (when the provider still allows it)"
CANCEL_BY_REJECTING = ("This order waits for your decision on its price: to end it, reject the quotation "
                       "(Decide… → Reject price). Rejecting charges nothing.")
# Columns sized to their contents look at this many rows (Qt's default, 1,000, asks for some 40,000 cells).
RESIZE_PRECISION_ROWS = 50


# From this many orders on, their rows are prepared in a background task (~5 µs each; below, at once).
PREPARE_IN_BACKGROUND_FROM = 2000


def product_label_in(titles: dict, connection_id: str, api: str, product_id: str) -> str:
    """The product's title in ``titles`` ((connection id, product id) -> title); the id while it is not known."""
    for key in ((connection_id, product_id), (connection_id, f"{api}:{product_id}")):
        if key in titles:
            return titles[key]
    return product_id


class MonitorDock(QgsDockWidget, FORM_CLASS):
    OBJECT_NAME = "SatelliteTaskingMonitorDock"

    refreshRequested = pyqtSignal()
    filled = pyqtSignal()  # the rows show the latest set_orders()
    orderSelected = pyqtSignal(object)  # Order or None
    zoomRequested = pyqtSignal(object)
    cancelRequested = pyqtSignal(object)  # Order, its cancelling confirmed by the user
    editRequested = pyqtSignal(object, object)  # Order, the changes made in the edit form
    decideRequested = pyqtSignal(object)
    downloadRequested = pyqtSignal(object, str)  # Order, the folder chosen
    mapRequested = pyqtSignal()  # "Show on map": the orders and captures layers, added to the project if missing

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName(self.OBJECT_NAME)
        # Shown while a sandbox connection exists (the monitor says so).
        self.sandboxClock = SandboxClockBar(self.dockContents)
        self.mainLayout.insertWidget(0, self.sandboxClock)
        self.sandboxClock.hide()
        # Opening the dock adds nothing to the project; the layers come when the user asks for the map.
        self.mapButton = QToolButton(self.dockContents)
        self.mapButton.setObjectName("mapButton")
        self.mapButton.setText("Show on map")
        self.mapButton.setToolTip("Add the orders and captures layers to the project and zoom to the orders")
        self.filterLayout.insertWidget(self.filterLayout.indexOf(self.refreshButton), self.mapButton)
        self.mapButton.clicked.connect(self.mapRequested)
        self.monitor: Optional[OrderMonitor] = None  # attached by attach(), until detach()
        self._monitor_links: list = []
        self.store_listener: Optional[StoreListener] = None  # the shared store's announcements (LISTEN/NOTIFY)
        self._store_sync = ""  # how the store is kept current (the monitor's sentence)
        self._listen_problem = ""  # why the store's announcements are not heard now
        # Set by attach: order -> (can cancel, editable fields); order -> (history, captures).
        self.capabilities: Optional[Callable[[Order], tuple]] = None
        self.details: Optional[Callable[[Order], tuple]] = None
        self.full_order: Optional[Callable[[Order], Order]] = None  # a listed order -> the order in full
        self._full: Optional[tuple] = None  # (listed order, the same in full) of the selection
        self.connection_names: dict = {}
        # (connection id, product id) -> "Pléiades Neo Analytic (UP42)"; given by the monitor once it knows them.
        self.product_titles: dict = {}
        # Parameter name -> the schema's title, where the monitor knows it.
        self.parameter_titles: dict = {}
        self._snapshot: tuple = ([], {}, {})
        self._fill_generation = 0
        self._preparing = False
        self._own_runner: Optional[TaskRunner] = None
        self.user_name = current_user_name()
        self.orders_model = OrdersTableModel(self)
        self.proxy = self.orders_model  # the model the view shows (filtered and sorted in the model itself)
        self.ordersView.setModel(self.orders_model)
        self.ordersView.sortByColumn(UPDATED_COLUMN, Qt.SortOrder.DescendingOrder)
        self.ordersView.verticalHeader().hide()
        header = self.ordersView.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setResizeContentsPrecision(RESIZE_PRECISION_ROWS)
        # The provider's own codes stay in the tooltip, the details and the search, not in a column of their own;
        # who placed an order shows where a shared store records it.
        self.ordersView.setColumnHidden(RAW_STATUS_COLUMN, True)
        self.ordersView.setColumnHidden(PLACED_BY_COLUMN, True)
        # One name per state: "Waiting for you" is the held state and every order waiting for a decision.
        self.statusFilter.addItem("All statuses", "")
        self.statusFilter.addItem("Active", ACTIVE_FILTER)
        self.statusFilter.addItem(status_name(OrderStatus.HELD), WAITING_FILTER)
        for status in OrderStatus:
            if status != OrderStatus.HELD:
                self.statusFilter.addItem(status_name(status), status.value)
        self.connectionFilter.addItem("All connections", "")
        for label in (self.statusLabel, self.errorLabel, self.teamLabel):
            label.setTextFormat(Qt.TextFormat.PlainText)
        self.errorLabel.hide()
        self.teamLabel.hide()
        self.mineFilter.hide()
        self.mineFilter.setToolTip(plain_tooltip(f"Only the orders placed as {self.user_name}"))

        self.statusFilter.currentIndexChanged.connect(
            lambda: self.set_filters(status=self.statusFilter.currentData() or ""))
        self.connectionFilter.currentIndexChanged.connect(
            lambda: self.set_filters(connection_id=self.connectionFilter.currentData() or ""))
        self.textFilter.textChanged.connect(lambda text: self.set_filters(text=text))
        self.mineFilter.toggled.connect(lambda mine: self.set_filters(placed_by=self.user_name if mine else ""))
        self.refreshButton.clicked.connect(self.refreshRequested)
        self.ordersView.selectionModel().selectionChanged.connect(self._selection_changed)
        self.orders_model.modelAboutToBeReset.connect(self._remember_selection)
        self.orders_model.modelReset.connect(self._restore_selection)
        self._selected_before_reset: Optional[tuple] = None
        self._restoring = False
        self.zoomButton.clicked.connect(lambda: self._emit_for_current(self.zoomRequested))
        self.cancelButton.clicked.connect(lambda: self._for_current(self.ask_to_cancel))
        self.editButton.clicked.connect(lambda: self._for_current(self.ask_to_edit))
        self.decideButton.clicked.connect(lambda: self._emit_for_current(self.decideRequested))
        self.downloadButton.clicked.connect(lambda: self._for_current(self.ask_to_download))
        self.copyIdButton.clicked.connect(self.copy_order_id)
        self._show_details(None)
        self.show_message("No orders yet. Select polygons on the map and use “Task a satellite” to place one.")

    # -- the monitor ----------------------------------------------------------------------------
    def attach(self, monitor: OrderMonitor) -> None:
        """Show ``monitor`` (an OrderMonitor) and send it what the user decides; ``detach`` undoes every link."""
        self.detach()
        self.monitor = monitor
        clock = self.sandboxClock
        self._monitor_links = [
            (monitor.storeRead, self._store_read), (monitor.stateChanged, self._state_changed),
            (monitor.storeSyncChanged, self.set_store_sync), (monitor.storeOpened, self._store_opened),
            (monitor.productsKnown, self.set_products), (monitor.parameterTitlesKnown, self.set_parameter_titles),
            (monitor.sandboxPresent, clock.setVisible), (monitor.sandboxTimeRead, clock.show_time),
            (monitor.orderPickedOnMap, self.select_order),
            (self.refreshRequested, monitor.refresh_now), (self.orderSelected, monitor.select_on_map),
            (self.cancelRequested, monitor.cancel_order), (self.editRequested, monitor.edit_order),
            (self.decideRequested, monitor.decide_order), (self.downloadRequested, monitor.download_order),
            (self.zoomRequested, monitor.zoom_to_order), (self.mapRequested, monitor.show_on_map),
            (self.visibilityChanged, monitor.set_shown),
            (clock.speedRequested, monitor.set_sandbox_speed),
            (clock.nextEventRequested, monitor.jump_sandbox_to_next_event)]
        for signal, slot in self._monitor_links:
            signal.connect(slot)
        self.capabilities = monitor.capabilities
        self.details = monitor.details_of
        self.full_order = monitor.full_order
        monitor.view_busy = lambda: self.filling
        monitor.shown = self.isVisible()

    def detach(self) -> None:
        if self.monitor is None:
            return
        if not sip.isdeleted(self.monitor):
            for signal, slot in self._monitor_links:
                signal.disconnect(slot)
            self.monitor.store_listened = False
            self.monitor.view_busy = None
        self._monitor_links = []
        self.monitor = None
        self.capabilities = None
        self.details = None
        self.full_order = None
        self._full = None
        self._stop_listening()

    def refresh_now(self) -> None:
        """The store changed elsewhere (the team's sync service, another QGIS): read it again now, with the
        layers. This is what the shared store's announcements call; nothing asks the provider."""
        if self.monitor is not None and not sip.isdeleted(self.monitor):
            self.monitor.store_changed()

    def _store_opened(self, store) -> None:
        """A new store: a shared one is listened to (its announcements refresh the dock at once, without polling
        the database), and its orders carry who placed them ("Mine only")."""
        self._stop_listening()
        shared = bool(getattr(store, "shared", False))
        self.mineFilter.setVisible(shared)
        if not shared:
            self.mineFilter.setChecked(False)
            self.set_store_sync("")
            return
        runner = getattr(self.monitor, "task_runner", None)
        self.store_listener = StoreListener(store.listen, task_runner=runner, parent=self)
        self.store_listener.changed.connect(self._announced)
        self.store_listener.stateChanged.connect(self._listening_changed)
        self._set_listened(True)
        self.store_listener.start()

    def _announced(self, announcements: list) -> None:
        self.refresh_now()

    def _listening_changed(self, problem: str) -> None:
        """Listening stopped (a sentence) or works again (""): meanwhile the monitor reads after its rounds."""
        self._listen_problem = problem
        self._set_listened(not problem)
        self._show_store_sync()

    def _set_listened(self, listened: bool) -> None:
        if self.monitor is not None and not sip.isdeleted(self.monitor):
            self.monitor.store_listened = listened

    def _stop_listening(self) -> None:
        listener, self.store_listener = self.store_listener, None
        self._set_listened(False)
        self._listen_problem = ""
        if listener is None or sip.isdeleted(listener):
            return
        listener.changed.disconnect(self._announced)
        listener.stateChanged.disconnect(self._listening_changed)
        listener.close()
        listener.deleteLater()

    def set_store_sync(self, sentence: str) -> None:
        """How the store is kept current: "Kept current by the sync service on …" (a shared store), or nothing."""
        self._store_sync = sentence
        self._show_store_sync()

    def _show_store_sync(self) -> None:
        text = " ".join(part for part in (self._store_sync, self._listen_problem) if part)
        self.teamLabel.setText(text)
        self.teamLabel.setVisible(bool(text))

    def _store_read(self, snapshot: tuple, connection_names: dict) -> None:
        orders, summaries = snapshot[0], snapshot[1]
        self.set_orders(orders, summaries, connection_names, snapshot[2] if len(snapshot) > 2 else None)

    def _state_changed(self, errors: dict, syncing: list) -> None:
        self.set_errors(errors)
        self.set_syncing(syncing)

    # -- filling --------------------------------------------------------------------------------
    def set_orders(self, orders: list, capture_summaries: dict, connection_names: dict,
                   placers: Optional[dict] = None) -> None:
        """Show ``orders`` (listed orders, ``order_listing.listed_orders``, or ``Order`` objects) with their capture
        counts (``store.capture_summaries()``) and who placed them (a shared store's ``placed_by``); the selection is
        kept."""
        self.connection_names = dict(connection_names)
        listed = [order if type(order) is tuple else listed_form(order) for order in orders]
        self._snapshot = (listed, capture_summaries, placers or {})
        self._show_rows()

    def _show_rows(self) -> None:
        """Rows for the orders read: made, compared, filtered and sorted in a background task when there are many
        (the GUI thread only swaps them in), at once when there are few or no task runner (scripts, tests)."""
        orders, summaries, placers = self._snapshot
        names, titles = dict(self.connection_names), dict(self.product_titles)
        ticket = self.orders_model.ticket()

        def prepare(task: Any = None) -> PreparedRows:
            rows = []
            for order in orders:
                key = (order[LISTED_CONNECTION], order[LISTED_ID])
                rows.append(order_row(order, summaries.get(key), names.get(key[0], key[0]),
                                      product_label_in(titles, key[0], order[LISTED_API], order[LISTED_PRODUCT]),
                                      placers.get(key, "")))
            return prepare_rows(rows, ticket)

        self._fill_generation += 1
        generation = self._fill_generation
        if len(orders) < PREPARE_IN_BACKGROUND_FROM:
            self._rows_prepared(generation, prepare())
            return
        runner = getattr(self.monitor, "task_runner", None)
        if runner is None:  # a dock shown without a monitor (scripts, benchmarks) keeps its own
            runner = self._own_runner = self._own_runner or TaskRunner()
        self._preparing = True
        runner.start(BackgroundTask(
            "Preparing the tasking order rows", prepare,
            on_success=lambda prepared: self._rows_prepared(generation, prepared),
            on_failure=lambda message: self._rows_not_prepared(generation, message), cancel_without_prompt=True))

    def _rows_not_prepared(self, generation: int, message: str) -> None:
        logger.warning("The order rows could not be prepared: %s", message)
        if not sip.isdeleted(self) and generation == self._fill_generation:
            self._preparing = False

    def _rows_prepared(self, generation: int, prepared: PreparedRows) -> None:
        if sip.isdeleted(self) or generation != self._fill_generation:
            return  # a newer read is being prepared
        self._preparing = False
        orders, _, placers = self._snapshot
        first = self.orders_model.total() == 0
        self.orders_model.apply_rows(prepared)
        self.ordersView.setColumnHidden(PLACED_BY_COLUMN, not placers)
        self._update_connection_filter()
        if first and orders:
            self.ordersView.resizeColumnsToContents()
        if orders:
            waiting = sum(1 for row in self.orders_model.all_rows() if row[ROW_WAITING])
            text = plural(len(orders), "order")
            if waiting:
                text += f", {waiting} waiting for you"
            self.show_message(text + ".")
        # The order shown in the details may have changed (its rows were read again).
        self._show_details(self.current_order())
        self.filled.emit()

    @property
    def filling(self) -> bool:
        """Rows of the last read are being prepared in the background (scripts and tests wait on it)."""
        return self._preparing

    @property
    def orders(self) -> dict:
        """(connection id, order id) -> Order, of every order read (filtered out or not)."""
        return {(order.connection_id, order.id): order
                for order in map(row_order, self.orders_model.all_rows())}

    def set_filters(self, status: Optional[str] = None, connection_id: Optional[str] = None,
                    text: Optional[str] = None, placed_by: Optional[str] = None) -> None:
        wanted = self.orders_model.filter
        if status is not None:
            wanted.status = status
        if connection_id is not None:
            wanted.connection_id = connection_id
        if text is not None:
            wanted.text = text.strip().lower()
        if placed_by is not None:
            wanted.placed_by = placed_by
        self.orders_model.refilter()

    def _remember_selection(self) -> None:
        self._selected_before_reset = self.current_key()

    def _restore_selection(self) -> None:
        """After the rows were chosen again, the order selected before stays selected if it is still shown;
        re-selecting it does not tell the map again."""
        key, self._selected_before_reset = self._selected_before_reset, None
        if key is None:
            return
        self._restoring = True
        try:
            found = self.select_order(*key)
        finally:
            self._restoring = False
        if not found:
            self._selection_changed()

    def product_label(self, order: Order) -> str:
        """The product's title as its provider names it; the id only while the titles are not known yet."""
        return product_label_in(self.product_titles, order.connection_id, order.api, order.product_id)

    def set_parameter_titles(self, titles: dict) -> None:
        """Parameter name -> the schema's title; the details shown are relabelled at once."""
        self.parameter_titles = {**self.parameter_titles, **titles}
        if self.current_order() is not None:
            self._show_details(self.current_order())

    def set_products(self, connection_id: str, products: list) -> None:
        """The products of a connection (Product objects): rows show their titles, labelled with the provider."""
        titles = dict(self.product_titles)
        for product in products:
            titles[(connection_id, product.id)] = product_title(product, with_provider=True)
        self.set_product_titles(titles)

    def set_product_titles(self, titles: dict) -> None:
        """(connection id, product id) -> title; rows showing an id are shown with the title."""
        if titles == self.product_titles:
            return
        self.product_titles = dict(titles)
        if self._snapshot[0]:
            self._show_rows()

    def _update_connection_filter(self) -> None:
        current = self.connectionFilter.currentData() or ""
        wanted = sorted({o[LISTED_CONNECTION] for o in self._snapshot[0]} | set(self.connection_names),
                        key=lambda cid: self.connection_names.get(cid, cid).lower())
        existing = [self.connectionFilter.itemData(i) for i in range(1, self.connectionFilter.count())]
        if existing == wanted:
            return
        self.connectionFilter.blockSignals(True)
        self.connectionFilter.clear()
        self.connectionFilter.addItem("All connections", "")
        for connection_id in wanted:
            self.connectionFilter.addItem(self.connection_names.get(connection_id, connection_id), connection_id)
        index = self.connectionFilter.findData(current)
        self.connectionFilter.setCurrentIndex(max(index, 0))
        self.connectionFilter.blockSignals(False)
        if (self.connectionFilter.currentData() or "") != self.orders_model.filter.connection_id:
            self.set_filters(connection_id=self.connectionFilter.currentData() or "")

    def set_errors(self, errors: dict) -> None:
        """connection name -> sentence; shown until that connection syncs again."""
        text = "\n".join(f"{name}: {message}" for name, message in sorted(errors.items()))
        self.errorLabel.setText(text)
        self.errorLabel.setVisible(bool(text))

    def set_syncing(self, names: list) -> None:
        self.refreshButton.setToolTip("Refresh now: ask every connection what changed" + (
            f" (syncing {', '.join(names)})" if names else ""))

    def show_message(self, text: str) -> None:
        self.statusLabel.setText(text)

    def rows(self) -> list:
        """The visible rows as dicts of column name -> text, in view order (for tests and scripts)."""
        model = self.orders_model
        return [{name: model.index(row, column).data() for column, name in enumerate(ORDER_COLUMNS)}
                for row in range(model.rowCount())]

    # -- selection ------------------------------------------------------------------------------
    def current_key(self) -> Optional[tuple]:
        rows = self.ordersView.selectionModel().selectedRows(NAME_COLUMN)
        return tuple(rows[0].data(KEY_ROLE)) if rows else None

    def current_order(self) -> Optional[Order]:
        """The selected order in full (the rows hold light ones: no raw record, parameters nor geometry), read
        once per selection and per read of the store."""
        key = self.current_key()
        row = self.orders_model.row_of(key) if key is not None else None
        if row is None:
            return None
        if self._full is None or self._full[0] is not row:
            light = row_order(row)
            self._full = (row, self.full_order(light) if self.full_order else light)
        return self._full[1]

    def select_order(self, connection_id: str, order_id: str) -> bool:
        index = self.orders_model.index_of((connection_id, order_id))
        if not index.isValid():
            return False
        self.ordersView.selectionModel().select(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.ordersView.scrollTo(index)
        return True

    def _selection_changed(self, *_: Any) -> None:
        order = self.current_order()
        self._show_details(order)
        if not self._restoring:
            self.orderSelected.emit(order)

    def _emit_for_current(self, signal: Any) -> None:
        order = self.current_order()
        if order is not None:
            signal.emit(order)

    def _for_current(self, action: Callable[[Order], Any]) -> None:
        order = self.current_order()
        if order is not None:
            action(order)

    def copy_order_id(self) -> None:
        order = self.current_order()
        if order is not None:
            QApplication.clipboard().setText(order.id)
            self.show_message(f"Copied the id of “{shown_name(order)}”.")

    # -- the questions before an action ---------------------------------------------------------
    def ask_to_cancel(self, order: Order) -> bool:
        """Cancel only after the user confirms; True when the cancelling was sent to the monitor."""
        # The order's name and id are the provider's text: escaped, so markup in them shows as written.
        answer = QMessageBox.question(
            self, "Cancel order",
            rich_tooltip(f"Cancel order “{order.name}” ({order.id})? This cannot be undone, and the provider may "
                         f"still charge for it."), QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.cancelRequested.emit(order)
        return True

    def ask_to_edit(self, order: Order) -> Optional[dict]:
        """The edit form, limited to the fields the provider lets change now; the changes made, if any, go to
        the monitor."""
        _, fields = self.capabilities(order) if self.capabilities else (False, frozenset())
        fields = frozenset(fields) & EDITABLE_FIELDS
        if not fields:
            self.show_message(f"Order “{shown_name(order)}” cannot be edited in its current state.")
            return None
        dialog = OrderEditDialog(order, fields, parent=self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        changes = dialog.changes()
        if changes:
            self.editRequested.emit(order, changes)
        return changes

    def ask_to_download(self, order: Order) -> str:
        """The folder to download the order's delivery into, opened where the user chose last (else home)."""
        folder = QFileDialog.getExistingDirectory(self, f"Download the delivery of {order.name} into",
                                                  download_folder())
        if folder:
            from qgis.core import QgsSettings

            QgsSettings().setValue(DOWNLOAD_FOLDER_KEY, str(folder))
            self.downloadRequested.emit(order, str(folder))
        return folder or ""

    # -- details --------------------------------------------------------------------------------
    def _show_details(self, order: Optional[Order]) -> None:
        for button in (self.zoomButton, self.copyIdButton, self.cancelButton, self.editButton,
                       self.decideButton, self.downloadButton):
            button.setEnabled(order is not None)
        if order is None:
            for text in (self.detailsText, self.historyText, self.capturesText):
                text.setPlainText("")
            return
        can_cancel, editable = self.capabilities(order) if self.capabilities else (False, frozenset())
        self.cancelButton.setEnabled(can_cancel)
        # An order waiting on its price is ended by rejecting the quotation (UP42 charges nothing for that).
        self.cancelButton.setToolTip(
            CANCEL_BY_REJECTING if order.decision == Decision.QUOTATION and not can_cancel else CANCEL_TOOLTIP)
        self.editButton.setEnabled(bool(editable & EDITABLE_FIELDS))
        self.decideButton.setEnabled(order.decision != Decision.NONE)
        self.downloadButton.setEnabled(order.api == "up42" and order.status.code == OrderStatus.COMPLETED)
        connection = self.connection_names.get(order.connection_id, order.connection_id)
        window = " – ".join(filter(None, (short_time(order.acquisition_start), short_time(order.acquisition_end))))
        rows = [("Status", order_status_name(order)), ("", status_sentence(order)),
                ("Product", self.product_label(order)), ("Connection", connection),
                ("Acquisition window", window or "—"), ("Created", short_time(order.created_at) or "—"),
                ("Updated", short_time(order.updated_at) or "—"), ("Order id", order.id)]
        row = self.orders_model.row_of((order.connection_id, order.id))
        if row is not None and row[ROW_PLACED_BY]:
            rows.append(("Placed by", row[ROW_PLACED_BY]))
        parameters = [(field_label(name, self.parameter_titles), value_text(value))
                      for name, value in (order.params or {}).items() if name not in _PARAMETERS_SHOWN_ELSEWHERE]
        self.detailsText.setPlainText("\n".join([shown_name(order), ""] + _table(rows) + (
            ["", "Parameters"] + _table(parameters) if parameters else [])))
        history, captures = self.details(order) if self.details else ([], [])
        self.historyText.setPlainText("\n".join(
            f"{short_time(change.changed_at or change.recorded_at)}  "
            f"{status_name(change.previous.code) + ' → ' if change.previous else ''}{status_name(change.status.code)}"
            f"  ({change.status.raw}{' / ' + change.status.raw_sub if change.status.raw_sub else ''})"
            for change in history) or "No status change recorded yet.")
        self.capturesText.setPlainText("\n".join(
            f"{short_time(c.acquired_at)}  {c.status.lower()}"
            f"{' · ' + c.assessment.lower() if c.assessment else ''}"
            f"{f' · cloud {c.cloud_cover * 100:.0f} %' if c.cloud_cover is not None else ''}"
            for c in captures) or "No captures yet.")


# Shown in the rows above the parameters (or drawn on the map), not again among them.
_PARAMETERS_SHOWN_ELSEWHERE = frozenset({"geometry", "aoi", "displayName", "name", "acquisitionStart",
                                         "acquisitionEnd", "start_time", "end_time"})


def _table(rows: list) -> list:
    """Label/value lines with the values in one column."""
    width = max((len(label) for label, _ in rows), default=0)
    return [f"{label + ':' if label else '':<{width + 1}}  {value}" for label, value in rows]


class OrderEditDialog(QDialog):
    """Name and acquisition window of an order, limited to the fields the provider lets change now."""

    def __init__(self, order: Order, fields: Iterable[str], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.order = order
        self.fields = frozenset(fields)
        self.setWindowTitle(f"Edit order {order.name}")
        layout = QFormLayout(self)
        self.nameEdit = QLineEdit(order.name)
        self.nameEdit.setEnabled("name" in self.fields)
        self.startEdit = self._time_edit(order.acquisition_start, "start_time" in self.fields)
        self.endEdit = self._time_edit(order.acquisition_end, "end_time" in self.fields)
        layout.addRow("Name", self.nameEdit)
        layout.addRow("Acquisition start (UTC)", self.startEdit)
        layout.addRow("Acquisition end (UTC)", self.endEdit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    @staticmethod
    def _time_edit(moment: Optional[datetime], enabled: bool) -> QDateTimeEdit:
        edit = QDateTimeEdit()
        edit.setTimeSpec(Qt.TimeSpec.UTC)
        edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        edit.setCalendarPopup(True)
        if moment is not None:
            edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(moment.timestamp()), Qt.TimeSpec.UTC))
        edit.setEnabled(enabled and moment is not None)
        return edit

    def changes(self) -> dict:
        """The fields whose value differs from the order's, as ``provider.edit`` takes them."""
        changed = {}
        name = self.nameEdit.text().strip()
        if "name" in self.fields and name and name != self.order.name:
            changed["name"] = name
        for key, edit, old in (("start_time", self.startEdit, self.order.acquisition_start),
                               ("end_time", self.endEdit, self.order.acquisition_end)):
            if key in self.fields and edit.isEnabled():
                value = datetime.fromtimestamp(edit.dateTime().toSecsSinceEpoch(), timezone.utc)
                if old is None or abs(value.timestamp() - old.timestamp()) >= 60:
                    changed[key] = value
        return changed


__all__ = ["CANCEL_BY_REJECTING", "CANCEL_TOOLTIP", "MonitorDock", "ORDER_COLUMNS", "OrderEditDialog", "PUBLISHED",
           "STATUS_COLOURS", "WAITING_MARKER", "plain_tooltip", "short_time", "shown_name"]
