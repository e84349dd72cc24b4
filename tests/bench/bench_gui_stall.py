"""The longest stall of the GUI event loop while a full sync runs in the background (target < 30 ms, no GC tricks).

A 10 ms heartbeat timer on the GUI thread records the longest gap between its ticks while the
monitor's work happens the way the plugin does it: the sync of 2,000 orders / 20,000 captures (then of
20,000 / 200,000, each size in a process of its own) in a QgsTask that hands it to the plugin's sync process
(``--in-process``: synced in this process, as where no sync process can start), then, on the GUI thread, the
layer refresh and the dock reload. The longest gap is printed for each phase: while the task syncs, and from its
end until the dock is filled. The floor is the same heartbeat with nothing running, measured in the same run. The
sandbox runs in a process of its own, as a real provider would: in QGIS's process its Python request handlers would
take the GIL and the figure would measure the simulator, not the plugin.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_gui_stall.py [--orders 2000]
"""
import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from bench_support import Heartbeat, register_plugin_package, rss_mb  # tests/bench, beside this script
from sandbox_process import SandboxProcess  # tests/bench, beside this script

register_plugin_package()

from qgis.core import QgsApplication, QgsProject  # noqa: E402

from satellite_tasking.plugin.layers import ensure_layers, refresh_layers  # noqa: E402
from satellite_tasking.plugin.model import Connection  # noqa: E402
from satellite_tasking.plugin.monitor import read_dock_snapshot  # noqa: E402
from satellite_tasking.plugin.provider_recipe import ProviderRecipe  # noqa: E402
from satellite_tasking.plugin.store import TaskingStore  # noqa: E402
from satellite_tasking.plugin.sync_process import SyncProcess  # noqa: E402
from satellite_tasking.plugin.tasks import BackgroundTask, TaskRunner  # noqa: E402
from satellite_tasking.plugin.team_service import desktop_sync_task  # noqa: E402
from satellite_tasking.ui.monitor_dock import MonitorDock  # noqa: E402

SIZES = (2000, 20000)
CAPTURES_PER_ORDER = 10
HEARTBEAT_MS = 10
TARGET_MS = 30
MAX_SECONDS = {2000: 300, 20000: 900}
QUIET = {"planet_max_active_orders": 50, "planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
         "planet_reassessment_rate": 0.0, "up42_failure_rate": 0.0}


def spin(app, condition, seconds):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.001)
    return condition()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=None, help="one size only (default: 2,000 then 20,000)")
    parser.add_argument("--in-process", action="store_true",
                        help="sync in QGIS's process, as the plugin does where no sync process can start")
    args = parser.parse_args()
    if args.orders is None:
        for size in SIZES:
            print(f"--- {size:,} orders", flush=True)
            subprocess.run([sys.executable, __file__, "--orders", str(size)], check=True)
        return
    orders = args.orders
    max_seconds = MAX_SECONDS.get(orders, 900)
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    app = QgsApplication([], True)
    app.initQgis()
    empty_rss = rss_mb()
    folder = Path(tempfile.mkdtemp(prefix="bench-stall-"))
    server = SandboxProcess(seed=22, settings=QUIET)
    heartbeat = Heartbeat(HEARTBEAT_MS)
    sync_process = None
    try:
        requests.post(f"{server.base_url}/_sandbox/planet/seed_orders", timeout=120, json={
            "count": orders, "captures_per_order": CAPTURES_PER_ORDER,
            "statuses": ["FULFILLED", "EXPIRED"] * 24 + ["FULFILLED", "IN_PROGRESS"]}).raise_for_status()
        requests.post(f"{server.base_url}/_sandbox/clock", json={"advance_seconds": 60}, timeout=10)
        connection = Connection(id="bench", name="Bench sandbox", kind="sandbox")
        # The sandbox is local: unpaced, as in bench_sync.py (Planet's published limits would make it minutes).
        recipe = ProviderRecipe(connection, None, None, "SatelliteTasking/bench", server.base_url, paced=False)
        provider = recipe.build()
        # As the monitor does: the sync in a process of its own (started by the first sync, as in QGIS), or here.
        sync_process = None if args.in_process else SyncProcess()
        store = TaskingStore(folder / "store.gpkg")
        project = QgsProject.instance()
        ensure_layers(project, store)
        dock = MonitorDock()
        runner = TaskRunner()

        heartbeat.start()
        spin(app, lambda: False, 1.0)
        floor_ms = max(heartbeat.longest_ms, 1)

        done = {}

        def synced(result):  # GUI thread, as in plugin/monitor.py: layers in place, store read in a task
            heartbeat.phase = "layer refresh and dock fill (GUI thread)"
            done["synced_rss"] = rss_mb()
            began = time.perf_counter()
            refresh_layers(project)
            done["layer_refresh"] = time.perf_counter() - began
            done["result"] = result
            runner.start(BackgroundTask("read", lambda task: read_dock_snapshot(store),
                                        on_success=lambda snapshot: dock.set_orders(
                                            snapshot[0], snapshot[1], {"bench": "Bench sandbox"}, snapshot[2]),
                                        on_failure=lambda message: done.setdefault("failed", message)))

        heartbeat.start("sync task")
        started = time.monotonic()
        runner.start(desktop_sync_task(provider, store, "bench", synced, sync_process=sync_process, recipe=recipe))
        finished = spin(app, lambda: "failed" in done or ("result" in done and dock.orders_model.total()),
                        max_seconds)
        seconds = time.monotonic() - started
        heartbeat.stop()
        assert finished, f"the sync did not finish in time ({sorted(done)})"
        assert "failed" not in done, done["failed"]
        result = done["result"]
        assert result.ok, result.error
        rows = dock.orders_model.rowCount()
        where = (f"in the sync process (pid {sync_process.pid})" if sync_process is not None and sync_process.pid
                 else "in this process")
        print(f"full sync in a task, {where}: {result.orders_added} orders, {result.captures_added} captures, "
              f"{rows} dock rows, {seconds:.1f} s, {heartbeat.ticks} heartbeats")
        print(f"  layer refresh on the GUI thread: {done['layer_refresh']:.3f} s")
        for phase, longest in heartbeat.longest_by_phase.items():
            print(f"  longest stall while {phase}: {longest} ms")
        print(f"resident memory: {done['synced_rss']:.0f} MB after the sync, {rss_mb():.0f} MB with the dock filled; "
              f"{done['synced_rss'] - empty_rss:+.0f} / {rss_mb() - empty_rss:+.0f} MB above this process with QGIS "
              f"initialised ({empty_rss:.0f} MB)")
        assert gc.get_freeze_count() == 0 and gc.isenabled(), "the sync or the dock changed the garbage collector"
        verdict = "OK" if heartbeat.longest_ms < TARGET_MS else f"ABOVE TARGET {TARGET_MS} ms"
        print(f"longest GUI stall during a full sync: {heartbeat.longest_ms} ms vs idle floor {floor_ms} ms "
              f"= {heartbeat.longest_ms / floor_ms:.1f}x (target < {TARGET_MS} ms)  {verdict}")
        project.removeAllMapLayers()
    finally:
        heartbeat.stop()
        if sync_process is not None:
            sync_process.close()
        server.stop()
    app.exitQgis()


if __name__ == "__main__":
    main()
