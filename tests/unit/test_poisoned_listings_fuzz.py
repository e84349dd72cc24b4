"""Poisoned records in real listings (issue 15): one record of a Planet, UP42 or STAPI order listing gets a
field of the wrong type (the sandbox's ``poison`` fault), and a whole ``sync_connection`` runs through it.

Whatever the field and the value, the sync ends without an error, every other order of the listing is stored
as the sandbox has it (and, for Planet, every capture of the other orders), and the poisoned order is either
stored or skipped by name — never the reason the good ones are lost. Driven by hypothesis (derandomized,
bounded); FUZZ_EXAMPLES raises the examples per provider (``make soak`` runs it with more).
"""
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_harness import control, sandbox_provider_for

from satellite_tasking.plugin.providers.planet import RatePacer
from satellite_tasking.plugin.providers.sandbox import SANDBOX_USER
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LISTINGS = {
    "planet": ("/tasking/v2/orders", ["id", "status", "name", "exclusivity_days", "updated_time", "created_time",
                                      "geometry", "geometry.type", "geometry.coordinates", "product", "start_time"]),
    "up42": ("/v2/orders", ["id", "status", "displayName", "updatedAt", "createdAt", "orderDetails",
                            "orderDetails.geometry", "workspaceId", "type"]),
    "stapi": ("/stapi/orders", ["id", "geometry", "properties", "properties.status", "properties.status.status_code",
                                "properties.status.timestamp", "properties.product_id", "properties.created",
                                "properties.search_parameters"]),
}
# No commas in texts: an order id with a comma cannot be asked about (Planet's order_id filter splits on commas;
# the captures listing of that order is refused, and with it the whole sync: a limit this test leaves out).
WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_characters=","), max_size=8),
    st.sampled_from(["30", "", "not a date", "9999-99-99T99:99:99Z", "Polygon"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
CASES = Counter()


def provider_for(server):
    provider = sandbox_provider_for(server, "pz", "Poisoned", session_options={
        "agent": "SatelliteTasking/fuzz", "max_retries": 0, "timeout": (5.0, 30.0)})
    provider.parts["planet"].pace_with(RatePacer.unpaced())
    return provider


@pytest.fixture(scope="module")
def world():
    server = SandboxServer(port=0, seed=515, speed=0).start()
    control(server, "POST", "/_sandbox/planet/seed_orders",
            {"count": 5, "captures_per_order": 2, "statuses": ["IN_PROGRESS", "FULFILLED", "IN_PROGRESS"]})
    control(server, "POST", "/_sandbox/up42/seed_orders", {"count": 4, "username": SANDBOX_USER})
    control(server, "POST", "/_sandbox/stapi/seed_orders", {"count": 4})
    truth = provider_for(server)
    orders = {o.id: o for o in truth.orders()}
    captures = {c.id: c for c in truth.captures([i for i, o in orders.items() if o.api == "planet"])}
    assert {o.api for o in orders.values()} == set(LISTINGS)
    yield server, orders, captures
    server.stop()


@pytest.mark.parametrize("api", sorted(LISTINGS))
@SETTINGS
@given(data=st.data())
def test_one_poisoned_record_leaves_the_others_stored(world, tmp_path_factory, api, data):
    mine = sorted(i for i, o in world[1].items() if o.api == api)
    target = data.draw(st.sampled_from(mine), label="record")
    field = data.draw(st.sampled_from(LISTINGS[api][1]), label="field")
    value = data.draw(WRONG, label="value")
    check_poisoned_sync(world, tmp_path_factory, api, target, field, value)


@pytest.mark.parametrize(("api", "field", "value"), [
    ("planet", "exclusivity_days", "30"),  # the example: its captures cannot be read
    ("planet", "id", [0, 0]),  # read as the text "[0, 0]" before, whose captures listing failed the whole sync
    ("planet", "status", 7),
    ("up42", "id", {"poisoned": True}),
    ("up42", "status", 7),
    ("stapi", "id", None),
    ("stapi", "properties.status", 7),
])
def test_named_poisons(world, tmp_path_factory, api, field, value):
    target = sorted(i for i, o in world[1].items() if o.api == api)[1]
    check_poisoned_sync(world, tmp_path_factory, api, target, field, value)


def check_poisoned_sync(world, tmp_path_factory, api, target, field, value):
    server, orders, captures = world
    prefix = LISTINGS[api][0]
    control(server, "POST", "/_sandbox/faults",
            {"kind": "poison", "prefix": prefix, "id": target, "field": field, "value": value})
    try:
        store = TaskingStore(tmp_path_factory.mktemp("poisoned") / "store.gpkg")
        result = sync_connection(provider_for(server), store, "pz")
        applied = control(server, "GET", "/_sandbox/faults")["rules"][0]["applied"]
    finally:
        control(server, "DELETE", "/_sandbox/faults")
    assert applied >= 1
    assert result.ok, (field, value, result.error)
    stored = {o.id: o for o in store.orders("pz")}
    for order_id, want in orders.items():
        if order_id == target:
            continue
        got = stored.get(order_id)
        assert got is not None, (field, value, f"good order {order_id} lost", result.skipped)
        assert (got.status, got.name) == (want.status, want.name), (field, value, order_id)
        assert abs((got.updated_at - want.updated_at).total_seconds()) < 0.001, (field, value, order_id)
    stored_captures = {c.id for c in store.captures("pz")}
    lost = [i for i, c in captures.items() if c.order_id != target and i not in stored_captures]
    assert not lost, (field, value, lost, result.skipped)
    named = {s.record_id for s in result.skipped}
    others = {i for i in orders if i != target} | {i for i, c in captures.items() if c.order_id != target}
    assert not named & others, (field, value, result.skipped)
    # Nothing else was named above: what was skipped is the poisoned order (named "?" without an id) or its
    # captures.
    skipped_target = bool(result.skipped)
    # Stored under the id it was given (an id of the wrong type is read as text), or skipped by name.
    renamed = set(stored) - set(orders)
    kept = target in stored or len(renamed) == 1
    CASES[(api, "skipped" if skipped_target else "stored" if kept else "lost")] += 1
    assert kept or skipped_target, (field, value, "the poisoned order was neither stored nor named as skipped")

def test_report_poisoned_cases(capsys):
    with capsys.disabled():
        print("\n[fuzz poisoned listings] " + ", ".join(f"{api} {how} {n}" for (api, how), n in sorted(CASES.items())))
