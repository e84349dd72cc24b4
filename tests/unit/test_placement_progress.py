"""Per-AOI placement progress and cancelled placements, against the sandbox (UP42, Planet, STAPI) on 127.0.0.1."""
import threading

import pytest
import requests
from sandbox_harness import UP42_OPTICAL, control, sandbox_provider_for
from sandbox_harness import UP42_OPTICAL_PARAMS as OPTICAL_PARAMS

from satellite_tasking.plugin.http import RequestCancelled, cancellable
from satellite_tasking.plugin.model import Aoi, OrderDraft
from satellite_tasking.plugin.providers.base import PlacementProgress
from satellite_tasking.plugin.providers.stapi import END_FIELD, START_FIELD
from satellite_tasking.plugin.sandbox.stapi import PRODUCT_UUIDS, default_parameters

QUIET = {"planet_max_active_orders": 100, "planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
         "planet_reassessment_rate": 0.0, "up42_failure_rate": 0.0}
PLANET_AREA = "planet:area"
LOCK_IN = {"start_time": "2026-01-06T01:00:00Z", "end_time": "2026-01-12T01:00:00Z"}
OPTICAL = f"up42:{UP42_OPTICAL}"
SAR = "capella-tasking-sar"
SAR_PARAMS = {**default_parameters(PRODUCT_UUIDS[SAR]), "polarization": "VV",
              START_FIELD: "2026-01-10T00:00:00Z", END_FIELD: "2026-01-20T00:00:00Z"}
POINT = {"type": "Point", "coordinates": [13.4, 52.5]}
PLANET_ORDERS = r"^/tasking/v2/orders/?$"


