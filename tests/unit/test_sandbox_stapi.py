"""The sandbox's STAPI dialect on the wire: same products as UP42, a seeded sky, order lives, paging."""
import pytest
import requests

from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.sandbox.stapi import PRODUCT_UUIDS, default_parameters, matches
from satellite_tasking.plugin.sandbox.up42_schemas import PRODUCTS

POINT = {"type": "Point", "coordinates": [2.35, 48.85]}
WINDOW = "2026-01-10T00:00:00Z/2026-01-24T00:00:00Z"


@pytest.fixture
def sandbox():
    with SandboxServer(port=0, seed=7, speed=0, dialects=("up42", "stapi")) as server:
        yield server


def search(server, body, product="blacksky-tasking-standard"):
    return requests.post(f"{server.base_url}/stapi/products/{product}/opportunities", json=body, timeout=10)


def test_products_are_the_up42_products_with_their_forms(sandbox):
    page = requests.get(f"{sandbox.base_url}/stapi/products?limit=100", timeout=5).json()
    assert {p["id"] for p in page["products"]} == {p["name"] for p in PRODUCTS.values()}
    blacksky = next(p for p in page["products"] if p["id"] == "blacksky-tasking-standard")
    assert blacksky["conformsTo"][0] == "https://geojson.org/schema/Point.json"
    assert any(link["rel"] == "opportunities" for link in blacksky["links"])
    sar = next(p for p in page["products"] if p["id"] == "capella-tasking-sar")
    assert not any(link["rel"] == "opportunities" for link in sar["links"])
    schema = requests.get(f"{sandbox.base_url}/stapi/products/pneo-tasking-analytic/order-parameters",
                          timeout=5).json()
    assert "acquisitionMode" in schema["properties"] and "allOf" in schema
    assert not {"displayName", "geometry", "acquisitionStart"} & set(schema["properties"])
    assert search(sandbox, {"datetime": WINDOW, "geometry": POINT}, "capella-tasking-sar").status_code == 404


def test_the_sky_depends_on_the_seed_alone():
    bodies = []
    for _ in range(2):
        with SandboxServer(port=0, seed=7, speed=0, dialects=("stapi",)) as server:
            requests.post(f"{server.base_url}/stapi/products/pneo-tasking-display/opportunities",
                          json={"datetime": WINDOW, "geometry": {"type": "Polygon", "coordinates": [[
                              [1, 1], [1.1, 1], [1.1, 1.1], [1, 1.1], [1, 1]]]}}, timeout=10)
            features = search(server, {"datetime": WINDOW, "geometry": POINT, "limit": 100}).json()["features"]
            bodies.append([{k: v for k, v in f.items() if k != "links"} for f in features])
    assert bodies[0] == bodies[1] and bodies[0]
    with SandboxServer(port=0, seed=8, speed=0, dialects=("stapi",)) as server:
        other = search(server, {"datetime": WINDOW, "geometry": POINT, "limit": 100}).json()["features"]
    assert [f["id"] for f in other] != [f["id"] for f in bodies[0]]


def test_opportunities_page_by_post_links_and_filter_with_cql2(sandbox):
    everything = search(sandbox, {"datetime": WINDOW, "geometry": POINT, "limit": 100}).json()["features"]
    body = {"datetime": WINDOW, "geometry": POINT, "limit": 2,
            "filter": {"op": "and", "args": [{"op": "<=", "args": [{"property": "off_nadir"}, 30]},
                                             {"op": "in", "args": [{"property": "satellite"},
                                                                   ["GLOBAL-16", "GLOBAL-17"]]}]}}
    collected, pages = [], 0
    answer = search(sandbox, body).json()
    while True:
        pages += 1
        collected += answer["features"]
        link = next((link for link in answer["links"] if link["rel"] == "next"), None)
        if link is None or pages > 50:
            break
        answer = requests.post(link["href"], json=link["body"], timeout=10).json()
    expected = [f for f in everything if f["properties"]["off_nadir"] <= 30
                and f["properties"]["satellite"] in ("GLOBAL-16", "GLOBAL-17")]
    assert [f["id"] for f in collected] == [f["id"] for f in expected] and pages > 1
    assert 0 < len(expected) < len(everything)
    order_link = next(link for link in collected[0]["links"] if link["rel"] == "create-order")
    assert order_link["body"]["datetime"] == collected[0]["properties"]["datetime"]
    bad = search(sandbox, {"datetime": WINDOW, "geometry": POINT,
                           "filter": {"op": "<=", "args": [{"property": "cloud"}, 3]}})
    assert bad.status_code == 422 and "queryable" in bad.json()["detail"]


def test_an_order_lives_on_the_simulated_clock(sandbox):
    uuid = PRODUCT_UUIDS["blacksky-tasking-standard"]
    body = {"datetime": WINDOW, "geometry": POINT, "order_parameters": default_parameters(uuid)}
    created = requests.post(f"{sandbox.base_url}/stapi/products/blacksky-tasking-standard/orders", json=body,
                            timeout=5)
    assert created.status_code == 201
    order = created.json()
    assert created.headers["Location"].endswith(f"/stapi/orders/{order['id']}")
    assert order["properties"]["status"]["status_code"] == "received"
    statuses_url = next(link["href"] for link in order["links"] if link["rel"] == "monitor")
    requests.post(f"{sandbox.base_url}/_sandbox/clock", json={"advance_seconds": 40 * 86400}, timeout=5)
    history = requests.get(statuses_url, params={"limit": 100}, timeout=5).json()["statuses"]
    codes = [s["status_code"] for s in history]
    assert codes[:3] == ["received", "accepted", "scheduled"] and codes[-1] in ("completed", "failed")
    assert [s["timestamp"] for s in history] == sorted(s["timestamp"] for s in history)
    current = requests.get(f"{sandbox.base_url}/stapi/orders/{order['id']}", timeout=5).json()
    assert current["properties"]["status"] == history[-1]
    assert current["properties"]["opportunity_properties"]["satellite"].startswith("GLOBAL-")

    bad = requests.post(f"{sandbox.base_url}/stapi/products/blacksky-tasking-standard/orders",
                        json={**body, "order_parameters": {"priority": "NOW"}}, timeout=5)
    assert bad.status_code == 422


def test_orders_page_with_next_links(sandbox):
    requests.post(f"{sandbox.base_url}/_sandbox/stapi/seed_orders", json={"count": 5}, timeout=5).raise_for_status()
    url, seen, pages = f"{sandbox.base_url}/stapi/orders?limit=2", [], 0
    while url and pages < 10:
        page = requests.get(url, timeout=5).json()
        pages += 1
        seen += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert pages == 3 and len(set(seen)) == 5


def test_cql2_evaluation():
    props = {"off_nadir": 12.5, "satellite": "A", "sun": None}
    assert matches({"op": "between", "args": [{"property": "off_nadir"}, 10, 15]}, props)
    assert matches({"op": "not", "args": [{"op": "=", "args": [{"property": "satellite"}, "B"]}]}, props)
    assert matches({"op": "isNull", "args": [{"property": "sun"}]}, props)
    assert not matches({"op": "or", "args": [{"op": ">", "args": [{"property": "off_nadir"}, 20]},
                                             {"op": "<", "args": [{"property": "sun"}, 5]}]}, props)
