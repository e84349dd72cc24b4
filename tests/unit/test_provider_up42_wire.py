"""Point 1 of issue 14 for UP42: every request field and query parameter ``Up42Provider`` sends is one the evidence
page documents (``plugin/providers/up42_wire.py``, each entry with its source).

A recording session wraps a real one talking to the sandbox and walks every code path of the provider: identity,
catalogue, estimate, placement (fresh, repeated, after an unclear answer), listings, edit, cancel, feasibility,
quotation (and the repeated decisions that read back), deliveries through STAC (search, and the collections
fallback), downloads (and the retried one that asks for a new URL). Each recorded request is checked against the
allowlist. The sandbox's own copy of the list (it imports nothing from ``plugin/``) must say the same.
"""
from urllib.parse import parse_qsl, urlsplit

import pytest
from sandbox_harness import BERLIN, PARIS, control, up42_provider_for
from sandbox_harness import UP42_OPTICAL as OPTICAL
from sandbox_harness import UP42_OPTICAL_PARAMS as OPTICAL_PARAMS

from satellite_tasking.plugin.http import AccessForbidden, NotFoundError, ProviderUnavailable
from satellite_tasking.plugin.model import Aoi, OrderDraft
from satellite_tasking.plugin.providers import up42_wire
from satellite_tasking.plugin.sandbox import up42_wire as sandbox_wire

POINT = "c0d3f8b2-7e5a-4d9c-9b43-2a8e4f6d9c33"
DAY = 86400
POINT_PARAMS = {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-01-20T00:00:00Z",
                "maxCloudCover": 20, "priority": "STANDARD"}


class Recording:
    """Wraps ``session.request``: records every request, and can refuse chosen ones before they are sent."""

    def __init__(self, session):
        self.session = session
        self.calls = []
        self.refusals = []  # (method, path prefix, exception factory, times)
        self._request = session.request
        session.request = self.request

    def refuse(self, method, prefix, error, times=1):
        self.refusals.append([method, prefix, error, times])

    def request(self, method, url, **kwargs):
        self.calls.append((method.upper(), url, kwargs.get("params"), kwargs.get("json"), kwargs.get("data")))
        path = urlsplit(url).path
        for rule in self.refusals:
            if rule[3] > 0 and rule[0] == method.upper() and path.startswith(rule[1]):
                rule[3] -= 1
                raise rule[2]()
        return self._request(method, url, **kwargs)


def _names(params) -> list:
    if params is None:
        return []
    items = params.items() if isinstance(params, dict) else params
    return [name for name, value in items if value is not None]


