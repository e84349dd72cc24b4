"""The monitor dock's orders table: a ``QAbstractTableModel`` over compact rows, filtered and sorted in the model.

Why not ``QStandardItemModel`` + ``QSortFilterProxyModel``: with 20,000 orders the items alone cost
~180,000 Qt objects, and a proxy sorts by calling back into Python for every comparison (seconds).
Here each order is one ``OrderRow`` holding what filtering and sorting need (a search text, one sort
key per column); the shown words are made only for the cells the view asks for. Filtering is one
pass over a Python list and sorting one ``list.sort`` over precomputed keys (milliseconds at 20,000).

Every cell is plain text (a table cell is never rich text); tooltips, which Qt would guess to be rich
text, are escaped first.
"""
from __future__ import annotations

import copy
import html
import re
from typing import TYPE_CHECKING, Any, Iterable, Optional

from qgis.PyQt.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from qgis.PyQt.QtGui import QBrush, QColor, QFont

from ..plugin.model import Decision, Order, OrderStatus
from ..plugin.wording import moment, order_status_name, status_sentence

if TYPE_CHECKING:  # the rows only read its fields: the model needs nothing of the store to run (Qt6 checks)
    from ..plugin.store import CaptureSummary

ORDER_COLUMNS = ("Name", "Connection", "Status", "Provider status", "Product", "Acquisition window", "Captures",
                 "Best cloud", "Updated", "Placed by")
(NAME_COLUMN, CONNECTION_COLUMN, STATUS_COLUMN, RAW_STATUS_COLUMN, PRODUCT_COLUMN, WINDOW_COLUMN, CAPTURES_COLUMN,
 CLOUD_COLUMN, UPDATED_COLUMN, PLACED_BY_COLUMN) = range(len(ORDER_COLUMNS))

KEY_ROLE = Qt.ItemDataRole.UserRole + 1  # (connection id, order id), on every cell
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
STATUS_ROLE = Qt.ItemDataRole.UserRole + 3

WAITING_MARKER = "● "
ACTIVE_FILTER = "active"
WAITING_FILTER = "waiting"

STATUS_COLOURS = {
    OrderStatus.RECEIVED: "#9e9e9e", OrderStatus.ACCEPTED: "#64b5f6", OrderStatus.SCHEDULED: "#42a5f5",
    OrderStatus.TASKED: "#1e88e5", OrderStatus.PROCESSING: "#7e57c2", OrderStatus.HELD: "#ffb300",
    OrderStatus.COMPLETED: "#43a047", OrderStatus.CANCELLED: "#757575", OrderStatus.FAILED: "#e53935",
    OrderStatus.EXPIRED: "#8d6e63", OrderStatus.REJECTED: "#d81b60",
}
_WHITE = QBrush(QColor("#ffffff"))
_STATUS_BRUSHES = {code: QBrush(QColor(colour)) for code, colour in STATUS_COLOURS.items()}
_GREY = QBrush(QColor("#9e9e9e"))

