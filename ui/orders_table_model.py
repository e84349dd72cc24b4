"""The monitor dock's orders table: a ``QAbstractTableModel`` over compact rows, filtered and sorted in the model.

Why not ``QStandardItemModel`` + ``QSortFilterProxyModel``: with 20,000 orders the items alone cost
~180,000 Qt objects, and a proxy sorts by calling back into Python for every comparison (seconds).
Here each order is one tuple of atoms holding what filtering and sorting need (a search text, the values
the sort keys read); the shown words are made only for the cells the view asks for. Filtering is one
pass over a Python list and sorting one ``list.sort`` over keys read from the rows (milliseconds at 20,000).

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

from ..plugin.listed_order import (
    LISTED_CONNECTION,
    LISTED_DECISION,
    LISTED_END,
    LISTED_FIELDS,
    LISTED_ID,
    LISTED_NAME,
    LISTED_PRODUCT,
    LISTED_RAW_STATUS,
    LISTED_RAW_SUB,
    LISTED_START,
    LISTED_STATUS,
    LISTED_UPDATED,
    TERMINAL_STATUS_VALUES,
    listed_as_order,
)
from ..plugin.model import Decision, Order, OrderStatus, Status
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
_STATUS_BRUSHES = {code.value: QBrush(QColor(colour)) for code, colour in STATUS_COLOURS.items()}
_GREY = QBrush(QColor("#9e9e9e"))
_HELD = OrderStatus.HELD.value
_NO_DECISION = Decision.NONE.value

# The draft reference some providers keep in the order's name ("Fields 1 [qgis-0123456789ab]"): the plugin's
# bookkeeping, not the user's words. Shown names leave it out; the search still finds it.
_REFERENCE_SUFFIX = re.compile(r"\s*\[qgis-[0-9a-f]{6,}\]$")


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` as the characters it is (Qt guesses tooltips to be rich text)."""
    return "<qt>" + html.escape(text or "").replace("\n", "<br/>") + "</qt>"


def _shown_name(name: str, order_id: str) -> str:
    return _REFERENCE_SUFFIX.sub("", name or "") or name or order_id


def shown_name(order: Order) -> str:
    return _shown_name(order.name, order.id)


def short_time(when) -> str:
    """A moment as people read it ("today 14:05 UTC", "3 Mar 2026 14:05 UTC")."""
    return moment(when) if when is not None else ""


def _timestamp(when) -> float:
    return when.timestamp() if when is not None else 0.0


_STATE_NAMES: dict = {}  # (status value, decision value) -> the badge's words: computed once per pair


def _state_name(status: str, decision: str) -> str:
    pair = (status, decision)
    name = _STATE_NAMES.get(pair)
    if name is None:
        name = _STATE_NAMES[pair] = order_status_name(Order(id="", connection_id="", name="", status=Status(
            OrderStatus(status), ""), decision=Decision(decision)))
    return name


_NO_CAPTURES = (0, 0, 0, None, 0)


def capture_counts(summary) -> tuple:
    """(published, successful, invalid, best cloud cover, total) of ``summary`` (a ``store.CaptureSummary`` or
    already that tuple)."""
    if summary is None:
        return _NO_CAPTURES
    if type(summary) is tuple:
        return summary
    return (summary.published, summary.successful, summary.invalid, summary.best_cloud_cover, summary.total)


# A row is one flat tuple of atoms: the listed order's fields (plugin/listed_order.py) and then what the table adds to
# them. Python's collector stops following such a tuple at its first look (an object per row it would walk at each of
# its full passes, which stall the GUI thread: see plugin/listed_order.py); a tuple inside it would keep the row
# followed until a later pass. Equal rows show the same words. A row's key is (connection id, order id): ``row[:2]``.
(ROW_PUBLISHED, ROW_SUCCESSFUL, ROW_INVALID, ROW_BEST_CLOUD, ROW_CAPTURES, ROW_CONNECTION_NAME, ROW_PRODUCT_LABEL,
 ROW_PLACED_BY, ROW_STATE, ROW_WAITING, ROW_SEARCH) = range(len(LISTED_FIELDS), len(LISTED_FIELDS) + 11)


