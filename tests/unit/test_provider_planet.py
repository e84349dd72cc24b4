"""PlanetProvider against the sandbox's Planet dialect over real HTTP on 127.0.0.1 (clock frozen, driven here)."""
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import requests

from satellite_tasking.plugin.connection_check import check_connection
from satellite_tasking.plugin.http import RequestRejected, build_session
from satellite_tasking.plugin.model import Aoi, Connection, OrderDraft, OrderStatus
from satellite_tasking.plugin.providers.base import NotSupported
from satellite_tasking.plugin.providers.planet import (
    MAX_CAPTURE_URL_CHARS,
    PlanetProvider,
    describe_refusal,
    unique_order_name,
)
from satellite_tasking.plugin.sandbox import SandboxServer

START = datetime(2026, 1, 5, tzinfo=timezone.utc)
HOUR = 3600
DAY = 24 * HOUR
QUIET = {  # no random rejections, failures or re-assessments unless a test asks for them
    "planet_max_active_orders": 50,
    "planet_rejection_rate": 0.0,
    "planet_capture_failure_rate": 0.0,
    "planet_reassessment_rate": 0.0,
}
POINT = {"type": "Point", "coordinates": [13.4, 52.5]}
LINE = {"type": "LineString", "coordinates": [[13.0, 52.0], [13.3, 52.2]]}
SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}
OPEN_RING = {"type": "Polygon", "coordinates": [[[14.0, 52.0], [14.1, 52.0], [14.1, 52.1], [14.0, 52.1]]]}


def shifted(geometry, dx):
    ring = [[x + dx, y] for x, y in geometry["coordinates"][0]]
    return {"type": "Polygon", "coordinates": [ring]}


def ts(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def sandbox():
    server = SandboxServer(port=0, seed=7, speed=0, settings=QUIET).start()
    yield server
    server.stop()


def make_provider(server, key="sandbox-key", **session_options):
    options = {"timeout": (2, 5), "sleep": lambda s: None}
    options.update(session_options)
    session = build_session("test Planet", "SatelliteTasking/test", **options)
    connection = Connection(id="planet-1", name="test Planet", kind="planet",
                            base_url=server.base_url + "/tasking/v2")
    return PlanetProvider(connection, SimpleNamespace(username=key, password=""), session)


@pytest.fixture
def provider(sandbox):
    provider = make_provider(sandbox)
    yield provider
    provider.session.close()


def control(server, method, path, payload=None):
    response = requests.request(method, server.base_url + path, json=payload, timeout=30)
    response.raise_for_status()
    return response.json()


def advance(server, seconds):
    return control(server, "POST", "/_sandbox/clock", {"advance_seconds": seconds})


def logged(server, method=None, path_part=""):
    entries = control(server, "GET", "/_sandbox/requests")["requests"]
    return [e for e in entries if (method is None or e["method"] == method) and path_part in e["path"]]


def lock_in(start_in=HOUR, days=5, **extra):
    params = {"scheduling_type": "LOCK_IN", "start_time": ts(START + timedelta(seconds=start_in)),
              "end_time": ts(START + timedelta(seconds=start_in) + timedelta(days=days))}
    params.update(extra)
    return params


def draft(product, geometries, params, name="Harbour", reference="qgis-0123456789ab"):
    return OrderDraft(connection_id="planet-1", product_id=product, name=name, params=params,
                      aois=[Aoi(geometry=g, label=f"part {i + 1}") for i, g in enumerate(geometries)],
                      client_reference=reference)


def sandbox_orders(server):
    provider = make_provider(server)
    try:
        return provider.orders()
    finally:
        provider.session.close()


# -- identity and catalogue -------------------------------------------------------------------------

def test_check_names_the_connection_and_is_what_connection_check_uses(sandbox, provider):
    assert provider.check() == "Connected to test Planet: Planet accepted the API key (0 orders)."
    connection = provider.connection
    credentials = SimpleNamespace(username="sandbox-key", password="")
    said = check_connection(connection, credentials,
                            lambda c: build_session(c.name, "SatelliteTasking/test", timeout=(2, 5)))
    assert said == provider.check()
    headers_sent = logged(sandbox, "GET", "/tasking/v2/orders/")
    assert len(headers_sent) == 3 and all(e["status"] == 200 for e in headers_sent)


def test_products_are_the_four_order_kinds(provider):
    products = {p.id: p for p in provider.products()}
    assert list(products) == ["point", "strip", "area", "stereo"]
    assert [products[k].geometry_types for k in products] == [("Point",), ("LineString",), ("Polygon",),
                                                               ("Polygon",)]
    assert not any(p.needs_feasibility or p.needs_quotation for p in products.values())
    assert products["stereo"].extra["order_type"] == "STEREO"
    for product in products.values():
        schema = provider.order_schema(product)
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        assert ("n_stereo_pov" in schema["properties"]) == (product.id == "stereo")
    assert provider.feasibility(None) is None and provider.quotation(None) is None
    with pytest.raises(NotSupported, match="does not offer feasibility"):
        provider.choose_option(None, None)


# -- placing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,geometry,extra", [
    ("point", POINT, {"exclusivity_days": 10}),
    ("strip", LINE, {"sat_elevation_angle_min": 70}),
    ("area", SQUARE, {"max_cloud_cover": 0.1, "satellite_types": ["SKYSAT"]}),
    ("stereo", SQUARE, {"n_stereo_pov": 3}),
])
def test_place_each_kind(sandbox, provider, kind, geometry, extra):
    outcomes = provider.place(draft(kind, [geometry], lock_in(**extra)))
    assert len(outcomes) == 1 and outcomes[0].placed, outcomes[0].error
    order = outcomes[0].order
    assert order.name == "Harbour [qgis-0123456789ab]"
    assert order.product_id == kind
    assert order.status.code == OrderStatus.RECEIVED and order.status.raw == "RECEIVED"
    assert order.acquisition_start == START + timedelta(hours=1)
    assert order.raw["order_type"] == ("STEREO" if kind == "stereo" else "IMAGE")
    assert order.raw["original_geometry"]["type"] == geometry["type"]
    assert order.geometry["type"] == "Polygon"
    for key, value in extra.items():
        assert order.params[key] == value
    assert provider.order(order.id).raw == order.raw


