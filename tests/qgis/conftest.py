"""Fixtures for tests that need QGIS (pytest-qgis, offscreen).

Beside those of tests/conftest.py (the sandbox, its control API, providers of each kind):

- ``recording_iface``: a QgisInterface whose toolbar, dock, Web menu and layer-tree actions are real Qt objects.
- ``clean_settings``: the plugin's settings emptied before and after the test (a ``ConnectionSettings``).
- ``auth_manager``: QGIS's authentication database, unlocked.
- ``load_plugin(seed=5, start=None, sync_interval=None, store_path=None, answer_yes=False)``: the plugin built by
  constructor injection on ``recording_iface`` — its own sandbox (frozen clock, that seed), drafts in the test's
  folder, sessions with the test user agent — and ``initGui()`` run; unloaded after the test, with the settings,
  project store path and layers it touched put back.
- ``plugin``: ``load_plugin()`` with its defaults; a module overrides it to load the plugin its way.
- ``processing_run``: the plugin's Processing provider registered over a fresh sandbox (seed 11, frozen clock) and
  the ``clean_settings`` connections; call it as ``processing_run(name, feedback=None, **parameters)`` (the
  Sandbox connection unless CONNECTION is given); ``processing_run.sandbox`` is its ``SandboxService``.

Helpers (layers of given shapes, the order dialog driven as a person would) are importable as ``qgis_harness``
(tests/qgis/qgis_harness.py; tests/conftest.py registers it by name).
"""
import time

import pytest
from qgis.core import QgsApplication, QgsLayerTreeModel, QgsProject
from qgis.gui import QgsLayerTreeView
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QMainWindow

TEST_MASTER_PASSWORD = "test-master-password"



class RecordingIface:
    """Stands in for QgisInterface with the real Qt widgets QGIS itself would use.

    pytest-qgis's interface answers unknown calls with MagicMocks, which would let a
    plugin add a menu entry and never remove it. Here the toolbar, dock, Web menu and
    layer-tree actions are real objects in a real main window, so a test can look at
    what is left after unload.
    """

    def __init__(self, base_iface):
        self._base = base_iface
        self.main_window = QMainWindow()
        self.web_menu = self.main_window.menuBar().addMenu("&Web")
        self.layer_type_actions = []
        self.layer_actions = {}
        self.layer_tree_view = QgsLayerTreeView(self.main_window)
        self.layer_tree_view.setModel(QgsLayerTreeModel(QgsProject.instance().layerTreeRoot(), self.main_window))

    def __getattr__(self, name):
        return getattr(self._base, name)

    def mainWindow(self):
        return self.main_window

    def addToolBar(self, name):
        return self.main_window.addToolBar(name)

    def _plugin_menu(self, name, create):
        for action in self.web_menu.actions():
            if action.menu() is not None and action.text() == name:
                return action.menu()
        return self.web_menu.addMenu(name) if create else None

    def addPluginToWebMenu(self, name, action):
        self._plugin_menu(name, create=True).addAction(action)

    def removePluginWebMenu(self, name, action):
        menu = self._plugin_menu(name, create=False)
        if menu is None:
            return
        menu.removeAction(action)
        if not menu.actions():  # QGIS drops the plugin's submenu once it is empty
            self.web_menu.removeAction(menu.menuAction())
            menu.deleteLater()

    def web_menu_entries(self):
        return {a.text(): [x.text() for x in a.menu().actions()] for a in self.web_menu.actions() if a.menu()}

    def addDockWidget(self, area, dock):
        self.main_window.addDockWidget(area, dock)

    def removeDockWidget(self, dock):
        self.main_window.removeDockWidget(dock)

    def addCustomActionForLayerType(self, action, menu, layer_type, all_layers):
        self.layer_type_actions.append(action)

    def addCustomActionForLayer(self, action, layer):
        self.layer_actions.setdefault(action, set()).add(layer.id())

    def removeCustomActionForLayerType(self, action):
        found = action in self.layer_type_actions
        if found:
            self.layer_type_actions.remove(action)
        self.layer_actions.pop(action, None)
        return found

    def layerTreeView(self):
        return self.layer_tree_view

    def activeLayer(self):
        return self.layer_tree_view.currentLayer()


def process_deferred_deletes():
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def recording_iface(qgis_iface):
    iface = RecordingIface(qgis_iface)
    yield iface
    QgsProject.instance().removeAllMapLayers()
    iface.main_window.deleteLater()
    process_deferred_deletes()


