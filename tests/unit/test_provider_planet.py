"""PlanetProvider against the sandbox's Planet dialect over real HTTP on 127.0.0.1 (clock frozen, driven here)."""
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import requests
from sandbox_harness import DAY, HOUR, QUIET, control, planet_provider_for

from satellite_tasking.plugin.connection_check import check_connection
from satellite_tasking.plugin.http import ProviderTimeout, RequestRejected, build_session
from satellite_tasking.plugin.model import Aoi, OrderDraft, OrderStatus
from satellite_tasking.plugin.providers.base import NotSupported
from satellite_tasking.plugin.providers.planet import (
    RatePacer,
    describe_refusal,
    describe_window,
    monitoring_rrule,
    normalise_status,
    rrule_problem,
    unique_order_name,
)
from satellite_tasking.plugin.sandbox.core import DEFAULT_START as START

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
def sandbox(start_sandbox):
    return start_sandbox(seed=7, settings=QUIET)


def make_provider(server, key="sandbox-key", pacer=None, **session_options):
    return planet_provider_for(server, key, pacer=pacer, session_options=session_options)


@pytest.fixture
def provider(sandbox):
    provider = make_provider(sandbox)
    yield provider
    provider.session.close()


def advance(server, seconds):
    return control(server, "POST", "/_sandbox/clock", {"advance_seconds": seconds})


def logged(server, method=None, path_part=""):
    entries = control(server, "GET", "/_sandbox/requests")["requests"]
    return [e for e in entries if (method is None or e["method"] == method) and path_part in e["path"]]


def flexible(start_in=HOUR, days=5, **extra):
    """A Flexible order's window (the sandbox does not enforce the dashboard's 24 h / 14 day rules by default)."""
    params = {"start_time": ts(START + timedelta(seconds=start_in)),
              "end_time": ts(START + timedelta(seconds=start_in) + timedelta(days=days))}
    params.update(extra)
    return params


def settings(server, **values):
    return control(server, "POST", "/_sandbox/settings", values)


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


def test_products_are_the_documented_order_kinds(provider):
    products = {p.id: p for p in provider.products()}
    assert list(products) == ["point", "strip", "area", "monitoring", "assured"]
    assert [products[k].geometry_types for k in products] == [("Point",), ("LineString",), ("Polygon",),
                                                               ("Point", "LineString"), ("Point",)]
    assert not any(p.needs_feasibility or p.needs_quotation for p in products.values())
    for product in products.values():
        schema = provider.order_schema(product)
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        assert not {"max_cloud_cover", "n_stereo_pov", "order_type", "satellite_types",
                    "exclusivity_days", "scheduling_type"} & set(schema["properties"])
        assert "pl_number" not in schema["required"] or product.id == "assured"
        assert "product" not in schema["required"]
    assert provider.feasibility(None) is None and provider.quotation(None) is None
    with pytest.raises(NotSupported, match="does not offer feasibility"):
        provider.choose_option(None, None)


# -- placing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,geometry,extra", [
    ("point", POINT, {"pl_number": "PL-123456"}),
    ("strip", LINE, {"sat_elevation_angle_min": 70}),
    ("area", SQUARE, {"product": "Flexible Tasking"}),
])
def test_place_each_kind(sandbox, provider, kind, geometry, extra):
    outcomes = provider.place(draft(kind, [geometry], flexible(**extra)))
    assert len(outcomes) == 1 and outcomes[0].placed, outcomes[0].error
    order = outcomes[0].order
    assert order.name == "Harbour [qgis-0123456789ab]"
    assert order.product_id == kind
    assert order.status.code == OrderStatus.RECEIVED and order.status.raw == "RECEIVED"
    assert order.acquisition_start == START + timedelta(hours=1)
    assert order.raw["original_geometry"]["type"] == geometry["type"]
    assert order.geometry["type"] == "Polygon"
    for key, value in extra.items():
        assert order.params[key] == value
    # Created, then read again: POST /orders/ and GET /orders/<id>.
    assert [e["method"] for e in logged(sandbox, path_part=order.id)] == ["GET"]
    assert provider.order(order.id).raw == order.raw