def test_three_aois_one_invalid_gives_two_orders_and_one_clear_error(sandbox, provider):
    outcomes = provider.place(draft("area", [SQUARE, OPEN_RING, shifted(SQUARE, 0.5)], lock_in()))
    assert [o.aoi_index for o in outcomes] == [0, 1, 2]
    assert outcomes[0].placed and outcomes[2].placed and not outcomes[1].placed
    assert outcomes[1].error.startswith("AOI 2 (part 2): Planet refused the order: geometry:")
    assert "closed" in outcomes[1].error
    assert [o.order.name for o in (outcomes[0], outcomes[2])] == ["Harbour 1 [qgis-0123456789ab]",
                                                                  "Harbour 3 [qgis-0123456789ab]"]
    assert len(sandbox_orders(sandbox)) == 2


def test_wrong_geometry_type_and_bad_params_are_refused_before_any_request(sandbox, provider):
    outcomes = provider.place(draft("strip", [LINE, SQUARE], lock_in()))
    assert outcomes[0].placed
    assert outcomes[1].error == "AOI 2: a Planet strip order needs a LineString, not Polygon."
    control(sandbox, "DELETE", "/_sandbox/requests")
    outcomes = provider.place(draft("point", [POINT, POINT], lock_in(sat_elevation_angle_min=95), reference="r2"))
    assert all("sat_elevation_angle_min: 95 is greater than the maximum of 90" in o.error for o in outcomes)
    assert logged(sandbox, "POST") == []
    with pytest.raises(NotSupported, match="no order kind 'video'"):
        provider.place(draft("video", [POINT], lock_in()))


def test_active_order_limit_is_named(sandbox, provider):
    control(sandbox, "POST", "/_sandbox/settings", {"planet_max_active_orders": 2})
    geometries = [shifted(SQUARE, 0.2 * i) for i in range(3)]
    outcomes = provider.place(draft("area", geometries, lock_in()))
    assert sum(o.placed for o in outcomes) == 2
    [refused] = [o for o in outcomes if not o.placed]
    assert refused.error.endswith("Planet refused the order: your organisation reached its maximum number of "
                                  "active orders (2). Wait for orders to finish or cancel some, then retry.")


def test_one_year_limit_is_named(provider):
    outcomes = provider.place(draft("point", [POINT], lock_in(days=400)))
    assert "Planet refused the order: it lasts longer than the one-year maximum" in outcomes[0].error


