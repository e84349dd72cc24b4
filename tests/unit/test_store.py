"""The GeoPackage order store, pure Python (sqlite3), no QGIS."""
import gc
import sqlite3
import struct
from datetime import datetime, timedelta, timezone

import pytest

from satellite_tasking.plugin.model import Capture, Decision, Order, OrderStatus, Status
from satellite_tasking.plugin.store import (
    CAPTURES_TABLE,
    GPKG_APPLICATION_ID,
    ORDERS_TABLE,
    CaptureSummary,
    TaskingStore,
    capture_outcome,
    gpkg_multipolygon,
)

T0 = datetime(2026, 1, 5, 12, 0, 0, 123456, tzinfo=timezone.utc)
SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}


PENDING = Status(OrderStatus.ACCEPTED, "PENDING")


def order(order_id="o1", status=PENDING, minutes=0, name="Harbour", **extra):
    return Order(id=order_id, connection_id="c1", name=name, status=status, product_id="area", geometry=SQUARE,
                 created_at=T0, updated_at=T0 + timedelta(minutes=minutes), acquisition_start=T0,
                 acquisition_end=T0 + timedelta(days=5), params={"rank": 1}, api="planet",
                 raw={"id": order_id, "status": status.raw}, **extra)


def capture(capture_id="k1", order_id="o1", status="PUBLISHED", assessment="SUCCESS", minutes=0, raw=None):
    return Capture(id=capture_id, order_id=order_id, status=status, assessment=assessment, cloud_cover=0.12,
                   footprint=SQUARE, acquired_at=T0, published_at=T0 + timedelta(hours=3), exclusivity_days=30,
                   updated_at=T0 + timedelta(minutes=minutes), raw=raw or {"id": capture_id})


def snapshot(store, connection_id="c1"):
    return (store.orders(connection_id), store.captures(connection_id), store.status_history(connection_id),
            store.sync_state(connection_id).orders_cursor, store.sync_state(connection_id).captures_cursor)


def ms(moment):
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_orders_and_captures_round_trip_and_survive_a_restart(tmp_path):
    path = tmp_path / "store.gpkg"
    store = TaskingStore(path)
    held = order("o2", Status(OrderStatus.HELD, "PLACED", "QUOTATION_WAITING_RESPONSE"), minutes=5,
                 decision=Decision.QUOTATION)
    changes = store.apply("c1", [order(), held], [capture(), capture("k2", status="QUEUED", assessment=None)])
    assert (changes.orders_added, changes.captures_added, len(changes.history)) == (2, 2, 2)

    stored = {o.id: o for o in store.orders("c1")}
    assert list(stored) == ["o2", "o1"]  # last changed first
    for original in (order(), held):
        got = stored[original.id]
        assert (got.name, got.status, got.decision, got.api, got.product_id) == (
            original.name, original.status, original.decision, original.api, original.product_id)
        assert got.geometry == SQUARE and got.params == {"rank": 1} and got.raw == original.raw
        assert got.updated_at == ms(original.updated_at) and got.acquisition_end == ms(original.acquisition_end)
    captures = {c.id: c for c in store.captures("c1")}
    assert captures["k1"].assessment == "SUCCESS" and captures["k1"].cloud_cover == pytest.approx(0.12)
    assert captures["k1"].exclusivity_end == ms(T0) + timedelta(days=30)
    assert captures["k2"].assessment is None and captures["k2"].footprint == SQUARE
    state = store.sync_state("c1")
    assert state.orders_cursor == T0 + timedelta(minutes=5)  # full precision kept for the provider
    assert state.captures_cursor == T0 and state.synced_before and state.last_error == ""

    before = snapshot(store)
    reopened = TaskingStore(path)  # a QGIS restart: a new store object on the same file
    assert snapshot(reopened) == before
    assert store.orders("other connection") == []


