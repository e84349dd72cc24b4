"""The team's sync service against the sandbox and a real PostGIS: the desktop's own sync, unchanged, fills the
shared store exactly as it fills a GeoPackage; one syncer per connection; listeners hear every applied sync."""
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from satellite_tasking.plugin.http import build_session
from satellite_tasking.plugin.model import Connection
from satellite_tasking.plugin.providers.sandbox import SandboxProvider
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection
from satellite_tasking.plugin.team_service import run, sync_round

pytest.importorskip("psycopg2")

QUIET = {"planet_max_active_orders": 50, "planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
         "planet_reassessment_rate": 0.0, "up42_failure_rate": 0.0}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox():
    server = SandboxServer(port=0, seed=7, speed=0, settings=QUIET).start()
    yield server
    server.stop()


def provider_for(server, connection_id="team-1"):
    connection = Connection(id=connection_id, name="Team sandbox", kind="sandbox")

    def sessions(conn):
        return build_session(conn.name, "SatelliteTasking/test", timeout=(2, 5), sleep=lambda s: None)

    return SandboxProvider(connection, sessions, server.base_url)


def control(server, method, path, payload=None):
    response = requests.request(method, server.base_url + path, json=payload, timeout=30)
    response.raise_for_status()
    return response.json()


def provider_requests(server) -> int:
    return sum(1 for entry in control(server, "GET", "/_sandbox/requests")["requests"]
               if not entry["path"].startswith("/_sandbox"))


def comparable(store, connection_id):
    orders = sorted((o.id, o.name, o.status, o.decision, o.updated_at, o.geometry,
                     o.params, o.raw) for o in store.orders(connection_id))
    captures = sorted((c.id, c.order_id, c.status, c.assessment, c.cloud_cover, c.acquired_at, c.footprint, c.raw)
                      for c in store.captures(connection_id))
    history = sorted((h.order_id, h.status, h.previous, h.changed_at) for h in store.status_history(connection_id))
    return orders, captures, history, store.sync_state(connection_id).orders_cursor


def test_the_service_fills_the_shared_store_as_a_desktop_fills_its_geopackage_and_announces_it(
        sandbox, postgis_conninfo, tmp_path):
    from satellite_tasking.plugin.store_postgis import PostgisStore

    control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 30, "captures_per_order": 3})
    shared = PostgisStore(postgis_conninfo)
    with shared.listen() as dock:
        first = sync_round(shared, [provider_for(sandbox)])
        assert first[0].result.ok and first[0].result.orders_added == 30, first[0].summary()
        heard = dock.wait(5)
        assert heard and heard[0]["connection_id"] == "team-1" and heard[0]["orders_added"] == 30
        second = sync_round(shared, [provider_for(sandbox)])  # no news: announced too (the dock's "synced at")
        assert second[0].result.ok and not second[0].result.changed
        assert dock.wait(5)[0]["changed"] is False

    desktop = TaskingStore(tmp_path / "desktop.gpkg")  # a desktop's own store, synced the same way
    fresh = provider_for(sandbox)
    assert sync_connection(fresh, desktop, "team-1").ok
    orders, captures, _, _ = comparable(desktop, "team-1")
    shared_orders, shared_captures, shared_history, cursor = comparable(shared, "team-1")
    assert shared_orders == orders and shared_captures == captures and len(captures) >= 30
    assert shared_history and cursor is not None


def test_a_connection_synced_elsewhere_is_left_alone_without_asking_the_provider(sandbox, postgis_conninfo):
    from satellite_tasking.plugin.store_postgis import PostgisStore

    control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 5, "captures_per_order": 1})
    desktop, service = PostgisStore(postgis_conninfo), PostgisStore(postgis_conninfo)
    before = provider_requests(sandbox)
    with desktop.sync_lock("team-1") as held:
        assert held
        rounds = sync_round(service, [provider_for(sandbox), provider_for(sandbox, "team-2")])
    assert rounds[0].locked_elsewhere and "elsewhere" in rounds[0].summary()
    assert rounds[1].result.ok  # another connection is not held up
    after_round = provider_requests(sandbox)
    assert service.counts("team-1")["tasking_orders"] == 0
    assert after_round > before  # (team-2's requests only)

    stop = threading.Event()
    seen = []
    assert run(service, lambda: [provider_for(sandbox)], 0, stop, rounds=2, on_round=seen.append) == 2
    assert len(seen) == 2 and seen[0][0].result.orders_added == 5 and not seen[1][0].result.changed


def test_the_service_command_says_how_it_is_used(tmp_path):
    (tmp_path / "satellite_tasking").symlink_to(ROOT)  # as installed: a folder named after the plugin
    done = subprocess.run([sys.executable, "-m", "satellite_tasking.service", "--help"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--store" in done.stdout and "--interval" in done.stdout
