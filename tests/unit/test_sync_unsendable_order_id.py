"""An order id that cannot be sent safely isolates only that order's captures, never the connection's sync.

Planet's captures are read one order at a time (``order_id=<one id>``), and Planet's multi-value filters split
one parameter at its commas, so an id holding a comma would be asked for as two orders (the strict sandbox
answers 400 "Give one order id."). Before, that one answer failed every sync of the connection.
"""
import pytest

from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection

from .test_sync import QUIET, control, make_provider

ODD_ID = "a1,b2"


@pytest.fixture
def server():
    sandbox = SandboxServer(port=0, seed=5, speed=0, settings=QUIET).start()
    yield sandbox
    sandbox.stop()


def test_an_order_id_with_a_comma_skips_its_captures_names_it_and_the_rest_is_synced(server, tmp_path):
    seeded = control(server, "POST", "/_sandbox/planet/seed_orders",
                     {"count": 3, "captures_per_order": 2, "statuses": ["FULFILLED"]})["order_ids"]
    # Every orders listing shows the first seeded order under an id with a comma.
    control(server, "POST", "/_sandbox/faults", {"kind": "poison", "prefix": "/tasking/v2/orders",
                                                 "method": "GET", "field": "id", "value": ODD_ID,
                                                 "id": seeded[0]})
    control(server, "DELETE", "/_sandbox/requests")
    store = TaskingStore(tmp_path / "store.gpkg")

    result = sync_connection(make_provider(server.base_url), store, "sandbox-1")

    assert result.ok, result.error
    stored = {o.id for o in store.orders("sandbox-1")}
    assert stored == {ODD_ID, *seeded[1:]}  # the order itself is kept
    captured = {c.order_id for c in store.captures("sandbox-1")}
    assert captured == set(seeded[1:])
    assert len(store.captures("sandbox-1")) == 4
    assert [(r.kind, r.record_id) for r in result.skipped] == [("order", ODD_ID)]
    assert "comma" in result.skipped[0].reason
    assert f"order {ODD_ID}: its captures were not read" in result.summary()
    # Nothing was sent for it: no request split the id.
    asked = [e["query"] for e in control(server, "GET", "/_sandbox/requests")["requests"]
             if e["path"].startswith("/tasking/v2/captures")]
    assert all(ODD_ID not in str(query) for query in asked) and len(asked) == 2
