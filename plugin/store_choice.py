"""Which store a project uses: its GeoPackage (the default) or a shared PostGIS store.

The shared store is chosen from QGIS's own PostgreSQL connections (Data Source Manager / Browser) or given as
a libpq string such as ``service=tasking``. What the project keeps is the connection's *name* (or that string)
and a schema — never a password: a connection's password stays in QGIS's authentication database (its
``authcfg``) or in ``pg_service.conf``/``~/.pgpass``, and is read only when the store connects, each time.
Runs on the GUI thread (QGIS settings and the authentication database).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsDataSourceUri, QgsProject, QgsProviderRegistry

from .store_postgis import DEFAULT_SCHEMA, PostgisStore, SharedStoreError

logger = logging.getLogger(__name__)

PROJECT_SCOPE = "satellite_tasking"
SHARED_STORE_KEY = "shared_store"  # "qgis:<connection name>" or a libpq string; empty: the GeoPackage
SHARED_SCHEMA_KEY = "shared_store_schema"
QGIS_CONNECTION_PREFIX = "qgis:"
# Connection parameters taken over from a QGIS connection (never its password).
_PARAMETERS = ("service", "host", "port", "dbname", "user", "sslmode")


@dataclass(frozen=True)
class SharedStoreSource:
    """Where a shared store is: a libpq string without a password, and the authcfg holding the credentials."""

    conninfo: str
    authcfg: str = ""
    name: str = ""


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def source_from_uri(uri: QgsDataSourceUri, name: str = "") -> SharedStoreSource:
    """The store source of a QGIS PostgreSQL data source (its password, if it keeps one, left out)."""
    values = {"service": uri.service(), "host": uri.host(), "port": uri.port(), "dbname": uri.database(),
              "user": uri.username(),
              "sslmode": QgsDataSourceUri.encodeSslMode(uri.sslMode()) if uri.sslMode() else ""}
    if values["sslmode"] == "prefer":
        values["sslmode"] = ""  # libpq's own default
    conninfo = " ".join(f"{key}={_quoted(values[key])}" for key in _PARAMETERS if values.get(key))
    return SharedStoreSource(conninfo, uri.authConfigId(), name)


def qgis_postgres_connections() -> dict:
    """name -> SharedStoreSource of each PostgreSQL connection saved in QGIS."""
    metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
    if metadata is None:
        return {}
    return {name: source_from_uri(QgsDataSourceUri(connection.uri()), name)
            for name, connection in metadata.connections().items()}


def credentials_of(authcfg: str):
    """A function giving the user name and password of ``authcfg`` when called (at each connect): never kept."""
    def read() -> dict:
        config = QgsAuthMethodConfig()
        manager = QgsApplication.authManager()
        if manager is None or not manager.loadAuthenticationConfig(authcfg, config, True)[0]:
            raise SharedStoreError(f"The credentials of the shared store (authentication config {authcfg}) could "
                                   f"not be read: is the QGIS master password entered?")
        found = {"user": config.config("username", ""), "password": config.config("password", "")}
        return {key: value for key, value in found.items() if value}

    return read


def set_project_shared_store(project: QgsProject, store: str, schema: str = DEFAULT_SCHEMA) -> None:
    """Keep this project's orders in a shared store: ``qgis:<QGIS connection name>`` or a libpq string
    (``service=tasking``) — not one with a password in it. Empty: back to the GeoPackage."""
    if store and not store.startswith(QGIS_CONNECTION_PREFIX) and "password" in store.lower():
        raise ValueError("A password does not belong in the project: keep it in pg_service.conf, ~/.pgpass or a "
                         "QGIS PostgreSQL connection with an authentication configuration.")
    project.writeEntry(PROJECT_SCOPE, SHARED_STORE_KEY, store or "")
    project.writeEntry(PROJECT_SCOPE, SHARED_SCHEMA_KEY, schema or DEFAULT_SCHEMA)


def shared_store_source(project: Optional[QgsProject] = None) -> Optional[SharedStoreSource]:
    """The project's shared store, or None when it uses its GeoPackage."""
    project = project or QgsProject.instance()
    chosen, found = project.readEntry(PROJECT_SCOPE, SHARED_STORE_KEY, "")
    if not found or not chosen:
        return None
    if chosen.startswith(QGIS_CONNECTION_PREFIX):
        name = chosen[len(QGIS_CONNECTION_PREFIX):]
        source = qgis_postgres_connections().get(name)
        if source is None:
            raise SharedStoreError(f"This project keeps its orders in the PostgreSQL connection \u201c{name}\u201d, "
                                   f"which this QGIS does not have: add it (same name) in the Data Source Manager.")
        return source
    return SharedStoreSource(chosen)


def open_shared_store(project: Optional[QgsProject] = None) -> Optional[PostgisStore]:
    """The project's shared store, opened (and migrated), or None when the project uses its GeoPackage."""
    project = project or QgsProject.instance()
    source = shared_store_source(project)
    if source is None:
        return None
    schema = project.readEntry(PROJECT_SCOPE, SHARED_SCHEMA_KEY, DEFAULT_SCHEMA)[0] or DEFAULT_SCHEMA
    store = PostgisStore(source.conninfo, schema=schema,
                         credentials=credentials_of(source.authcfg) if source.authcfg else None)
    store.authcfg = source.authcfg
    return store


__all__ = ["SharedStoreSource", "credentials_of", "open_shared_store", "qgis_postgres_connections",
           "set_project_shared_store", "shared_store_source", "source_from_uri"]
