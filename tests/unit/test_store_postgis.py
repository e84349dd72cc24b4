"""The shared PostGIS store: the GeoPackage store's own test suite run against it, unchanged, and what only a
shared database has (migrations, PostGIS geometries, one syncer per connection, placements claimed once).

A real PostgreSQL + PostGIS started by the tests (``postgis_server`` in this folder's conftest)."""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from satellite_tasking.plugin.model import Status
from satellite_tasking.plugin.store import CAPTURES_TABLE, ORDERS_TABLE, TaskingStore
from satellite_tasking.plugin.store_api import OrderStore
from satellite_tasking.plugin.store_postgis import (
    SCHEMA_VERSION,
    PostgisStore,
    SharedStoreError,
    aoi_key,
    redacted,
)

psycopg2 = pytest.importorskip("psycopg2")


# -- the GeoPackage store's suite, unchanged, on PostGIS ----------------------------------------------------
def _load_store_suite():
    """tests/unit/test_store.py loaded as a module of its own, whose ``TaskingStore`` is then a PostGIS store."""
    spec = importlib.util.spec_from_file_location("store_suite_on_postgis", Path(__file__).with_name("test_store.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_SUITE = _load_store_suite()
# Tests that open the GeoPackage file itself (sqlite3, its path, its file mode) test the file, not the store
# interface; their PostGIS counterparts are below.
_FILE_MARKERS = ("sqlite3", ".path", "chmod", "GPKG", "gpkg_")


def _reads_the_file(test) -> bool:
    try:
        source = inspect.getsource(test)
    except (OSError, TypeError):
        return True
    return any(marker in source for marker in _FILE_MARKERS)


@pytest.fixture
def suite_on_postgis(postgis_conninfo, monkeypatch):
    """The suite's ``TaskingStore(path)`` opens a PostGIS store instead (one schema per path: reopening a path
    is reopening its store)."""
    def open_store(path):
        return PostgisStore(postgis_conninfo, schema="s_" + hashlib.sha256(str(path).encode()).hexdigest()[:16])

    monkeypatch.setattr(_SUITE, "TaskingStore", open_store)
    return _SUITE


def _on_postgis(test):
    """``test`` as a test of this module: same parameters and marks, plus the fixture that swaps the store."""
    parameters = list(inspect.signature(test).parameters)

    def run(suite_on_postgis, **arguments):
        test(**arguments)

    run.__name__ = run.__qualname__ = f"{test.__name__}__postgis"
    run.__doc__ = test.__doc__
    run.__signature__ = inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                           for name in ("suite_on_postgis", *parameters)])
    if getattr(test, "pytestmark", None):
        run.pytestmark = list(test.pytestmark)
    return run


for _name, _test in list(vars(_SUITE).items()):
    if _name.startswith("test_") and callable(_test) and not _reads_the_file(_test):
        globals()[f"{_name}__postgis"] = _on_postgis(_test)


def test_the_suite_really_runs_here():
    ran = [name for name in globals() if name.endswith("__postgis")]
    assert len(ran) >= 6, ran


# -- what only the shared store has -------------------------------------------------------------------------
order, capture, SQUARE, ms = _SUITE.order, _SUITE.capture, _SUITE.SQUARE, _SUITE.ms


def _rows(conninfo, sql, args=()):
    db = psycopg2.connect(conninfo)
    try:
        with db.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()
    finally:
        db.close()


def test_both_stores_give_the_store_interface(postgis_conninfo, tmp_path):
    assert isinstance(TaskingStore(tmp_path / "store.gpkg"), OrderStore)
    assert isinstance(PostgisStore(postgis_conninfo), OrderStore)


def test_migrations_run_once_each_in_order_and_a_newer_schema_is_refused(postgis_conninfo):
    PostgisStore(postgis_conninfo)
    store = PostgisStore(postgis_conninfo)  # a second client: nothing to do
    assert store.schema_version() == SCHEMA_VERSION
    versions = _rows(postgis_conninfo, "SELECT version, description FROM tasking.tasking_schema_version "
                                       "ORDER BY version")
    assert [v for v, _ in versions] == list(range(1, SCHEMA_VERSION + 1)) and all(d for _, d in versions)
    _rows(postgis_conninfo, "SELECT 1")  # (no commit needed: reading)
    db = psycopg2.connect(postgis_conninfo)
    with db, db.cursor() as cursor:
        cursor.execute("INSERT INTO tasking.tasking_schema_version (version, description) VALUES (%s, 'future')",
                       (SCHEMA_VERSION + 1,))
    db.close()
    with pytest.raises(SharedStoreError, match="newer than this plugin"):
        PostgisStore(postgis_conninfo)


