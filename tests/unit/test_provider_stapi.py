"""The STAPI provider against the real reference server (stapi-fastapi 0.8.0) and the sandbox's STAPI dialect.

Every test that can runs against both servers: what passes here passes against any STAPI server that
behaves like the reference. The reference server runs in its own venv (.venv-stapi); without it these
tests fail and say to run `make setup`.
"""
from datetime import datetime, timedelta, timezone

import pytest
import requests
from jsonschema import Draft7Validator
from sandbox_harness import REPO_ROOT

from satellite_tasking.plugin.http import CredentialsRejected, build_session
from satellite_tasking.plugin.model import Aoi, Connection, OrderDraft, OrderStatus
from satellite_tasking.plugin.providers.base import NotSupported
from satellite_tasking.plugin.providers.stapi import (
    API_KEY_HEADER,
    END_FIELD,
    FILTER_FIELD,
    START_FIELD,
    StapiAuth,
    StapiProvider,
    auth_header,
    format_instant,
    geometry_types_of,
)
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.sandbox.stapi import PRODUCT_UUIDS, default_parameters

TOKEN = "reference-token"
SEEDED = 7


def _load_reference_server():
    import importlib.util
    import sys

    name = "_stapi_reference_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tests" / "stapi" / "reference_server.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


reference_server = _load_reference_server()


class Credentials:
    def __init__(self, username, password=""):
        self.username = username
        self.password = password


class Server:
    """One STAPI server under test, with what the tests need to know about its products."""

    def __init__(self, kind, url, secret, searchable, searchable_params, plain, plain_params, aoi):
        self.kind, self.url, self.secret = kind, url, secret
        self.searchable, self.searchable_params = searchable, searchable_params
        self.plain, self.plain_params = plain, plain_params
        self.aoi = aoi
        self.sandbox = None

    def provider(self, page_size=100, secret=None):
        connection = Connection("stapi-1", f"STAPI {self.kind}", "stapi", base_url=self.url)
        session = build_session(connection.name, "SatelliteTasking/test", max_retries=0)
        credentials = Credentials(self.secret if secret is None else secret)
        return StapiProvider(connection, credentials, session, page_size=page_size)


BERLIN = {"type": "Polygon", "coordinates": [[[13.30, 52.45], [13.40, 52.45], [13.40, 52.52], [13.30, 52.52],
                                              [13.30, 52.45]]]}


@pytest.fixture(scope="module", params=["reference", "sandbox"])
def server(request):
    if request.param == "reference":
        if not reference_server.STAPI_PYTHON.exists():
            pytest.fail(reference_server.MISSING_VENV)
        with reference_server.running(token=TOKEN, seed_orders=SEEDED) as url:
            yield Server("reference", url, TOKEN, "optical-30", {"max_cloud_cover": 15, "priority": "rush"},
                         "sar-strip", {"polarization": "VV"}, BERLIN)
    else:
        sandbox = SandboxServer(port=0, seed=11, speed=0, dialects=("stapi",)).start()
        try:
            requests.post(f"{sandbox.base_url}/_sandbox/stapi/seed_orders",
                          json={"count": SEEDED, "product_id": "capella-tasking-sar"}, timeout=10).raise_for_status()
            analytic = PRODUCT_UUIDS["pneo-tasking-analytic"]
            sar = PRODUCT_UUIDS["capella-tasking-sar"]
            found = Server("sandbox", f"{sandbox.base_url}/stapi", "", "pneo-tasking-analytic",
                           {**default_parameters(analytic), "maxCloudCover": 15}, "capella-tasking-sar",
                           {**default_parameters(sar), "polarization": "VV"}, BERLIN)
            found.sandbox = sandbox
            yield found
        finally:
            sandbox.stop()


def window(days_from=3, days=12):
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=days_from)
    if start.year < 2026:
        start = datetime(2026, 1, 8, tzinfo=timezone.utc)
    return start, start + timedelta(days=days)


def sandbox_window(server, days_from=3, days=12):
    if server.kind == "sandbox":
        now = requests.get(f"{server.sandbox.base_url}/_sandbox/clock", timeout=5).json()["now"]
        start = datetime.fromisoformat(now.replace("Z", "+00:00")).replace(microsecond=0) + timedelta(days=days_from)
        return start, start + timedelta(days=days)
    return window(days_from, days)


OFF_NADIR_AT_MOST_20 = {"op": "<=", "args": [{"property": "off_nadir"}, 20]}


