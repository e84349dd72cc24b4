"""Point 1 of issue 14 for STAPI: every request field, query parameter and ``Prefer`` value ``StapiProvider`` sends
is one the evidence page documents (``plugin/providers/stapi_wire.py``, each entry with its source); and point 5:
asynchronous opportunity searches, ``reserved``, and the spec-vs-reference-server differences read both ways.

A recording session wraps a real one talking to the sandbox's strict STAPI dialect and walks every code path of the
provider, synchronous and asynchronous searches included. The sandbox's own copy of the list must say the same.
"""
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from satellite_tasking.plugin.http import ProviderError, build_session
from satellite_tasking.plugin.model import Aoi, Connection, OrderDraft, OrderStatus
from satellite_tasking.plugin.providers import stapi_wire
from satellite_tasking.plugin.providers.stapi import END_FIELD, START_FIELD, StapiProvider, format_instant, stapi_status
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.sandbox import stapi_wire as sandbox_wire
from satellite_tasking.plugin.sandbox.stapi import PRODUCT_UUIDS, default_parameters

BERLIN = {"type": "Polygon", "coordinates": [[[13.30, 52.45], [13.40, 52.45], [13.40, 52.52], [13.30, 52.52],
                                              [13.30, 52.45]]]}
SEARCHABLE = "pneo-tasking-analytic"
PLAIN = "capella-tasking-sar"
OFF_NADIR_AT_MOST_20 = {"op": "<=", "args": [{"property": "off_nadir"}, 20]}


class Recording:
    def __init__(self, session):
        self.calls = []
        self._request = session.request
        session.request = self.request

    def request(self, method, url, **kwargs):
        self.calls.append((method.upper(), url, kwargs.get("params"), kwargs.get("json"), kwargs.get("headers")))
        return self._request(method, url, **kwargs)


def undocumented_requests(calls, base_url: str) -> list:
    problems = []
    for method, url, params, body, headers in calls:
        assert url.startswith(base_url), url
        parts = urlsplit(url)
        path = parts.path[len(urlsplit(base_url).path):] or "/"
        names = [n for n, v in (params or {}).items() if v is not None]
        names += [n for n, _ in parse_qsl(parts.query, keep_blank_values=True)]
        problems += [f"{p} ({method} {url})" for p in stapi_wire.undocumented(method, path, names, body, headers)]
    return problems


@pytest.fixture
def sandbox():
    server = SandboxServer(port=0, seed=11, speed=0, dialects=("stapi",)).start()
    yield server
    server.stop()


def setting(sandbox, **values):
    requests.post(f"{sandbox.base_url}/_sandbox/settings", json=values, timeout=5).raise_for_status()


def recorded(sandbox, page_size=3):
    connection = Connection("stapi-wire", "STAPI wire", "stapi", base_url=f"{sandbox.base_url}/stapi")
    session = build_session(connection.name, "SatelliteTasking/test", max_retries=0)
    recording = Recording(session)
    provider = StapiProvider(connection, None, session, page_size=page_size)
    provider.poll_sleep = lambda seconds: None
    return recording, provider


def sandbox_window(sandbox, days_from=3, days=20):
    now = requests.get(f"{sandbox.base_url}/_sandbox/clock", timeout=5).json()["now"]
    start = datetime.fromisoformat(now.replace("Z", "+00:00")).replace(microsecond=0) + timedelta(days=days_from)
    return start, start + timedelta(days=days)