def row_key(row: tuple) -> tuple:
    """(connection id, order id): the listed fields come first (``listed_order.LISTED_CONNECTION``, ``LISTED_ID``)."""
    return row[:2]


def order_row(listed: tuple, summary: CaptureSummary | tuple | None, connection: str, product: str,
              placed_by: str = "") -> tuple:
    """The table's row of a listed order (``listed_order``) with its capture counts, the names shown for its
    connection and product and who placed it; what filtering needs (the search text) is made here too, in the
    background task that prepares the rows."""
    state = _state_name(listed[LISTED_STATUS], listed[LISTED_DECISION])
    search = " ".join((listed[LISTED_NAME], listed[LISTED_ID], listed[LISTED_PRODUCT], product, state, connection,
                       _raw_status(listed), placed_by)).lower()
    return listed + capture_counts(summary) + (connection, product, placed_by, state,
                                               listed[LISTED_DECISION] != _NO_DECISION, search)


def row_order(row: tuple) -> Order:
    """The light ``Order`` of a row (the details read it in full by its key)."""
    return listed_as_order(row[:len(LISTED_FIELDS)])


def _raw_status(row: tuple) -> str:
    raw, raw_sub = row[LISTED_RAW_STATUS], row[LISTED_RAW_SUB]
    return f"{raw} / {raw_sub}" if raw_sub else (raw or "")


def _cloud_key(row: tuple) -> float:
    cloud = row[ROW_BEST_CLOUD]
    return cloud if cloud is not None else 1000.0


# One sort key per column, read from the row when a sort asks (sorting 20,000 rows reads 20,000 keys once).
SORT_KEYS = (
    lambda row: _shown_name(row[LISTED_NAME], row[LISTED_ID]).lower(),
    lambda row: row[ROW_CONNECTION_NAME].lower(),
    lambda row: row[ROW_STATE],
    _raw_status,
    lambda row: row[ROW_PRODUCT_LABEL].lower(),
    lambda row: _timestamp(row[LISTED_START]),
    lambda row: row[ROW_PUBLISHED] * 10000 + row[ROW_SUCCESSFUL],
    _cloud_key,
    lambda row: _timestamp(row[LISTED_UPDATED]),
    lambda row: row[ROW_PLACED_BY].lower(),
)


def row_text(row: tuple, column: int) -> str:
    """The words a cell shows."""
    if column == NAME_COLUMN:
        return (WAITING_MARKER if row[ROW_WAITING] else "") + _shown_name(row[LISTED_NAME], row[LISTED_ID])
    if column == CONNECTION_COLUMN:
        return row[ROW_CONNECTION_NAME]
    if column == STATUS_COLUMN:
        return row[ROW_STATE]
    if column == RAW_STATUS_COLUMN:
        return _raw_status(row)
    if column == PRODUCT_COLUMN:
        return row[ROW_PRODUCT_LABEL]
    if column == WINDOW_COLUMN:
        return " – ".join(filter(None, (short_time(row[LISTED_START]), short_time(row[LISTED_END]))))
    if column == CAPTURES_COLUMN:
        return f"{row[ROW_PUBLISHED]} / {row[ROW_SUCCESSFUL]} / {row[ROW_INVALID]}" if row[ROW_CAPTURES] else ""
    if column == CLOUD_COLUMN:
        cloud = row[ROW_BEST_CLOUD]
        return f"{cloud * 100:.0f} %" if cloud is not None else ""
    if column == UPDATED_COLUMN:
        return short_time(row[LISTED_UPDATED])
    if column == PLACED_BY_COLUMN:
        return row[ROW_PLACED_BY]
    return ""


