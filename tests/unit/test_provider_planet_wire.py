"""Every request PlanetProvider can send, recorded below requests, checked against planet_wire's allowlist.

The walk covers every code path that reaches the network (check, estimate, placement with its look-ups, each
order kind, reading orders and captures, edit, cancel, the imaging-window search); each request's path, query
parameters and JSON body fields must be ones /work/shared/api/planet.md documents (planet_wire, with sources).
"""
import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from requests.adapters import HTTPAdapter
from sandbox_harness import control, planet_provider_for

from satellite_tasking.plugin.model import Aoi, OrderDraft
from satellite_tasking.plugin.providers import planet_wire as wire
from satellite_tasking.plugin.providers.planet import RatePacer

START = datetime(2026, 1, 5, tzinfo=timezone.utc)
QUIET = {"planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0, "planet_reassessment_rate": 0.0}
POINT = {"type": "Point", "coordinates": [13.4, 52.5]}
LINE = {"type": "LineString", "coordinates": [[13.0, 52.0], [13.3, 52.2]]}
SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}
# Every value each kind's form can give (the monitoring cadence fields are the form's, not Planet's).
FLEXIBLE = {
    "pl_number": "PL-123456", "product": "Flexible Tasking", "start_time": "2026-01-05T01:00:00Z",
    "end_time": "2026-01-20T00:00:00Z", "sat_elevation_angle_min": 60, "sat_elevation_angle_max": 90,
}
MONITORING = {**{k: v for k, v in FLEXIBLE.items() if k != "end_time"}, "product": "Monitoring Tasking",
              "rrule_frequency": "WEEKLY", "rrule_interval": 1, "rrule_count": 4}
PARAMS = {"point": FLEXIBLE, "strip": FLEXIBLE, "area": FLEXIBLE, "monitoring": MONITORING}
# Fields no Planet source documents: a draft carrying them is refused before anything is sent.
UNDOCUMENTED = {"max_cloud_cover": 0.2, "satellite_types": ["SKYSAT"], "exclusivity_days": 10,
                "order_type": "STEREO", "n_stereo_pov": 2, "scheduling_type": "LOCK_IN", "cloud_threshold": 0.1}


class RecordingAdapter(HTTPAdapter):
    """Records every request as it leaves requests (after auth), then sends it."""

    def __init__(self, sent):
        super().__init__()
        self.sent = sent

    def send(self, request, **kwargs):
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        self.sent.append((request.method, request.url, json.loads(body) if body else None))
        return super().send(request, **kwargs)


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(seed=5, settings=QUIET)


def recording_provider(server, sent):
    provider = planet_provider_for(server, name="wire Planet", pacer=RatePacer(per_second=10_000, per_minute=10_000))
    provider.session._session.mount("http://", RecordingAdapter(sent))
    return provider


def draft(kind, geometry, params, reference):
    return OrderDraft(connection_id="planet-1", product_id=kind, name="Wire", params=dict(params),
                      aois=[Aoi(geometry=geometry)], client_reference=reference)


def path_pattern(base, url):
    path = urlsplit(url).path
    prefix = urlsplit(base).path + "/"
    if not path.startswith(prefix):
        return "{location}"
    relative = path[len(prefix):]
    if re.fullmatch(r"orders/[^/]+", relative):
        return "orders/{id}"
    if relative.startswith("imaging-windows/search/") and relative != "imaging-windows/search/":
        return "{location}"
    return relative


def violations(base, sent):
    """Every request field, query parameter, path or value not in the allowlist, as readable strings."""
    found = []
    for method, url, body in sent:
        pattern = path_pattern(base, url)
        if (method, pattern) not in wire.PATHS:
            found.append(f"{method} {pattern}: path not documented")
            continue
        query = parse_qs(urlsplit(url).query, keep_blank_values=True)
        allowed = wire.QUERY.get(pattern, {})
        for name, values in query.items():
            if name not in allowed:
                found.append(f"{method} {pattern}: query parameter {name!r} not documented")
            if len(values) > 1 or (name == "order_id" and "," in values[0]):
                found.append(f"{method} {pattern}: query parameter {name!r} given several values")
            if name == "ordering" and any(v not in wire.ORDERING_VALUES for v in values[0].split(",")):
                found.append(f"{method} {pattern}: ordering {values[0]!r} not documented")
        if body is not None:
            fields = wire.BODY.get((method, pattern))
            if fields is None:
                found.append(f"{method} {pattern}: a body where none is documented")
                continue
            found.extend(f"{method} {pattern}: field {name!r} not documented" for name in body if name not in fields)
            if "scheduling_type" in body and body["scheduling_type"] not in wire.SCHEDULING_TYPE_VALUES:
                found.append(f"{method} {pattern}: scheduling_type {body['scheduling_type']!r} not documented")
    return found


