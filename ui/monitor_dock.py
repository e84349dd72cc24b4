"""The order monitor dock: the orders of every connection, their status, captures and actions.

The dock only shows and asks: ``plugin/monitor.py`` (OrderMonitor) fills it from the store and
carries out what the user asks for through the dock's signals. Everything a provider wrote is
shown as plain text: table cells are plain by nature, labels are ``Qt.PlainText``, details are
``QPlainTextEdit``s, and tooltips (which Qt would guess to be rich text) are escaped first.
"""
from __future__ import annotations

import html
import re
import time
from datetime import datetime, timezone
from pathlib import Path

from qgis.gui import QgsDockWidget
from qgis.PyQt import sip, uic
from qgis.PyQt.QtCore import QDateTime, QItemSelectionModel, QSortFilterProxyModel, Qt, QTimer, pyqtSignal
from qgis.PyQt.QtGui import QBrush, QColor, QFont, QStandardItem, QStandardItemModel
from qgis.PyQt.QtWidgets import (
    QApplication,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLineEdit,
    QToolButton,
)

from ..plugin.model import Decision, OrderStatus
from ..plugin.store import CaptureSummary
from ..plugin.wording import (
    field_label,
    moment,
    order_status_name,
    plural,
    product_title,
    status_name,
    status_sentence,
    value_text,
)
from .sandbox_clock import SandboxClockBar

# The .ui's top level is a plain QDockWidget (uic cannot make a QGIS class the base);
# the class below puts the form on a QgsDockWidget, which adds setUserVisible().
FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("monitor_dock.ui")))

ORDER_COLUMNS = ("Name", "Connection", "Status", "Provider status", "Product", "Acquisition window", "Captures",
                 "Best cloud", "Updated")
(NAME_COLUMN, CONNECTION_COLUMN, STATUS_COLUMN, RAW_STATUS_COLUMN, PRODUCT_COLUMN, WINDOW_COLUMN, CAPTURES_COLUMN,
 CLOUD_COLUMN, UPDATED_COLUMN) = range(len(ORDER_COLUMNS))

KEY_ROLE = Qt.ItemDataRole.UserRole + 1  # (connection id, order id) on the name cell
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
STATUS_ROLE = Qt.ItemDataRole.UserRole + 3
WAITING_ROLE = Qt.ItemDataRole.UserRole + 4
CONNECTION_ROLE = Qt.ItemDataRole.UserRole + 5
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 6

WAITING_MARKER = "● "
ACTIVE_FILTER = "active"
WAITING_FILTER = "waiting"
PUBLISHED = "PUBLISHED"

STATUS_COLOURS = {
    OrderStatus.RECEIVED: "#9e9e9e", OrderStatus.ACCEPTED: "#64b5f6", OrderStatus.SCHEDULED: "#42a5f5",
    OrderStatus.TASKED: "#1e88e5", OrderStatus.PROCESSING: "#7e57c2", OrderStatus.HELD: "#ffb300",
    OrderStatus.COMPLETED: "#43a047", OrderStatus.CANCELLED: "#757575", OrderStatus.FAILED: "#e53935",
    OrderStatus.EXPIRED: "#8d6e63", OrderStatus.REJECTED: "#d81b60",
}


