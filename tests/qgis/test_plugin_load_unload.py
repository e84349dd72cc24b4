"""classFactory → initGui → unload leaves nothing behind, and works twice."""
import logging

import pytest
from qgis.core import QgsApplication, QgsProject, QgsVectorLayer
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QDockWidget, QToolBar

import satellite_tasking
from satellite_tasking.plugin.log import package_logger
from satellite_tasking.plugin.metadata import plugin_name, plugin_version, user_agent


def _count_receivers():
    project = QgsProject.instance()
    return project.receivers(project.layerWasAdded)


def _monitor_receivers():
    """Signals the order monitor listens to outside the plugin's own objects."""
    from qgis.PyQt.QtGui import QGuiApplication

    project = QgsProject.instance()
    application = QGuiApplication.instance()
    return (project.receivers(project.readProject), application.receivers(application.applicationStateChanged))


def _load(iface):
    plugin = satellite_tasking.classFactory(iface)
    plugin.initGui()
    return plugin


def test_plugin_adds_toolbar_menu_dock_and_layer_action(recording_iface):
    polygons = QgsVectorLayer("Polygon?crs=EPSG:3857", "fields", "memory")
    points = QgsVectorLayer("Point?crs=EPSG:4326", "wells", "memory")
    table = QgsVectorLayer("None", "attributes only", "memory")
    QgsProject.instance().addMapLayers([polygons, table])
    plugin = _load(recording_iface)
    try:
        toolbars = recording_iface.main_window.findChildren(QToolBar, "SatelliteTaskingToolbar")
        assert len(toolbars) == 1
        assert toolbars[0].windowTitle() == "Satellite tasking"
        assert [a.text() for a in toolbars[0].actions()] == [
            "Task a satellite over selected features", "Order monitor", "Connections…"]
        menu = recording_iface.web_menu_entries()["Satellite tasking"]
        assert "Connections…" in menu and f"About {plugin_name()}" in menu
        docks = recording_iface.main_window.findChildren(QDockWidget, "SatelliteTaskingMonitorDock")
        assert len(docks) == 1
        # The layer-tree action is offered on the polygon layer, not on the attribute table,
        # and follows layers added later.
        offered = recording_iface.layer_actions[plugin.layer_task_action]
        assert offered == {polygons.id()}
        QgsProject.instance().addMapLayer(points)
        assert recording_iface.layer_actions[plugin.layer_task_action] == {polygons.id(), points.id()}
    finally:
        plugin.unload()


def test_unload_leaves_nothing_behind_and_twice_works(recording_iface):
    logger = package_logger()
    handlers_before = list(logger.handlers)
    receivers_before = _count_receivers()
    monitor_receivers_before = _monitor_receivers()
    for _ in range(2):
        plugin = _load(recording_iface)
        assert len(logger.handlers) == len(handlers_before) + 1
        assert QgsApplication.processingRegistry().providerById("satellitetasking") is not None
        assert _count_receivers() == receivers_before + 1
        assert _monitor_receivers() == tuple(n + 1 for n in monitor_receivers_before)
        monitor, timer = plugin.monitor, plugin.monitor.timer
        assert monitor.objectName() == "satelliteTaskingOrderMonitor"
        plugin.unload()
        assert not timer.isActive() and plugin.monitor is None
        assert _monitor_receivers() == monitor_receivers_before
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        window = recording_iface.main_window
        assert window.findChildren(QToolBar, "SatelliteTaskingToolbar") == []
        assert window.findChildren(QDockWidget, "SatelliteTaskingMonitorDock") == []
        assert [a for a in window.findChildren(object) if a.objectName().startswith("satelliteTasking")] == []
        assert "Satellite tasking" not in recording_iface.web_menu_entries()
        assert recording_iface.layer_type_actions == [] and recording_iface.layer_actions == {}
        assert logger.handlers == handlers_before
        assert _count_receivers() == receivers_before
        assert plugin.translator is None
        assert QgsApplication.processingRegistry().providerById("satellitetasking") is None
        assert sip.isdeleted(monitor) and sip.isdeleted(timer)


def test_plugin_logs_to_qgis_message_log_under_its_tag(recording_iface):
    from qgis.core import QgsApplication

    received = []

    def collect(message, tag, level):
        received.append((tag, message))

    QgsApplication.messageLog().messageReceived.connect(collect)
    plugin = _load(recording_iface)
    try:
        logging.getLogger("satellite_tasking.plugin.example").warning("api-key s3cr3t-value reached")
        QCoreApplication.processEvents()
    finally:
        plugin.unload()
        QgsApplication.messageLog().messageReceived.disconnect(collect)
    ours = [message for tag, message in received if tag == plugin_name()]
    assert any("loaded" in message for message in ours)
    assert any("reached" in message for message in ours)
    assert not any("s3cr3t-value" in message for _, message in received)


def test_name_and_version_come_from_metadata():
    import configparser
    from pathlib import Path

    parser = configparser.ConfigParser()
    parser.read(Path(satellite_tasking.__file__).with_name("metadata.txt"))
    assert plugin_name() == parser["general"]["name"]
    assert plugin_version() == parser["general"]["version"]
    assert user_agent("3.22.16") == f"{parser['general']['name'].replace(' ', '-')}/{plugin_version()} QGIS/3.22.16"


def test_user_agent_is_a_valid_header_with_the_real_qgis_version():
    from qgis.core import Qgis

    agent = user_agent(Qgis.QGIS_VERSION)  # e.g. "3.22.16-Białowieża": the release name is not latin-1
    agent.encode("latin-1")
    assert agent.endswith(f"QGIS/{Qgis.QGIS_VERSION.split('-')[0]}")
    assert agent.isascii() and " " in agent


@pytest.mark.parametrize("key", [
    "name", "qgisMinimumVersion", "description", "about", "version", "author", "email", "repository", "tracker",
    "homepage", "tags", "category", "icon", "experimental", "hasProcessingProvider",
])  # changelog: CHANGELOG.md, written into the package (tests/unit/test_package.py)
def test_metadata_is_complete(key):
    import configparser
    from pathlib import Path

    root = Path(satellite_tasking.__file__).parent
    parser = configparser.ConfigParser()
    parser.read(root / "metadata.txt")
    assert parser["general"].get(key, "").strip(), f"metadata.txt lacks {key}"
    if key == "icon":
        assert (root / parser["general"]["icon"]).is_file()
    if key == "qgisMinimumVersion":
        assert parser["general"][key] == "3.22"


def test_unload_stops_the_in_process_sandbox(recording_iface, tmp_path):
    import threading

    import requests

    def sandbox_threads():
        return {t for t in threading.enumerate() if t.name.startswith("sandbox") and t.is_alive()}

    # only this plugin's own sandbox counts: a server another test left running is not the plugin's to stop
    before = sandbox_threads()
    plugin = _load(recording_iface)
    plugin.sandbox.state_file = tmp_path / "sandbox-state.json"
    url = plugin.sandbox.url()
    assert requests.get(f"{url}/_sandbox/clock", timeout=5).ok
    assert sandbox_threads() - before
    plugin.unload()
    assert not plugin.sandbox.running
    assert not sandbox_threads() - before
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_sandbox/clock", timeout=2)