def walk_every_path(server, provider):
    """Drives each method of the provider that sends requests, in each of its branches."""
    provider.check()
    for kind, geometry in (("point", POINT), ("strip", LINE), ("area", SQUARE), ("monitoring", POINT)):
        provider.estimate(draft(kind, geometry, PARAMS[kind], f"est-{kind}"))
    control(server, "POST", "/_sandbox/settings", {"planet_pricing": True})
    provider.estimate(draft("area", SQUARE, FLEXIBLE, "est-priced"))
    placed = []
    for kind, geometry in (("point", POINT), ("strip", LINE), ("area", SQUARE), ("monitoring", LINE)):
        placed.append(provider.place(draft(kind, geometry, PARAMS[kind], f"ref-{kind}"))[0])
    as_text = {"rrule": "FREQ=WEEKLY;COUNT=3;BYDAY=MO", "start_time": "2026-01-06T00:00:00Z", "early_start": True}
    placed.append(provider.place(draft("monitoring", POINT, as_text, "ref-rrule"))[0])
    windows = provider.imaging_windows(POINT, {"pl_number": "PL-123456", "start_time": "2026-01-05T01:00:00Z",
                                               "end_time": "2026-01-10T00:00:00Z", "sat_elevation_angle_min": 60,
                                               "sat_elevation_angle_max": 90}, sleep=lambda s: None)
    assured = next(p for p in provider.products() if p.id == "assured")
    provider.queryables(assured)
    provider.opportunities(assured, POINT, START, START + timedelta(days=14),
                           {"op": "=", "args": [{"property": "pl_number"}, "PL-123456"]}, sleep=lambda s: None)
    placed.append(provider.place(draft("assured", POINT, {"pl_number": "PL-123456", "imaging_window":
                                                          windows[0]["id"], "sat_elevation_angle_min": 60},
                                       "ref-assured"))[0])
    # A POST whose answer is lost: the provider looks the order up by name.
    control(server, "POST", "/_sandbox/faults", [{"path": r"^/tasking/v2/orders/$", "method": "POST",
                                                  "kind": "drop_after", "count": 1}])
    provider.place(draft("point", POINT, FLEXIBLE, "ref-lost"))
    provider.place(draft("point", POINT, FLEXIBLE, "ref-lost"))  # the retry finds it
    provider.placed_orders(draft("point", POINT, FLEXIBLE, "ref-lost"))
    orders = provider.orders()
    provider.orders(since=START)
    provider.order(orders[0].id)
    control(server, "POST", "/_sandbox/clock", {"advance_seconds": 3 * 24 * 3600})
    provider.captures([o.id for o in orders])
    provider.captures([o.id for o in orders], since=START)
    for stream in provider.capture_page_streams([o.id for o in orders]):
        list(stream)
    order = provider.order(placed[0].order.id)
    provider.edit(order, {name: value for name, value in {
        "name": "renamed", "rank": 3, "end_time": START + timedelta(days=30),
        "start_time": START + timedelta(days=4)}.items() if name in provider.editable_fields(order)})
    provider.cancel(provider.order(placed[2].order.id))
    return placed


def test_every_request_is_in_the_allowlist(sandbox):
    sent = []
    provider = recording_provider(sandbox, sent)
    try:
        placed = walk_every_path(sandbox, provider)
    finally:
        provider.session.close()
    assert all(o.placed for o in placed), [o.error for o in placed]
    methods = {(method, path_pattern(provider.base_url, url)) for method, url, _ in sent}
    # The walk reached every documented operation the provider uses.
    assert methods == set(wire.PATHS), set(wire.PATHS) ^ methods
    assert violations(provider.base_url, sent) == []
    bodies = [body for method, url, body in sent if method == "POST" and url.endswith("/orders/")]
    assert bodies and not any("max_cloud_cover" in body for body in bodies)


@pytest.mark.parametrize("field", sorted(UNDOCUMENTED))
@pytest.mark.parametrize("kind,geometry", [("point", POINT), ("area", SQUARE), ("monitoring", LINE)])
def test_an_undocumented_field_is_refused_before_anything_is_sent(sandbox, kind, geometry, field):
    sent = []
    provider = recording_provider(sandbox, sent)
    try:
        params = {**PARAMS[kind], field: UNDOCUMENTED[field]}
        [outcome] = provider.place(draft(kind, geometry, params, "ref-undocumented"))
        estimate = provider.estimate(draft(kind, geometry, params, "ref-undocumented"))
    finally:
        provider.session.close()
    assert not outcome.placed and field in outcome.error and field in estimate.errors[0]
    assert sent == []


def test_the_check_itself_catches_undocumented_fields_and_parameters():
    base = "https://api.planet.com/tasking/v2"
    sent = [("POST", base + "/orders/", {"name": "n", "geometry": POINT, "max_cloud_cover": 0.2}),
            ("GET", base + "/captures/?order_id=a&order_id=b", None),
            ("GET", base + "/orders/?status__in=PENDING", None),
            ("GET", base + "/orders/x/", None),
            ("POST", base + "/orders/", {"name": "n", "geometry": POINT, "scheduling_type": "LOCK_IN"})]
    assert violations(base, sent) == [
        "POST orders/: field 'max_cloud_cover' not documented",
        "GET captures/: query parameter 'order_id' given several values",
        "GET orders/: query parameter 'status__in' not documented",
        "GET orders/x/: path not documented",
        "POST orders/: scheduling_type 'LOCK_IN' not documented",
    ]


def test_every_allowlist_entry_names_its_source():
    tables = [wire.PATHS, wire.ORDER_FIELDS, wire.EDIT_FIELDS, wire.IMAGING_WINDOW_SEARCH_FIELDS, wire.ORDER_QUERY,
              wire.CAPTURE_QUERY, wire.ORDERING_VALUES, wire.SCHEDULING_TYPE_VALUES]
    for table in tables:
        for entry, source in table.items():
            assert re.search(r"\[[^\]]+\]", source), entry
