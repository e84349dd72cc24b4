"""The Sandbox connection: UP42 and Planet behind one provider, each call routed to its API."""
from datetime import timedelta

import pytest
from sandbox_harness import sandbox_provider_for

from satellite_tasking.plugin.model import Aoi, Decision, OrderDraft
from satellite_tasking.plugin.providers.base import NotSupported

DAY = 86400
SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.05, 52.0], [13.05, 52.05], [13.0, 52.05],
                                              [13.0, 52.0]]]}


@pytest.fixture
def sandbox_options():
    return {"seed": 4}


@pytest.fixture
def provider(sandbox_provider):
    return sandbox_provider


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_products_of_both_apis_with_routable_ids(provider):
    products = provider.products()
    apis = {p.api for p in products}
    assert apis == {"up42", "planet", "stapi"}
    assert all(p.id.startswith(p.api + ":") for p in products)
    planet_area = next(p for p in products if p.api == "planet" and "Polygon" in p.geometry_types)
    schema = provider.order_schema(planet_area)
    assert "sat_elevation_angle_min" in schema["properties"]
    optical = next(p for p in products if p.api == "up42" and p.needs_feasibility)
    assert "acquisitionMode" in provider.order_schema(optical)["properties"]


def test_orders_of_both_apis_are_placed_listed_and_routed(provider, sandbox_control):
    products = provider.products()
    planet_area = next(p for p in products if p.api == "planet" and "Polygon" in p.geometry_types)
    sar = next(p for p in products if p.api == "up42" and "SAR" in (p.title + p.collection_title))
    start = sandbox_control.now() + timedelta(hours=2)
    planet_draft = OrderDraft(
        connection_id="sandbox", product_id=planet_area.id, name="Harbour",
        params={"start_time": iso(start), "end_time": iso(start + timedelta(days=5))},
        aois=[Aoi(geometry=SQUARE)], client_reference="qgis-sandboxtest1")
    sar_params = {"acquisitionMode": "stripmap", "polarization": "VV", "maxIncidenceAngle": 35.0,
                  "acquisitionStart": iso(start), "acquisitionEnd": iso(start + timedelta(days=10))}
    up42_draft = OrderDraft(connection_id="sandbox", product_id=sar.id, name="Radar", params=sar_params,
                            aois=[Aoi(geometry=SQUARE)], client_reference="qgis-sandboxtest2")
    (planet_outcome,) = provider.place(planet_draft)
    (up42_outcome,) = provider.place(up42_draft)
    assert planet_outcome.placed, planet_outcome.error
    assert up42_outcome.placed, up42_outcome.error
    assert (planet_outcome.order.api, up42_outcome.order.api) == ("planet", "up42")
    # A second placement of the same drafts finds the orders instead of placing them twice.
    assert provider.placed_orders(planet_draft)[0].id == planet_outcome.order.id
    assert provider.placed_orders(up42_draft)[0].id == up42_outcome.order.id

    orders = provider.orders()
    assert {o.id: o.api for o in orders} == {planet_outcome.order.id: "planet", up42_outcome.order.id: "up42"}
    sandbox_control.advance(3 * DAY)
    captures = provider.captures([o.id for o in orders])
    assert captures and {c.order_id for c in captures} == {planet_outcome.order.id}
    radar = provider.order(up42_outcome.order.id)
    assert radar.decision in (Decision.QUOTATION, Decision.NONE)
    assert provider.can_cancel(provider.order(planet_outcome.order.id)) in (True, False)


def test_unknown_products_and_orders_are_refused_with_a_sentence(provider):
    draft = OrderDraft(connection_id="sandbox", product_id="nowhere:x", name="n", params={}, aois=[],
                       client_reference="qgis-x")
    with pytest.raises(NotSupported, match="no product"):
        provider.estimate(draft)
    from satellite_tasking.plugin.model import Order, OrderStatus, Status

    stray = Order(id="unknown", connection_id="sandbox", name="?", status=Status(OrderStatus.RECEIVED, "X"))
    with pytest.raises(NotSupported, match="refresh the orders"):
        provider.cancel(stray)


def test_the_sandbox_connection_speaks_stapi_too_with_opportunities(provider, sandbox_control):
    products = [p for p in provider.products() if p.api == "stapi"]
    assert products, "the sandbox's STAPI dialect lists its products"
    offering = [p for p in products if provider.offers_opportunities(p)]
    assert offering
    product = offering[0]
    assert provider.queryables(product).get("properties")
    start = sandbox_control.now() + timedelta(hours=2)
    found = provider.opportunities(product, SQUARE, start, start + timedelta(days=10))
    assert found


def test_an_order_id_not_seen_yet_is_found_in_whichever_api_holds_it(provider, sandbox_control):
    products = provider.products()
    planet_area = next(p for p in products if p.api == "planet" and "Polygon" in p.geometry_types)
    start = sandbox_control.now() + timedelta(hours=2)
    draft = OrderDraft(connection_id="sandbox", product_id=planet_area.id, name="Lookup",
                       params={"start_time": iso(start),
                               "end_time": iso(start + timedelta(days=5))},
                       aois=[Aoi(geometry=SQUARE)], client_reference="qgis-lookup1")
    (outcome,) = provider.place(draft)
    fresh = sandbox_provider_for(sandbox_control.base_url)
    assert fresh.order(outcome.order.id).api == "planet"
