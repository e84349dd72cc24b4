"""The sandbox lives in the real present (saved state continues its own time), and the monitor dock shows its
time with pause / ×1 / ×60 / ×3600 / next event while a sandbox connection exists."""
from datetime import datetime, timedelta, timezone

import pytest
import requests
from qgis.core import QgsSettings

import satellite_tasking
from satellite_tasking.plugin.model import Aoi, OrderDraft
from satellite_tasking.plugin.sandbox.core import parse_time
from satellite_tasking.plugin.sandbox_service import SandboxService
from satellite_tasking.plugin.sessions import SessionFactory
from satellite_tasking.plugin.settings import SANDBOX_CONNECTION_ID

WAIT = 20000
SAR = "up42:d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"


def clock(url, **payload):
    if payload:
        return requests.post(f"{url}/_sandbox/clock", json=payload, timeout=10).json()
    return requests.get(f"{url}/_sandbox/clock", timeout=10).json()


def test_the_plugins_sandbox_starts_at_the_real_present_and_saved_state_continues(recording_iface, tmp_path):
    plugin = satellite_tasking.classFactory(recording_iface)
    state = tmp_path / "sandbox-state.json"
    plugin.sandbox.state_file = state
    plugin.sandbox.port = 0
    try:
        url = plugin.sandbox.url()
        now = parse_time(clock(url)["now"])
        assert abs(now - datetime.now(timezone.utc)) < timedelta(hours=2), now
        clock(url, advance_seconds=10 * 86400)
        requests.post(f"{url}/_sandbox/state/save", timeout=10)
        saved = parse_time(clock(url)["now"])
    finally:
        plugin.sandbox.stop()
    again = satellite_tasking.classFactory(recording_iface)
    again.sandbox.state_file = state
    again.sandbox.port = 0
    try:
        continued = parse_time(clock(again.sandbox.url())["now"])
        assert continued >= saved - timedelta(minutes=1), "the saved sandbox continues from where it was"
    finally:
        again.sandbox.stop()


def place_sar(sandbox, start):
    from satellite_tasking.plugin.model import Connection, ConnectionKind
    from satellite_tasking.plugin.provider_factory import ProviderFactory

    connection = Connection(id=SANDBOX_CONNECTION_ID, name="Sandbox", kind=ConnectionKind.SANDBOX)
    factory = ProviderFactory(sandbox, session_factory=SessionFactory(agent="SatelliteTasking/test QGIS/test"))
    window = {"acquisitionStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "acquisitionEnd": (start + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    draft = OrderDraft(SANDBOX_CONNECTION_ID, SAR, "Clock", {**window, "acquisitionMode": "stripmap",
                                                             "polarization": "HH", "maxIncidenceAngle": 40},
                       [Aoi({"type": "Polygon", "coordinates": [[[13, 52], [13.05, 52], [13.05, 52.05],
                                                                 [13, 52.05], [13, 52]]]})], "ref-clock")
    outcome = factory.provider_for(connection).place(draft)[0]
    assert outcome.placed, outcome.error


def test_the_clock_pauses_runs_at_a_speed_and_jumps_to_the_next_event(qgis_app):
    sandbox = SandboxService(state_file=None, speed=0, port=0, seed=3)
    try:
        url = sandbox.url()
        assert clock(url)["next_event"] is None
        from satellite_tasking.plugin.sandbox_clock import jump_to_next_event, read_clock, set_speed

        running = set_speed(url, 3600)
        assert running.speed == 3600
        paused = set_speed(url, 0)
        assert paused.speed == 0 and paused.now >= running.now
        assert read_clock(url).now == paused.now
        place_sar(sandbox, paused.now + timedelta(days=2))
        upcoming = read_clock(url).next_event
        assert upcoming is not None and upcoming > paused.now
        jumped = jump_to_next_event(url)
        assert jumped.now == upcoming
    finally:
        sandbox.stop()


@pytest.fixture
def plugin(load_plugin, tmp_path):
    yield load_plugin(seed=5, sync_interval=0.3, store_path=tmp_path / "orders.gpkg")
    QgsSettings().remove("satellite_tasking/sandbox_speed")


def test_the_dock_shows_the_sandbox_time_and_steers_its_clock(plugin, recording_iface, qtbot):
    bar = plugin.monitor_dock.sandboxClock
    recording_iface.main_window.show()
    plugin.monitor.is_app_active = lambda: True
    plugin.monitor_dock.setUserVisible(True)
    qtbot.waitUntil(lambda: bar.isVisible() and bar.time is not None, timeout=WAIT)
    assert "Sandbox time:" in bar.timeLabel.text() and "(paused)" in bar.timeLabel.text()
    assert bar.pauseButton.isChecked()
    assert not bar.nextEventButton.isEnabled()

    bar.minuteButton.click()
    qtbot.waitUntil(lambda: bar.time.speed == 60, timeout=WAIT)
    assert bar.minuteButton.isChecked()
    assert clock(plugin.sandbox.url())["speed"] == 60
    assert satellite_tasking.classFactory(recording_iface).sandbox.speed == 60, "the next session keeps it"
    bar.pauseButton.click()
    qtbot.waitUntil(lambda: bar.time.speed == 0, timeout=WAIT)

    place_sar(plugin.sandbox, bar.time.now + timedelta(days=1))
    plugin.monitor_dock.refreshButton.click()
    qtbot.waitUntil(lambda: bar.nextEventButton.isEnabled(), timeout=WAIT)
    before = bar.time.now
    bar.nextEventButton.click()
    qtbot.waitUntil(lambda: bar.time.now > before, timeout=WAIT)

    # No sandbox connection, no clock.
    plugin.provider_factory.settings.remove(SANDBOX_CONNECTION_ID)
    plugin.monitor_dock.refreshButton.click()
    qtbot.waitUntil(lambda: not bar.isVisible(), timeout=WAIT)


def test_next_event_knows_the_steps_of_stapi_orders(qgis_app):
    from satellite_tasking.plugin.sandbox import SandboxServer
    from satellite_tasking.plugin.sandbox.stapi import PRODUCT_UUIDS, default_parameters
    from satellite_tasking.plugin.sandbox_clock import jump_to_next_event, read_clock

    with SandboxServer(port=0, seed=7, speed=0, dialects=("stapi",)) as server:
        assert read_clock(server.base_url).next_event is None
        uuid = PRODUCT_UUIDS["blacksky-tasking-standard"]
        body = {"datetime": "2026-01-10T00:00:00Z/2026-01-24T00:00:00Z",
                "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
                "order_parameters": default_parameters(uuid)}
        created = requests.post(f"{server.base_url}/stapi/products/blacksky-tasking-standard/orders", json=body,
                                timeout=5)
        assert created.status_code == 201
        before = read_clock(server.base_url)
        assert before.next_event is not None and before.next_event > before.now
        assert jump_to_next_event(server.base_url).now == before.next_event