def walk_every_code_path(sandbox, recording, provider):
    provider.check()
    assert {SEARCHABLE, PLAIN} <= {p.id for p in provider.products()}
    provider.order_schema(SEARCHABLE)
    provider.queryables(SEARCHABLE)
    start, end = sandbox_window(sandbox)
    synchronous = provider.opportunities(SEARCHABLE, BERLIN, start, end)
    filtered = provider.opportunities(SEARCHABLE, BERLIN, start, end, OFF_NADIR_AT_MOST_20)
    assert len(synchronous) > 3 and 0 < len(filtered) < len(synchronous)
    # The same searches, asynchronous only (the product keeps listing the synchronous class, as the reference
    # server's products do): 201, a search record polled until completed, then its opportunities.
    setting(sandbox, stapi_opportunity_search="async")
    asynchronous = provider.opportunities(SEARCHABLE, BERLIN, start, end, OFF_NADIR_AT_MOST_20)
    assert [o.id for o in asynchronous] == [o.id for o in filtered][:len(asynchronous)] and asynchronous
    provider._products.clear()
    provider.products()
    opportunity = asynchronous[0]
    params = {**default_parameters(PRODUCT_UUIDS[SEARCHABLE]), "maxCloudCover": 15, **opportunity.form_values()}
    draft = OrderDraft(connection_id="stapi-wire", product_id=SEARCHABLE, name="Wire", params=params,
                       aois=[Aoi(geometry=BERLIN)], client_reference="wire-1")
    (placed,) = provider.place(draft)
    assert placed.placed, placed.error
    (again,) = provider.place(draft)  # read back, not sent twice
    assert again.order.id == placed.order.id
    plain = {**default_parameters(PRODUCT_UUIDS[PLAIN]), "polarization": "VV",
             START_FIELD: format_instant(start), END_FIELD: format_instant(end)}
    provider.place(OrderDraft(connection_id="stapi-wire", product_id=PLAIN, name="Plain", params=plain,
                              aois=[Aoi(geometry=BERLIN)], client_reference="wire-2"))
    assert len(provider.orders()) == 2
    provider.order(placed.order.id)
    assert provider.status_history(provider.order(placed.order.id))


def test_every_request_the_provider_sends_is_documented(sandbox):
    recording, provider = recorded(sandbox)
    try:
        walk_every_code_path(sandbox, recording, provider)
    finally:
        assert undocumented_requests(recording.calls, provider.base_url) == []
    sent = {stapi_wire.endpoint_of(m, urlsplit(u).path[len(urlsplit(provider.base_url).path):] or "/")
            for m, u, *_ in recording.calls}
    for expected in [("GET", "/"), ("GET", "/products"), ("GET", "/products/{productId}/order-parameters"),
                     ("GET", "/products/{productId}/queryables"), ("POST", "/products/{productId}/opportunities"),
                     ("GET", "/searches/opportunities/{searchRecordId}"),
                     ("GET", "/products/{productId}/opportunities/{opportunityCollectionId}"),
                     ("POST", "/products/{productId}/orders"), ("GET", "/orders"), ("GET", "/orders/{orderId}"),
                     ("GET", "/orders/{orderId}/statuses")]:
        assert expected in sent, expected
    prefers = {(h or {}).get("Prefer") for m, u, p, b, h in recording.calls if m == "POST" and "opportunities" in u}
    assert prefers == {"wait"}


def test_the_check_catches_what_is_not_documented():
    problems = undocumented_requests([
        ("POST", "http://h/stapi/products/p/opportunities", None,
         {"datetime": "a/b", "geometry": {}, "filter": None, "max_cloud": 3}, {"Prefer": "handling=lenient"}),
        ("GET", "http://h/stapi/orders", {"limit": 3, "sort": "created"}, None, None),
        ("POST", "http://h/stapi/orders/o/cancel", None, None, None)], "http://h/stapi")
    assert len(problems) == 5
    assert "'max_cloud'" in problems[0] and "null" in problems[1] and "handling=lenient" in problems[2]
    assert "'sort'" in problems[3] and "not a documented endpoint" in problems[4]