def row_tooltip(row: tuple, column: int) -> str:
    if column == CAPTURES_COLUMN:
        return plain_tooltip(f"{row[ROW_PUBLISHED]} published, {row[ROW_SUCCESSFUL]} successful, "
                             f"{row[ROW_INVALID]} invalid")
    order = row_order(row)
    lines = [shown_name(order), f"{row[ROW_CONNECTION_NAME]} · {row[ROW_PRODUCT_LABEL]}", status_sentence(order)]
    if row[ROW_PLACED_BY]:
        lines.append(f"Placed by {row[ROW_PLACED_BY]}")
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

    def accepts(self, row: tuple) -> bool:
        if self.connection_id and row[LISTED_CONNECTION] != self.connection_id:
            return False
        status = row[LISTED_STATUS]
        if self.status == WAITING_FILTER:
            if not (row[ROW_WAITING] or status == _HELD):
                return False
        elif self.status == ACTIVE_FILTER:
            if status in TERMINAL_STATUS_VALUES:
                return False
        elif self.status and status != self.status:
            return False
        if self.placed_by and row[ROW_PLACED_BY] != self.placed_by:
            return False
        return not self.text or self.text in row[ROW_SEARCH]


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


def prepare_rows(rows: Iterable[tuple], ticket: tuple) -> PreparedRows:
    """The rows to show, compared, filtered and sorted as ``ticket`` (``OrdersTableModel.ticket``) says: pure
    Python, no Qt, so a background thread may do it while the GUI thread goes on (20,000 rows: ~0.1 s)."""
    base, wanted, column, order = ticket
    new = {row[:2]: row for row in rows}
    if new == base:
        return PreparedRows(ticket, new, None)  # the same words everywhere
    shown = [row for row in new.values() if wanted.accepts(row)]
    _sort_rows(shown, column, order)
    return PreparedRows(ticket, new, shown)


class OrdersTableModel(QAbstractTableModel):
    """The orders of every connection, one row each, filtered and sorted here (no proxy model)."""

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._rows: dict = {}  # key -> tuple, in the store's order (last changed first)
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
            return row_text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row_tooltip(row, column)
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if row[ROW_WAITING] else None
        if role == KEY_ROLE:
            return row[:2]
        if role == SORT_ROLE:
            return SORT_KEYS[column](row) if 0 <= column < len(SORT_KEYS) else None
        if role == STATUS_ROLE:
            return row[LISTED_STATUS]
        if column == STATUS_COLUMN:
            if role == Qt.ItemDataRole.BackgroundRole:
                return _STATUS_BRUSHES.get(row[LISTED_STATUS], _GREY)
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
        keys = [self._shown[index.row()][:2] if index.row() < len(self._shown) else None for index in before]
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

    def prepare_rows(self, rows: Iterable[tuple], ticket: tuple) -> PreparedRows:
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
            self._shown = [new[row[:2]] for row in self._shown]
            return False
        if [row[:2] for row in shown] == [row[:2] for row in self._shown]:
            self._rows, self._shown = new, shown
            self._positions = None
            if shown:
                self.dataChanged.emit(self.index(0, 0), self.index(len(shown) - 1, len(ORDER_COLUMNS) - 1))
            return True
        self.beginResetModel()
        self._rows, self._shown, self._positions = new, shown, None
        self.endResetModel()
        return True

    def set_rows(self, rows: Iterable[tuple]) -> bool:
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
            self._positions = {row[:2]: number for number, row in enumerate(self._shown)}
        return self._positions

    def index_of(self, key: tuple, column: int = NAME_COLUMN) -> QModelIndex:
        number = self.positions().get(tuple(key))
        return self.index(number, column) if number is not None else QModelIndex()

    def row_at(self, number: int) -> Optional[tuple]:
        return self._shown[number] if 0 <= number < len(self._shown) else None

    def row_of(self, key: tuple) -> Optional[tuple]:
        return self._rows.get(tuple(key))

    def all_rows(self) -> list:
        return list(self._rows.values())

    def shown_rows(self) -> list:
        return list(self._shown)

    def total(self) -> int:
        return len(self._rows)

    def any_placer(self) -> bool:
        return any(row[ROW_PLACED_BY] for row in self._rows.values())


__all__ = ["ACTIVE_FILTER", "KEY_ROLE", "ORDER_COLUMNS", "OrderFilter", "OrdersTableModel", "PreparedRows",
           "ROW_PLACED_BY", "ROW_SEARCH", "ROW_WAITING", "STATUS_COLOURS", "WAITING_FILTER", "WAITING_MARKER",
           "order_row", "plain_tooltip", "prepare_rows", "row_key", "row_order", "short_time", "shown_name"]
