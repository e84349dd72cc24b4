"""The shared store's layers in QGIS: read through the native postgres provider, found again, refreshed."""
import pytest
from qgis.core import QgsProject

from satellite_tasking.plugin.layers import CAPTURES_ROLE, ORDERS_ROLE, ROLE_PROPERTY, find_layers, refresh_layers
from satellite_tasking.plugin.layers_postgis import ensure_postgis_layers
from satellite_tasking.plugin.model import Capture, Order, OrderStatus, Status

pytest.importorskip("psycopg2")

SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}


def order(order_id, name="Harbour"):
    return Order(id=order_id, connection_id="c1", name=name, status=Status(OrderStatus.ACCEPTED, "PENDING"),
                 product_id="area", geometry=SQUARE, params={}, api="planet", raw={"id": order_id})


def test_the_layers_read_the_shared_store_through_the_postgres_provider(qgis_app, postgis_server, postgis_conninfo,
                                                                       tmp_path, monkeypatch):
    from satellite_tasking.plugin.store_postgis import PostgisStore

    database = postgis_conninfo.split("dbname=")[1]
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[tasking_test]\nhost={postgis_server.host}\nport={postgis_server.port}\n"
                        f"user={postgis_server.user}\ndbname={database}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    store = PostgisStore("service=tasking_test")
    store.apply("c1", [order("o1"), order("o2", "Bridge")],
                [Capture(id="k1", order_id="o1", status="PUBLISHED", assessment="SUCCESS", footprint=SQUARE)])
    project = QgsProject()
    orders_layer, captures_layer = ensure_postgis_layers(project, store)
    assert orders_layer.providerType() == "postgres" and orders_layer.isValid()
    assert "service='tasking_test'" in orders_layer.source() and "password" not in orders_layer.source()
    assert orders_layer.crs().authid() == "EPSG:4326" and orders_layer.featureCount() == 2
    assert sorted(f["name"] for f in orders_layer.getFeatures()) == ["Bridge", "Harbour"]
    assert captures_layer.featureCount() == 1
    assert orders_layer.getFeature(next(orders_layer.getFeatures()).id()).geometry().area() == pytest.approx(0.01)
    assert orders_layer.customProperty(ROLE_PROPERTY) == ORDERS_ROLE

    store.apply("c1", [order("o3", "Pier")], [])  # a sync elsewhere (the service)
    assert set(refresh_layers(project)) == {orders_layer, captures_layer}
    assert orders_layer.featureCount() == 3
    again = ensure_postgis_layers(project, store)  # found again: same layers, none added
    assert again == (orders_layer, captures_layer) and len(project.mapLayers()) == 2
    assert find_layers(project)[CAPTURES_ROLE] is captures_layer