def test_an_async_only_product_is_asked_with_respond_async(sandbox):
    setting(sandbox, stapi_opportunity_search="async")
    recording, provider = recorded(sandbox)
    product = next(p for p in provider.products() if p.id == SEARCHABLE)
    # A server that lists only the asynchronous class (the spec's spelling here) is asked to respond async.
    product.extra["conformsTo"] = [c for c in product.extra["conformsTo"] if not c.endswith("/opportunities")]
    product.extra["conformsTo"].append("https://stapi.example.com/v0.1.0/async-opportunities")
    product.extra["async_only"] = True
    start, end = sandbox_window(sandbox)
    assert provider.opportunities(product, BERLIN, start, end)
    (search,) = [c for c in recording.calls if c[0] == "POST"]
    assert search[4] == {"Prefer": "respond-async"}
    polls = [c for c in recording.calls if "/searches/opportunities/" in c[1]]
    assert len(polls) == 2  # received -> in_progress -> completed, one step per read
    assert undocumented_requests(recording.calls, provider.base_url) == []


def test_a_failed_or_endless_search_is_said_so(sandbox, monkeypatch):
    setting(sandbox, stapi_opportunity_search="async", stapi_search_reads=10_000)
    _, provider = recorded(sandbox)
    monkeypatch.setattr("satellite_tasking.plugin.providers.stapi.SEARCH_POLLS", 5)
    start, end = sandbox_window(sandbox)
    with pytest.raises(ProviderError, match="still searching"):
        provider.opportunities(SEARCHABLE, BERLIN, start, end)
    record = {"id": "s1", "status": {"status_code": "failed", "reason_text": "sensor offline"}}
    with pytest.raises(ProviderError, match="ended failed: sensor offline"):
        list(provider._async_results(record, None, provider._product(SEARCHABLE)))


def test_reserved_waits_for_the_customer_and_unknown_codes_stay_raw():
    reserved = stapi_status("reserved")
    assert reserved.code == OrderStatus.HELD and reserved.raw == "reserved" and not reserved.is_terminal
    assert stapi_status("user_canceled").code == OrderStatus.CANCELLED
    odd = stapi_status("awaiting_downlink")
    assert odd.raw == "awaiting_downlink" and not odd.is_terminal


def test_spec_shaped_answers_are_read_too():
    connection = Connection("stapi-spec", "STAPI spec", "stapi", base_url="http://127.0.0.1:1")
    provider = StapiProvider(connection, None, build_session("STAPI spec", "SatelliteTasking/test"))
    # Spec prose: order fields at the top level, "request" instead of "search_parameters", datetime as an array.
    order = provider._order_from({"id": "o1", "product_id": "p", "created": "2026-01-05T00:00:00Z",
                                  "status": {"timestamp": "2026-01-05T01:00:00Z", "status_code": "reserved"},
                                  "request": {"datetime": ["2026-01-10T00:00:00Z", "2026-01-20T00:00:00Z"],
                                              "geometry": BERLIN}})
    assert order.product_id == "p" and order.status.code == OrderStatus.HELD and order.geometry == BERLIN
    assert order.acquisition_start.day == 10 and order.acquisition_end.day == 20


def test_the_sandbox_allows_exactly_what_the_plugin_list_documents():
    for key, entry in stapi_wire.ENDPOINTS.items():
        assert entry["source"], key
    assert set(stapi_wire.ENDPOINTS) == set(sandbox_wire.ENDPOINTS)
    for key, entry in stapi_wire.ENDPOINTS.items():
        query, body, prefer = sandbox_wire.ENDPOINTS[key]
        assert (set(entry["query"]), set(entry["body"]), bool(entry["headers"])) == (set(query), set(body), prefer)
    assert set(stapi_wire.PREFER_VALUES) == set(sandbox_wire.PREFER_VALUES)