def test_clients_opening_a_new_store_at_once_migrate_it_once(postgis_conninfo):
    versions = _workers([["open", postgis_conninfo]] * 6)
    assert versions == [SCHEMA_VERSION] * 6
    assert _rows(postgis_conninfo, "SELECT count(*) FROM tasking.tasking_schema_version")[0][0] == SCHEMA_VERSION


WORKER = Path(__file__).with_name("postgis_team_worker.py")


def _workers(argument_lists, timeout=240) -> list:
    """Run team members at once, each in a process of its own; their printed results, in order."""
    processes = [subprocess.Popen([sys.executable, str(WORKER), *arguments], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for arguments in argument_lists]
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=timeout)
            assert process.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


def test_geometries_are_postgis_multipolygons_in_wgs84_and_rows_keep_their_fids(postgis_conninfo):
    store = PostgisStore(postgis_conninfo)
    point = {"type": "Point", "coordinates": [2.35, 48.85]}
    p = order("p")
    p.geometry = point
    store.apply("c1", [order(), p], [capture()])
    columns = _rows(postgis_conninfo, "SELECT f_table_name, type, srid FROM geometry_columns "
                                      "WHERE f_table_schema = 'tasking' ORDER BY 1")
    assert columns == [(CAPTURES_TABLE, "MULTIPOLYGON", 4326), (ORDERS_TABLE, "MULTIPOLYGON", 4326)]
    box = _rows(postgis_conninfo, "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom), aoi_type, "
                                  "is_terminal, pg_typeof(updated_at)::text FROM tasking.tasking_orders "
                                  "WHERE order_id = 'o1'")[0]
    assert box == (13.0, 52.0, 13.1, 52.1, "Polygon", False, "timestamp with time zone")
    assert _rows(postgis_conninfo, "SELECT aoi_type FROM tasking.tasking_orders WHERE order_id = 'p'") == [("Point",)]

    def fids():
        return dict(_rows(postgis_conninfo, "SELECT order_id, fid FROM tasking.tasking_orders"))

    first = fids()
    again = store.apply("c1", [order(), p], [capture()])
    assert not again.changed and again.orders_unchanged == 2 and again.captures_unchanged == 1
    renamed = store.apply("c1", [order(name="Harbour west", minutes=1)], [])
    assert renamed.orders_updated == 1 and renamed.history == []
    assert fids() == first
    assert _rows(postgis_conninfo, "SELECT order_name FROM tasking.tasking_captures") == [("Harbour west",)]


def test_the_providers_text_is_kept_byte_for_byte_and_parts_are_not_repeated(postgis_conninfo):
    import json

    answer = {"id": "o1", "status": "PENDING", "geometry": SQUARE, "name": "Harbour"}
    listed = order()
    listed.raw, listed.geometry, listed.raw_json = answer, answer["geometry"], json.dumps(answer, indent=1)
    inside = capture("k1", raw={"id": "k1", "captured_area": SQUARE})
    inside.footprint = inside.raw["captured_area"]
    store = PostgisStore(postgis_conninfo)
    store.apply("c1", [listed], [inside])
    assert _rows(postgis_conninfo, "SELECT raw, geometry_json FROM tasking.tasking_orders") == [
        (json.dumps(answer, indent=1), '"raw:geometry"')]
    assert _rows(postgis_conninfo, "SELECT footprint_json FROM tasking.tasking_captures") == [('"raw:captured_area"',)]
    found = PostgisStore(postgis_conninfo).orders("c1")[0]
    assert found.raw == answer and found.geometry is found.raw["geometry"]
    assert store.apply("c1", [listed], [inside]).orders_unchanged == 1


