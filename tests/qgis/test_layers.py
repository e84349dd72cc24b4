"""The orders and captures layers on the store: styled, found again, refreshed in place."""
import pytest
import requests
from qgis.core import NULL, QgsProject, QgsVectorLayer

from satellite_tasking.plugin.http import build_session
from satellite_tasking.plugin.layers import (
    CAPTURES_ROLE,
    GROUP_NAME,
    ORDERS_ROLE,
    ROLE_PROPERTY,
    default_store_path,
    ensure_layers,
    find_layers,
    refresh_layers,
    set_project_store_path,
    store_path_for,
)
from satellite_tasking.plugin.model import Aoi, Connection, OrderDraft
from satellite_tasking.plugin.providers.sandbox import SandboxProvider
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection

DAY = 86400
QUIET = {"planet_max_active_orders": 50, "planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
         "planet_reassessment_rate": 0.0, "up42_failure_rate": 0.0}
LOCK_IN = {"start_time": "2026-01-05T01:00:00Z", "end_time": "2026-01-12T01:00:00Z"}


def square(x, y, size=0.1):
    return {"type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]}


@pytest.fixture
def server(start_sandbox):
    return start_sandbox(seed=9, speed=0, settings=QUIET)


@pytest.fixture
def projects(qgis_app):
    """New projects for a test, emptied before Python collects them (QGIS crashes deleting layers in a GC pass)."""
    made = []

    def new_project():
        made.append(QgsProject())
        return made[-1]

    yield new_project
    for project in made:
        project.removeAllMapLayers()


@pytest.fixture
def synced(server, tmp_path, qgis_app):
    """A store holding a first sync of three Planet orders, and the provider that filled it."""
    connection = Connection(id="sandbox-1", name="Sandbox", kind="sandbox")
    provider = SandboxProvider(connection, lambda c: build_session(c.name, "test", sleep=lambda s: None),
                               server.base_url)
    outcomes = provider.place(OrderDraft("sandbox-1", "planet:area", "Harbour", dict(LOCK_IN),
                                         [Aoi(square(13, 52)), Aoi(square(2.3, 48.8)), Aoi(square(-3.7, 40.4))],
                                         "ref-layers"))
    assert all(o.placed for o in outcomes)
    store = TaskingStore(tmp_path / "store.gpkg")
    assert sync_connection(provider, store, "sandbox-1").ok
    return server, provider, store


def advance(server, seconds):
    requests.post(server.base_url + "/_sandbox/clock", json={"advance_seconds": seconds}, timeout=30)


def plain(value):
    """A feature attribute with QGIS's NULL as None."""
    return None if value is None or value == NULL else value


def assert_layers_match_store(orders_layer, captures_layer, store):
    orders = {o.id: o for o in store.orders()}
    features = list(orders_layer.getFeatures())
    assert len(features) == orders_layer.featureCount() == len(orders)
    assert len({f["order_id"] for f in features}) == len(features)  # no duplicates
    for feature in features:
        order = orders[feature["order_id"]]
        assert (feature["status"], feature["raw_status"], feature["name"]) == (
            order.status.code.value, order.status.raw, order.name)
        assert feature.geometry().boundingBox().xMinimum() == pytest.approx(order.geometry["coordinates"][0][0][0])
    captures = {c.id: c for c in store.captures()}
    features = list(captures_layer.getFeatures())
    assert len(features) == captures_layer.featureCount() == len(captures)
    assert len({f["capture_id"] for f in features}) == len(features)
    for feature in features:
        capture = captures[feature["capture_id"]]
        assert (feature["status"], feature["order_id"], feature["cloud_cover"]) == (
            capture.status, capture.order_id, capture.cloud_cover)
        assert plain(feature["assessment"]) == capture.assessment
        assert feature["order_name"] == orders[capture.order_id].name
        assert not feature.geometry().isEmpty()
    return orders, captures


def test_layers_show_the_store_styled_and_are_refreshed_in_place(synced, projects):
    server, provider, store = synced
    project = projects()
    orders_layer, captures_layer = ensure_layers(project, store)
    assert orders_layer.isValid() and captures_layer.isValid()
    assert orders_layer.name() == "Tasking orders" and captures_layer.name() == "Tasking captures"
    assert orders_layer.customProperty(ROLE_PROPERTY) == ORDERS_ROLE
    assert captures_layer.customProperty(ROLE_PROPERTY) == CAPTURES_ROLE
    assert orders_layer.renderer().type() == "categorizedSymbol"
    assert orders_layer.renderer().classAttribute() == "status"
    assert {c.value() for c in orders_layer.renderer().categories()} >= {"received", "completed", "failed", "held"}
    assert captures_layer.renderer().classAttribute() == "outcome"
    assert {c.value() for c in captures_layer.renderer().categories()} >= {"success", "invalid", "pending", "failed"}
    assert project.layerTreeRoot().findGroup(GROUP_NAME).findLayer(orders_layer.id()) is not None
    assert captures_layer.featureCount() == 0
    assert_layers_match_store(orders_layer, captures_layer, store)

    # The user restyles the layer; a sync must keep that.
    orders_layer.setOpacity(0.42)
    ids = (orders_layer.id(), captures_layer.id())
    fids_before = {f["order_id"]: f.id() for f in orders_layer.getFeatures()}
    advance(server, 8 * DAY)
    result = sync_connection(provider, store, "sandbox-1")
    assert result.ok and result.changed and result.captures_added > 0
    assert set(refresh_layers(project)) == {orders_layer, captures_layer}

    assert (orders_layer.id(), captures_layer.id()) == ids and len(project.mapLayers()) == 2
    assert orders_layer.opacity() == pytest.approx(0.42)
    _, captures = assert_layers_match_store(orders_layer, captures_layer, store)
    assert captures_layer.featureCount() == len(captures) > 0
    assert {f["order_id"]: f.id() for f in orders_layer.getFeatures()} == fids_before
    assert not captures_layer.extent().isEmpty()

    # Found again, not added twice.
    again = ensure_layers(project, store)
    assert tuple(layer.id() for layer in again) == ids and len(project.mapLayers()) == 2


def test_layers_are_found_again_after_a_project_is_written_and_read(synced, tmp_path, projects):
    _, _, store = synced
    project = projects()
    orders_layer, captures_layer = ensure_layers(project, store)
    ids = {ORDERS_ROLE: orders_layer.id(), CAPTURES_ROLE: captures_layer.id()}
    orders_layer.renderer().categories()  # styled
    path = tmp_path / "project.qgz"
    assert project.write(str(path))

    reloaded = projects()
    assert reloaded.read(str(path))
    found = find_layers(reloaded)
    assert {role: layer.id() for role, layer in found.items()} == ids
    assert all(layer.isValid() for layer in found.values())
    assert found[ORDERS_ROLE].featureCount() == len(store.orders())
    assert found[ORDERS_ROLE].renderer().classAttribute() == "status"
    assert tuple(layer.id() for layer in ensure_layers(reloaded, store)) == (ids[ORDERS_ROLE], ids[CAPTURES_ROLE])
    assert len(reloaded.mapLayers()) == 2


def test_a_moved_store_moves_the_layers_without_losing_their_style(synced, tmp_path, projects):
    _, _, store = synced
    project = projects()
    orders_layer, _ = ensure_layers(project, store)
    orders_layer.setOpacity(0.3)
    other = TaskingStore(tmp_path / "elsewhere" / "other.gpkg")
    moved, _ = ensure_layers(project, other)
    assert moved is orders_layer and moved.isValid() and moved.featureCount() == 0
    assert moved.opacity() == pytest.approx(0.3) and "elsewhere" in moved.source()


def test_the_store_path_is_the_profile_default_unless_the_project_names_one(projects, tmp_path):
    project = projects()
    assert store_path_for(project) == default_store_path()
    assert default_store_path().name == "tasking.gpkg"
    set_project_store_path(project, tmp_path / "mine.gpkg")
    assert store_path_for(project) == tmp_path / "mine.gpkg"
    project.setFileName(str(tmp_path / "p.qgz"))
    set_project_store_path(project, "orders/project.gpkg")
    assert store_path_for(project) == tmp_path / "orders" / "project.gpkg"
    set_project_store_path(project, "")
    assert store_path_for(project) == default_store_path()


def test_a_layer_being_edited_is_left_alone(synced, projects):
    _, _, store = synced
    project = projects()
    orders_layer, captures_layer = ensure_layers(project, store)
    assert orders_layer.startEditing()
    assert refresh_layers([orders_layer, captures_layer]) == [captures_layer]
    orders_layer.rollBack()
    assert isinstance(orders_layer, QgsVectorLayer)