CANCEL_TOOLTIP = "Cancel the order (when the provider still allows it)"
CANCEL_BY_REJECTING = ("This order waits for your decision on its price: to end it, reject the quotation "
                       "(Decide… → Reject price). Rejecting charges nothing.")


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` as the characters it is (Qt guesses tooltips to be rich text)."""
    return "<qt>" + html.escape(text or "").replace("\n", "<br/>") + "</qt>"


# The draft reference some providers keep in the order's name ("Fields 1 [qgis-0123456789ab]"): the plugin's
# bookkeeping, not the user's words. Shown names leave it out; the search still finds it.
_REFERENCE_SUFFIX = re.compile(r"\s*\[qgis-[0-9a-f]{6,}\]$")


def shown_name(order) -> str:
    return _REFERENCE_SUFFIX.sub("", order.name or "") or order.name or order.id


def short_time(when) -> str:
    """A moment as people read it ("today 14:05 UTC", "3 Mar 2026 14:05 UTC")."""
    return moment(when) if when is not None else ""


def _timestamp(moment) -> float:
    return moment.timestamp() if moment is not None else 0.0


class OrderFilterProxy(QSortFilterProxyModel):
    """Status, connection and text filters over the orders model."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.status = ""
        self.connection_id = ""
        self.text = ""
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_filters(self, status=None, connection_id=None, text=None):
        if status is not None:
            self.status = status
        if connection_id is not None:
            self.connection_id = connection_id
        if text is not None:
            self.text = text.strip().lower()
        self.invalidateFilter()

    def filterAcceptsRow(self, row, parent):  # noqa: N802 - Qt override
        model = self.sourceModel()
        item = model.index(row, NAME_COLUMN, parent)
        if self.connection_id and item.data(CONNECTION_ROLE) != self.connection_id:
            return False
        status = item.data(STATUS_ROLE)
        if self.status == WAITING_FILTER and not (item.data(WAITING_ROLE) or status == OrderStatus.HELD.value):
            return False
        if self.status == ACTIVE_FILTER and OrderStatus(status).is_terminal:
            return False
        if self.status not in ("", WAITING_FILTER, ACTIVE_FILTER) and status != self.status:
            return False
        return not self.text or self.text in (item.data(SEARCH_ROLE) or "")


# Rows are built for at most this long per event-loop turn (~0.4 ms each, more on a busy machine), so that
# filling thousands of rows never holds QGIS's event loop for long.
FILL_TURN_SECONDS = 0.008


class MonitorDock(QgsDockWidget, FORM_CLASS):
    OBJECT_NAME = "SatelliteTaskingMonitorDock"

    refreshRequested = pyqtSignal()
    filled = pyqtSignal()  # the rows show the latest set_orders()
    orderSelected = pyqtSignal(object)  # Order or None
    zoomRequested = pyqtSignal(object)
    cancelRequested = pyqtSignal(object)
    editRequested = pyqtSignal(object)
    decideRequested = pyqtSignal(object)
    downloadRequested = pyqtSignal(object)
    mapRequested = pyqtSignal()  # "Show on map": the orders and captures layers, added to the project if missing

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName(self.OBJECT_NAME)
        # Shown while a sandbox connection exists (the monitor decides and feeds it).
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
        # Set by the monitor: order -> (can cancel, editable fields); order -> (history, captures).
        self.capabilities = None
        self.details = None
        self.orders: dict = {}  # (connection id, order id) -> Order
        self._rows: dict = {}  # (connection id, order id) -> (what the row shows, its name item)
        self._fill_queue: list = []
        self._fill_scheduled = False
        self._selected_before_fill = None
        self.connection_names: dict = {}
        # (connection id, product id) -> "Pléiades Neo Analytic (UP42)"; given by the monitor once it knows them.
        self.product_titles: dict = {}
        # Parameter name -> the schema's title, where the monitor knows it.
        self.parameter_titles: dict = {}
        self._summaries: dict = {}
        self.orders_model = QStandardItemModel(0, len(ORDER_COLUMNS), self)
        self.orders_model.setHorizontalHeaderLabels(ORDER_COLUMNS)
        self.proxy = OrderFilterProxy(self)
        self.proxy.setSourceModel(self.orders_model)
        self.ordersView.setModel(self.proxy)
        self.ordersView.sortByColumn(UPDATED_COLUMN, Qt.SortOrder.DescendingOrder)
        self.ordersView.verticalHeader().hide()
        self.ordersView.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.ordersView.horizontalHeader().setStretchLastSection(True)
        # The provider's own codes stay in the tooltip, the details and the search, not in a column of their own.
        self.ordersView.setColumnHidden(RAW_STATUS_COLUMN, True)
        # One name per state: "Waiting for you" is the held state and every order waiting for a decision.
        self.statusFilter.addItem("All statuses", "")
        self.statusFilter.addItem("Active", ACTIVE_FILTER)
        self.statusFilter.addItem(status_name(OrderStatus.HELD), WAITING_FILTER)
        for status in OrderStatus:
            if status != OrderStatus.HELD:
                self.statusFilter.addItem(status_name(status), status.value)
        self.connectionFilter.addItem("All connections", "")
        for label in (self.statusLabel, self.errorLabel):
            label.setTextFormat(Qt.TextFormat.PlainText)
        self.errorLabel.hide()

        self.statusFilter.currentIndexChanged.connect(
            lambda: self.proxy.set_filters(status=self.statusFilter.currentData() or ""))
        self.connectionFilter.currentIndexChanged.connect(
            lambda: self.proxy.set_filters(connection_id=self.connectionFilter.currentData() or ""))
        self.textFilter.textChanged.connect(lambda text: self.proxy.set_filters(text=text))
        self.refreshButton.clicked.connect(self.refreshRequested)
        self.ordersView.selectionModel().selectionChanged.connect(self._selection_changed)
        self.zoomButton.clicked.connect(lambda: self._emit_for_current(self.zoomRequested))
        self.cancelButton.clicked.connect(lambda: self._emit_for_current(self.cancelRequested))
        self.editButton.clicked.connect(lambda: self._emit_for_current(self.editRequested))
        self.decideButton.clicked.connect(lambda: self._emit_for_current(self.decideRequested))
        self.downloadButton.clicked.connect(lambda: self._emit_for_current(self.downloadRequested))
        self.copyIdButton.clicked.connect(self.copy_order_id)
        self._show_details(None)
        self.show_message("No orders yet. Select polygons on the map and use “Task a satellite” to place one.")

    # -- filling --------------------------------------------------------------------------------
    def set_orders(self, orders, capture_summaries: dict, connection_names: dict) -> None:
        """Show ``orders`` (store rows) with their capture counts (``store.capture_summaries()``).

        Only rows whose order or counts changed are rebuilt, and in batches between event-loop
        turns, so a first sync of thousands of orders never freezes QGIS; the selection is kept.
        """
        self.connection_names = dict(connection_names)
        self._summaries = capture_summaries
        self.orders = {(order.connection_id, order.id): order for order in orders}
        for key in [key for key in self._rows if key not in self.orders]:
            _, name_item = self._rows.pop(key)
            self.orders_model.removeRow(name_item.row())
        self._fill_queue = [((order.connection_id, order.id), order,
                             capture_summaries.get((order.connection_id, order.id)) or CaptureSummary())
                            for order in orders]
        self._selected_before_fill = self.current_key() or self._selected_before_fill
        if not self._fill_scheduled:
            self._fill_scheduled = True
            QTimer.singleShot(0, self._fill_batch)

    @property
    def filling(self) -> bool:
        return self._fill_scheduled or bool(self._fill_queue)

    def _fill_batch(self) -> None:
        self._fill_scheduled = False
        if sip.isdeleted(self):
            return
        queue = self._fill_queue
        turn_ends = time.perf_counter() + FILL_TURN_SECONDS
        done = 0
        while done < len(queue) and (done == 0 or time.perf_counter() < turn_ends):
            key, order, summary = queue[done]
            done += 1
            signature = (order.name, order.status, order.decision, order.updated_at, order.acquisition_start,
                         order.acquisition_end, summary, self.connection_names.get(order.connection_id),
                         self.product_label(order))
            known = self._rows.get(key)
            if known is not None and known[0] == signature:
                continue
            items = self._row(order, summary)
            if known is None:
                self.orders_model.appendRow(items)
            else:
                row = known[1].row()
                for column, item in enumerate(items):
                    self.orders_model.setItem(row, column, item)
            self._rows[key] = (signature, items[NAME_COLUMN])
        del queue[:done]
        if self._fill_queue:
            self._fill_scheduled = True
            QTimer.singleShot(0, self._fill_batch)
            return
        self._update_connection_filter()
        self.ordersView.resizeColumnsToContents()
        orders = self.orders.values()
        if self.orders:
            waiting = sum(1 for o in orders if o.decision != Decision.NONE)
            text = plural(len(self.orders), "order")
            if waiting:
                text += f", {waiting} waiting for you"
            self.show_message(text + ".")
        selected, self._selected_before_fill = self._selected_before_fill, None
        if selected is not None and selected in self.orders:
            if self.current_key() == selected:
                # Rebuilt in place, still selected: the order itself may have changed.
                self._selection_changed()
            else:
                self.select_order(*selected)
        else:
            self._show_details(self.current_order())
        self.filled.emit()

    def _row(self, order, summary) -> list:
        key = (order.connection_id, order.id)
        connection = self.connection_names.get(order.connection_id, order.connection_id)
        waiting = order.decision != Decision.NONE
        published, successful, invalid = summary.published, summary.successful, summary.invalid
        cloud = summary.best_cloud_cover
        window = " – ".join(filter(None, (short_time(order.acquisition_start), short_time(order.acquisition_end))))
        raw = f"{order.status.raw} / {order.status.raw_sub}" if order.status.raw_sub else order.status.raw
        product = self.product_label(order)
        state = order_status_name(order)
        cells = [
            ((WAITING_MARKER if waiting else "") + shown_name(order), shown_name(order).lower()),
            (connection, connection.lower()),
            (state, state),
            (raw, raw),
            (product, product.lower()),
            (window, _timestamp(order.acquisition_start)),
            (f"{published} / {successful} / {invalid}" if summary.total else "", published * 10000 + successful),
            (f"{cloud * 100:.0f} %" if cloud is not None else "", cloud if cloud is not None else 1000.0),
            (short_time(order.updated_at), _timestamp(order.updated_at)),
        ]
        items = []
        tip_lines = [shown_name(order), f"{connection} · {product}", status_sentence(order)]
        tooltip = plain_tooltip("\n".join(tip_lines))
        for text, sort in cells:
            item = QStandardItem(str(text or ""))
            item.setEditable(False)
            item.setData(sort, SORT_ROLE)
            item.setToolTip(tooltip)
            if waiting:
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
            items.append(item)
        colour = QColor(STATUS_COLOURS.get(order.status.code, "#9e9e9e"))
        status_item = items[STATUS_COLUMN]
        status_item.setBackground(QBrush(colour))
        status_item.setForeground(QBrush(QColor("#ffffff")))
        status_item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        captures_item = items[CAPTURES_COLUMN]
        captures_item.setToolTip(plain_tooltip(f"{published} published, {successful} successful, {invalid} invalid"))
        name_item = items[NAME_COLUMN]
        name_item.setData(key, KEY_ROLE)
        name_item.setData(order.status.code.value, STATUS_ROLE)
        name_item.setData(waiting, WAITING_ROLE)
        name_item.setData(order.connection_id, CONNECTION_ROLE)
        name_item.setData(" ".join((order.name, order.id, order.product_id, product, state, connection, raw)).lower(),
                          SEARCH_ROLE)
        return items

    def product_label(self, order) -> str:
        """The product's title as its provider names it; the id only while the titles are not known yet."""
        titles = self.product_titles
        for key in ((order.connection_id, order.product_id), (order.connection_id, f"{order.api}:{order.product_id}")):
            if key in titles:
                return titles[key]
        return order.product_id

    def set_parameter_titles(self, titles: dict) -> None:
        """Parameter name -> the schema's title; the details shown are relabelled at once."""
        self.parameter_titles = {**self.parameter_titles, **titles}
        if self.current_order() is not None:
            self._show_details(self.current_order())

    def set_products(self, connection_id: str, products) -> None:
        """The products of a connection (Product objects): rows show their titles, labelled with the provider."""
        titles = dict(self.product_titles)
        for product in products:
            titles[(connection_id, product.id)] = product_title(product, with_provider=True)
        self.set_product_titles(titles)

    def set_product_titles(self, titles: dict) -> None:
        """(connection id, product id) -> title; rows showing an id are rebuilt with the title."""
        if titles == self.product_titles:
            return
        self.product_titles = dict(titles)
        if self.orders:
            self._fill_queue = [(key, order, self._summaries.get(key) or CaptureSummary())
                                for key, order in self.orders.items()]
            if not self._fill_scheduled:
                self._fill_scheduled = True
                QTimer.singleShot(0, self._fill_batch)

    def _update_connection_filter(self):
        current = self.connectionFilter.currentData() or ""
        wanted = sorted({o.connection_id for o in self.orders.values()} | set(self.connection_names),
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
        self.proxy.set_filters(connection_id=self.connectionFilter.currentData() or "")

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
        result = []
        for row in range(self.proxy.rowCount()):
            result.append({name: self.proxy.index(row, column).data() for column, name in enumerate(ORDER_COLUMNS)})
        return result

    # -- selection ------------------------------------------------------------------------------
    def current_key(self):
        rows = self.ordersView.selectionModel().selectedRows(NAME_COLUMN)
        return tuple(rows[0].data(KEY_ROLE)) if rows else None

    def current_order(self):
        key = self.current_key()
        return self.orders.get(key) if key is not None else None

    def select_order(self, connection_id, order_id) -> bool:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, NAME_COLUMN)
            if tuple(index.data(KEY_ROLE)) == (connection_id, order_id):
                self.ordersView.selectionModel().select(
                    index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
                self.ordersView.scrollTo(index)
                return True
        return False

    def _selection_changed(self, *_):
        order = self.current_order()
        self._show_details(order)
        self.orderSelected.emit(order)

    def _emit_for_current(self, signal):
        order = self.current_order()
        if order is not None:
            signal.emit(order)

    def copy_order_id(self):
        order = self.current_order()
        if order is not None:
            QApplication.clipboard().setText(order.id)
            self.show_message(f"Copied the id of “{shown_name(order)}”.")

    # -- details --------------------------------------------------------------------------------
    def _show_details(self, order):
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
        self.editButton.setEnabled(bool(editable & {"name", "start_time", "end_time"}))
        self.decideButton.setEnabled(order.decision != Decision.NONE)
        self.downloadButton.setEnabled(order.api == "up42" and order.status.code == OrderStatus.COMPLETED)
        connection = self.connection_names.get(order.connection_id, order.connection_id)
        window = " – ".join(filter(None, (short_time(order.acquisition_start), short_time(order.acquisition_end))))
        rows = [("Status", order_status_name(order)), ("", status_sentence(order)),
                ("Product", self.product_label(order)), ("Connection", connection),
                ("Acquisition window", window or "—"), ("Created", short_time(order.created_at) or "—"),
                ("Updated", short_time(order.updated_at) or "—"), ("Order id", order.id)]
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


def _table(rows) -> list:
    """Label/value lines with the values in one column."""
    width = max((len(label) for label, _ in rows), default=0)
    return [f"{label + ':' if label else '':<{width + 1}}  {value}" for label, value in rows]


class OrderEditDialog(QDialog):
    """Name and acquisition window of an order, limited to the fields the provider lets change now."""

    def __init__(self, order, fields, parent=None):
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
    def _time_edit(moment, enabled):
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