def test_refusal_sentences_accept_other_drf_shapes():
    def refusal(body_message, fields=None):
        return describe_refusal(RequestRejected("x", "m", 400, body_message, fields or {}))

    assert "maximum number of active orders (7)" in refusal(
        "", {"non_field_errors": ["Organization has reached the limit of 7 active orders"]})
    assert "maximum number of active orders." in refusal("Too many active orders")
    assert "one-year maximum" in refusal("end_time: Order duration exceeds maximum order duration")
    assert refusal("start_time: too early") == "Planet refused the order: start_time: too early"


def test_order_names_stay_readable_and_fit(provider):
    long = draft("point", [POINT, POINT], {}, name="x" * 300)
    name = unique_order_name(long, 1)
    assert len(name) == 255 and name.endswith("x [qgis-0123456789ab]")
    assert unique_order_name(draft("point", [POINT], {}, name="Dam"), 0) == "Dam [qgis-0123456789ab]"


def test_estimate_per_aoi_and_total(sandbox, provider):
    estimate = provider.estimate(draft("area", [SQUARE, OPEN_RING, shifted(SQUARE, 1)], lock_in()))
    assert estimate.unit == "quota km²"
    assert estimate.per_aoi[1] is None and "geometry" in estimate.errors[1]
    assert estimate.per_aoi[0] > 50 and estimate.per_aoi[2] > 50  # ~76 km² at 1.5 quota per km² (LOCK_IN)
    assert estimate.total == pytest.approx(estimate.per_aoi[0] + estimate.per_aoi[2])
    assert sandbox_orders(sandbox) == []
    placed = provider.place(draft("area", [SQUARE], lock_in()))[0].order
    assert placed.raw["estimated_quota_cost"] == pytest.approx(estimate.per_aoi[0])


# -- reading ---------------------------------------------------------------------------------------

def test_orders_follow_next_across_pages(sandbox, provider):
    control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 45, "captures_per_order": 0})
    control(sandbox, "DELETE", "/_sandbox/requests")
    provider.page_size = 10
    orders = provider.orders()
    assert len(orders) == 45 and len({o.id for o in orders}) == 45
    pages = logged(sandbox, "GET", "/tasking/v2/orders/")
    assert len(pages) == 5
    assert [p["query"].get("offset", ["0"])[0] for p in pages] == ["0", "10", "20", "30", "40"]
    assert all(p["query"]["ordering"] == ["-updated_time"] for p in pages)
    assert [o.updated_at for o in orders] == sorted((o.updated_at for o in orders), reverse=True)
    assert {o.status.code for o in orders} == {OrderStatus.COMPLETED, OrderStatus.EXPIRED}


def test_sync_after_full_read_reads_one_page(sandbox, provider):
    control(sandbox, "POST", "/_sandbox/planet/seed_orders",
            {"count": 500, "captures_per_order": 0, "statuses": ["FULFILLED", "EXPIRED", "CANCELLED"]})
    everything = provider.orders()
    assert len(everything) == 500
    last_sync_time = max(o.updated_at for o in everything)
    advance(sandbox, 60)
    touched = control(sandbox, "POST", "/_sandbox/planet/touch", {"count": 3})["touched"]
    control(sandbox, "DELETE", "/_sandbox/requests")
    changed = provider.orders(since=last_sync_time)
    assert sorted(o.id for o in changed) == sorted(touched)
    assert len(logged(sandbox)) == 1 and len(logged(sandbox, "GET", "/tasking/v2/orders/")) == 1


def test_captures_many_orders_few_requests_short_urls(sandbox, provider):
    seeded = control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 300, "captures_per_order": 2})
    orders = provider.orders()  # learns each order's exclusivity days
    assert len(orders) == 300
    control(sandbox, "DELETE", "/_sandbox/requests")
    captures = provider.captures(seeded["order_ids"])
    assert len(captures) == 600 == len({c.id for c in captures})
    requests_made = logged(sandbox, "GET", "/tasking/v2/captures/")
    assert len(logged(sandbox)) == len(requests_made)
    # 300 ids of 36 characters need at least 2 URLs under 6 kB, each with up to 100 captures a page.
    assert 6 <= len(requests_made) <= 8
    for entry in requests_made:
        assert len(entry["query"]["order_id"]) * 46 < MAX_CAPTURE_URL_CHARS
    assert {c.order_id for c in captures} == set(seeded["order_ids"])
    assert all(c.exclusivity_days == 0 for c in captures)
    published = [c for c in captures if c.status == "PUBLISHED"]
    assert published and all(c.exclusivity_end == c.acquired_at for c in published)


