"""Poisoned records, tried systematically: whatever values a parser lets through, a store write never fails
as a whole; each record is stored or skipped (and named), and the two add up to what was given."""
import os
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from satellite_tasking.plugin.model import Capture, Order, OrderStatus, Status
from satellite_tasking.plugin.store import TaskingStore

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
WHEN = datetime(2026, 1, 6, tzinfo=timezone.utc)
SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.just(object()))
ORDER_FIELDS = ["name", "product_id", "geometry", "params", "raw", "api"]
CAPTURE_FIELDS = ["status", "assessment", "cloud_cover", "footprint", "exclusivity_days", "raw"]


def an_order(i, poison):
    order = Order(id=f"o{i}", connection_id="c", name=f"O{i}", status=Status(OrderStatus.ACCEPTED, "PENDING"),
                  geometry=SQUARE, updated_at=WHEN, raw={"id": f"o{i}"})
    for name, value in poison.items():
        setattr(order, name, value)
    return order


def a_capture(i, poison):
    capture = Capture(id=f"k{i}", order_id=f"o{i % 3}", status="PUBLISHED", acquired_at=WHEN, updated_at=WHEN,
                      raw={"id": f"k{i}"})
    for name, value in poison.items():
        setattr(capture, name, value)
    return capture


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(order_poison=st.dictionaries(st.sampled_from(ORDER_FIELDS), JUNK, max_size=2),
       capture_poison=st.dictionaries(st.sampled_from(CAPTURE_FIELDS), JUNK, max_size=2),
       poisoned=st.integers(0, 2))
def test_a_poisoned_record_is_stored_or_skipped_never_the_end_of_the_write(tmp_path_factory, order_poison,
                                                                           capture_poison, poisoned):
    store = TaskingStore(tmp_path_factory.mktemp("rows") / "store.gpkg")
    orders = [an_order(i, order_poison if i == poisoned else {}) for i in range(3)]
    captures = [a_capture(i, capture_poison if i == poisoned else {}) for i in range(6)]
    applied = store.apply("c", orders, captures)
    skipped_orders = {r.record_id for r in applied.skipped if r.kind == "order"}
    skipped_captures = {r.record_id for r in applied.skipped if r.kind == "capture"}
    assert all(r.reason for r in applied.skipped)
    assert len(store.orders("c")) + len(skipped_orders) == 3
    assert len(store.captures("c")) + len(skipped_captures) == 6
    assert {o.id for o in store.orders("c")} == {o.id for o in orders} - skipped_orders