def test_pages_written_through_copy_read_back_as_the_geopackage_and_row_by_row_writes_do(postgis_conninfo,
                                                                                          tmp_path, monkeypatch):
    """A first sync's pages go through COPY (store_postgis._upsert); text COPY must carry every character a
    provider may send (tabs, line ends, backslashes, quotes, non-Latin letters) and every value kind."""
    from datetime import timedelta

    from satellite_tasking.plugin import store_postgis

    hostile = ["tab\there", "line\nend", "cr\rlf", "back\\slash \\N \\x41", "quote ' \" done", "Zürich 東京 🛰",
               "\\.", ""]

    def page(count, status_raw):
        orders, captures = [], []
        for n in range(count):
            text = hostile[n % len(hostile)]
            o = order(f"o{n}", minutes=n, name=f"{text} {n}", status=Status(_SUITE.PENDING.code, status_raw))
            o.raw = {"id": f"o{n}", "note": text, "status": status_raw}
            orders.append(o)
            for k in range(2):
                c = capture(f"k{n}-{k}", f"o{n}", minutes=n, raw={"id": f"k{n}-{k}", "note": text})
                c.cloud_cover = [None, 0.1, 1e-12, 0.333333333333][(n + k) % 4]
                c.exclusivity_days = None if n % 5 == 0 else 30
                c.acquired_at = None if n % 7 == 0 else c.acquired_at + timedelta(microseconds=n)
                captures.append(c)
        return orders, captures

    assert 300 >= store_postgis.COPY_ROWS
    copied = PostgisStore(postgis_conninfo, schema="copied")
    geopackage = TaskingStore(tmp_path / "same.gpkg")
    for status_raw in ("PENDING", "IN_PROGRESS"):  # inserted, then every row updated
        orders, captures = page(300, status_raw)
        applied = copied.apply("c1", orders, captures, recorded_at=_SUITE.T0)
        assert len(applied.orders) == 300 and len(applied.captures) == 600 or status_raw == "IN_PROGRESS"
        geopackage.apply("c1", orders, captures, recorded_at=_SUITE.T0)
        again = copied.apply("c1", orders, captures)  # what was read back equals what was written
        assert (again.orders_unchanged, again.captures_unchanged) == (300, 600)
    monkeypatch.setattr(store_postgis, "COPY_ROWS", 10 ** 9)
    row_by_row = PostgisStore(postgis_conninfo, schema="row_by_row")
    for status_raw in ("PENDING", "IN_PROGRESS"):
        row_by_row.apply("c1", *page(300, status_raw), recorded_at=_SUITE.T0)
    assert _SUITE.snapshot(copied) == _SUITE.snapshot(row_by_row) == _SUITE.snapshot(geopackage)
    raw = "SELECT order_id, name, raw FROM {}.tasking_orders ORDER BY order_id"
    assert _rows(postgis_conninfo, raw.format("copied")) == _rows(postgis_conninfo, raw.format("row_by_row"))
    assert len(copied.status_history("c1")) == 600


def test_a_first_sync_that_meets_an_order_twice_reads_what_it_wrote_as_the_geopackage_does(postgis_conninfo,
                                                                                             tmp_path):
    """A connection's first sync answers its own reads from what it wrote (store_postgis: no per-page queries on
    tables the planner last saw empty); an order listed on two pages, changed or not, is counted and historied as
    the GeoPackage does it."""
    def sync(store):
        counts = []
        with store.writer("c1", recorded_at=_SUITE.T0) as writer:
            pages = [[order("o1"), order("o2")], [order("o2"), order("o3", minutes=1)],  # o2 again, unchanged
                     [order("o1", status=Status(_SUITE.PENDING.code, "IN_PROGRESS"), minutes=5)]]  # o1 changed
            for page in pages:
                states = writer.order_states([o.id for o in page])
                applied = writer.write_orders(page)
                counts.append((sorted(states), len(applied.orders), applied.orders_unchanged, len(applied.history)))
            writer.write_captures([capture("k1", "o1"), capture("k3", "o3")], of_new_orders=True)
        return counts

    shared, own = PostgisStore(postgis_conninfo), TaskingStore(tmp_path / "own.gpkg")
    assert sync(shared) == sync(own) == [([], 2, 0, 2), (["o2"], 1, 1, 1), (["o1"], 1, 0, 1)]
    assert _SUITE.snapshot(shared) == _SUITE.snapshot(own)
    assert sync(shared) == sync(own)  # the second sync reads the database: everything unchanged
    assert _SUITE.snapshot(shared) == _SUITE.snapshot(own)


def test_a_providers_nul_character_does_not_stop_the_sync(postgis_conninfo):
    store = PostgisStore(postgis_conninfo)
    odd = order(name="Harbour\x00west", status=Status(_SUITE.PENDING.code, "PEND\x00ING"))
    store.apply("c1", [odd], [])
    assert store.orders("c1")[0].name == "Harbourwest"
    assert store.apply("c1", [odd], []).orders_unchanged == 1


