"""Bad server answers, tried systematically: every provider parser ends in a result or a ProviderError sentence.

Two layers, both driven by hypothesis (derandomized, bounded):

* the parsing functions called directly with arbitrary JSON (wrong types, missing fields, NaN, extra keys);
* real requests through a tiny mutating proxy on 127.0.0.1 in front of the sandbox: it forwards each
  request and rewrites one route's answers — fields deleted, values of the wrong type, extra fields, pages
  made huge, or the body replaced by something that is not JSON. UP42 and Planet reads, placement,
  estimates, decisions, deliveries and a whole ``sync_connection`` into a store run through it.

Never another exception type: a ``ProviderError`` (with a sentence) or a correct result. FUZZ_EXAMPLES
raises the number of examples per test (``make soak`` runs it with more).
"""
import json
import logging
import os
import re
import threading
from collections import Counter
from datetime import datetime
from http.server import ThreadingHTTPServer

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopback_http import QuietHandler
from sandbox_harness import UP42_OPTICAL as OPTICAL
from sandbox_harness import UP42_OPTICAL_PARAMS as OPTICAL_PARAMS

from satellite_tasking.plugin.http import ProviderError, build_session, extract_provider_message, parse_retry_after
from satellite_tasking.plugin.model import (
    Aoi,
    Capture,
    Connection,
    Estimate,
    FeasibilityStudy,
    Order,
    OrderDraft,
    PlacementOutcome,
    Product,
    Quotation,
    Status,
)
from satellite_tasking.plugin.providers import aoi_matching
from satellite_tasking.plugin.providers import planet as planet_module
from satellite_tasking.plugin.providers import up42 as up42_module
from satellite_tasking.plugin.providers.base import Delivery
from satellite_tasking.plugin.providers.planet import PlanetProvider
from satellite_tasking.plugin.providers.sandbox import SANDBOX_USER, SandboxProvider
from satellite_tasking.plugin.providers.up42 import Up42Provider
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])
CASES = Counter()
SAR = "d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"
SAR_PARAMS = {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-01-30T00:00:00Z",
              "acquisitionMode": "spotlight", "polarization": "VV", "maxIncidenceAngle": 40.5}
LOCK_IN = {"start_time": "2026-01-05T01:00:00Z", "end_time": "2026-01-12T01:00:00Z"}


def square(x, y=50.0):
    return {"type": "Polygon", "coordinates": [[[x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x, y + 0.1], [x, y]]]}


# -- values a server might send --------------------------------------------------------------------------
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["", "2026-01-05T00:00:00Z", "not a date", "PLACED", "FULFILLED",
                                           "Polygon", "9999-99-99T99:99:99Z", "2026-01-05T00:00:00.1234567+05:30"]),
)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["id", "type", "coordinates", "status", "name", "content", "results", "x", "index", "message",
                     "geometry", "updatedAt", "updated_time", "subStatus", "orderDetails", "next", "totalPages"]),
    inner, max_size=5), max_leaves=12)


# -- 1. parsing functions called directly ----------------------------------------------------------------
def _offline_up42():
    session = build_session("fuzz UP42", "SatelliteTasking/fuzz")
    return Up42Provider(Connection(id="u", name="fuzz UP42", kind="up42"), None, session)


def _offline_planet():
    session = build_session("fuzz Planet", "SatelliteTasking/fuzz")
    return PlanetProvider(Connection(id="p", name="fuzz Planet", kind="planet"), None, session)


def _sentence(error):
    text = str(error)
    assert isinstance(error, ProviderError) and len(text.strip()) > 10, repr(error)


def _attempt(function, *args):
    """The function's result, or None after a ProviderError with a sentence; anything else fails."""
    try:
        return function(*args)
    except ProviderError as error:
        _sentence(error)
        CASES["clear errors"] += 1
        return None