@pytest.mark.parametrize("method, path, params, body, headers, text", [
    ("GET", "/orders", {"sort": "created"}, None, None, "'sort'"),
    ("GET", "/products", {"page": "2"}, None, None, "'page'"),
    ("POST", "/products/pneo-tasking-analytic/opportunities", None,
     {"datetime": "2026-01-10T00:00:00Z/2026-01-20T00:00:00Z", "geometry": BERLIN, "max_cloud": 3}, None,
     "'max_cloud'"),
    ("POST", "/products/pneo-tasking-analytic/opportunities", None,
     {"datetime": "2026-01-10T00:00:00Z/2026-01-20T00:00:00Z", "geometry": BERLIN}, {"Prefer": "lenient"},
     "Invalid Prefer header value: lenient"),
    ("POST", "/products/capella-tasking-sar/orders", None,
     {"datetime": "2026-01-10T00:00:00Z/2026-01-20T00:00:00Z", "geometry": BERLIN, "order_parameters": {},
      "title": "mine"}, None, "'title'"),
])
def test_undocumented_fields_parameters_and_prefer_values_get_a_400(sandbox, method, path, params, body, headers,
                                                                   text):
    response = requests.request(method, f"{sandbox.base_url}/stapi{path}", params=params, json=body,
                                headers=headers, timeout=5)
    assert response.status_code == 400, response.text
    assert text in response.json()["detail"]


def test_reserved_reads_as_waiting_for_the_customer_on_screen():
    from satellite_tasking.plugin.model import Decision, Order
    from satellite_tasking.plugin.wording import order_status_name, status_sentence

    order = Order(id="o", connection_id="c", name="n", status=stapi_status("reserved"), product_id="p",
                  decision=Decision.NONE)
    assert order_status_name(order) == "Waiting for you"
    assert status_sentence(order).startswith("The provider needs an action from you, such as a payment")
    assert "scheduled" not in status_sentence(order).lower()


def test_a_new_order_is_read_again_from_its_location_even_without_a_body(sandbox):
    """The spec's create-order answer is 201 + Location (the reference server adds the order as body): either way
    the order is read again from the server."""
    recording, provider = recorded(sandbox)
    start, end = sandbox_window(sandbox)
    params = {**default_parameters(PRODUCT_UUIDS[PLAIN]), "polarization": "VV",
              START_FIELD: format_instant(start), END_FIELD: format_instant(end)}
    draft = OrderDraft(connection_id="stapi-wire", product_id=PLAIN, name="Plain", params=params,
                       aois=[Aoi(geometry=BERLIN)], client_reference="wire-location")
    (placed,) = provider.place(draft)
    post = next(i for i, c in enumerate(recording.calls) if c[0] == "POST")
    assert recording.calls[post + 1][0] == "GET" and recording.calls[post + 1][1].endswith(f"/orders/{placed.order.id}")

    class Bodiless:
        content = b""
        headers = {"Location": f"{provider.base_url}/orders/{placed.order.id}"}

    order = provider._placed_order(f"{provider.base_url}/products/{PLAIN}/orders", Bodiless())
    assert order.id == placed.order.id and order.status.raw


def test_a_server_answering_as_the_spec_prose_writes_is_understood(sandbox):
    """Orders listed under "orders" with their fields at the top level, the search as "request" with a two-item
    datetime, search records with "request": placing twice still finds the first order, and async searches work."""
    setting(sandbox, stapi_shapes="spec", stapi_opportunity_search="async")
    recording, provider = recorded(sandbox)
    start, end = sandbox_window(sandbox)
    found = provider.opportunities(SEARCHABLE, BERLIN, start, end, OFF_NADIR_AT_MOST_20)
    assert found and found[0].order_body["filter"] == OFF_NADIR_AT_MOST_20
    params = {**default_parameters(PRODUCT_UUIDS[SEARCHABLE]), "maxCloudCover": 15, **found[0].form_values()}
    draft = OrderDraft(connection_id="stapi-wire", product_id=SEARCHABLE, name="Spec", params=params,
                       aois=[Aoi(geometry=BERLIN)], client_reference="wire-spec")
    (placed,) = provider.place(draft)
    assert placed.placed, placed.error
    order = placed.order
    assert order.product_id == SEARCHABLE and order.acquisition_start == found[0].start
    assert order.params["maxCloudCover"] == 15 and order.geometry == BERLIN
    (again,) = provider.place(draft)
    assert again.order.id == order.id
    assert [o.id for o in provider.orders()] == [order.id]
    assert undocumented_requests(recording.calls, provider.base_url) == []