def test_pl_number_and_product_may_be_left_out(sandbox, provider):
    outcome = provider.place(draft("point", [POINT], {"pl_number": "", "product": None}))[0]
    assert outcome.placed, outcome.error
    assert outcome.order.raw["pl_number"] == "PL-SANDBOX"  # the API key's default contract


def test_monitoring_order_sends_the_recurrence_built_from_the_form(sandbox, provider):
    params = {"start_time": ts(START + timedelta(days=2)), "rrule_frequency": "WEEKLY", "rrule_interval": 2,
              "rrule_count": 5}
    outcome = provider.place(draft("monitoring", [LINE], params))[0]
    assert outcome.placed, outcome.error
    order = outcome.order
    assert order.product_id == "monitoring"
    assert order.raw["scheduling_type"] == "MONITORING" and order.raw["rrule"] == "FREQ=WEEKLY;COUNT=5;INTERVAL=2"
    [sent] = [e for e in logged(sandbox, "POST", "/orders/")]
    assert sent["status"] == 201
    # end_time is ignored for Monitoring: the sandbox derives it from the recurrence.
    assert order.acquisition_end == START + timedelta(days=2 + 5 * 14)
    refused = provider.place(draft("monitoring", [SQUARE], params, reference="r2"))[0]
    assert refused.error == "AOI 1: a Planet monitoring order needs a Point or a LineString, not Polygon."


@pytest.mark.parametrize("params,problem", [
    ({"rrule_frequency": "WEEKLY", "rrule_count": 366}, "366 is greater than the maximum of 365"),
    ({"rrule_frequency": "YEARLY", "rrule_count": 2}, "'YEARLY' is not valid"),
    ({"rrule": "FREQ=HOURLY;COUNT=3"}, "does not accept a HOURLY recurrence"),
    ({"rrule": "FREQ=YEARLY;COUNT=3"}, "does not accept a YEARLY recurrence"),
    ({"rrule": "FREQ=DAILY;BYYEARDAY=3;COUNT=3"}, "BYYEARDAY"),
    ({"rrule": "FREQ=WEEKLY;INTERVAL=1"}, "needs a COUNT"),
    ({"rrule": "FREQ=WEEKLY;COUNT=400"}, "at most 365"),
])
def test_monitoring_limits_are_checked_before_sending(sandbox, provider, params, problem):
    outcome = provider.place(draft("monitoring", [POINT], {"start_time": ts(START + timedelta(days=2)), **params}))[0]
    assert not outcome.placed and problem in outcome.error
    assert logged(sandbox, "POST") == []


def test_monitoring_early_start_with_days_named_in_the_rule(sandbox, provider):
    params = {"start_time": ts(START + timedelta(days=2)), "rrule": "FREQ=WEEKLY;COUNT=4;INTERVAL=1;BYDAY=MO",
              "early_start": True}
    outcome = provider.place(draft("monitoring", [POINT], params))[0]
    assert outcome.placed, outcome.error
    refused = provider.place(draft("point", [POINT], {"early_start": True}, reference="r2"))[0]
    assert "early_start" in refused.error  # Monitoring only: not in the point form


def test_rrule_text_and_form_agree():
    assert monitoring_rrule({"rrule_frequency": "DAILY", "rrule_count": 3}) == "FREQ=DAILY;COUNT=3;INTERVAL=1"
    assert monitoring_rrule({"rrule": " FREQ=WEEKLY;COUNT=4;INTERVAL=1;BYDAY=MO "}) == \
        "FREQ=WEEKLY;COUNT=4;INTERVAL=1;BYDAY=MO"
    assert rrule_problem({"rrule": "RRULE:FREQ=MONTHLY;COUNT=12"}) is None


