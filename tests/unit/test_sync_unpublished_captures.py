"""A FULFILLED Planet order is followed until its captures are PUBLISHED, slowly.

planet.md "Order object and statuses": never treat FULFILLED as final for polling purposes until captures are
PUBLISHED; keep polling slowly. Planet does not say that an order's ``updated_time`` moves when one of its
captures is published, so the sandbox runs with ``planet_publication_touches_order`` off: only the capture
changes. Before this, a sync never read the captures of an unchanged FULFILLED order again, and the capture
stayed "PROCESSING" in the store for good.
"""
from datetime import datetime, timedelta, timezone

import pytest

from satellite_tasking.plugin.providers.planet import UNPUBLISHED_FOLLOW_HORIZON, UNPUBLISHED_FOLLOW_INTERVAL
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection

from .test_sync import QUIET, control, make_provider

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def sandbox_now(server) -> datetime:
    return datetime.fromisoformat(control(server, "GET", "/_sandbox/clock")["now"].replace("Z", "+00:00"))


@pytest.fixture
def server():
    sandbox = SandboxServer(port=0, seed=5, speed=0,
                            settings={**QUIET, "planet_publication_touches_order": False}).start()
    yield sandbox
    sandbox.stop()


def capture_requests(server) -> list:
    return [e for e in control(server, "GET", "/_sandbox/requests")["requests"]
            if e["path"].startswith("/tasking/v2/captures")]


def statuses(store) -> dict:
    return {c.order_id: sorted(x.status for x in store.captures("sandbox-1", c.order_id))
            for c in store.captures("sandbox-1")}


def test_a_fulfilled_order_with_a_processing_capture_is_followed_until_it_is_published(server, tmp_path):
    seeded = control(server, "POST", "/_sandbox/planet/seed_orders",
                     {"count": 2, "captures_per_order": 2, "statuses": ["FULFILLED"], "unpublished_hours": 2})
    done = control(server, "POST", "/_sandbox/planet/seed_orders",
                   {"count": 1, "captures_per_order": 1, "statuses": ["FULFILLED"], "name_prefix": "done"})
    store = TaskingStore(tmp_path / "store.gpkg")
    provider = make_provider(server.base_url)
    t0 = sandbox_now(server)

    first = sync_connection(provider, store, "sandbox-1", now=lambda: t0)
    assert first.ok, first.error
    stored = {o.id: o.status.raw for o in store.orders("sandbox-1")}
    assert all(stored[i] == "FULFILLED" for i in seeded["order_ids"] + done["order_ids"])
    for order_id in seeded["order_ids"]:
        assert "PROCESSING" in statuses(store)[order_id]

    # The captures are published; the orders themselves do not change.
    control(server, "POST", "/_sandbox/clock", {"advance_seconds": 3 * 3600})
    control(server, "DELETE", "/_sandbox/requests")

    # Within the slow interval nothing is read again ...
    soon = sync_connection(provider, store, "sandbox-1", now=lambda: t0 + timedelta(minutes=1))
    assert soon.ok, soon.error
    assert capture_requests(server) == []
    assert "PROCESSING" in statuses(store)[seeded["order_ids"][0]]

    # ... after it, exactly the FULFILLED orders with unpublished captures are (not the settled one).
    later = t0 + UNPUBLISHED_FOLLOW_INTERVAL + timedelta(minutes=1)
    followed = sync_connection(provider, store, "sandbox-1", now=lambda: later)
    assert followed.ok, followed.error
    asked = sorted(e["query"]["order_id"][0] if isinstance(e["query"]["order_id"], list) else e["query"]["order_id"]
                   for e in capture_requests(server))
    assert asked == sorted(seeded["order_ids"])
    for order_id in seeded["order_ids"]:
        assert statuses(store)[order_id] == ["PUBLISHED", "PUBLISHED"]
    assert followed.captures_updated == 2

    # All published now: nothing is followed any more.
    control(server, "DELETE", "/_sandbox/requests")
    quiet = sync_connection(provider, store, "sandbox-1", now=lambda: later + 2 * UNPUBLISHED_FOLLOW_INTERVAL)
    assert quiet.ok, quiet.error
    assert capture_requests(server) == []


def test_an_order_unchanged_for_longer_than_the_horizon_is_no_longer_followed(server, tmp_path):
    """A capture that will never be published (FAILED, or stuck) does not keep its order followed for ever."""
    control(server, "POST", "/_sandbox/planet/seed_orders",
            {"count": 1, "captures_per_order": 1, "statuses": ["FULFILLED"], "unpublished_hours": 2})
    store = TaskingStore(tmp_path / "store.gpkg")
    provider = make_provider(server.base_url)
    t0 = sandbox_now(server)
    assert sync_connection(provider, store, "sandbox-1", now=lambda: t0).ok
    control(server, "DELETE", "/_sandbox/requests")
    much_later = t0 + UNPUBLISHED_FOLLOW_HORIZON + timedelta(days=1)
    assert sync_connection(provider, store, "sandbox-1", now=lambda: much_later).ok
    assert capture_requests(server) == []


def test_a_provider_without_the_rule_follows_no_final_order(tmp_path):
    """The base rule: a final status is final (UP42, STAPI); the store is not even asked."""
    from satellite_tasking.plugin.capture_publication import final_orders_awaiting_publication
    from satellite_tasking.plugin.providers.base import TaskingProvider

    class Store:
        def capture_summaries(self):
            raise AssertionError("the store should not be read")

    provider = TaskingProvider.__new__(TaskingProvider)
    assert final_orders_awaiting_publication(provider, Store(), "c", T0) == []