def test_the_store_is_opened_from_a_pg_service_name_and_never_shows_a_password(postgis_server, postgis_conninfo,
                                                                            tmp_path, monkeypatch):
    database = postgis_conninfo.split("dbname=")[1]
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[tasking]\nhost={postgis_server.host}\nport={postgis_server.port}\n"
                        f"user={postgis_server.user}\ndbname={database}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    store = PostgisStore("service=tasking")
    store.apply("c1", [order()], [])
    assert [o.id for o in PostgisStore(postgis_conninfo).orders()] == ["o1"]
    assert "service=tasking" in repr(store)
    with_password = f"host={postgis_server.host} port=1 user=x password=s3cret dbname=x connect_timeout=2"
    assert "s3cret" not in redacted(with_password)
    with pytest.raises(SharedStoreError) as raised:
        PostgisStore(with_password)
    assert "s3cret" not in raised.value.user_message and "Cannot open the shared store" in raised.value.user_message


def test_writers_of_one_connection_follow_each_other(postgis_conninfo):
    import threading

    store = PostgisStore(postgis_conninfo)
    inside = threading.Event()
    release = threading.Event()
    order_of_commits = []

    def first():
        with store.writer("c1") as writer:
            writer.write_orders([order("a")])
            inside.set()
            release.wait(10)
        order_of_commits.append("first")

    def second():
        inside.wait(10)
        with store.writer("c1") as writer:
            writer.write_orders([order("b")])  # waits for the first writer's commit
        order_of_commits.append("second")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inside.wait(10)
    threading.Event().wait(0.5)
    assert order_of_commits == []
    release.set()
    for thread in threads:
        thread.join(20)
    assert order_of_commits == ["first", "second"]
    assert sorted(o.id for o in store.orders("c1")) == ["a", "b"]


# -- one syncer per connection ------------------------------------------------------------------------------
def test_only_one_syncer_at_a_time_per_connection(postgis_conninfo):
    store = PostgisStore(postgis_conninfo)
    other_client = PostgisStore(postgis_conninfo)
    with store.sync_lock("c1") as held:
        assert held
        with other_client.sync_lock("c1") as second:
            assert not second  # a desktop finds the service syncing c1 and leaves it
        with other_client.sync_lock("c2") as another_connection:
            assert another_connection
        assert _lock_free_elsewhere(postgis_conninfo, "c1") is False
    assert _lock_free_elsewhere(postgis_conninfo, "c1") is True  # let go at the end of the block
    with pytest.raises(RuntimeError):
        with store.sync_lock("c1"):
            raise RuntimeError("a failed sync")
    with other_client.sync_lock("c1") as after_failure:
        assert after_failure


def _lock_free_elsewhere(conninfo, connection_id) -> bool:
    return _workers([["try-sync-lock", conninfo, connection_id]])[0]


# -- no duplicate across the team ---------------------------------------------------------------------------
def test_a_placement_is_claimed_once_and_the_second_placer_hears_who_was_first(postgis_conninfo):
    store = PostgisStore(postgis_conninfo)
    reordered = {"coordinates": SQUARE["coordinates"], "type": "Polygon"}
    assert aoi_key(reordered) == aoi_key(SQUARE)
    first = store.claim_placement("c1", "qgis-abc", SQUARE, "anna", aoi_index=0)
    second = store.claim_placement("c1", "qgis-abc", reordered, "ben", aoi_index=0)
    assert first.granted and not second.granted
    assert second.placed_by == "anna" and second.message().startswith("Already being placed by anna since ")
    assert store.claim_placement("c1", "qgis-abc", {"type": "Point", "coordinates": [1, 2]}, "ben").granted
    assert store.claim_placement("c1", "qgis-other", SQUARE, "ben").granted  # another draft

    store.placement_done("c1", "qgis-abc", SQUARE, "o1")
    third = store.claim_placement("c1", "qgis-abc", SQUARE, "carl")
    assert not third.granted and third.order_id == "o1"
    assert third.message() == f"Already placed by anna at {first.placed_at:%Y-%m-%d %H:%M} UTC."
    store.apply("c1", [order("o1")], [])  # the sync brings the order: it carries who placed it
    assert store.placed_by("c1") == {"o1": ("anna", ms(first.placed_at))}

    store.claim_placement("c1", "qgis-refused", SQUARE, "anna")
    store.release_placement("qgis-refused", SQUARE)  # the provider refused it: no order, another try may place
    assert store.claim_placement("c1", "qgis-refused", SQUARE, "ben").granted