def square(index):
    x, y = 10.0 + (index % 10) * 0.2, 50.0 + (index // 10) * 0.2
    return {"type": "Polygon", "coordinates": [[[x, y], [x + 0.05, y], [x + 0.05, y + 0.05], [x, y + 0.05], [x, y]]]}


@pytest.fixture
def server(start_sandbox):
    return start_sandbox(seed=3, settings=QUIET)


@pytest.fixture
def provider(server):
    made = sandbox_provider_for(server)
    yield made
    made.session.close()


def draft(product, params, geometries, reference):
    return OrderDraft(connection_id="sandbox", product_id=product, name="Progress", params=dict(params),
                      aois=[Aoi(geometry=g) for g in geometries], client_reference=reference)


class Steps:
    """A progress callback that remembers its calls and the threads they came from."""

    def __init__(self, then=None):
        self.calls = []
        self.threads = set()
        self.then = then

    def __call__(self, done, total):
        self.calls.append((done, total))
        self.threads.add(threading.get_ident())
        if self.then is not None:
            self.then(done, total)


def planet_orders_named_with(server, reference):
    """Every Planet order whose name carries the reference, duplicates included."""
    page = requests.get(f"{server.base_url}/tasking/v2/orders/", params={"name__icontains": reference, "limit": 1000},
                        headers={"Authorization": "api-key sandbox-api-key"}, timeout=10).json()
    assert not page["next"]
    return page["results"]


def posts(server, path_end):
    return [e for e in control(server, "GET", "/_sandbox/requests")["requests"]
            if e["method"] == "POST" and e["path"].rstrip("/").endswith(path_end)]


# -- progress -------------------------------------------------------------------------------

def test_planet_reports_each_aoi_as_it_is_answered_on_the_calling_thread(provider):
    steps = Steps()
    geometries = [square(i) for i in range(5)] + [POINT]  # the point is refused before any request
    outcomes = provider.place(draft(PLANET_AREA, LOCK_IN, geometries, "qgis-progress-planet"), progress=steps)
    assert [o.placed for o in outcomes] == [True] * 5 + [False]
    assert steps.calls == [(done, 6) for done in range(1, 7)]
    assert steps.threads == {threading.get_ident()}, "never from Planet's worker threads"


def test_up42_answers_the_whole_batch_at_once(provider):
    geometries = [square(i) for i in range(3)]
    order = draft(OPTICAL, OPTICAL_PARAMS, geometries, "qgis-progress-up42")
    first = Steps()
    [one] = provider.place(order, only=[1], progress=first)
    assert one.placed and first.calls == [(1, 1)]
    steps = Steps()
    outcomes = provider.place(order, progress=steps)
    assert all(o.placed for o in outcomes) and outcomes[1].order.id == one.order.id
    # AOI 2 already had its order (known at once), the other two came in one answer.
    assert steps.calls == [(1, 3), (3, 3)]


def test_stapi_reports_each_order(provider):
    steps = Steps()
    outcomes = provider.place(draft(f"stapi:{SAR}", SAR_PARAMS, [square(i) for i in range(3)], "qgis-progress-stapi"),
                              progress=steps)
    assert all(o.placed for o in outcomes), [o.error for o in outcomes]
    assert steps.calls == [(1, 3), (2, 3), (3, 3)]


def test_refused_parameters_finish_in_one_step(provider):
    steps = Steps()
    outcomes = provider.place(draft(PLANET_AREA, {"sat_elevation_angle_min": 95}, [square(0), square(1)],
                                    "qgis-progress-refused"), progress=steps)
    assert not any(o.placed for o in outcomes)
    assert steps.calls == [(2, 2)]


def test_a_failing_progress_callback_loses_no_order(provider, server):
    def broken(done, total):
        raise RuntimeError("progress bar gone")

    order = draft(PLANET_AREA, LOCK_IN, [square(0), square(1)], "qgis-progress-broken")
    outcomes = provider.place(order, progress=broken)
    assert all(o.placed for o in outcomes)
    assert len(planet_orders_named_with(server, "qgis-progress-broken")) == 2


def test_placement_progress_counts_up_to_the_total_only():
    steps = Steps()
    progress = PlacementProgress(steps, 3)
    progress.advance(0)
    progress.advance(2)
    progress.advance(5)
    progress.finish()
    assert steps.calls == [(2, 3), (3, 3)]
    PlacementProgress(None, 2).finish()  # no callback: nothing to call


# -- cancellation ----------------------------------------------------------------------------

def test_a_cancelled_planet_placement_keeps_what_was_placed_and_never_places_twice(provider, server):
    # Slow answers: 4 POSTs in flight at a time, the cancel comes with the first answer, so the last
    # AOIs of the 12 are still waiting for a worker and must not be sent.
    control(server, "POST", "/_sandbox/faults", {"path": PLANET_ORDERS, "method": "POST", "kind": "delay",
                                                 "seconds": 0.3})
    reference = "qgis-progress-cancel"
    order = draft(PLANET_AREA, LOCK_IN, [square(i) for i in range(12)], reference)
    cancel = threading.Event()
    steps = Steps(then=lambda done, total: cancel.set())
    with cancellable(cancel):
        outcomes = provider.place(order, progress=steps)

    placed = [o for o in outcomes if o.placed]
    refused = [o for o in outcomes if not o.placed]
    assert placed and len(refused) >= 4, [o.error for o in outcomes]
    assert all("cancelled before the order was sent" in o.error for o in refused), [o.error for o in refused]
    assert steps.calls[-1] == (12, 12)
    # What was sent is what was placed: nothing refused reached the provider.
    assert len(posts(server, "/tasking/v2/orders")) == len(placed)
    assert len(planet_orders_named_with(server, reference)) == len(placed)

    # "Retry failed" later: the rest is placed, the first ones are found, not ordered again.
    control(server, "DELETE", "/_sandbox/faults")
    again = provider.place(order, only=[o.aoi_index for o in refused])
    assert all(o.placed for o in again)
    names = [o["name"] for o in planet_orders_named_with(server, reference)]
    assert len(names) == len(set(names)) == 12
    assert {o.aoi_index: o.order.id for o in placed}.items() <= {
        i: o.id for i, o in provider.placed_orders(order).items()}.items()


def test_a_cancelled_up42_placement_sends_no_order(provider, server):
    order = draft(OPTICAL, OPTICAL_PARAMS, [square(0), square(1)], "qgis-progress-up42-cancel")
    with cancellable(lambda: True), pytest.raises(RequestCancelled) as info:
        provider.place(order)
    assert "was not sent" in str(info.value)
    assert posts(server, "/v2/orders") == []
    assert provider.placed_orders(order) == {}