def undocumented_requests(calls, api_base: str) -> list:
    problems = []
    for method, url, params, body, data in calls:
        parts = urlsplit(url)
        if parts.path.startswith("/signed/"):
            continue  # the pre-signed storage URL UP42 handed out: not its API
        if parts.path.endswith("/openid-connect/token") or parts.path == "/oauth/token":
            path = up42_wire.TOKEN
        elif parts.path.endswith("/userinfo"):
            path = up42_wire.USERINFO
        else:
            assert url.startswith(api_base), url
            path = parts.path
        names = _names(params) + [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
        sent = body if body is not None else data
        for problem in up42_wire.undocumented(method, path, names, sent):
            problems.append(f"{problem} ({method} {url})")
    return problems


@pytest.fixture
def server(start_sandbox):
    return start_sandbox(seed=5, settings={"up42_failure_rate": 0.0})


def advance(server, seconds):
    control(server, "POST", "/_sandbox/clock", {"advance_seconds": seconds})


def draft(product, params, geometries, reference):
    return OrderDraft(connection_id="up42-wire", product_id=product, name="Wire order", params=dict(params),
                      aois=[Aoi(geometry=g) for g in geometries], client_reference=reference, tags=("qgis",))


def recorded_provider(server) -> tuple:
    up42 = up42_provider_for(server, "wire@example.com", name="wire UP42", connection_id="up42-wire", page_size=2)
    return Recording(up42.session), up42


def walk_every_code_path(server, tmp_path, recording, up42) -> None:

    control(server, "POST", "/_sandbox/up42/seed_budgets", {"username": "wire@example.com", "names": ["Team"]})
    up42.check()
    products = up42.products()
    assert {p.id for p in products} >= {OPTICAL, POINT}
    schema = up42.order_schema(OPTICAL)
    budget = schema["properties"]["up42:budgetId"]["anyOf"][0]["const"]
    optical = draft(OPTICAL, {**OPTICAL_PARAMS, "up42:budgetId": budget}, [BERLIN, PARIS], "wire-1")
    assert up42.estimate(optical).total > 0
    placed = up42.place(optical)
    assert all(o.order for o in placed)
    assert [o.order.id for o in up42.place(optical)] == [o.order.id for o in placed]  # read back, not re-sent
    # An unclear answer: the orders are read back and matched.
    recording.refuse("POST", "/v2/orders", lambda: ProviderUnavailable("wire UP42", "busy", 503))
    point = draft(POINT, POINT_PARAMS, [{"type": "Point", "coordinates": [13.4, 52.5]}], "wire-2")
    assert up42.place(point)[0].error
    (fresh,) = up42.place(point)
    assert fresh.order is not None
    up42.placed_orders(optical)
    assert len(up42.orders()) == 3
    up42.orders(since=placed[0].order.updated_at)
    list(up42.iter_order_pages())
    up42.edit(fresh.order, {"tags": ["wire-2", "edited"]})
    assert up42.can_cancel(up42.order(fresh.order.id))
    up42.cancel(up42.order(fresh.order.id))

    # Feasibility, price, delivery of the optical orders.
    advance(server, 4 * DAY)
    first, second = (up42.order(o.order.id) for o in placed)
    study = up42.feasibility(first)
    up42.choose_option(study, study.options[0])
    up42.choose_option(study, study.options[0])  # refused as decided: read back
    up42.choose_option(up42.feasibility(second), up42.feasibility(second).options[0])
    advance(server, DAY)
    first = up42.order(first.id)
    quotation = up42.quotation(first)
    up42.decide(quotation, accept=True)
    up42.decide(quotation, accept=True)  # refused as decided: read back
    up42.decide(up42.quotation(up42.order(second.id)), accept=False)
    advance(server, 13 * 3600 + 6 * DAY)
    first = up42.order(first.id)
    assert first.status.raw == "FULFILLED"
    (delivery,) = up42.deliveries(first)
    (asset,) = delivery.assets
    assert up42.download(asset, tmp_path / "a").stat().st_size == asset.size
    # A signed URL refused (expired): a new one is asked for.
    recording.refuse("GET", "/signed/", lambda: AccessForbidden("wire UP42", "expired", 403))
    assert up42.download(asset, tmp_path / "b").exists()
    # A refused STAC search: the workspace's collections and their items.
    recording.refuse("POST", "/v2/assets/stac/search", lambda: NotFoundError("wire UP42", "no search", 404))
    (again,) = up42.deliveries(first)
    assert [a.id for a in again.assets] == [asset.id]
    # A server that lists studies only under the docs' /v2/tasking/feasibility: read there after a 404.
    control(server, "POST", "/_sandbox/settings", {"up42_feasibility_path": "/v2/tasking/feasibility"})
    assert up42.feasibility(first).decision == "ACCEPTED"
    # A renewed token after a 401.
    up42._token.access_token = "stale"
    up42.order(first.id)


def test_every_request_the_provider_sends_is_documented(server, tmp_path):
    recording, up42 = recorded_provider(server)
    try:
        walk_every_code_path(server, tmp_path, recording, up42)
    finally:  # what was sent before any failure is checked first: a strict sandbox may refuse it
        assert undocumented_requests(recording.calls, up42.api_base) == []
    methods_and_paths = {(m, urlsplit(u).path) for m, u, *_ in recording.calls}
    # The walk reached every kind of request the provider makes.
    for expected in [("POST", "/oauth/token"), ("GET", "/userinfo"), ("GET", "/v2/collections"),
                     ("POST", "/v2/orders/estimate"), ("POST", "/v2/orders"), ("GET", "/v2/orders"),
                     ("GET", "/v2/tasking/feasibility-studies"), ("GET", "/v2/tasking/quotation"),
                     ("GET", "/v2/tasking/feasibility"),
                     ("POST", "/v2/assets/stac/search"), ("GET", "/v2/assets/stac/collections")]:
        assert expected in methods_and_paths, expected
    kinds = {up42_wire.endpoint_of(m, urlsplit(u).path) for m, u, *_ in recording.calls}
    for template in ["/orders/schema/{dataProductId}", "/v2/orders/{id}", "/v2/orders/{id}/cancellation",
                     "/v2/tasking/feasibility-studies/{id}", "/v2/tasking/quotation/{id}",
                     "/v2/coverage/orders/{id}", "/v2/assets/{assetId}/download-url",
                     "/v2/assets/stac/collections/{collectionId}/items"]:
        assert any(k and k[1] == template for k in kinds), template
    placements = [body for m, u, p, body, d in recording.calls if m == "POST" and urlsplit(u).path == "/v2/orders"]
    assert placements[0]["budgetId"] and "up42:budgetId" not in placements[0]["params"]


def test_the_check_catches_an_undocumented_parameter():
    calls = [("GET", "http://127.0.0.1:1/v2/assets", {"orderId": "x", "workspaceId": "w"}, None, None),
             ("POST", "http://127.0.0.1:1/v2/orders/estimate", None,
              {"dataProduct": "p", "displayName": "n", "params": {}, "maxCloudCover": 3,
               "featureCollection": {"type": "FeatureCollection",
                                     "features": [{"type": "Feature", "geometry": {}, "properties": {}, "id": 1}]}},
              None),
             ("GET", "http://127.0.0.1:1/v2/orders?colour=red", None, None, None)]
    problems = undocumented_requests(calls, "http://127.0.0.1:1")
    assert len(problems) == 4
    assert "'orderId'" in problems[0] and "'maxCloudCover'" in problems[1] and "'id'" in problems[2]
    assert "'colour'" in problems[3]


def test_every_allowlist_entry_names_its_source_and_the_sandbox_allows_the_same():
    for key, entry in up42_wire.ENDPOINTS.items():
        assert entry["source"], key
        assert all(isinstance(src, str) and src for src in (*entry["query"].values(), *entry["body"].values())), key
    assert set(up42_wire.ENDPOINTS) == set(sandbox_wire.ENDPOINTS)
    for key, entry in up42_wire.ENDPOINTS.items():
        query, body = sandbox_wire.ENDPOINTS[key]
        assert (set(entry["query"]), set(entry["body"])) == (set(query), set(body)), key
    assert set(up42_wire.FEATURE_FIELDS) == set(sandbox_wire.FEATURE_FIELDS)