def test_a_claim_left_placing_by_a_placer_that_stopped_is_taken_over_later_a_placed_one_never(postgis_conninfo):
    store = PostgisStore(postgis_conninfo)
    assert store.claim_placement("c1", "qgis-crash", SQUARE, "anna", aoi_index=0).granted  # QGIS then crashed
    assert not store.claim_placement("c1", "qgis-crash", SQUARE, "ben").granted  # minutes later: still hers
    store.claim_placement("c1", "qgis-done", SQUARE, "anna")
    store.placement_done("c1", "qgis-done", SQUARE, "o9")
    with psycopg2.connect(postgis_conninfo) as db, db.cursor() as cursor:  # 16 minutes pass (committed on exit)
        cursor.execute("UPDATE tasking.tasking_placements SET placed_at = now() - interval '16 minutes'")
    taken = store.claim_placement("c1", "qgis-crash", SQUARE, "ben", aoi_index=0)
    assert taken.granted and taken.placed_by == "ben"  # ben looks the orders up before he sends
    assert not store.claim_placement("c1", "qgis-crash", SQUARE, "carl").granted  # and holds it now
    done = store.claim_placement("c1", "qgis-done", SQUARE, "ben")
    assert not done.granted and done.placed_by == "anna" and done.order_id == "o9"  # placed: never taken over


ROUNDS = 40
AOIS = 3


def test_placers_and_syncers_in_four_processes_place_every_aoi_exactly_once(postgis_conninfo):
    PostgisStore(postgis_conninfo)
    db = psycopg2.connect(postgis_conninfo)
    with db, db.cursor() as cursor:  # what the provider received: one row per request sent
        cursor.execute("CREATE TABLE sent (reference text, aoi integer, placer text)")
    db.close()
    size = [str(ROUNDS), str(AOIS)]
    outcomes = _workers([["placer", postgis_conninfo, "anna", *size], ["placer", postgis_conninfo, "ben", *size],
                         ["syncer", postgis_conninfo, *size], ["syncer", postgis_conninfo, *size]])
    sent = _rows(postgis_conninfo, "SELECT reference, aoi, count(*) FROM sent GROUP BY reference, aoi")
    assert len(sent) == ROUNDS * AOIS  # none lost
    assert {count for _, _, count in sent} == {1}  # none twice
    (anna_granted, anna_refused), (ben_granted, ben_refused) = outcomes[0], outcomes[1]
    assert anna_granted + ben_granted == ROUNDS * AOIS and anna_refused + ben_refused == ROUNDS * AOIS
    assert outcomes[2] + outcomes[3] >= 1  # syncs run
    store = PostgisStore(postgis_conninfo)
    placed = store.placed_by("c1")
    assert len(placed) == ROUNDS * AOIS and {who for who, _ in placed.values()} <= {"anna", "ben"}
    assert store.counts("c1")[ORDERS_TABLE] == ROUNDS * AOIS
    assert sorted(o.id for o in store.orders("c1")) == sorted(f"{r}-{a}" for r, a, _ in sent)


def test_a_user_who_may_only_read_gets_a_read_only_store_that_says_so(postgis_server, postgis_conninfo):
    writer = PostgisStore(postgis_conninfo)
    writer.apply("c1", [order()], [capture()])
    database = postgis_conninfo.split("dbname=")[1]
    postgis_server.admin("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reader') THEN "
                         "CREATE ROLE reader LOGIN; END IF; END $$")
    postgis_server.admin("GRANT USAGE ON SCHEMA tasking TO reader; "
                         "GRANT SELECT ON ALL TABLES IN SCHEMA tasking TO reader", database)
    reader = PostgisStore(postgis_conninfo.replace(f"user={postgis_server.user}", "user=reader"))
    assert reader.read_only and "may only read" in reader.problem and not writer.read_only
    assert [o.id for o in reader.orders("c1")] == ["o1"] and len(reader.captures("c1")) == 1
    with pytest.raises(SharedStoreError, match="may only read"):
        reader.apply("c1", [order(minutes=5)], [])
    with pytest.raises(SharedStoreError):
        reader.claim_placement("c1", "qgis-x", SQUARE, "reader")
    assert writer.orders("c1")[0].updated_at == ms(_SUITE.T0)
