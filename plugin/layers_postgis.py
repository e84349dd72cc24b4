"""The orders and captures layers of a shared PostGIS store, read through QGIS's native ``postgres`` provider.

The same two layers as ``layers.py`` draws from a GeoPackage — same roles (so ``find_layers`` and
``refresh_layers`` work on them unchanged), same titles and styles — with a ``postgres`` data source:
the store's connection string (a ``service=`` name, no password written into the project), its schema and
table, ``geom`` as geometry column and ``fid`` as key. Runs on the GUI thread; nothing here talks to a provider.
"""
from __future__ import annotations

import logging

from qgis.core import QgsDataSourceUri, QgsProject, QgsVectorLayer

from .layers import LAYERS, ROLE_PROPERTY, _group, find_layers

logger = logging.getLogger(__name__)

POSTGRES_PROVIDER = "postgres"


def postgis_layer_uri(store, table: str) -> str:
    """The ``postgres`` provider's data source of ``table`` in ``store`` (a ``PostgisStore``)."""
    uri = QgsDataSourceUri(store.conninfo)
    uri.setDataSource(store.schema, table, "geom", "", "fid")
    if getattr(store, "authcfg", ""):
        uri.setAuthConfigId(store.authcfg)  # QGIS reads the credentials itself; the project keeps only the id
    uri.setSrid("4326")  # the column's type says MultiPolygon, so the provider need not scan for it
    return uri.uri(False)


def ensure_postgis_layers(project: QgsProject, store) -> tuple:
    """(orders layer, captures layer) of the project on the shared store, added (styled, in the plugin's group)
    if missing; a plugin layer found on another source is switched to the store, its style kept."""
    existing = find_layers(project)
    result = []
    for role, (table, title, style) in LAYERS.items():
        uri = postgis_layer_uri(store, table)
        layer = existing.get(role)
        if layer is not None:
            if layer.providerType() != POSTGRES_PROVIDER or layer.source() != uri or not layer.isValid():
                logger.info("Layer %s follows the store to %r", layer.name(), store)
                layer.setDataSource(uri, layer.name(), POSTGRES_PROVIDER)
            result.append(layer)
            continue
        layer = QgsVectorLayer(uri, title, POSTGRES_PROVIDER)
        if not layer.isValid():
            raise RuntimeError(f"The shared store {store!r} cannot be read by QGIS's PostgreSQL provider ({table}).")
        message, loaded = layer.loadNamedStyle(str(style))
        if not loaded:
            logger.warning("Style %s not applied: %s", style.name, message)
        layer.setCustomProperty(ROLE_PROPERTY, role)
        project.addMapLayer(layer, False)
        _group(project).addLayer(layer)
        result.append(layer)
    return tuple(result)


__all__ = ["ensure_postgis_layers", "postgis_layer_uri"]