# -- catalogue -----------------------------------------------------------------------------------

def test_products_carry_geometry_types_and_opportunity_support(server):
    products = {p.id: p for p in server.provider().products()}
    assert server.searchable in products and server.plain in products
    assert all(p.api == "stapi" for p in products.values())
    assert "Polygon" in products[server.searchable].geometry_types
    assert products[server.searchable].extra["opportunities"] is True
    assert products[server.plain].extra["opportunities"] is False
    assert all(t in ("Point", "Polygon", "MultiPolygon", "LineString") for p in products.values()
               for t in p.geometry_types)


def test_geometry_types_come_from_conforms_to():
    assert geometry_types_of(["https://geojson.org/schema/Point.json", "https://stapi.example.com/v0.1.0/core",
                              "https://geojson.org/schema/MultiPolygon.json"]) == ("Point", "MultiPolygon")
    assert geometry_types_of([]) == ()


def test_order_form_schema_is_the_order_parameters_plus_the_window(server):
    provider = server.provider()
    schema = provider.order_schema(server.plain)
    assert {START_FIELD, END_FIELD, FILTER_FIELD} <= set(schema["properties"])
    assert {START_FIELD, END_FIELD} <= set(schema["required"])
    start, end = window()
    good = {**server.plain_params, START_FIELD: format_instant(start), END_FIELD: format_instant(end)}
    assert not list(Draft7Validator(schema).iter_errors(good))
    assert list(Draft7Validator(schema).iter_errors({**server.plain_params}))  # no window
    # The two products ask for different things.
    other = provider.order_parameters_schema(server.searchable)
    assert set(other["properties"]) != set(provider.order_parameters_schema(server.plain)["properties"])


# -- opportunities --------------------------------------------------------------------------------

def test_opportunities_with_a_cql2_filter_from_the_queryables(server):
    provider = server.provider(page_size=3)  # several pages of opportunities
    queryables = provider.queryables(server.searchable)
    assert "off_nadir" in queryables["properties"]
    start, end = sandbox_window(server, days=20)
    everything = provider.opportunities(server.searchable, server.aoi, start, end)
    steep_free = provider.opportunities(server.searchable, server.aoi, start, end, OFF_NADIR_AT_MOST_20)
    assert len(everything) > 3, "the sky should offer several pages of passes in 20 days"
    assert 0 < len(steep_free) < len(everything)
    assert all(o.properties["off_nadir"] <= 20 for o in steep_free)
    assert len({o.id for o in everything}) == len(everything)
    for opportunity in steep_free:
        assert start <= opportunity.start <= opportunity.end <= end + timedelta(minutes=10)
        assert opportunity.geometry["type"] == "Polygon"
        values = opportunity.form_values()
        assert values[FILTER_FIELD] == OFF_NADIR_AT_MOST_20
        assert datetime.fromisoformat(values[START_FIELD].replace("Z", "+00:00")) == opportunity.start
    # Deterministic: the same search finds the same opportunities.
    again = provider.opportunities(server.searchable, server.aoi, start, end, OFF_NADIR_AT_MOST_20)
    assert [o.id for o in again] == [o.id for o in steep_free]


def test_product_without_opportunities_says_so(server):
    provider = server.provider()
    start, end = window()
    with pytest.raises(NotSupported):
        provider.opportunities(server.plain, server.aoi, start, end)


# -- ordering -------------------------------------------------------------------------------------

def draft_for(server, product, params, aois, reference="qgis-test"):
    return OrderDraft(connection_id="stapi-1", product_id=product, name="Test", params=params,
                      aois=[Aoi(geometry=g) for g in aois], client_reference=reference)