@SETTINGS
@given(data=st.one_of(JSON, st.builds(lambda key, value, sub: {
    "id": "o-1", "status": "PLACED", key: value, "orderDetails": sub},
    st.sampled_from(["status", "displayName", "createdAt", "updatedAt", "dataProductId", "id", "tags"]), JSON,
    st.one_of(JSON, st.fixed_dictionaries({"geometry": JSON, "subStatus": JSON, "acquisitionStart": JSON})))))
def test_up42_parsers_on_arbitrary_json(data):
    up42 = _offline_up42()
    _check_order_parser(up42, data)
    study = _attempt(up42._study_from, data)
    assert study is None or isinstance(study, FeasibilityStudy)
    quotation = _attempt(up42._quotation_from, data)
    assert quotation is None or (isinstance(quotation, Quotation) and isinstance(quotation.price, float))
    if isinstance(data, dict):
        assert isinstance(up42._batch_errors(data, [0, 1, 2]), dict)
        up42._assets_of(data, "o-1")
    assert isinstance(up42_module.schema_geometry_types(data), tuple)
    aoi_matching.geometry_keys(data)
    for value in (data, data.get("status") if isinstance(data, dict) else None):
        assert up42_module.parse_up42_time(value) is None or up42_module.parse_up42_time(value).tzinfo
    status = up42_module.up42_status(data.get("status") if isinstance(data, dict) else None)
    assert isinstance(status, Status)
    message, fields = extract_provider_message(data)
    assert isinstance(message, str) and isinstance(fields, dict)


@SETTINGS
@given(data=st.one_of(JSON, st.builds(lambda key, value: {"id": "p-1", "status": "PENDING", key: value},
                                      st.sampled_from(["status", "name", "geometry", "original_geometry",
                                                       "created_time", "updated_time", "exclusivity_days",
                                                       "scheduling_type", "cloud_cover", "captured_area",
                                                       "acquired_time", "order_id", "id"]), JSON)))
def test_planet_parsers_on_arbitrary_json(data):
    planet = _offline_planet()
    _check_order_parser(planet, data)
    capture = _attempt(planet._capture_from, data)
    if capture is not None:
        _check_capture(capture)
    if isinstance(data, dict):
        assert planet_module._kind_of(data) in planet_module.ORDER_KINDS
    cost, unit = planet_module._quota_cost(data)
    assert (cost is None or isinstance(cost, float)) and isinstance(unit, str)
    assert isinstance(planet_module.normalise_status(data if not isinstance(data, (dict, list)) else None), Status)
    assert planet_module.parse_time(data) is None or planet_module.parse_time(data).tzinfo


@SETTINGS
@given(value=st.one_of(st.none(), st.text(max_size=40), st.sampled_from(
    ["0", "120", "-1", "1e3", "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00", "99999999999999999999"])))
def test_retry_after_header_values(value):
    CASES["direct"] += 1
    seconds = parse_retry_after(value)
    assert seconds is None or (isinstance(seconds, float) and seconds >= 0)


def _check_order_parser(provider, data):
    """The provider's order parser on ``data`` gives an order that holds together, or a sentence."""
    CASES["direct"] += 1
    order = _attempt(provider._order_from, data)
    if order is not None:
        _check_order(order)


def _check_order(order):
    assert isinstance(order, Order) and isinstance(order.id, str) and order.id
    assert isinstance(order.status, Status) and isinstance(order.name, str)
    for moment in (order.created_at, order.updated_at, order.acquisition_start, order.acquisition_end):
        assert moment is None or (isinstance(moment, datetime) and moment.tzinfo is not None)
    assert isinstance(order.params, dict)


def _check_capture(capture):
    assert isinstance(capture, Capture) and isinstance(capture.id, str) and capture.id
    assert capture.cloud_cover is None or isinstance(capture.cloud_cover, float)


