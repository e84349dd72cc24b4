"""The two map layers drawn from the store: "Tasking orders" and "Tasking captures".

Both are plain OGR layers on the store's GeoPackage tables, styled once from
``resources/styles/*.qml`` when they are created. They carry a custom property naming their
role, so they are found again after a project reload, and a sync refreshes them in place
(the provider re-reads the file): same layer ids, the user's own style, filters and selections
kept, no features duplicated. Runs on the GUI thread; nothing here touches the network.

Where the store lives: a project may name its own GeoPackage (project entry
``satellite_tasking/store_path``, relative to the project file when relative); otherwise it is
``<QGIS profile folder>/satellite_tasking/tasking.gpkg``, shared by every project of the profile.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Optional

from qgis.core import QgsApplication, QgsLayerTreeGroup, QgsProject, QgsVectorLayer

from .store import CAPTURES_TABLE, ORDERS_TABLE, TaskingStore

logger = logging.getLogger(__name__)

ROLE_PROPERTY = "satellite_tasking/role"
ORDERS_ROLE = "orders"
CAPTURES_ROLE = "captures"
PROJECT_SCOPE = "satellite_tasking"
STORE_PATH_KEY = "store_path"
STORE_FILE_NAME = "tasking.gpkg"
GROUP_NAME = "Satellite tasking"
STYLES_FOLDER = Path(__file__).resolve().parent.parent / "resources" / "styles"

LAYERS = {
    ORDERS_ROLE: (ORDERS_TABLE, "Tasking orders", STYLES_FOLDER / "tasking_orders.qml"),
    CAPTURES_ROLE: (CAPTURES_TABLE, "Tasking captures", STYLES_FOLDER / "tasking_captures.qml"),
}


# -- where the store is --------------------------------------------------------------------------
def default_store_path() -> Path:
    return Path(QgsApplication.qgisSettingsDirPath()) / "satellite_tasking" / STORE_FILE_NAME


def store_path_for(project: Optional[QgsProject] = None) -> Path:
    """The project's own store when it names one, else the profile's."""
    project = project or QgsProject.instance()
    configured, found = project.readEntry(PROJECT_SCOPE, STORE_PATH_KEY, "")
    if found and configured:
        path = Path(configured)
        if not path.is_absolute() and project.homePath():
            path = Path(project.homePath()) / path
        return path
    return default_store_path()


def set_project_store_path(project: QgsProject, path) -> None:
    """Keep this project's orders in ``path`` (empty: back to the profile's store)."""
    project.writeEntry(PROJECT_SCOPE, STORE_PATH_KEY, str(path) if path else "")


def open_store(project: Optional[QgsProject] = None) -> TaskingStore:
    return TaskingStore(store_path_for(project))


# -- finding and adding --------------------------------------------------------------------------
def layer_uri(store_path, table: str) -> str:
    return f"{Path(store_path)}|layername={table}"


def find_layers(project: QgsProject) -> dict:
    """role -> the project's layer with that role (the first one, if a user duplicated it)."""
    found = {}
    for layer in project.mapLayers().values():
        role = layer.customProperty(ROLE_PROPERTY)
        if role in LAYERS and role not in found and isinstance(layer, QgsVectorLayer):
            found[role] = layer
    return found


def _source_path(layer: QgsVectorLayer) -> str:
    return layer.source().split("|", 1)[0]


def ensure_layers(project: QgsProject, store: TaskingStore) -> tuple:
    """(orders layer, captures layer) of the project, added (styled, in a group) if missing.

    A layer found again keeps everything the user changed; only when it points at another
    GeoPackage (the project's store moved) is its data source switched, style kept.
    """
    existing = find_layers(project)
    result = []
    for role, (table, title, style) in LAYERS.items():
        uri = layer_uri(store.path, table)
        layer = existing.get(role)
        if layer is not None:
            if Path(_source_path(layer)) != Path(store.path):
                logger.info("Layer %s follows the store to %s", layer.name(), store.path)
                layer.setDataSource(uri, layer.name(), "ogr")
            elif not layer.isValid():
                layer.setDataSource(uri, layer.name(), "ogr")
            result.append(layer)
            continue
        layer = QgsVectorLayer(uri, title, "ogr")
        if not layer.isValid():
            raise RuntimeError(f"The order store {store.path} cannot be read as a GeoPackage ({table}).")
        message, loaded = layer.loadNamedStyle(str(style))
        if not loaded:
            logger.warning("Style %s not applied: %s", style.name, message)
        layer.setCustomProperty(ROLE_PROPERTY, role)
        project.addMapLayer(layer, False)
        _group(project).addLayer(layer)
        result.append(layer)
    return tuple(result)


def _group(project: QgsProject) -> QgsLayerTreeGroup:
    root = project.layerTreeRoot()
    group = root.findGroup(GROUP_NAME)
    return group if group is not None else root.insertGroup(0, GROUP_NAME)


def refresh_layers(project_or_layers) -> list:
    """Make the plugin's layers show what the store holds now; returns the layers refreshed.

    Takes a project (its plugin layers) or the layers themselves. Call it on the GUI thread
    after a sync whose ``SyncResult.changed`` is true.
    """
    if isinstance(project_or_layers, QgsProject):
        layers: Iterable = find_layers(project_or_layers).values()
    else:
        layers = [layer for layer in project_or_layers if layer is not None]
    refreshed = []
    for layer in layers:
        if layer.isEditable():
            # Reloading under the user's pending edits would drop them; the next refresh catches up.
            logger.info("Layer %s is being edited; it shows the new orders once editing ends", layer.name())
            continue
        layer.dataProvider().reloadData()
        layer.updateExtents()
        layer.triggerRepaint()
        refreshed.append(layer)
    return refreshed
