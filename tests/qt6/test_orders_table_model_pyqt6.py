"""The monitor dock's orders table model under PyQt6: rows shown, sorted and filtered in the model, the status
badge's colours and alignment and the bold waiting rows as a Qt6 view reads them (QGIS 4 cannot run here; the
model imports Qt only through ``qgis.PyQt``, and nothing of the store)."""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

import PyQt6.QtCore
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QTableView

from satellite_tasking.plugin.listed_order import listed_form
from satellite_tasking.plugin.model import Decision, Order, OrderStatus, Status
from satellite_tasking.ui.orders_table_model import (
    NAME_COLUMN,
    STATUS_COLUMN,
    UPDATED_COLUMN,
    OrdersTableModel,
    order_row,
)

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Captures:  # the fields of store.CaptureSummary the rows read (the store needs requests, not here)
    published: int = 0
    successful: int = 0
    invalid: int = 0
    best_cloud_cover: Optional[float] = None
    total: int = 0


def row(number: int, name: str, code: OrderStatus = OrderStatus.ACCEPTED, waiting: bool = False) -> tuple:
    order = Order(id=f"o{number}", connection_id="c1", name=name, status=Status(code, code.value.upper()),
                  updated_at=NOW - timedelta(hours=number),
                  decision=Decision.QUOTATION if waiting else Decision.NONE)
    return order_row(listed_form(order), Captures(2, 1, 0, 0.25, 3), "Planet team", "Area")


def test_the_model_in_a_pyqt6_view(qtbot):
    model = OrdersTableModel()
    assert isinstance(model, PyQt6.QtCore.QAbstractTableModel)
    model.set_rows([row(1, "Bravo"), row(2, "alpha", OrderStatus.COMPLETED), row(3, "Charlie", waiting=True)])
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setSortingEnabled(True)
    view.resize(700, 300)
    view.show()
    view.sortByColumn(UPDATED_COLUMN, Qt.SortOrder.DescendingOrder)
    assert [model.index(r, NAME_COLUMN).data() for r in range(3)] == ["Bravo", "alpha", "● Charlie"]
    view.sortByColumn(NAME_COLUMN, Qt.SortOrder.AscendingOrder)
    view.grab()  # painted by Qt6's delegate: every role converts
    assert [model.index(r, NAME_COLUMN).data() for r in range(3)] == ["alpha", "Bravo", "● Charlie"]
    status = model.index(0, STATUS_COLUMN)
    assert status.data() == "Completed" and status.data(Qt.ItemDataRole.BackgroundRole).color().name() == "#43a047"
    assert model.index(2, NAME_COLUMN).data(Qt.ItemDataRole.FontRole).bold()
    assert "&lt;" not in model.index(0, NAME_COLUMN).data(Qt.ItemDataRole.ToolTipRole)
    model.filter.status = "active"
    model.refilter()
    assert [model.index(r, NAME_COLUMN).data() for r in range(model.rowCount())] == ["Bravo", "● Charlie"]
