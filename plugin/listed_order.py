"""A listed order: one order as the dock lists it, a plain tuple of atoms (strings, numbers, moments, None).

Not an ``Order``: Python's collector stops following a tuple of atoms after one look, so 20,000 listed orders do not
grow the set of objects its full passes walk in QGIS's process (those passes stall every thread, the GUI's too; with
an ``Order`` per row two of them ran during the dock's fill of 20,000 orders, 20-27 ms each). The status and the
decision are kept as their values for the same reason (enum members are objects the collector follows).

``order_listing.listed_orders`` reads them from a store; ``listed_form`` makes one of an ``Order`` (scripts, tests)
and ``listed_as_order`` the light ``Order`` of one when an ``Order`` is needed (details, tooltips, actions).
Pure Python: the dock's table model (Qt only) and the store's listing share it.
"""
from __future__ import annotations

from .model import Decision, Order, OrderStatus, Status

LISTED_FIELDS = ("connection_id", "id", "api", "name", "status", "raw_status", "raw_sub_status", "decision",
                 "product_id", "updated_at", "acquisition_start", "acquisition_end")
(LISTED_CONNECTION, LISTED_ID, LISTED_API, LISTED_NAME, LISTED_STATUS, LISTED_RAW_STATUS, LISTED_RAW_SUB,
 LISTED_DECISION, LISTED_PRODUCT, LISTED_UPDATED, LISTED_START, LISTED_END) = range(len(LISTED_FIELDS))

_STATUS_VALUES = frozenset(code.value for code in OrderStatus)
_DECISION_VALUES = frozenset(decision.value for decision in Decision)
TERMINAL_STATUS_VALUES = frozenset(code.value for code in OrderStatus if code.is_terminal)


def status_value(code) -> str:
    """A stored status's value, normalised (the full read's ``store._status`` too): unknown ones read as received."""
    return code if code in _STATUS_VALUES else OrderStatus.RECEIVED.value


def decision_value(value) -> str:
    """A stored decision's value, normalised (the full read's ``store._decision`` too): unknown ones read as none."""
    return value if value in _DECISION_VALUES else Decision.NONE.value


def listed_form(order: Order) -> tuple:
    """``order`` as ``listed_orders`` lists it (an ``Order`` a script or test holds, shown by the dock)."""
    status = order.status
    return (order.connection_id, order.id, order.api or "", order.name or "", status.code.value, status.raw or "",
            status.raw_sub, order.decision.value, order.product_id or "", order.updated_at, order.acquisition_start,
            order.acquisition_end)


def listed_as_order(listed: tuple) -> Order:
    """The light ``Order`` of a listed order: what ``light`` makes of the full one."""
    return Order(id=listed[LISTED_ID], connection_id=listed[LISTED_CONNECTION], api=listed[LISTED_API],
                 name=listed[LISTED_NAME],
                 status=Status(OrderStatus(listed[LISTED_STATUS]), listed[LISTED_RAW_STATUS], listed[LISTED_RAW_SUB]),
                 decision=Decision(listed[LISTED_DECISION]), product_id=listed[LISTED_PRODUCT],
                 updated_at=listed[LISTED_UPDATED], acquisition_start=listed[LISTED_START],
                 acquisition_end=listed[LISTED_END])


__all__ = ["LISTED_API", "LISTED_CONNECTION", "LISTED_DECISION", "LISTED_END", "LISTED_FIELDS", "LISTED_ID",
           "LISTED_NAME", "LISTED_PRODUCT", "LISTED_RAW_STATUS", "LISTED_RAW_SUB", "LISTED_START", "LISTED_STATUS",
           "LISTED_UPDATED", "TERMINAL_STATUS_VALUES", "decision_value", "listed_as_order", "listed_form",
           "status_value"]