def test_assured_order_from_an_imaging_window_search(sandbox, provider):
    heard = []
    windows = provider.imaging_windows(POINT, {"pl_number": "PL-123456", "end_time": START + timedelta(days=3)},
                                       progress=heard.append, sleep=lambda s: None)
    assert heard == ["CREATED", "DONE"] and len(windows) >= 2
    search = logged(sandbox, "POST", "/imaging-windows/search/")
    assert [e["status"] for e in search] == [202]
    assert all(" UTC, " in describe_window(w) and "cloud forecast" in describe_window(w) for w in windows)
    chosen = windows[1]
    outcome = provider.place(draft("assured", [POINT], {"pl_number": "PL-123456", "imaging_window": chosen["id"]}))[0]
    assert outcome.placed, outcome.error
    order = outcome.order
    assert order.product_id == "assured" and order.raw["product"] == "Assured Tasking"
    assert order.raw["imaging_window"] == chosen["id"]
    assert order.acquisition_start == datetime.fromisoformat(chosen["start_time"].replace("Z", "+00:00"))
    refused = provider.place(draft("assured", [LINE], {"pl_number": "PL-1", "imaging_window": "w"}, reference="r2"))
    assert refused[0].error == "AOI 1: a Planet assured order needs a Point, not LineString."
    with pytest.raises(NotSupported, match="needs pl_number"):
        provider.imaging_windows(POINT, {})


def test_imaging_window_search_that_fails_or_never_ends(sandbox, provider):
    settings(sandbox, planet_window_search_polls=50)
    with pytest.raises(ProviderTimeout, match="did not finish within 3 s .last status: IN_PROGRESS"):
        provider.imaging_windows(POINT, {"pl_number": "PL-1"}, timeout=3, poll=1, sleep=lambda s: None)
    with pytest.raises(RequestRejected, match="at most 7 days ahead"):
        provider.imaging_windows(POINT, {"pl_number": "PL-1", "end_time": START + timedelta(days=9)})


def test_three_aois_one_invalid_gives_two_orders_and_one_clear_error(sandbox, provider):
    outcomes = provider.place(draft("area", [SQUARE, OPEN_RING, shifted(SQUARE, 0.5)], flexible()))
    assert [o.aoi_index for o in outcomes] == [0, 1, 2]
    assert outcomes[0].placed and outcomes[2].placed and not outcomes[1].placed
    assert outcomes[1].error.startswith("AOI 2 (part 2): Planet refused the order: geometry:")
    assert "closed" in outcomes[1].error
    assert [o.order.name for o in (outcomes[0], outcomes[2])] == ["Harbour 1 [qgis-0123456789ab]",
                                                                  "Harbour 3 [qgis-0123456789ab]"]
    assert len(sandbox_orders(sandbox)) == 2


def test_wrong_geometry_type_and_bad_params_are_refused_before_any_request(sandbox, provider):
    outcomes = provider.place(draft("strip", [LINE, SQUARE], flexible()))
    assert outcomes[0].placed
    assert outcomes[1].error == "AOI 2: a Planet strip order needs a LineString, not Polygon."
    control(sandbox, "DELETE", "/_sandbox/requests")
    outcomes = provider.place(draft("point", [POINT, POINT], flexible(sat_elevation_angle_min=95), reference="r2"))
    assert all("sat_elevation_angle_min: 95 is greater than the maximum of 90" in o.error for o in outcomes)
    assert logged(sandbox, "POST") == []
    with pytest.raises(NotSupported, match="no order kind 'video'"):
        provider.place(draft("video", [POINT], flexible()))


def test_active_order_limit_is_named(sandbox, provider):
    settings(sandbox, planet_max_active_orders=2)
    geometries = [shifted(SQUARE, 0.2 * i) for i in range(3)]
    outcomes = provider.place(draft("area", geometries, flexible()))
    assert sum(o.placed for o in outcomes) == 2
    [refused] = [o for o in outcomes if not o.placed]
    assert refused.error.endswith("Planet refused the order: your organisation reached its maximum number of "
                                  "active orders (2). Wait for orders to finish or cancel some, then retry.")


