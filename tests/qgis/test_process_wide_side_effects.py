"""The plugin is a guest in QGIS: loading it, syncing and unloading leave the process as they found it.

QGIS runs every plugin in one Python process. A plugin that freezes the garbage collector, changes its
thresholds, adds a root logging handler, edits sys.path or sets a default socket timeout changes every other
plugin's world (gc.freeze, for one, keeps every object that exists at that moment from ever being collected).
"""
import gc
import logging
import socket
import sys

import requests

import satellite_tasking
from satellite_tasking.plugin.http import build_session
from satellite_tasking.plugin.model import Connection
from satellite_tasking.plugin.monitor import read_snapshot
from satellite_tasking.plugin.providers.sandbox import SandboxProvider
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection

SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}


def process_state():
    root = logging.getLogger()
    return {
        "gc frozen objects": gc.get_freeze_count(),
        "gc enabled": gc.isenabled(),
        "gc thresholds": gc.get_threshold(),
        "root logger handlers": list(root.handlers),
        "root logger level": root.level,
        "logging disabled": logging.root.manager.disable,
        "sys.path": list(sys.path),
        "socket default timeout": socket.getdefaulttimeout(),
        "requests adapters": dict(requests.Session().adapters).keys(),
    }


def test_load_sync_and_unload_leave_the_process_as_they_found_it(recording_iface, tmp_path):
    gc.unfreeze()  # a frozen count left by anything before this test would hide a freeze by the plugin
    before = process_state()
    sandbox = SandboxServer(port=0, seed=3, speed=0).start()
    try:
        plugin = satellite_tasking.classFactory(recording_iface)
        plugin.initGui()
        try:
            connection = Connection(id="sandbox-side-effects", name="Sandbox", kind="sandbox")
            provider = SandboxProvider(
                connection,
                lambda conn: build_session(conn.name, "SatelliteTasking/test", timeout=(2, 5), sleep=lambda s: None),
                sandbox.base_url,
            )
            requests.post(sandbox.base_url + "/_sandbox/planet/seed_orders", json={"count": 30}, timeout=30)
            store = TaskingStore(tmp_path / "store.gpkg")
            result = sync_connection(provider, store, connection.id)
            assert not result.error, result.error
            orders, _captures = read_snapshot(store)
            assert orders
        finally:
            plugin.unload()
    finally:
        sandbox.stop()

    assert process_state() == before