def test_order_an_opportunity_then_read_its_status_history(server):
    provider = server.provider()
    start, end = sandbox_window(server, days=20)
    opportunity = provider.opportunities(server.searchable, server.aoi, start, end, OFF_NADIR_AT_MOST_20)[0]
    params = {**server.searchable_params, **opportunity.form_values()}
    draft = draft_for(server, server.searchable, params, [server.aoi], "qgis-opportunity")
    before = len(provider.orders())
    [outcome] = provider.place(draft)
    assert outcome.placed, outcome.error
    order = outcome.order
    assert order.api == "stapi" and order.product_id == server.searchable
    assert (order.acquisition_start, order.acquisition_end) == (opportunity.start, opportunity.end)
    assert order.status.code in (OrderStatus.RECEIVED, OrderStatus.ACCEPTED)
    assert order.raw["properties"]["search_parameters"]["filter"] == OFF_NADIR_AT_MOST_20
    assert order.raw["properties"]["order_parameters"].items() >= server.searchable_params.items()

    # Placing the same draft again (a retry, or after a crash) never creates a second order.
    [again] = provider.place(draft)
    assert again.order.id == order.id
    assert provider.placed_orders(draft) == {0: provider.placed_orders(draft)[0]}
    assert provider.placed_orders(draft)[0].id == order.id
    assert len(provider.orders()) == before + 1

    if server.kind == "sandbox":
        requests.post(f"{server.sandbox.base_url}/_sandbox/clock", json={"advance_seconds": 30 * 86400}, timeout=5)
    history = provider.status_history(provider.order(order.id))
    assert history[0].status.code == OrderStatus.RECEIVED
    assert len(history) >= 2
    assert [e.timestamp for e in history] == sorted(e.timestamp for e in history)
    current = provider.order(order.id)
    assert current.status == history[-1].status
    if server.kind == "sandbox":
        assert current.status.is_terminal


def test_one_order_per_aoi_and_refusals_are_reported(server):
    provider = server.provider()
    start, end = window(5, 10)
    second = {"type": "Polygon", "coordinates": [[[14.0, 51.0], [14.1, 51.0], [14.1, 51.1], [14.0, 51.1],
                                                  [14.0, 51.0]]]}
    params = {**server.plain_params, START_FIELD: format_instant(start), END_FIELD: format_instant(end)}
    outcomes = provider.place(draft_for(server, server.plain, params, [server.aoi, second], "qgis-two"))
    assert [o.placed for o in outcomes] == [True, True], [o.error for o in outcomes]
    assert outcomes[0].order.id != outcomes[1].order.id

    bad = {**params, "polarization": "XX"}
    [refused] = provider.place(draft_for(server, server.plain, bad, [server.aoi], "qgis-bad"))
    assert not refused.placed and ("polarization" in refused.error or "'HH'" in refused.error), refused.error


class LosingAdapter(requests.adapters.HTTPAdapter):
    """Delivers the first order POST, then loses the answer (as a dropped connection would)."""

    def __init__(self):
        super().__init__()
        self.lost = 0

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        if request.method == "POST" and request.url.rstrip("/").endswith("/orders") and not self.lost:
            self.lost += 1
            response.close()
            raise requests.exceptions.ReadTimeout("answer lost")
        return response


def test_an_unclear_answer_is_reconciled_not_repeated(server):
    provider = server.provider()
    adapter = LosingAdapter()
    provider.session._session.mount("http://", adapter)
    start, end = window(7, 9)
    aoi = {"type": "Polygon", "coordinates": [[[12.0, 50.0], [12.2, 50.0], [12.2, 50.2], [12.0, 50.2],
                                               [12.0, 50.0]]]}
    params = {**server.plain_params, START_FIELD: format_instant(start), END_FIELD: format_instant(end)}
    before = len(provider.orders())
    [outcome] = provider.place(draft_for(server, server.plain, params, [aoi], "qgis-lost"))
    assert adapter.lost == 1
    assert outcome.placed, outcome.error
    assert len(provider.orders()) == before + 1


# -- reading and paging -------------------------------------------------------------------------

def recorded(provider):
    urls = []
    provider.session._session.hooks["response"].append(lambda response, **kwargs: urls.append(
        (response.request.method, response.url)))
    return urls