def test_one_year_limit_is_named(sandbox, provider):
    assert provider.place(draft("point", [POINT], flexible(days=400), reference="r0"))[0].placed  # not by default
    settings(sandbox, planet_max_duration_days=365)
    outcomes = provider.place(draft("point", [POINT], flexible(days=400)))
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


def test_estimate_unavailable_without_a_pricing_preview(sandbox, provider):
    estimate = provider.estimate(draft("area", [SQUARE], flexible()))
    assert estimate.per_aoi == [None] and estimate.unit == ""
    assert estimate.errors == {0: "Price unavailable: this Planet account offers no pricing preview."}


def test_estimate_per_aoi_and_total_with_its_unit(sandbox, provider):
    settings(sandbox, planet_pricing=True)
    estimate = provider.estimate(draft("area", [SQUARE, OPEN_RING, shifted(SQUARE, 1)], flexible()))
    assert estimate.unit == "sqkm"
    assert estimate.per_aoi[1] is None and "geometry" in estimate.errors[1]
    assert estimate.per_aoi[0] > 50 and estimate.per_aoi[2] > 50  # ~76 km² at 1 per km² (Flexible)
    assert estimate.total == pytest.approx(estimate.per_aoi[0] + estimate.per_aoi[2])
    assert sandbox_orders(sandbox) == []


def test_a_price_without_its_unit_is_not_shown(monkeypatch, provider):
    monkeypatch.setattr(provider.session, "json", lambda *a, **k: {"estimated_quota_cost": 12.5})
    estimate = provider.estimate(draft("area", [SQUARE], flexible()))
    assert estimate.per_aoi == [None] and "names no price with its unit" in estimate.errors[0]


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


def test_captures_are_read_one_order_per_request(sandbox, provider):
    seeded = control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 30, "captures_per_order": 2})
    control(sandbox, "DELETE", "/_sandbox/requests")
    captures = provider.captures(seeded["order_ids"])
    assert len(captures) == 60 == len({c.id for c in captures})
    requests_made = logged(sandbox, "GET", "/tasking/v2/captures/")
    assert len(logged(sandbox)) == len(requests_made) == 30
    assert [e["query"] for e in requests_made] == [{"order_id": [i], "limit": ["100"]} for i in seeded["order_ids"]]
    assert {c.order_id for c in captures} == set(seeded["order_ids"])


def test_several_order_ids_are_refused_by_the_strict_sandbox(sandbox, provider):
    with pytest.raises(RequestRejected, match="order_id: Give one order id"):
        provider.session.get(provider.base_url + "/captures/", params={"order_id": "a,b"})
    settings(sandbox, planet_multi_order_id=True)
    assert provider.session.get(provider.base_url + "/captures/", params={"order_id": "a,b"})["results"] == []


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


def test_capture_streams_read_their_orders_one_by_one_and_nothing_until_iterated(sandbox, provider):
    seeded = control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 25, "captures_per_order": 7})
    control(sandbox, "DELETE", "/_sandbox/requests")
    provider.page_size = 20
    streams = provider.capture_page_streams(seeded["order_ids"] + seeded["order_ids"][:1])
    assert len(streams) == 3 and not logged(sandbox)  # 10 + 10 + 5 orders
    pages = [[page for page in stream] for stream in streams]
    by_stream = [{c.order_id for page in stream for c in page} for stream in pages]
    assert by_stream == [set(seeded["order_ids"][:10]), set(seeded["order_ids"][10:20]), set(seeded["order_ids"][20:])]
    # Pages of about page_size: the captures of several orders together.
    assert [len(page) for page in pages[0]] == [21, 21, 21, 7]
    assert len(logged(sandbox, "GET", "/captures/")) == 25