def test_listed_orders_and_captures_keep_the_text_planet_sent(sandbox, provider):
    seeded = control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 12, "captures_per_order": 2})
    provider.page_size = 5
    orders = provider.orders()
    pages = [requests.get(sandbox.base_url + "/tasking/v2/orders/", params={"limit": 5, "offset": offset,
                                                                            "ordering": "-updated_time"},
                          headers={"Authorization": "api-key sandbox-key"}, timeout=10).text
             for offset in (0, 5, 10)]
    for order in orders:
        assert order.raw_json and json.loads(order.raw_json) == order.raw
        assert any(order.raw_json in page for page in pages)  # a slice of the answer, not a new encoding
    captures = provider.captures(seeded["order_ids"])
    assert len(captures) == 24
    assert all(c.raw_json and json.loads(c.raw_json) == c.raw for c in captures)
    # Read one by one, an order has no listing text: the store encodes its raw answer itself.
    assert provider.order(orders[0].id).raw_json == ""


def test_capture_streams_are_one_per_batch_of_ids_and_read_nothing_until_iterated(sandbox, provider):
    seeded = control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 300, "captures_per_order": 2})
    provider.orders()
    control(sandbox, "DELETE", "/_sandbox/requests")
    streams = provider.capture_page_streams(seeded["order_ids"])
    assert len(streams) >= 2 and not logged(sandbox)
    by_stream = [[c for page in stream for c in page] for stream in streams]
    assert sum(len(found) for found in by_stream) == 600
    order_sets = [{c.order_id for c in found} for found in by_stream]
    assert all(not (a & b) for i, a in enumerate(order_sets) for b in order_sets[i + 1:])  # batches are disjoint
    assert sorted(c.id for found in by_stream for c in found) == sorted(c.id for c in provider.captures(
        seeded["order_ids"]))


def lifecycle_order(sandbox, provider, days, **params):
    outcome = provider.place(draft("point", [POINT], lock_in(days=days, **params)))[0]
    assert outcome.placed, outcome.error
    return outcome.order


def test_life_fulfilled_with_captures_and_exclusivity(sandbox, provider):
    order = lifecycle_order(sandbox, provider, days=5, max_cloud_cover=1.0, exclusivity_days=10)
    seen = [order.status.code]
    for step in range(60):  # 10 min (accepted before the start in 1 h), then 2-hour steps: 5 days
        advance(sandbox, 600 if step == 0 else 2 * HOUR)
        status = provider.order(order.id).status.code
        if status != seen[-1]:
            seen.append(status)
        if status.is_terminal:
            break
    assert seen == [OrderStatus.RECEIVED, OrderStatus.ACCEPTED, OrderStatus.TASKED, OrderStatus.COMPLETED]
    fresh = provider.captures([order.id])  # a fresh provider would read the order for its exclusivity
    [capture] = fresh
    assert capture.status == "PUBLISHED" and capture.assessment == "SUCCESS" and capture.raw["fulfilling"]
    assert capture.exclusivity_days == 10
    assert capture.exclusivity_end == capture.acquired_at + timedelta(days=10)
    assert capture.acquired_at.tzinfo is not None and capture.footprint["type"] == "Polygon"
    other = make_provider(sandbox)
    control(sandbox, "DELETE", "/_sandbox/requests")
    [again] = other.captures([order.id])
    assert again.exclusivity_end == capture.exclusivity_end
    assert len(logged(sandbox, "GET", f"/orders/{order.id}/")) == 1


def test_life_retasked_after_invalid_then_expired(sandbox, provider):
    order = lifecycle_order(sandbox, provider, days=4, max_cloud_cover=0.0)
    advance(sandbox, 3 * DAY)
    current = provider.order(order.id)
    assert current.status.code == OrderStatus.TASKED
    invalid = [c for c in provider.captures([order.id]) if c.assessment == "INVALID"]
    assert invalid, "a capture should have been assessed INVALID by now"
    since = max(c.updated_at for c in provider.captures([order.id]))
    advance(sandbox, 5 * DAY)
    current = provider.order(order.id)
    assert current.status.code == OrderStatus.EXPIRED and current.status.raw == "EXPIRED"
    captures = provider.captures([order.id])
    assert len(captures) >= 2 and all(c.assessment == "INVALID" for c in captures)
    newer = provider.captures([order.id], since=since)
    assert 0 < len(newer) < len(captures)
    assert all(c.updated_at > since for c in newer)
    assert provider.orders(since=current.updated_at) == []
    just_before = current.updated_at - timedelta(microseconds=1)
    assert [o.id for o in provider.orders(since=just_before)] == [order.id]