def test_an_interrupted_apply_leaves_the_previous_state_intact(tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    store.apply("c1", [order()], [capture()])
    before = snapshot(store)
    done = Status(OrderStatus.COMPLETED, "FULFILLED")

    def captures_then_a_failure():
        yield capture(minutes=30)
        raise RuntimeError("the provider's answer broke off")

    with pytest.raises(RuntimeError):
        # The order update and its history row are written before the failure ends the transaction.
        store.apply("c1", [order(status=done, minutes=30), order("o3")], captures_then_a_failure())
    assert snapshot(store) == before
    assert store.counts("c1") == {ORDERS_TABLE: 1, CAPTURES_TABLE: 1, "tasking_status_history": 1}
    # The store still works after the failure.
    assert store.apply("c1", [order(status=done, minutes=30)], []).orders_updated == 1


def test_a_record_the_store_cannot_take_is_skipped_and_the_rest_stored(tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    unwritable = capture("k9", raw={"not json": object()})
    wrong_days = capture("k8")
    wrong_days.exclusivity_days = "30"
    applied = store.apply("c1", [order(), order("o3")], [unwritable, capture(), wrong_days])
    assert [(r.kind, r.record_id) for r in applied.skipped] == [("capture", "k9"), ("capture", "k8")]
    assert store.counts("c1")[CAPTURES_TABLE] == 1 and store.counts("c1")[ORDERS_TABLE] == 2


def test_rows_are_updated_in_place_and_unchanged_rows_are_not_written(tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    store.apply("c1", [order(), order("o2")], [capture()])

    def fids():
        with sqlite3.connect(store.path) as db:
            return dict(db.execute(f"SELECT order_id, fid FROM {ORDERS_TABLE}").fetchall())

    first = fids()
    again = store.apply("c1", [order(), order("o2")], [capture()])
    assert not again.changed and again.orders_unchanged == 2 and again.captures_unchanged == 1
    renamed = store.apply("c1", [order(name="Harbour west", minutes=1)], [])
    assert renamed.orders_updated == 1 and renamed.history == []  # same status: no history row
    assert fids() == first  # same feature ids: QGIS selections survive a sync
    assert store.captures("c1")[0].raw == {"id": "k1"}
    with sqlite3.connect(store.path) as db:
        assert db.execute(f"SELECT order_name FROM {CAPTURES_TABLE}").fetchone()[0] == "Harbour west"


def test_history_records_normalised_and_raw_status_changes(tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    store.apply("c1", [order(status=Status(OrderStatus.RECEIVED, "PLACED", "FEASIBILITY_WAITING_UPLOAD"))], [])
    # Same normalised status (held), another raw sub-status: still a history row.
    store.apply("c1", [order(status=Status(OrderStatus.HELD, "PLACED", "FEASIBILITY_WAITING_RESPONSE"), minutes=1)],
                [])
    store.apply("c1", [order(status=Status(OrderStatus.HELD, "PLACED", "QUOTATION_WAITING_RESPONSE"), minutes=2)],
                [])
    store.apply("c1", [order(status=Status(OrderStatus.HELD, "PLACED", "QUOTATION_WAITING_RESPONSE"), minutes=3)],
                [])
    history = store.status_history("c1", "o1")
    assert [h.status.raw_sub for h in history] == ["FEASIBILITY_WAITING_UPLOAD", "FEASIBILITY_WAITING_RESPONSE",
                                                   "QUOTATION_WAITING_RESPONSE"]
    assert history[0].previous is None and history[2].previous == history[1].status
    assert history[2].changed_at == ms(T0 + timedelta(minutes=2))


def test_rows_are_keyed_by_connection_and_cursors_only_move_forward(tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    store.apply("c1", [order(minutes=10)], [capture(minutes=10)])
    store.apply("c2", [order(name="Other account")], [])
    assert [o.name for o in store.orders("c1")] == ["Harbour"]
    assert [o.name for o in store.orders("c2")] == ["Other account"]
    store.apply("c1", [order("old", minutes=-60)], [capture("k-old", minutes=-60)])
    state = store.sync_state("c1")
    assert state.orders_cursor == T0 + timedelta(minutes=10) and state.captures_cursor == T0 + timedelta(minutes=10)
    assert store.sync_state("c2").captures_cursor is None
    store.forget_connection("c2")
    assert store.orders("c2") == [] and not store.sync_state("c2").synced_before
    assert len(store.orders("c1")) == 2


def test_a_failed_sync_is_recorded_without_touching_the_data(tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    store.apply("c1", [order()], [capture()])
    before = snapshot(store)
    store.record_sync_error("c1", "Planet is not answering.")
    assert snapshot(store) == before
    state = store.sync_state("c1")
    assert state.last_error == "Planet is not answering." and state.synced_before
    store.apply("c1", [], [])
    assert store.sync_state("c1").last_error == ""
    assert store.active_order_ids("c1") == ["o1"]


def test_the_file_is_a_geopackage_with_wkb_geometries(tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    point = {"type": "Point", "coordinates": [2.35, 48.85]}
    store.apply("c1", [order(), _with_geometry(order("p"), point)], [])
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == GPKG_APPLICATION_ID
        kinds = dict(db.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall())
        assert kinds[ORDERS_TABLE] == "features" and kinds["tasking_status_history"] == "attributes"
        columns = db.execute("SELECT geometry_type_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?",
                             (ORDERS_TABLE,)).fetchone()
        assert columns == ("MULTIPOLYGON", 4326)
        extent = db.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                            (ORDERS_TABLE,)).fetchone()
        rows = dict(db.execute(f"SELECT order_id, geom FROM {ORDERS_TABLE}").fetchall())
        aoi_types = dict(db.execute(f"SELECT order_id, aoi_type FROM {ORDERS_TABLE}").fetchall())
    blob = rows["o1"]
    assert blob[:2] == b"GP" and struct.unpack_from("<i", blob, 4)[0] == 4326
    assert struct.unpack_from("<4d", blob, 8) == (13.0, 13.1, 52.0, 52.1)
    byte_order, wkb_type, parts = struct.unpack_from("<BII", blob, 40)
    assert (byte_order, wkb_type, parts) == (1, 6, 1)
    assert aoi_types == {"o1": "Polygon", "p": "Point"}
    assert extent[0] == pytest.approx(2.35 - 0.0025 / 0.6578, abs=1e-4) and extent[3] == 52.1
    assert gpkg_multipolygon(None) == (None, None)
    assert gpkg_multipolygon({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]})[0] is None


def _with_geometry(an_order, geometry):
    an_order.geometry = geometry
    return an_order


@pytest.mark.parametrize("status,assessment,outcome", [
    ("PUBLISHED", "SUCCESS", "success"), ("PUBLISHED", "INVALID", "invalid"), ("QUEUED", None, "pending"),
    ("PROCESSING", None, "pending"), ("FAILED", None, "failed"), ("FAILED", "INVALID", "failed"),
])
def test_capture_outcome_classes(status, assessment, outcome):
    assert capture_outcome(status, assessment) == outcome


def test_capture_summaries_are_counted_by_sqlite_per_order(tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    store.apply("c1", [order(), order("o2")], [
        capture("k1"), capture("k2", assessment="INVALID"), capture("k3", status="QUEUED", assessment=None),
        capture("k4", order_id="o2", status="FAILED", assessment=None)])
    summaries = store.capture_summaries()
    first = summaries[("c1", "o1")]
    assert (first.published, first.successful, first.invalid, first.total) == (2, 1, 1, 3)
    assert first.best_cloud_cover == pytest.approx(0.12)
    second = summaries[("c1", "o2")]
    assert (second.published, second.successful, second.invalid, second.total) == (0, 0, 0, 1)
    assert ("c1", "o3") not in summaries
    # The same counts as plain tuples for the dock, which Python's collector stops following at its first look (it
    # holds one per order in QGIS's process; an object each would be walked at every full pass, which stalls QGIS).
    counts = store.capture_counts()
    assert {key: CaptureSummary(*value) for key, value in counts.items()} == summaries
    gc.collect()
    assert not [item for pair in counts.items() for item in pair if gc.is_tracked(item)]


def test_a_footprint_inside_the_captures_answer_is_stored_once_and_read_back(tmp_path):
    import sqlite3

    inside = capture("k1", raw={"id": "k1", "captured_area": SQUARE, "cloud_cover": 0.12})
    inside.footprint = inside.raw["captured_area"]
    apart = capture("k2", raw={"id": "k2"})  # a footprint that is not part of the answer keeps its own JSON
    store = TaskingStore(tmp_path / "store.gpkg")
    store.apply("c1", [order()], [inside, apart])
    found = {c.id: c for c in TaskingStore(tmp_path / "store.gpkg").captures("c1")}
    assert found["k1"].footprint == SQUARE and found["k1"].raw == inside.raw
    assert found["k2"].footprint == SQUARE and found["k2"].raw == {"id": "k2"}
    with sqlite3.connect(tmp_path / "store.gpkg") as db:
        texts = dict(db.execute("SELECT capture_id, footprint_json FROM tasking_captures").fetchall())
    assert texts["k1"] == '"raw:captured_area"'
    assert '"coordinates"' in texts["k2"]
    # Written again unchanged: no update.
    again = store.apply("c1", [], [inside, apart])
    assert again.captures_unchanged == 2 and not again.captures


def test_the_providers_own_text_of_an_answer_is_kept_and_parts_are_not_repeated(tmp_path):
    import json
    import sqlite3

    answer = {"id": "o1", "status": "PENDING", "geometry": SQUARE, "name": "Harbour"}
    sent = json.dumps(answer, indent=1)  # as a provider may format it, not as the store would
    listed = order()
    listed.raw, listed.geometry, listed.raw_json = answer, answer["geometry"], sent
    capture_answer = {"id": "k1", "captured_area": SQUARE}
    listed_capture = capture("k1", raw=capture_answer)
    listed_capture.footprint, listed_capture.raw_json = capture_answer["captured_area"], json.dumps(capture_answer)
    store = TaskingStore(tmp_path / "store.gpkg")
    store.apply("c1", [listed], [listed_capture])
    with sqlite3.connect(tmp_path / "store.gpkg") as db:
        raw_text, geometry_text = db.execute("SELECT raw, geometry_json FROM tasking_orders").fetchone()
        capture_text = db.execute("SELECT raw FROM tasking_captures").fetchone()[0]
    assert raw_text == sent and geometry_text == '"raw:geometry"'
    assert capture_text == json.dumps(capture_answer)
    found = TaskingStore(tmp_path / "store.gpkg").orders("c1")[0]
    assert found.raw == answer and found.geometry == SQUARE and found.geometry is found.raw["geometry"]
    # The same answer again is no change; another text of it (read one by one) is written once more.
    assert store.apply("c1", [listed], [listed_capture]).orders_unchanged == 1
    alone = order()
    alone.raw, alone.geometry = answer, answer["geometry"]
    changes = store.apply("c1", [alone], [])
    assert len(changes.orders) == 1 and not changes.history  # rewritten, but no status change recorded