def lifecycle_order(sandbox, provider, days, **params):
    outcome = provider.place(draft("point", [POINT], flexible(days=days, **params)))[0]
    assert outcome.placed, outcome.error
    return outcome.order


def test_life_fulfilled_with_captures_shown_as_planet_assessed_them(sandbox, provider):
    settings(sandbox, planet_contract_cloud_cover=1.0)  # the contract's threshold, not an order field
    order = lifecycle_order(sandbox, provider, days=5)
    seen = [order.status.code]
    for step in range(60):  # 10 min (accepted before the start in 1 h), then 2-hour steps: 5 days
        advance(sandbox, 600 if step == 0 else 2 * HOUR)
        status = provider.order(order.id).status.code
        if status != seen[-1]:
            seen.append(status)
        if status.is_terminal:
            break
    assert seen == [OrderStatus.RECEIVED, OrderStatus.ACCEPTED, OrderStatus.TASKED, OrderStatus.COMPLETED]
    control(sandbox, "DELETE", "/_sandbox/requests")
    [capture] = provider.captures([order.id])
    assert capture.status == "PUBLISHED" and capture.assessment == "SUCCESS" and capture.raw["fulfilling"]
    assert capture.cloud_cover == capture.raw["cloud_cover"]
    assert capture.acquired_at.tzinfo is not None and capture.footprint["type"] == "Polygon"
    assert len(logged(sandbox)) == 1  # nothing is read to learn an exclusivity Planet does not document


def test_life_retasked_after_invalid_then_expired(sandbox, provider):
    settings(sandbox, planet_contract_cloud_cover=0.0)
    order = lifecycle_order(sandbox, provider, days=4)
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


@pytest.mark.parametrize("raw,code", [("FINALIZING", OrderStatus.PROCESSING), ("FAILED", OrderStatus.RECEIVED),
                                      ("PENDING_CANCELLATION", OrderStatus.RECEIVED),
                                      ("SOMETHING_NEW", OrderStatus.RECEIVED), ("", OrderStatus.RECEIVED)])
def test_undocumented_statuses_stay_visible_and_are_never_final(raw, code):
    status = normalise_status(raw)
    assert status.raw == raw and status.code == code and not status.is_terminal
    assert raw in status.describe()


def test_only_documented_final_statuses_are_final():
    final = {raw for raw in ("RECEIVED", "REQUESTED", "PENDING", "IN_PROGRESS", "FULFILLED", "CANCELLED",
                             "EXPIRED", "REJECTED") if normalise_status(raw).is_terminal}
    assert final == {"FULFILLED", "CANCELLED", "EXPIRED", "REJECTED"}


def test_responses_with_only_the_required_fields_are_read(provider):
    order = provider._order_from({"id": "o-1"})
    assert (order.name, order.status.raw, order.geometry, order.updated_at, order.params) == ("", "", None, None, {})
    capture = provider._capture_from({"id": "c-1", "cloud_cover": True, "captured_area": "garbled"})
    assert (capture.status, capture.cloud_cover, capture.footprint, capture.assessment) == ("", None, None, None)


def test_pacer_keeps_to_the_published_limits():
    now = [0.0]
    pacer = RatePacer(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    moments = []
    for _ in range(700):
        pacer.wait()
        moments.append(now[0])
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(moments, moments[40:]))  # 40 a second
    assert all(b - a >= 60.0 - 1e-9 for a, b in zip(moments, moments[300:]))  # 300 a minute
    assert moments[299] < 10 and 60 <= moments[300] < 61 and moments[-1] < 123


def test_every_request_of_a_provider_passes_its_pacer(sandbox):
    waits = []

    class Counting(RatePacer):
        def wait(self, connection_name="Planet"):
            waits.append(connection_name)

    provider = make_provider(sandbox, pacer=Counting())
    try:
        provider.check()
        provider.orders()
    finally:
        provider.session.close()
    assert waits == ["test Planet", "test Planet"]