def put(provider, order, body):
    return provider.session.json("PUT", f"{provider.base_url}/orders/{order.id}/", json=body)


def test_edit_and_cancel_rules_in_each_state(sandbox, provider):
    pending = lifecycle_order(sandbox, provider, days=20, start_in=3 * DAY)
    received = provider.order(pending.id)
    assert provider.editable_fields(received) == frozenset()  # RECEIVED: cancellable, not editable
    assert provider.can_cancel(received)
    with pytest.raises(NotSupported, match="only while PENDING, REQUESTED or IN_PROGRESS"):
        provider.edit(received, {"name": "renamed"})
    with pytest.raises(RequestRejected, match="cannot be edited"):
        put(provider, received, {"name": "renamed"})

    advance(sandbox, HOUR)
    pending = provider.order(pending.id)
    assert pending.status.raw == "PENDING" and pending.status.code == OrderStatus.ACCEPTED
    assert provider.editable_fields(pending) == {"name", "rank", "start_time", "end_time"}
    new_start = START + timedelta(days=2)
    edited = provider.edit(pending, {"name": "Harbour, later", "start_time": new_start, "rank": 5})
    assert edited.name == "Harbour, later" and edited.acquisition_start == new_start
    assert edited.raw["rank"] == 5 and edited.acquisition_end == pending.acquisition_end

    advance(sandbox, 2 * DAY)
    running = provider.order(pending.id)
    assert running.status.raw == "IN_PROGRESS"
    assert provider.editable_fields(running) == {"name", "rank", "end_time"}
    with pytest.raises(NotSupported, match="only end_time, name, rank can change"):
        provider.edit(running, {"start_time": START + timedelta(days=3)})
    with pytest.raises(RequestRejected, match="start_time can only be changed"):
        put(provider, running, {"start_time": ts(START + timedelta(days=3))})
    later_end = running.acquisition_end + timedelta(days=3)
    assert provider.edit(running, {"end_time": later_end}).acquisition_end == later_end
    assert provider.can_cancel(running)
    cancelled = provider.cancel(running)
    assert cancelled.status.code == OrderStatus.CANCELLED and cancelled.status.raw == "CANCELLED"

    assert provider.editable_fields(cancelled) == frozenset() and not provider.can_cancel(cancelled)
    with pytest.raises(NotSupported, match="only RECEIVED, REQUESTED, PENDING or IN_PROGRESS"):
        provider.cancel(cancelled)
    with pytest.raises(RequestRejected, match="cannot be cancelled"):
        provider.session.request("DELETE", f"{provider.base_url}/orders/{cancelled.id}/")
    with pytest.raises(RequestRejected, match="cannot be edited"):
        put(provider, cancelled, {"name": "again"})


class _CancelAnswersOrder(BaseHTTPRequestHandler):
    """A server that answers DELETE with the cancelled order (the sandbox answers 204)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_DELETE(self):  # noqa: N802 - name fixed by the base class
        self.server.hits.append((self.command, self.path, self.headers.get("Authorization")))
        body = json.dumps({"id": "o-1", "name": "n", "status": "CANCELLED", "order_type": "IMAGE",
                           "updated_time": "2026-01-05T00:00:00.123456Z"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_cancel_accepts_a_json_body_too():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CancelAnswersOrder)
    server.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        provider = make_provider(SimpleNamespace(base_url=base), key="k-123")
        order = provider._order_from({"id": "o-1", "name": "n", "status": "PENDING"})
        cancelled = provider.cancel(order)
        assert cancelled.status.code == OrderStatus.CANCELLED
        assert cancelled.updated_at == datetime(2026, 1, 5, 0, 0, 0, 123456, tzinfo=timezone.utc)
        assert server.hits == [("DELETE", "/tasking/v2/orders/o-1/", "api-key k-123")]
    finally:
        server.shutdown()
        server.server_close()