@pytest.fixture(autouse=True)
def drained_task_manager(qgis_app):
    """Each test starts with QGIS's task pool empty.

    The pool has as many threads as cores (two here): a task a test left behind — a sync still
    retrying against a sandbox its test already stopped — would otherwise hold a thread while the
    next test waits for its own tasks.
    """
    yield
    manager = QgsApplication.taskManager()
    manager.cancelAll()
    deadline = time.monotonic() + 60
    while manager.countActiveTasks() and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.02)


TEST_QGIS_AGENT = "SatelliteTasking/test QGIS/test"


@pytest.fixture
def load_plugin(recording_iface, clean_settings, tmp_path, monkeypatch):
    from qgis.core import QgsSettings
    from qgis.PyQt.QtWidgets import QMessageBox

    from satellite_tasking.plugin.drafts import DraftStore
    from satellite_tasking.plugin.layers import set_project_store_path
    from satellite_tasking.plugin.monitor import SYNC_INTERVAL_KEY
    from satellite_tasking.plugin.plugin import TaskingPlugin
    from satellite_tasking.plugin.sandbox_service import SandboxService
    from satellite_tasking.plugin.sessions import SessionFactory

    loaded = []
    touched = set()

    def load(seed: int = 5, start=None, sync_interval=None, store_path=None, answer_yes: bool = False):
        """``answer_yes``: every QMessageBox.question is answered Yes (placing asks before it places)."""
        if answer_yes:
            monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
        if store_path is not None:
            set_project_store_path(QgsProject.instance(), store_path)
            touched.add("store_path")
        if sync_interval is not None:
            QgsSettings().setValue(SYNC_INTERVAL_KEY, sync_interval)
            touched.add("sync_interval")
        plugin = TaskingPlugin(
            recording_iface,
            sandbox=SandboxService(state_file=None, speed=0, port=0, seed=seed, start=start),
            session_factory=SessionFactory(agent=TEST_QGIS_AGENT),
            draft_store=DraftStore(tmp_path / "drafts"),
        )
        plugin.initGui()
        loaded.append(plugin)
        return plugin

    yield load
    for plugin in reversed(loaded):
        plugin.unload()
        plugin.sandbox.stop()
    QgsProject.instance().removeAllMapLayers()
    if "store_path" in touched:
        set_project_store_path(QgsProject.instance(), "")
    if "sync_interval" in touched:
        QgsSettings().remove(SYNC_INTERVAL_KEY)


@pytest.fixture
def plugin(load_plugin):
    return load_plugin()


class ProcessingRun:
    """Runs the plugin's Processing algorithms by their short names, on the Sandbox connection by default."""

    def __init__(self, sandbox):
        self.sandbox = sandbox

    def __call__(self, name: str, feedback=None, **parameters):
        from qgis import processing

        from satellite_tasking.plugin.processing.provider import PROVIDER_ID

        return processing.run(f"{PROVIDER_ID}:{name}", {"CONNECTION": "Sandbox", **parameters}, feedback=feedback)


@pytest.fixture
def processing_run(qgis_processing, clean_settings):
    from satellite_tasking.plugin.processing.provider import TaskingProcessingProvider
    from satellite_tasking.plugin.provider_factory import ProviderFactory
    from satellite_tasking.plugin.sandbox_service import SandboxService
    from satellite_tasking.plugin.sessions import SessionFactory

    sandbox = SandboxService(state_file=None, speed=0, port=0, seed=11)
    factory = ProviderFactory(sandbox, settings=clean_settings, session_factory=SessionFactory(agent=TEST_QGIS_AGENT))
    provider = TaskingProcessingProvider(factory)
    assert QgsApplication.processingRegistry().addProvider(provider)
    yield ProcessingRun(sandbox)
    QgsApplication.processingRegistry().removeProvider(provider)
    sandbox.stop()
    QgsProject.instance().removeAllMapLayers()


@pytest.fixture
def clean_settings(qgis_app, auth_manager):
    """The plugin's settings emptied before and after the test."""
    from qgis.core import QgsSettings

    from satellite_tasking.plugin.settings import ConnectionSettings

    settings = QgsSettings()
    settings.remove("satellite_tasking")
    yield ConnectionSettings(settings)
    for connection in ConnectionSettings(settings).connections():
        ConnectionSettings(settings).remove(connection.id)
    settings.remove("satellite_tasking")


@pytest.fixture(scope="session")
def auth_manager(qgis_app):
    """The QGIS authentication database, unlocked the way a user unlocks it."""
    manager = QgsApplication.authManager()
    assert not manager.isDisabled(), manager.disabledMessage()
    # pytest-qgis keeps its profile in .qgis-settings between runs (`make clean` removes it);
    # every test that needs the auth database unlocks it through this fixture, with this password.
    assert manager.setMasterPassword(TEST_MASTER_PASSWORD, True), (
        "the test auth database in .qgis-settings is locked with another password: run `make clean`")
    return manager