# The draft reference some providers keep in the order's name ("Fields 1 [qgis-0123456789ab]"): the plugin's
# bookkeeping, not the user's words. Shown names leave it out; the search still finds it.
_REFERENCE_SUFFIX = re.compile(r"\s*\[qgis-[0-9a-f]{6,}\]$")


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` as the characters it is (Qt guesses tooltips to be rich text)."""
    return "<qt>" + html.escape(text or "").replace("\n", "<br/>") + "</qt>"


def shown_name(order: Order) -> str:
    return _REFERENCE_SUFFIX.sub("", order.name or "") or order.name or order.id


def short_time(when) -> str:
    """A moment as people read it ("today 14:05 UTC", "3 Mar 2026 14:05 UTC")."""
    return moment(when) if when is not None else ""


def raw_status_text(order: Order) -> str:
    return f"{order.status.raw} / {order.status.raw_sub}" if order.status.raw_sub else (order.status.raw or "")


def _timestamp(when) -> float:
    return when.timestamp() if when is not None else 0.0


_STATE_NAMES: dict = {}  # (status code, decision) -> the badge's words: computed once per pair


def _state_name(order: Order) -> str:
    pair = (order.status.code, order.decision)
    name = _STATE_NAMES.get(pair)
    if name is None:
        name = _STATE_NAMES[pair] = order_status_name(order)
    return name


def _cloud_key(row: OrderRow) -> float:
    cloud = row.summary[BEST_CLOUD]
    return cloud if cloud is not None else 1000.0


# A row's capture counts: (published, successful, invalid, best cloud cover, total), a plain tuple of numbers that
# Python's collector stops following after one look (one CaptureSummary object per order it would walk each time).
PUBLISHED, SUCCESSFUL, INVALID, BEST_CLOUD, TOTAL = range(5)
NO_CAPTURES = (0, 0, 0, None, 0)


def capture_counts(summary) -> tuple:
    """The counts tuple of ``summary`` (a ``store.CaptureSummary`` or already the tuple)."""
    if summary is None:
        return NO_CAPTURES
    if type(summary) is tuple:
        return summary
    return (summary.published, summary.successful, summary.invalid, summary.best_cloud_cover, summary.total)


# One sort key per column, read from the row when a sort asks (sorting 20,000 rows reads 20,000 keys once).
SORT_KEYS = (
    lambda row: shown_name(row.order).lower(),
    lambda row: row.connection.lower(),
    lambda row: row.state,
    lambda row: raw_status_text(row.order),
    lambda row: row.product.lower(),
    lambda row: _timestamp(row.order.acquisition_start),
    lambda row: row.summary[PUBLISHED] * 10000 + row.summary[SUCCESSFUL],
    _cloud_key,
    lambda row: _timestamp(row.order.updated_at),
    lambda row: row.placed_by.lower(),
)


class OrderRow:
    """One order as the table needs it: the order itself (for the details and actions), its capture counts and
    the words shared by many rows; what only filtering needs (the search text) is made when first asked for."""

    __slots__ = ("key", "order", "summary", "connection", "product", "placed_by", "state", "waiting", "_search")

    def __init__(self, order: Order, summary: CaptureSummary | tuple | None, connection: str, product: str,
                 placed_by: str = ""):
        self.key = (order.connection_id, order.id)
        self.order = order
        self.summary = capture_counts(summary)
        self.connection = connection
        self.product = product
        self.placed_by = placed_by
        self.state = _state_name(order)
        self.waiting = order.decision != Decision.NONE
        self._search: Optional[str] = None

    @property
    def raw(self) -> str:
        return raw_status_text(self.order)

    @property
    def search(self) -> str:
        """What the text filter looks in: the name with its reference, the ids, the words shown, lower case."""
        if self._search is None:
            order = self.order
            self._search = " ".join((order.name, order.id, order.product_id, self.product, self.state,
                                     self.connection, self.raw, self.placed_by)).lower()
        return self._search

    def sort_key(self, column: int):
        return SORT_KEYS[column](self)

    @property
    def signature(self) -> tuple:
        """What the row shows; equal signatures need no redraw (an Order compares its raw record too: slow)."""
        order = self.order
        return (order.name, order.status, order.decision, order.product_id, order.updated_at,
                order.acquisition_start, order.acquisition_end, self.summary, self.connection, self.product,
                self.placed_by)

    def text(self, column: int) -> str:
        order, summary = self.order, self.summary
        if column == NAME_COLUMN:
            return (WAITING_MARKER if self.waiting else "") + shown_name(order)
        if column == CONNECTION_COLUMN:
            return self.connection
        if column == STATUS_COLUMN:
            return self.state
        if column == RAW_STATUS_COLUMN:
            return self.raw
        if column == PRODUCT_COLUMN:
            return self.product
        if column == WINDOW_COLUMN:
            return " – ".join(filter(None, (short_time(order.acquisition_start), short_time(order.acquisition_end))))
        if column == CAPTURES_COLUMN:
            return f"{summary[PUBLISHED]} / {summary[SUCCESSFUL]} / {summary[INVALID]}" if summary[TOTAL] else ""
        if column == CLOUD_COLUMN:
            cloud = summary[BEST_CLOUD]
            return f"{cloud * 100:.0f} %" if cloud is not None else ""
        if column == UPDATED_COLUMN:
            return short_time(order.updated_at)
        if column == PLACED_BY_COLUMN:
            return self.placed_by
        return ""

    def tooltip(self, column: int) -> str:
        if column == CAPTURES_COLUMN:
            summary = self.summary
            return plain_tooltip(f"{summary[PUBLISHED]} published, {summary[SUCCESSFUL]} successful, "
                                 f"{summary[INVALID]} invalid")
        lines = [shown_name(self.order), f"{self.connection} · {self.product}", status_sentence(self.order)]
        if self.placed_by:
            lines.append(f"Placed by {self.placed_by}")
        return plain_tooltip("\n".join(lines))


class OrderFilter:
    """What the dock's filters ask for; ``accepts`` is called once per row on every change."""

    def __init__(self) -> None:
        self.status = ""
        self.connection_id = ""
        self.text = ""
        self.placed_by = ""  # "mine": the user name whose orders are shown, or empty for everyone's

    def same_as(self, other: OrderFilter) -> bool:
        return (self.status, self.connection_id, self.text, self.placed_by) == \
            (other.status, other.connection_id, other.text, other.placed_by)

    def accepts(self, row: OrderRow) -> bool:
        if self.connection_id and row.key[0] != self.connection_id:
            return False
        code = row.order.status.code
        if self.status == WAITING_FILTER:
            if not (row.waiting or code == OrderStatus.HELD):
                return False
        elif self.status == ACTIVE_FILTER:
            if code.is_terminal:
                return False
        elif self.status and code.value != self.status:
            return False
        if self.placed_by and row.placed_by != self.placed_by:
            return False
        return not self.text or self.text in row.search


def _sort_rows(rows: list, column: int, order: Qt.SortOrder) -> None:
    if 0 <= column < len(ORDER_COLUMNS):
        # Stable: equal keys keep the store's order (last changed first).
        rows.sort(key=SORT_KEYS[column], reverse=order == Qt.SortOrder.DescendingOrder)


class PreparedRows:
    """Rows made ready off the GUI thread: all of them by key, and those shown in order (None: nothing shown
    changed), with the ticket they were measured against."""

    __slots__ = ("ticket", "rows", "shown")

    def __init__(self, ticket: tuple, rows: dict, shown: Optional[list]):
        self.ticket, self.rows, self.shown = ticket, rows, shown


def prepare_rows(rows: Iterable[OrderRow], ticket: tuple) -> PreparedRows:
    """The rows to show, compared, filtered and sorted as ``ticket`` (``OrdersTableModel.ticket``) says: pure
    Python, no Qt, so a background thread may do it while the GUI thread goes on (20,000 rows: ~0.1 s)."""
    base, wanted, column, order = ticket
    new = {row.key: row for row in rows}
    if new.keys() == base.keys() and all(row.signature == base[key].signature for key, row in new.items()):
        return PreparedRows(ticket, new, None)  # the same words everywhere
    shown = [row for row in new.values() if wanted.accepts(row)]
    _sort_rows(shown, column, order)
    return PreparedRows(ticket, new, shown)


class OrdersTableModel(QAbstractTableModel):
    """The orders of every connection, one row each, filtered and sorted here (no proxy model)."""

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._rows: dict = {}  # key -> OrderRow, in the store's order (last changed first)
        self._shown: list = []  # the rows that pass the filter, sorted
        self._positions: Optional[dict] = None  # key -> row number in _shown, made when asked for
        self.filter = OrderFilter()
        self.sort_column = UPDATED_COLUMN
        self.sort_order = Qt.SortOrder.DescendingOrder
        self._bold = QFont()
        self._bold.setBold(True)

    # -- Qt's model interface -------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self._shown)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(ORDER_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt override
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(ORDER_COLUMNS):
            return ORDER_COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._shown):
            return None
        row, column = self._shown[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row.text(column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.tooltip(column)
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if row.waiting else None
        if role == KEY_ROLE:
            return row.key
        if role == SORT_ROLE:
            return row.sort_key(column)
        if role == STATUS_ROLE:
            return row.order.status.code.value
        if column == STATUS_COLUMN:
            if role == Qt.ItemDataRole.BackgroundRole:
                return _STATUS_BRUSHES.get(row.order.status.code, _GREY)
            if role == Qt.ItemDataRole.ForegroundRole:
                return _WHITE
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return Qt.AlignmentFlag.AlignCenter
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The view's header asks for this; the rows keep their identity (the selection follows them)."""
        self.sort_column, self.sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        keys = [self._shown[index.row()].key if index.row() < len(self._shown) else None for index in before]
        self._sort(self._shown)
        positions = self.positions()
        self.changePersistentIndexList(before, [
            self.index(positions[key], index.column()) if key in positions else QModelIndex()
            for key, index in zip(keys, before)])
        self.layoutChanged.emit()

    # -- filling --------------------------------------------------------------------------------
    def ticket(self) -> tuple:
        """What rows prepared elsewhere are measured against (GUI thread): the rows shown now and how they are
        filtered and sorted."""
        return (self._rows, copy.copy(self.filter), self.sort_column, self.sort_order)

    def prepare_rows(self, rows: Iterable[OrderRow], ticket: tuple) -> PreparedRows:
        return prepare_rows(rows, ticket)

    def apply_rows(self, prepared: PreparedRows) -> bool:
        """Show prepared rows (GUI thread); False when nothing shown changed. Rows changed in place are redrawn;
        any added, removed or moved row resets the model (the dock puts the selection back). Rows prepared
        before the filter, the sort or the rows changed are prepared again, here."""
        base, wanted, column, order = prepared.ticket
        if base is not self._rows or column != self.sort_column or order != self.sort_order \
                or not wanted.same_as(self.filter):
            prepared = self.prepare_rows(prepared.rows.values(), self.ticket())
        new, shown = prepared.rows, prepared.shown
        if shown is None:
            # The rows take the newly read orders (the details read them), unseen.
            self._rows = new
            self._shown = [new[row.key] for row in self._shown]
            return False
        if [row.key for row in shown] == [row.key for row in self._shown]:
            self._rows, self._shown = new, shown
            self._positions = None
            if shown:
                self.dataChanged.emit(self.index(0, 0), self.index(len(shown) - 1, len(ORDER_COLUMNS) - 1))
            return True
        self.beginResetModel()
        self._rows, self._shown, self._positions = new, shown, None
        self.endResetModel()
        return True

    def set_rows(self, rows: Iterable[OrderRow]) -> bool:
        """Prepare and show ``rows`` at once (GUI thread); see ``apply_rows``."""
        return self.apply_rows(self.prepare_rows(rows, self.ticket()))

    def refilter(self) -> None:
        """The filter changed: the rows shown are chosen again (one pass, then one sort)."""
        self.beginResetModel()
        self._shown = self._filtered_and_sorted(self._rows)
        self._positions = None
        self.endResetModel()

    def _filtered_and_sorted(self, rows: dict) -> list:
        accepts = self.filter.accepts
        shown = [row for row in rows.values() if accepts(row)]
        self._sort(shown)
        return shown

    def _sort(self, rows: list) -> None:
        _sort_rows(rows, self.sort_column, self.sort_order)
        self._positions = None

    # -- reading --------------------------------------------------------------------------------
    def positions(self) -> dict:
        if self._positions is None:
            self._positions = {row.key: number for number, row in enumerate(self._shown)}
        return self._positions

    def index_of(self, key: tuple, column: int = NAME_COLUMN) -> QModelIndex:
        number = self.positions().get(tuple(key))
        return self.index(number, column) if number is not None else QModelIndex()

    def row_at(self, number: int) -> Optional[OrderRow]:
        return self._shown[number] if 0 <= number < len(self._shown) else None

    def row_of(self, key: tuple) -> Optional[OrderRow]:
        return self._rows.get(tuple(key))

    def all_rows(self) -> list:
        return list(self._rows.values())

    def shown_rows(self) -> list:
        return list(self._shown)

    def total(self) -> int:
        return len(self._rows)

    def any_placer(self) -> bool:
        return any(row.placed_by for row in self._rows.values())


__all__ = ["ACTIVE_FILTER", "KEY_ROLE", "ORDER_COLUMNS", "OrderFilter", "OrderRow", "OrdersTableModel", "PreparedRows",
           "prepare_rows",
           "STATUS_COLOURS", "WAITING_FILTER", "WAITING_MARKER", "plain_tooltip", "shown_name", "short_time"]
