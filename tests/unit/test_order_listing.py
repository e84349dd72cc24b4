"""The dock's compact listing of orders agrees with the store's full read (its reference), on both stores, and the
full order read by key is the one the full read gives."""
import gc
from dataclasses import astuple
from datetime import datetime, timedelta, timezone

import pytest

from satellite_tasking.plugin.listed_order import listed_as_order, listed_form
from satellite_tasking.plugin.model import Capture, Decision, Order, OrderStatus, Status
from satellite_tasking.plugin.order_listing import full_order, light, listed_capture_counts, listed_orders
from satellite_tasking.plugin.store import TaskingStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def orders(connection_id: str, count: int) -> list:
    made = []
    for number in range(count):
        code = list(OrderStatus)[number % len(OrderStatus)]
        made.append(Order(
            id=f"{connection_id}-{number}", connection_id=connection_id, name=f"Field {number} “quoted” ' \\",
            status=Status(code, code.value.upper(), "QUOTATION_WAITING" if number % 4 == 0 else None),
            product_id="planet:area", created_at=NOW - timedelta(days=1),
            updated_at=NOW - timedelta(minutes=number) if number % 5 else None,
            acquisition_start=NOW if number % 3 else None, acquisition_end=NOW + timedelta(days=3),
            decision=Decision.QUOTATION if number % 4 == 0 else Decision.NONE,
            geometry={"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
            params={"maxCloudCover": number}, api="planet", raw={"id": f"{connection_id}-{number}",
                                                                 "is_cancellable": number % 2 == 0}))
    return made


def check_listing_agrees(store) -> None:
    store.apply("c1", orders("c1", 12), [Capture(id=f"k{number}", order_id=f"c1-{number % 3}", status="PUBLISHED",
                                                 assessment="SUCCESS" if number % 2 else "INVALID",
                                                 cloud_cover=number / 10) for number in range(5)])
    store.apply("c2", orders("c2", 7), [])
    full = store.orders()
    listed = listed_orders(store)
    # Same orders, same order (last changed first), each a tuple of atoms that Python's collector stops following.
    assert [light(order) for order in full] == [listed_as_order(row) for row in listed]
    assert [listed_form(order) for order in full] == listed
    assert all(type(row) is tuple for row in listed)
    gc.collect()
    assert not any(gc.is_tracked(row) for row in listed)
    for order in full:
        read = full_order(store, order.connection_id, order.id)
        assert read == order and read.raw == order.raw and read.params == order.params
    assert full_order(store, "c1", "gone") is None
    counts = listed_capture_counts(store)
    assert counts == {key: astuple(summary) for key, summary in store.capture_summaries().items()}
    assert counts[("c1", "c1-0")] == (2, 1, 1, 0.0, 2)


def test_listing_agrees_with_the_full_read_on_the_geopackage(tmp_path):
    check_listing_agrees(TaskingStore(tmp_path / "orders.gpkg"))


def test_listing_agrees_with_the_full_read_on_the_shared_store(postgis_conninfo):
    pytest.importorskip("psycopg2")
    from satellite_tasking.plugin.store_postgis import PostgisStore

    check_listing_agrees(PostgisStore(postgis_conninfo, schema="listing"))