# -- 2. through HTTP: a mutating proxy in front of the sandbox -------------------------------------------
class Mutation:
    """What the proxy does to answers whose path matches ``route`` (and method): one per example."""

    def __init__(self, route="", method="GET", ops=(), body=None):
        self.route = re.compile(route) if route else None
        self.method = method
        self.ops = list(ops)
        self.body = body  # bytes: replace the whole body (non-JSON)
        self.hits = 0

    def __repr__(self):
        what = f"body={self.body!r}" if self.body is not None else f"ops={self.ops!r}"
        return f"Mutation({self.method} {self.route.pattern if self.route else None}, {what})"

    def applies(self, method, path):
        return self.route is not None and method == self.method and bool(self.route.search(path))

    def apply(self, content: bytes) -> bytes:
        self.hits += 1
        if self.body is not None:
            return self.body
        try:
            data = json.loads(content)
        except ValueError:
            return content
        for op, selector, value in self.ops:
            data = _mutate(data, op, selector, value)
        return json.dumps(data).encode()


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, path + (key,))
    elif isinstance(node, list):
        for index, child in enumerate(node[:50]):
            yield from _paths(child, path + (index,))


def _mutate(data, op, selector, value):
    paths = list(_paths(data))
    path = paths[selector % len(paths)]
    if not path:
        if op == "replace":
            return value
        parent, key = None, None
        node = data
    else:
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        node = parent[key]
    if op == "delete" and parent is not None:
        del parent[key]
    elif op == "replace" and parent is not None:
        parent[key] = value
    elif op == "extra":
        if isinstance(node, dict):
            node[f"extra_{selector % 7}"] = value
        elif isinstance(node, list):
            node.append(value)
    elif op == "huge" and isinstance(node, list) and node:
        node[:] = (node * (3000 // len(node) + 1))[:3000]
    return data


NON_JSON = st.sampled_from([b"", b"   ", b"<html><body>Login required</body></html>", b"{", b"[1, 2",
                            b"null", b"\xff\xfe\x00garbage", b"NaN", b'"just a string"', b"12345",
                            b'{"content": null}', b'{"results": {}}', b"[]"])
OPS = st.lists(st.tuples(st.sampled_from(["delete", "replace", "extra", "huge"]), st.integers(0, 10_000), JSON),
               min_size=1, max_size=4)


class _Proxy:
    def __init__(self, upstream):
        self.upstream = upstream
        self.mutation = Mutation()
        self.session = requests.Session()
        self.session.trust_env = False
        proxy = self

        class Handler(QuietHandler):
            def _forward(self):
                body = self.read_body() or None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = proxy.session.request(self.command, proxy.upstream + self.path, data=body,
                                               headers=headers, timeout=30)
                content = answer.content
                path = self.path.split("?", 1)[0]
                mutation = proxy.mutation
                if mutation.applies(self.command, path):
                    content = mutation.apply(content)
                self.send_response(answer.status_code)
                for key in ("Content-Type", "Retry-After"):
                    if key in answer.headers:
                        self.send_header(key, answer.headers[key])
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.session.close()


class _World:
    def __init__(self, sandbox, proxy, orders, by_api):
        self.sandbox, self.proxy, self.orders, self.by_api = sandbox, proxy, orders, by_api

    def __repr__(self):
        return "world"


@pytest.fixture(scope="module")
def world():
    sandbox = SandboxServer(port=0, seed=77, speed=0,
                            settings={"planet_max_active_orders": 100_000}).start()
    proxy = _Proxy(sandbox.base_url)
    try:
        direct = make_sandbox_provider(sandbox.base_url)
        placed = direct.place(OrderDraft("fz", "up42:" + OPTICAL, "Fuzz optical", dict(OPTICAL_PARAMS),
                                         [Aoi(square(1)), Aoi(square(2))], "fuzz-seed-up42"))
        placed += direct.place(OrderDraft("fz", "up42:" + SAR, "Fuzz SAR", dict(SAR_PARAMS), [Aoi(square(3))],
                                          "fuzz-seed-sar"))
        placed += direct.place(OrderDraft("fz", "planet:area", "Fuzz area", dict(LOCK_IN),
                                          [Aoi(square(4)), Aoi(square(5))], "fuzz-seed-planet"))
        assert all(o.placed for o in placed), [o.error for o in placed]
        requests.post(sandbox.base_url + "/_sandbox/planet/seed_orders",
                      json={"count": 30, "captures_per_order": 3, "statuses": ["IN_PROGRESS", "FULFILLED"]},
                      timeout=30).raise_for_status()
        requests.post(sandbox.base_url + "/_sandbox/up42/seed_orders",
                      json={"count": 12, "username": SANDBOX_USER, "status": "FULFILLED"}, timeout=30)
        requests.post(sandbox.base_url + "/_sandbox/clock", json={"advance_seconds": 5 * 86400}, timeout=30)
        orders = {o.api: o for o in direct.orders()}
        yield _World(sandbox, proxy, [o.order for o in placed], orders)
    finally:
        proxy.stop()
        sandbox.stop()


class _ErrorRecords(logging.Handler):
    """ERROR records of the plugin's loggers (sync logs an exception that is not a ProviderError so)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []
        self.logger = logging.getLogger("satellite_tasking")

    def emit(self, record):
        self.records.append(record)

    def __enter__(self):
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)


def make_sandbox_provider(url, connection_id="fz"):
    connection = Connection(id=connection_id, name="Fuzz sandbox", kind="sandbox")
    return SandboxProvider(connection, lambda c: build_session(c.name, "SatelliteTasking/fuzz", timeout=(2, 10),
                                                               max_retries=1, sleep=lambda s: None), url)


_counter = Counter()


def _fresh_draft(api, count):
    _counter["draft"] += 1
    n = _counter["draft"]
    aois = [Aoi(square(-170 + (n * 5 + i) % 340 * 1.0 + 0.3, -60 + (n * 5 + i) // 340 * 1.0)) for i in range(count)]
    if api == "up42":
        return OrderDraft("fz", "up42:" + OPTICAL, f"Fuzz {n}", dict(OPTICAL_PARAMS), aois, f"fuzz-{n}")
    return OrderDraft("fz", "planet:area", f"Fuzz {n}", dict(LOCK_IN), aois, f"fuzz-{n}")


def _expect(kind):
    def check(value):
        assert isinstance(value, kind), value
        return value
    return check


def _all(kind):
    def check(values):
        assert isinstance(values, list) and all(isinstance(v, kind) for v in values), values
        for value in values:
            if isinstance(value, Order):
                _check_order(value)
            elif isinstance(value, Capture):
                _check_capture(value)
        return values
    return check


def _placement(count):
    def check(outcomes):
        assert isinstance(outcomes, list) and len(outcomes) == count
        for outcome in outcomes:
            assert isinstance(outcome, PlacementOutcome)
            assert outcome.placed or (isinstance(outcome.error, str) and outcome.error.strip())
            if outcome.placed:
                _check_order(outcome.order)
        return outcomes
    return check


# Each operation: the routes whose answers may be rewritten, and what it calls.
UP42_AUTH = [("POST", r"^/oauth/token$"), ("GET", r"^/userinfo$")]
OPERATIONS = {
    "orders": (UP42_AUTH + [("GET", r"^/v2/orders$"), ("GET", r"^/tasking/v2/orders/$")],
               lambda p, w: _all(Order)(p.orders())),
    "order": ([("GET", r"^/v2/orders/[^/]+$"), ("GET", r"^/tasking/v2/orders/[^/]+/$")],
              lambda p, w: [_expect(Order)(p.order(o.id)) for o in w.by_api.values()]),
    "captures": ([("GET", r"^/tasking/v2/captures/$"), ("GET", r"^/tasking/v2/orders/[^/]+/$")],
                 lambda p, w: _all(Capture)(p.captures([o.id for o in p.orders() if o.api == "planet"]))),
    "products": ([("GET", r"^/v2/collections$"), ("GET", r"^/orders/schema/")],
                 lambda p, w: _all(Product)(p.products())),
    "place up42": ([("POST", r"^/v2/orders$"), ("GET", r"^/v2/orders$")] + UP42_AUTH,
                   lambda p, w: _placement(3)(p.place(_fresh_draft("up42", 3)))),
    "place planet": ([("POST", r"^/tasking/v2/orders/$"), ("GET", r"^/tasking/v2/orders/$")],
                     lambda p, w: _placement(2)(p.place(_fresh_draft("planet", 2)))),
    "estimate": ([("POST", r"^/v2/orders/estimate$"), ("POST", r"^/tasking/v2/pricing/$")],
                 lambda p, w: [_expect(Estimate)(p.estimate(_fresh_draft(api, 2))) for api in ("up42", "planet")]),
    "decisions": ([("GET", r"^/v2/tasking/feasibility-studies$"), ("GET", r"^/v2/tasking/quotation$")],
                  lambda p, w: [(p.feasibility(o), p.quotation(o)) for o in w.orders if o.api == "up42"]),
    "deliveries": ([("GET", r"^/v2/coverage/orders/"), ("POST", r"^/v2/assets/stac/search$")],
                   lambda p, w: [_all(Delivery)(p.deliveries(o)) for o in w.orders if o.api == "up42"]),
}


@st.composite
def scenarios(draw):
    name = draw(st.sampled_from(sorted(OPERATIONS)))
    method, route = draw(st.sampled_from(OPERATIONS[name][0]))
    if draw(st.integers(0, 4)) == 0:
        mutation = Mutation(route, method, body=draw(NON_JSON))
    else:
        mutation = Mutation(route, method, ops=draw(OPS))
    return name, mutation


@SETTINGS
@given(scenario=scenarios())
def test_provider_calls_through_rewritten_answers(world, scenario):
    name, mutation = scenario
    CASES["http"] += 1
    world.proxy.mutation = mutation
    provider = make_sandbox_provider(world.proxy.url)
    try:
        with _ErrorRecords() as errors:
            _attempt(OPERATIONS[name][1], provider, world)
    finally:
        world.proxy.mutation = Mutation()
    CASES["http answers rewritten"] += mutation.hits
    assert not errors.records, [r.getMessage() for r in errors.records]


SYNC_ROUTES = UP42_AUTH + [("GET", r"^/v2/orders$"), ("GET", r"^/tasking/v2/orders/$"),
                           ("GET", r"^/tasking/v2/captures/$")]


@SETTINGS
@given(route=st.sampled_from(SYNC_ROUTES), ops=OPS, body=st.one_of(st.none(), NON_JSON))
def test_sync_through_rewritten_answers_ends_in_a_sentence(world, tmp_path_factory, route, ops, body):
    CASES["sync"] += 1
    mutation = Mutation(route[1], route[0], ops=ops, body=body)
    world.proxy.mutation = mutation
    store = TaskingStore(tmp_path_factory.mktemp("fuzz") / "store.gpkg")
    try:
        with _ErrorRecords() as errors:
            result = sync_connection(make_sandbox_provider(world.proxy.url), store, "fz")  # never raises
    finally:
        world.proxy.mutation = Mutation()
    assert result.ok or (isinstance(result.error, str) and "Could not sync" not in result.error), result.error
    assert not errors.records, [r.getMessage() for r in errors.records]
    if result.ok:
        CASES["sync ok"] += 1
        for order in store.orders("fz"):
            _check_order(order)
    else:
        CASES["sync error sentences"] += 1
        assert store.orders("fz") == []


def test_report_cases_tried(capsys):
    with capsys.disabled():
        print(f"\n[fuzz] provider parsers: {sum(CASES[k] for k in ('direct', 'http', 'sync'))} cases tried "
              f"({CASES['direct']} direct, {CASES['http']} provider calls through rewritten answers "
              f"({CASES['http answers rewritten']} answers rewritten), {CASES['sync']} syncs: "
              f"{CASES['sync ok']} ok, {CASES['sync error sentences']} error sentences); "
              f"{CASES['clear errors']} ProviderError sentences, 0 other exceptions")
    assert CASES["direct"] == 0 or CASES["direct"] >= min(EXAMPLES, 50)

