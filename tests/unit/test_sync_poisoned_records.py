"""One poisoned record never blocks a connection: it is skipped, counted and named; the rest is stored.

The records come as a provider's parser hands them to the sync (an order whose ``exclusivity_days`` is the
text "30", so its captures' exclusivity end cannot be computed; a field holding an object where a word
belongs). Before issue 15 one such record failed every sync of the connection, storing none of its page.
"""
from datetime import datetime, timezone

from satellite_tasking.plugin.model import Capture, Order, OrderStatus, Status
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection

SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}
WHEN = datetime(2026, 1, 6, tzinfo=timezone.utc)


class PagesProvider:
    """Pages as a provider's parser hands them over (the parse itself is each provider's)."""

    def __init__(self, orders, captures):
        self.order_pages, self.capture_pages = orders, captures

    def iter_order_pages(self, since=None):
        yield from self.order_pages

    def capture_page_streams(self, ids, since=None):
        return [iter(self.capture_pages)]


def orders_of(count, **odd):
    return [Order(id=f"o{i}", connection_id="c", name=f"O{i}", status=Status(OrderStatus.ACCEPTED, "PENDING"),
                  geometry=SQUARE, updated_at=WHEN, raw={"id": f"o{i}"}, **(odd if i == 1 else {}))
            for i in range(count)]


def captures_of(count, **odd):
    return [Capture(id=f"k{i}", order_id=f"o{i}", status="PUBLISHED", acquired_at=WHEN, updated_at=WHEN,
                    **{"exclusivity_days": 30, **(odd if i == 1 else {})}) for i in range(count)]


def test_exclusivity_days_as_text_skips_that_capture_and_stores_the_rest(tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    result = sync_connection(PagesProvider([orders_of(3)], [captures_of(3, exclusivity_days="30")]), store, "c")
    assert result.ok, result.error
    assert sorted(o.id for o in store.orders("c")) == ["o0", "o1", "o2"]
    assert sorted(c.id for c in store.captures("c")) == ["k0", "k2"]
    assert [(r.kind, r.record_id) for r in result.skipped] == [("capture", "k1")]
    assert result.skipped_captures == 1 and result.skipped_orders == 0
    assert "1 capture could not be read and was skipped (first: capture k1:" in result.summary()
    assert "everything else is stored" in result.summary()


def test_an_order_with_an_unstorable_field_is_skipped_with_its_captures_and_the_rest_stored(tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    result = sync_connection(PagesProvider([orders_of(3, product_id={"kind": "area"})], [captures_of(3)]),
                             store, "c")
    assert result.ok, result.error
    assert sorted(o.id for o in store.orders("c")) == ["o0", "o2"]
    assert "k0" in {c.id for c in store.captures("c")}
    assert [(r.kind, r.record_id) for r in result.skipped] == [("order", "o1")]
    assert "1 order could not be read" in result.summary()
    again = sync_connection(PagesProvider([orders_of(3)], [captures_of(3)]), store, "c")
    assert again.ok and sorted(o.id for o in store.orders("c")) == ["o0", "o1", "o2"]


def test_a_listed_order_the_provider_cannot_read_is_skipped_and_the_rest_stored(tmp_path):
    """Over real HTTP: the sandbox's Planet listing with one order whose id is missing (a record the parser
    refuses); the shared isolation skips it and names it, the other order and its captures are stored."""
    import requests

    from satellite_tasking.plugin.model import Aoi, OrderDraft
    from satellite_tasking.plugin.sandbox import SandboxServer

    from .test_sync import LOCK_IN, PARIS, QUIET, make_provider

    server = SandboxServer(port=0, seed=5, speed=0, settings=QUIET).start()
    try:
        provider = make_provider(server.base_url)
        placed = [o.order for o in provider.place(OrderDraft("sandbox-1", "planet:area", "Harbour", dict(LOCK_IN),
                                                             [Aoi(SQUARE), Aoi(PARIS)], "ref-1"))]
        requests.post(server.base_url + "/_sandbox/clock", json={"advance_seconds": 8 * 86400}, timeout=30)
        server.dialects["planet"].orders[placed[0].id]["id"] = None
        store = TaskingStore(tmp_path / "store.gpkg")
        result = sync_connection(make_provider(server.base_url), store, "sandbox-1")
        assert result.ok, result.error
        assert [o.id for o in store.orders("sandbox-1") if o.api == "planet"] == [placed[1].id]
        assert [r.kind for r in result.skipped] == ["order"] and result.skipped_orders == 1
        assert "1 order could not be read and was skipped" in result.summary()
    finally:
        server.stop()
