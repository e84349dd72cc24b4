"""Broken and foreign files at the store path: sentences, never a raw sqlite3 error, never an altered file."""
import os
import sqlite3
from datetime import datetime, timezone

import pytest

from satellite_tasking.plugin import store as store_module
from satellite_tasking.plugin.model import Capture, Order, OrderStatus, Status
from satellite_tasking.plugin.store import TaskingStore

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}


def an_order(order_id="o-1", name="Harbour"):
    return Order(id=order_id, connection_id="c1", name=name, status=Status(OrderStatus.ACCEPTED, "PENDING"),
                 product_id="area", geometry=SQUARE, updated_at=T0, raw={"id": order_id})


def store_error_of(path):
    """The exception opening ``path`` raises (None when it opens)."""
    try:
        TaskingStore(path)
    except Exception as error:  # noqa: BLE001 - the test looks at what it is
        return error
    return None


def test_a_truncated_store_is_a_sentence_not_a_database_error(tmp_path):
    path = tmp_path / "orders.gpkg"
    store = TaskingStore(path)
    store.apply("c1", [an_order(f"o-{i}") for i in range(300)], [])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    error = store_error_of(path)
    assert error is not None and not isinstance(error, sqlite3.Error), repr(error)
    assert "damaged" in error.user_message and str(path) in error.user_message


@pytest.mark.parametrize("content", [b"PK\x03\x04 a zip file, not a database" * 10, b"hello\n"])
def test_a_file_that_is_no_database_is_refused_and_left_as_it_is(tmp_path, content):
    path = tmp_path / "orders.gpkg"
    path.write_bytes(content)
    error = store_error_of(path)
    assert error is not None and not isinstance(error, sqlite3.Error), repr(error)
    assert "not a GeoPackage" in error.user_message
    assert path.read_bytes() == content


def test_another_applications_sqlite_file_is_never_altered(tmp_path):
    path = tmp_path / "their.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 7")
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('mine')")
    db.close()
    before = path.read_bytes()
    error = store_error_of(path)
    assert error is not None and "another application" in error.user_message
    assert path.read_bytes() == before
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 7
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["notes"]
    db.close()


def test_another_geopackage_is_never_altered(tmp_path):
    path = tmp_path / "roads.gpkg"
    TaskingStore(path)
    with sqlite3.connect(path) as db:  # make it someone else's GeoPackage: no tasking tables
        for table in ("tasking_orders", "tasking_captures", "tasking_status_history", "tasking_sync_state"):
            db.execute(f"DROP TABLE {table}")
        db.execute("DELETE FROM gpkg_contents")
        db.execute("DELETE FROM gpkg_geometry_columns")
        db.execute("CREATE TABLE roads (fid INTEGER PRIMARY KEY)")
    db.close()
    before = path.read_bytes()
    assert "another application" in store_error_of(path).user_message
    assert path.read_bytes() == before


def test_the_plugins_own_stores_of_before_open_as_they_are(tmp_path):
    path = tmp_path / "orders.gpkg"
    TaskingStore(path).apply("c1", [an_order()], [])
    assert [o.name for o in TaskingStore(path).orders("c1")] == ["Harbour"]
    empty = tmp_path / "empty.gpkg"
    empty.write_bytes(b"")
    assert TaskingStore(empty).orders() == []


def test_a_store_the_user_may_not_write_is_read_only_shows_its_orders_and_does_not_sync(tmp_path, monkeypatch):
    from satellite_tasking.plugin.sync import sync_connection

    path = tmp_path / "orders.gpkg"
    TaskingStore(path).apply("c1", [an_order()], [])
    before = path.read_bytes()
    real_access = os.access
    monkeypatch.setattr(store_module.os, "access",
                        lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    store = TaskingStore(path)
    assert store.read_only
    assert [o.name for o in store.orders("c1")] == ["Harbour"]
    assert "read-only" in store.problem and "syncing is off" in store.problem

    class NoProvider:
        def iter_order_pages(self, since=None):
            raise AssertionError("a read-only store must not ask the provider")

    result = sync_connection(NoProvider(), store, "c1")
    assert not result.ok and "syncing is off" in result.error
    with pytest.raises(Exception, match="read-only"):
        store.apply("c1", [an_order("o-2")], [])
    assert path.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_store_file_without_write_rights_is_read_only(tmp_path):
    path = tmp_path / "orders.gpkg"
    TaskingStore(path).apply("c1", [an_order()], [])
    path.chmod(0o444)
    store = TaskingStore(path)
    assert store.read_only and [o.name for o in store.orders("c1")] == ["Harbour"]


def test_a_full_disk_is_named_as_such(tmp_path, monkeypatch):
    from satellite_tasking.plugin.sync import sync_connection

    path = tmp_path / "orders.gpkg"
    TaskingStore(path)
    real_connect = sqlite3.connect

    def small_disk(*args, **kwargs):
        connection = real_connect(*args, **kwargs)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + 2}")
        return connection

    monkeypatch.setattr(store_module.sqlite3, "connect", small_disk)
    store = TaskingStore(path)
    big = [Order(id=f"o-{i}", connection_id="c1", name="x" * 2000, status=Status(OrderStatus.ACCEPTED, "PENDING"),
                 product_id="area", geometry=SQUARE, updated_at=T0, raw={"id": f"o-{i}", "pad": "y" * 4000})
           for i in range(200)]

    class Provider:
        def iter_order_pages(self, since=None):
            yield big

        def capture_page_streams(self, ids, since=None):
            return [iter([[Capture(id="k", order_id="o-1")]])]

    result = sync_connection(Provider(), store, "c1")
    assert "disk is full" in result.error, result.error
    assert str(path) in result.error


def test_a_store_whose_layer_description_was_changed_is_still_the_plugins(tmp_path):
    path = tmp_path / "orders.gpkg"
    TaskingStore(path).apply("c1", [an_order()], [])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE gpkg_contents SET description = 'my orders'")
    db.close()
    assert [o.name for o in TaskingStore(path).orders("c1")] == ["Harbour"]


def test_an_empty_database_marked_by_another_application_is_left_alone(tmp_path):
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 12345")
    db.close()
    before = path.read_bytes()
    assert "another application" in store_error_of(path).user_message
    assert path.read_bytes() == before