def put(provider, order, body):
    return provider.session.json("PUT", f"{provider.base_url}/orders/{order.id}", json=body)


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
        provider.session.request("DELETE", f"{provider.base_url}/orders/{cancelled.id}")
    with pytest.raises(RequestRejected, match="cannot be edited"):
        put(provider, cancelled, {"name": "again"})


class _PlanetAnswersWrites(BaseHTTPRequestHandler):
    """A server answering writes as configured (``server.answers[method] = (status, body or None)``) and GET with
    the order as it now is."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        self.server.hits.append((self.command, self.path, self.headers.get("Authorization")))
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_DELETE(self):  # noqa: N802 - name fixed by the base class
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._answer(*self.server.answers["DELETE"])

    def do_PUT(self):  # noqa: N802 - name fixed by the base class
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self._answer(*self.server.answers["PUT"])

    def do_GET(self):  # noqa: N802 - name fixed by the base class
        self._answer(200, self.server.current)


@pytest.fixture
def write_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PlanetAnswersWrites)
    server.hits, server.bodies, server.answers = [], [], {}
    server.current = {"id": "o-1", "name": "n", "status": "CANCELLED", "updated_time": "2026-01-05T00:00:00.123456Z"}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status,body", [(200, {"id": "o-1", "name": "n", "status": "CANCELLED"}), (202, None),
                                         (204, None), (200, {"detail": "cancel requested"})])
def test_cancel_accepts_any_2xx_and_reads_the_order_again(write_server, status, body):
    write_server.answers["DELETE"] = (status, body)
    provider = make_provider(SimpleNamespace(base_url=f"http://127.0.0.1:{write_server.server_address[1]}"),
                             key="k-123")
    order = provider._order_from({"id": "o-1", "name": "n", "status": "PENDING"})
    cancelled = provider.cancel(order)
    assert cancelled.status.code == OrderStatus.CANCELLED
    assert cancelled.updated_at == datetime(2026, 1, 5, 0, 0, 0, 123456, tzinfo=timezone.utc)
    assert write_server.hits == [("DELETE", "/tasking/v2/orders/o-1", "api-key k-123"),
                                 ("GET", "/tasking/v2/orders/o-1", "api-key k-123")]


@pytest.mark.parametrize("status,body", [(200, {"id": "o-1", "name": "old"}), (202, None), (204, None)])
def test_edit_sends_only_the_changed_fields_and_reads_the_order_again(write_server, status, body):
    write_server.answers["PUT"] = (status, body)
    write_server.current = {"id": "o-1", "name": "renamed", "status": "PENDING"}
    provider = make_provider(SimpleNamespace(base_url=f"http://127.0.0.1:{write_server.server_address[1]}"))
    order = provider._order_from({"id": "o-1", "name": "n", "status": "PENDING", "rank": 2,
                                  "start_time": "2026-02-01T00:00:00Z", "end_time": "2026-03-01T00:00:00Z"})
    edited = provider.edit(order, {"name": "renamed"})
    assert edited.name == "renamed"
    assert write_server.bodies == [{"name": "renamed"}]
    assert [hit[:2] for hit in write_server.hits] == [("PUT", "/tasking/v2/orders/o-1"),
                                                      ("GET", "/tasking/v2/orders/o-1")]


@pytest.mark.parametrize("body,said", [
    ({"error": {"reason": "Contract PL-9 is not active", "details": ["ask your CSM"]}}, "Contract PL-9 is not active"),
    ({"detail": "Not allowed for this product."}, "Not allowed for this product."),
    ({"message": "rrule: COUNT is required"}, "rrule: COUNT is required"),
    ({"non_field_errors": ["Too late to start"]}, "Too late to start"),
    ({"start_time": ["Must be in the future."]}, "start_time: Must be in the future."),
    (["first problem", "second problem"], "first problem; second problem"),
    ("plain text refusal", "plain text refusal"),
])
def test_documented_error_shapes_are_shown_verbatim(write_server, body, said):
    write_server.answers["PUT"] = (400, body)
    provider = make_provider(SimpleNamespace(base_url=f"http://127.0.0.1:{write_server.server_address[1]}"))
    order = provider._order_from({"id": "o-1", "name": "n", "status": "PENDING"})
    with pytest.raises(RequestRejected) as refused:
        provider.edit(order, {"name": "x"})
    assert said in str(refused.value)


def test_imaging_windows_as_opportunities_for_the_order_dialog(sandbox, provider):
    products = {p.id: p for p in provider.products()}
    assert [p for p in products if provider.offers_opportunities(products[p])] == ["assured"]
    assert set(provider.queryables(products["assured"])["properties"]) == {"pl_number"}
    with pytest.raises(NotSupported):
        provider.queryables(products["area"])
    cql2 = {"op": "and", "args": [{"op": "=", "args": [{"property": "pl_number"}, "PL-123456"]}]}
    start = START + timedelta(hours=1)
    found = provider.opportunities(products["assured"], POINT, start, start + timedelta(days=14), cql2,
                                   sleep=lambda s: None)
    assert found and all(start <= w.start < start + timedelta(days=7) for w in found)
    [search] = logged(sandbox, "POST", "/imaging-windows/search/")
    assert search["status"] == 202  # sent without its end: Planet searches up to its 7 days
    assert found[0].form_values() == {"imaging_window": found[0].id, "pl_number": "PL-123456"}
    assert found[0].geometry == POINT and set(found[0].properties) >= {"satellite_type", "cloud_forecast"}
    with pytest.raises(NotSupported, match="needs pl_number"):
        provider.opportunities(products["assured"], POINT, start, start + timedelta(days=2))


def test_a_429_with_retry_after_holds_every_request_of_the_provider(sandbox):
    pacer = RatePacer()
    provider = make_provider(sandbox, pacer=pacer)  # the session's own backoff sleeps are skipped here
    try:
        control(sandbox, "POST", "/_sandbox/faults", [{"path": r"^/tasking/v2/orders/$", "method": "GET",
                                                       "kind": "status", "status": 429, "retry_after": 1,
                                                       "count": 1}])
        assert provider.orders() == []
    finally:
        provider.session.close()
    assert [e["status"] for e in logged(sandbox, "GET", "/orders/")] == [429, 200]
    assert pacer.waited >= 0.9  # the next request, from any thread, waited out Retry-After


def test_pacer_hold_delays_the_next_request():
    now = [100.0]
    pacer = RatePacer(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    pacer.wait()
    pacer.hold(5)
    pacer.wait()
    assert now[0] == pytest.approx(105.0)


def test_the_provider_keeps_within_planet_published_limits(sandbox):
    settings(sandbox, planet_rate_limits=True)
    seeded = control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 60, "captures_per_order": 1})
    paced = make_provider(sandbox)
    try:
        assert len(paced.captures(seeded["order_ids"])) == 60
    finally:
        paced.session.close()
    assert {e["status"] for e in logged(sandbox, "GET", "/captures/")} == {200}
    control(sandbox, "DELETE", "/_sandbox/requests")
    # Unpaced, the sandbox answers 429 with Retry-After; the provider holds every request that long and goes on.
    unpaced = make_provider(sandbox, pacer=RatePacer(per_second=10 ** 6, per_minute=10 ** 6))
    try:
        assert len(unpaced.captures(seeded["order_ids"])) == 60
    finally:
        unpaced.session.close()
    statuses = [e["status"] for e in logged(sandbox, "GET", "/captures/")]
    assert 429 in statuses and statuses.count(200) == 60


def test_an_unpaced_provider_waits_for_nothing(sandbox):
    provider = make_provider(sandbox)
    provider.pace_with(RatePacer.unpaced())
    try:
        provider.pacer.hold(30)
        started = time.monotonic()
        for _ in range(50):
            provider.check()
        assert time.monotonic() - started < 10 and provider.pacer.waited == 0
    finally:
        provider.session.close()
