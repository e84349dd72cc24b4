"""sync_task: the sync runs in QGIS's task manager, one task per connection, results on the GUI thread."""
import threading
import time

import pytest
from qgis.core import QgsProject
from qgis.PyQt.QtCore import QCoreApplication
from sandbox_harness import sandbox_provider_for

from satellite_tasking.plugin.layers import ensure_layers, refresh_layers
from satellite_tasking.plugin.model import Aoi, OrderDraft
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import SyncResult, sync_task
from satellite_tasking.plugin.tasks import TaskRunner

QUIET = {"planet_max_active_orders": 50, "planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
         "planet_reassessment_rate": 0.0, "up42_failure_rate": 0.0}
SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}
LOCK_IN = {"start_time": "2026-01-05T01:00:00Z", "end_time": "2026-01-12T01:00:00Z"}


@pytest.fixture
def server(start_sandbox):
    return start_sandbox(seed=4, settings=QUIET)


def provider_for(url, connection_id):
    return sandbox_provider_for(url, connection_id, f"Sandbox {connection_id}",
                                session_options={"agent": "test", "timeout": (1, 2)})


def wait_for(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.01)
    return condition()


@pytest.fixture
def project(qgis_app):
    # A project of the test's own, emptied before Python collects it (QGIS crashes deleting layers in a GC pass).
    project = QgsProject()
    yield project
    project.removeAllMapLayers()


def test_one_task_per_connection_and_a_failing_one_does_not_stop_the_other(project, server, tmp_path):
    working = provider_for(server.base_url, "good")
    assert working.place(OrderDraft("good", "planet:area", "Harbour", dict(LOCK_IN), [Aoi(SQUARE)], "r1"))[0].placed
    gone = SandboxServer(port=0, seed=1, speed=0).start()
    gone_url = gone.base_url
    gone.stop()
    store = TaskingStore(tmp_path / "store.gpkg")
    layers = ensure_layers(project, store)
    results = {}
    threads = {}

    def done(result):
        threads[result.connection_id] = threading.current_thread()
        results[result.connection_id] = result
        if result.changed:
            refresh_layers(project)

    runner = TaskRunner()
    for connection_id, provider in (("bad", provider_for(gone_url, "bad")), ("good", working)):
        runner.start(sync_task(provider, store, connection_id, done))
    assert wait_for(lambda: len(results) == 2), results
    assert wait_for(lambda: runner.running == 0)
    assert results["good"].ok and results["good"].orders_added == 1
    assert not results["bad"].ok and results["bad"].error
    assert all(thread is threading.main_thread() for thread in threads.values())  # finished() on the GUI thread
    assert layers[0].featureCount() == 1
    assert store.sync_state("bad").last_error == results["bad"].error


def test_a_cancelled_task_reports_a_cancelled_result(qgis_app, server, tmp_path):
    # A slow answer keeps the task busy long enough to cancel it.
    server.add_faults({"prefix": "/tasking/v2/orders", "kind": "delay", "seconds": 1.0, "count": 1})
    provider = provider_for(server.base_url, "slow")
    provider.parts["planet"].session.timeout = (2, 5)
    store = TaskingStore(tmp_path / "store.gpkg")
    results = []
    runner = TaskRunner()
    task = runner.start(sync_task(provider, store, "slow", results.append))
    assert wait_for(lambda: task.status() == task.Running, 10)
    task.cancel()
    assert wait_for(lambda: results, 30)
    assert isinstance(results[0], SyncResult) and not results[0].ok
    assert results[0].cancelled or results[0].error
    assert store.orders("slow") == [] and not store.sync_state("slow").synced_before
