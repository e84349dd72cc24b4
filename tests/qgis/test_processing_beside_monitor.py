"""Processing algorithms run in QGIS's worker threads (as the toolbox dialog runs them) while the monitor's
background sync runs: no Qt object is used from two threads, and twenty rounds of list/estimate/place end
without a crash.

The crash users met (signal 11 in QgsProcessingAlgorithmDialogBase::runAlgorithm) came from one QgsSettings
object shared by the plugin's ProviderFactory, the monitor and the Processing algorithms: the algorithm read
the connections with it in its worker thread (beginGroup/childGroups/endGroup) while the GUI thread read them
with the same object (the dialog's checkParameterValues and initAlgorithm, the monitor's sync round). QSettings
is reentrant, not thread-safe: its group stack was pushed and popped from two threads at once, which reads
the wrong group ("There is no connection named Sandbox") or corrupts the heap.
"""
import json
import threading
import time

import pytest
from qgis.core import (
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsSettings,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis_harness import memory_layer

import satellite_tasking
import satellite_tasking.plugin.settings as settings_module
from satellite_tasking.plugin.processing.provider import PROVIDER_ID

PLEIADES = "up42:a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"
WAIT = 30
ROUNDS = 20


class ThreadRecordingSettings(QgsSettings):
    """A QgsSettings that notes every thread it is used from."""

    instances: list = []

    def _note(self):
        threads = getattr(self, "threads", None)
        if threads is None:
            self.threads = threads = set()
            self.instances.append(self)  # kept alive: no id or address is reused
        threads.add(threading.get_ident())

    def beginGroup(self, *args, **kwargs):
        self._note()
        return super().beginGroup(*args, **kwargs)

    def value(self, *args, **kwargs):
        self._note()
        return super().value(*args, **kwargs)

    def setValue(self, *args, **kwargs):
        self._note()
        return super().setValue(*args, **kwargs)


@pytest.fixture
def plugin(qgis_processing, monkeypatch, tmp_path, load_plugin):
    monkeypatch.setattr(settings_module, "QgsSettings", ThreadRecordingSettings)
    ThreadRecordingSettings.instances = []
    return load_plugin(seed=5, sync_interval=0.05, store_path=tmp_path / "orders.gpkg")


def fields_layer():
    return memory_layer("Polygon", ["POLYGON((13 52, 13.05 52, 13.05 52.05, 13 52.05, 13 52))"], select=False)


def run_in_worker(algorithm_id, parameters):
    """Runs the algorithm the way the toolbox dialog does: prepared on the GUI thread, processed in a task.
    Returns (ok, results); the GUI thread keeps turning its event loop (the monitor's timer) meanwhile."""
    registry = QgsApplication.processingRegistry()
    algorithm = registry.algorithmById(algorithm_id)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback(logFeedback=False)
    ok, message = algorithm.checkParameterValues(parameters, context)
    assert ok, message
    outcome = {}
    task = QgsProcessingAlgRunnerTask(algorithm, parameters, context, feedback)
    task.executed.connect(lambda success, results: outcome.update(ok=success, results=results))
    QgsApplication.taskManager().addTask(task)
    deadline = time.monotonic() + WAIT
    while "ok" not in outcome and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.002)
    assert "ok" in outcome, f"{algorithm_id} did not finish in {WAIT} s"
    assert outcome["ok"], feedback.textLog()
    return outcome["ok"], outcome["results"]


def test_algorithms_in_worker_threads_beside_the_monitors_sync_share_no_qt_object(plugin, recording_iface, qtbot):
    recording_iface.main_window.show()
    plugin.monitor.is_app_active = lambda: True
    plugin.monitor_dock.setUserVisible(True)
    qtbot.waitUntil(plugin.monitor.should_run, timeout=WAIT * 1000)
    layer = fields_layer()
    params = json.dumps({"maxCloudCover": 10, "acquisitionMode": "mono"})
    window = {"START": "2026-01-10T00:00:00Z", "END": "2026-01-30T00:00:00Z"}
    rounds_synced = []
    plugin.monitor.roundFinished.connect(rounds_synced.append)
    for number in range(ROUNDS):
        ok, results = run_in_worker(f"{PROVIDER_ID}:listproducts", {"CONNECTION": "Sandbox", "OUTPUT": "memory:"})
        assert ok and results["COUNT"] >= 6
        ok, results = run_in_worker(f"{PROVIDER_ID}:estimateorders", {
            "CONNECTION": "Sandbox", "PRODUCT": PLEIADES, "INPUT": layer.id(), "NAME": "Stress", "PARAMS": params,
            "OUTPUT": "memory:", **window})
        assert ok and results["TOTAL"] > 0
        if number % 5 == 0:
            ok, results = run_in_worker(f"{PROVIDER_ID}:placeorders", {
                "CONNECTION": "Sandbox", "PRODUCT": PLEIADES, "INPUT": layer.id(), "NAME": f"Stress {number}",
                "PARAMS": params, "OUTPUT": "memory:", **window})
            assert ok and results["PLACED"] == 1
    assert rounds_synced, "the monitor synced while the algorithms ran"
    assert len({thread for s in ThreadRecordingSettings.instances for thread in s.threads}) > 1
    shared = [s for s in ThreadRecordingSettings.instances if len(s.threads) > 1]
    assert not shared, f"{len(shared)} QgsSettings object(s) of the plugin used from more than one thread"


HAMMER = """
import importlib.util, sys, threading
root = sys.argv[1]
spec = importlib.util.spec_from_file_location("satellite_tasking", root + "/__init__.py",
                                              submodule_search_locations=[root])
module = importlib.util.module_from_spec(spec)
sys.modules["satellite_tasking"] = module
spec.loader.exec_module(module)
from qgis.core import QgsApplication
app = QgsApplication([], False)
app.initQgis()
from satellite_tasking.plugin.provider_factory import ProviderFactory
factory = ProviderFactory(sandbox=None)
factory.settings.ensure_sandbox_connection()
def read(times):
    for _ in range(times):
        assert factory.connections()
threads = [threading.Thread(target=read, args=(3000,)) for _ in range(2)]
for thread in threads:
    thread.start()
read(3000)
for thread in threads:
    thread.join()
print("survived")
"""


def test_one_factory_read_from_three_threads_at_once_does_not_crash(tmp_path):
    """The crash itself, out of process: the plugin's ProviderFactory read from the GUI thread and two workers.
    With the shared QgsSettings this read no connection at all (a group stack another thread had just changed),
    aborted ("malloc(): unaligned tcache chunk detected") or segfaulted."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(satellite_tasking.__file__).resolve().parent
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", HAMMER, str(root)], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0 and "survived" in done.stdout, done.stderr[-2000:]