def test_paging_follows_next_links_for_products_and_orders(server):
    provider = server.provider(page_size=1)
    urls = recorded(provider)
    products = provider.products()
    product_pages = [u for m, u in urls if "/products" in u]
    assert len(product_pages) == len(products) >= 2
    assert all("next=" in u for u in product_pages[1:])

    provider.page_size = 3
    urls.clear()
    orders = provider.orders()
    order_pages = [u for m, u in urls if "/orders" in u]
    assert len(orders) >= SEEDED
    assert len(order_pages) == -(-len(orders) // 3) >= 3
    assert all("next=" in u for u in order_pages[1:])
    assert len({o.id for o in orders}) == len(orders)
    assert [o.updated_at for o in orders] == sorted((o.updated_at for o in orders), reverse=True)


def test_statuses_are_the_stapi_codes_with_the_raw_kept(server):
    orders = server.provider().orders()
    assert orders
    for order in orders:
        raw = order.raw["properties"]["status"]["status_code"]
        assert order.status.raw == raw
        expected = {"user_cancelled": "cancelled", "reserved": "scheduled"}.get(raw, raw)
        assert order.status.code.value == expected
    if server.kind == "reference":
        assert any(o.status.raw == "user_cancelled" and o.status.code == OrderStatus.CANCELLED for o in orders)
        since = max(o.updated_at for o in orders)
        assert {o.id for o in server.provider().orders(since=since)} == {o.id for o in orders
                                                                         if o.updated_at >= since}


def test_status_history_pages_are_followed(server):
    provider = server.provider(page_size=2)
    if server.kind == "sandbox":
        requests.post(f"{server.sandbox.base_url}/_sandbox/clock", json={"advance_seconds": 86400}, timeout=5)
    longest = max((provider.status_history(o) for o in provider.orders()), key=len)
    assert len(longest) >= 5
    assert longest[-1].status.is_terminal


# -- authentication -------------------------------------------------------------------------------

def test_auth_header_convention():
    assert auth_header("") is None
    assert auth_header("abc") == ("Authorization", "Bearer abc")
    assert auth_header("bearer:abc") == ("Authorization", "Bearer abc")
    assert auth_header("apikey:k-1") == (API_KEY_HEADER, "k-1")
    auth = StapiAuth("https://stapi.example.com/api", auth_header("apikey:k-1"))
    assert "k-1" not in repr(auth)
    own = requests.Request("GET", "https://stapi.example.com/api/orders?next=x").prepare()
    other = requests.Request("GET", "https://elsewhere.example.com/orders?next=x").prepare()
    assert auth(own).headers[API_KEY_HEADER] == "k-1"
    assert API_KEY_HEADER not in auth(other).headers


def test_reference_server_rejects_a_wrong_token_and_accepts_an_api_key():
    if not reference_server.STAPI_PYTHON.exists():
        pytest.fail(reference_server.MISSING_VENV)
    with reference_server.running(api_key="key-42") as url:
        good = Server("reference", url, "apikey:key-42", "optical-30", {}, "sar-strip", {}, BERLIN)
        assert len(good.provider().products()) == 3  # optical-30, sar-strip, optical-async
        assert "3 product" in good.provider().check()
        with pytest.raises(CredentialsRejected):
            good.provider(secret="apikey:wrong").products()
        with pytest.raises(CredentialsRejected):
            good.provider(secret="key-42").products()  # a bearer token is not an API key


# -- asynchronous opportunity searches (issue 14, point 5) -----------------------------------------

def test_the_reference_servers_async_only_product_is_searched_and_ordered():
    """stapi-fastapi 0.8.0 with a product that offers only asynchronous searches (it still lists the synchronous
    conformance class): ``Prefer: wait`` gets a 201 search record, which is polled, then its opportunities read."""
    if not reference_server.STAPI_PYTHON.exists():
        pytest.fail(reference_server.MISSING_VENV)
    with reference_server.running(token=TOKEN) as url:
        server = Server("reference", url, TOKEN, "optical-async", {"max_cloud_cover": 15}, "sar-strip", {}, BERLIN)
        provider = server.provider()
        provider.poll_sleep = lambda seconds: None
        product = next(p for p in provider.products() if p.id == "optical-async")
        assert product.extra["opportunities"] is True
        start, end = window(days=20)
        found = provider.opportunities(product, BERLIN, start, end, OFF_NADIR_AT_MOST_20)
        assert found and all(o.properties["off_nadir"] <= 20 for o in found)
        params = {"max_cloud_cover": 15, **found[0].form_values()}
        [outcome] = provider.place(draft_for(server, "optical-async", params, [BERLIN], "qgis-async"))
        assert outcome.placed, outcome.error
        assert outcome.order.acquisition_start == found[0].start


def test_the_reference_servers_validation_errors_are_shown_with_where_they_point():
    if not reference_server.STAPI_PYTHON.exists():
        pytest.fail(reference_server.MISSING_VENV)
    with reference_server.running(token=TOKEN) as url:
        server = Server("reference", url, TOKEN, "optical-30", {}, "sar-strip", {}, BERLIN)
        start, end = window()
        params = {"max_cloud_cover": 15, "priority": "urgent", START_FIELD: format_instant(start),
                  END_FIELD: format_instant(end)}
        [outcome] = server.provider().place(draft_for(server, "optical-30", params, [BERLIN], "qgis-invalid"))
        assert not outcome.placed
        assert "HTTP 422" in outcome.error and "order_parameters.priority:" in outcome.error
