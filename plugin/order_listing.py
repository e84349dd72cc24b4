"""The dock's compact read of the orders, from either store (the GeoPackage, the team's PostGIS).

A table row shows an order's name, state, product, window and last change; it never shows the order's
raw record, its parameters or its geometry, and decoding those three JSON texts is most of a full read
(20,000 orders: ~0.6 s full, ~0.15 s listed, on the machine of tests/bench/bench_dock.py). So the dock
lists *light* orders (``params``, ``raw`` and ``geometry`` left empty) and reads the one order selected
in full, by its key (``full_order``), before it shows its details or offers actions on it: providers
decide those from the raw record (Planet's ``is_cancellable``).

Each listed order is a plain tuple of atoms (``listed_order``), which Python's collector soon stops following.

The full read of ``TaskingStore.orders()`` stays the reference: a test checks that a listed order equals
the full one but for the three fields left out. Runs in background tasks (the listing) or on the GUI
thread (one order, by key).
"""
from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Optional

from .listed_order import decision_value, status_value
from .model import Order
from .store import (
    BUSY_TIMEOUT_MS,
    ORDERS_TABLE,
    _decision,
    _loads,
    _part_from,
    _status,
    _stored_raw,
    _utc,
    parse_stored_time,
)

# What a row needs, in this order; created_at is only in the details (read in full).
LISTED_COLUMNS = ("connection_id, order_id, api, name, status, raw_status, raw_sub_status, decision, product_id, "
                  "updated_at, acquisition_start, acquisition_end")
_FULL_COLUMNS = ("connection_id, order_id, api, name, status, raw_status, raw_sub_status, decision, product_id, "
                 "created_at, updated_at, acquisition_start, acquisition_end, geometry_json, params, raw")


def _is_shared(store) -> bool:
    return bool(getattr(store, "shared", False))


def _gpkg_rows(store, query: str, args: tuple = ()) -> list:
    """Rows of the GeoPackage through a connection of its own, opened read-only: a listing never writes and
    never waits behind a sync's write (SQLite readers see the last commit)."""
    db = sqlite3.connect(f"{store.path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        return db.execute(query, args).fetchall()
    finally:
        db.close()


def listed_orders(store) -> list:
    """Every stored order, last changed first, light (without its raw record, parameters and geometry), each as a
    tuple of ``listed_order.LISTED_FIELDS``."""
    if _is_shared(store):
        rows = store._query_raw(f"SELECT {LISTED_COLUMNS} FROM {store._table(ORDERS_TABLE)} "  # nosec B608  # constant names
                                f"ORDER BY updated_at DESC NULLS LAST, fid DESC")
        moment = _utc  # psycopg2 gives datetimes
    else:
        rows = _gpkg_rows(store, f"SELECT {LISTED_COLUMNS} FROM {ORDERS_TABLE} "  # nosec B608  # constant names
                                 f"ORDER BY updated_at DESC, fid DESC")
        moment = parse_stored_time
    return [(r[0], r[1], r[2] or "", r[3] or "", status_value(r[4]), r[5] or "", r[6], decision_value(r[7]),
             r[8] or "", moment(r[9]), moment(r[10]), moment(r[11]))
            for r in rows]


def listed_capture_counts(store) -> dict:
    """(connection id, order id) -> (published, successful, invalid, best cloud cover, total), as
    ``store.capture_summaries()`` counts them, as plain tuples of numbers: Python's collector stops following them
    at its first look (20,000 ``CaptureSummary`` objects, even held only while the counts are read, set off one of
    its full passes in QGIS's process)."""
    return store.capture_counts()


def full_order(store, connection_id: str, order_id: str) -> Optional[Order]:
    """One stored order in full, read by its key (None when the store no longer has it)."""
    if _is_shared(store):
        return store.order(connection_id, order_id)  # keyed there
    rows = _gpkg_rows(store, f"SELECT {_FULL_COLUMNS} FROM {ORDERS_TABLE} "  # nosec B608  # constant names
                             f"WHERE connection_id = ? AND order_id = ?", (connection_id, order_id))
    if not rows:
        return None
    r = rows[0]
    raw, raw_json = _stored_raw(r[15])
    return Order(id=r[1], connection_id=r[0], api=r[2] or "", name=r[3] or "", status=_status(r[4], r[5], r[6]),
                 decision=_decision(r[7]), product_id=r[8] or "", created_at=parse_stored_time(r[9]),
                 updated_at=parse_stored_time(r[10]), acquisition_start=parse_stored_time(r[11]),
                 acquisition_end=parse_stored_time(r[12]), geometry=_part_from(r[13], raw),
                 params=_loads(r[14], {}), raw=raw, raw_json=raw_json)


def light(order: Order) -> Order:
    """``order`` as ``listed_orders`` gives it (for comparing a listing with the full read)."""
    return replace(order, created_at=None, geometry=None, params={}, raw={}, raw_json="")


__all__ = ["LISTED_COLUMNS", "full_order", "light", "listed_capture_counts", "listed_orders"]
