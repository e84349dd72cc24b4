"""Which store a project uses: its GeoPackage (the default) or a shared PostGIS store.

The shared store is chosen from QGIS's own PostgreSQL connections (Data Source Manager / Browser) or given as
a libpq string such as ``service=tasking``. What the project keeps is the connection's *name* (or that string)
and a schema — never a password: a connection's password stays in QGIS's authentication database (its
``authcfg``) or in ``pg_service.conf``/``~/.pgpass``, and is read only when the store connects, each time.

Where the choice is kept: in the project (it travels with the project file to every analyst who opens it), or
in the plugin settings (every project of this QGIS profile that says nothing of its own). A project's entry wins;
an empty entry means "this project's own GeoPackage" even when the plugin settings name a shared store.
Runs on the GUI thread (QGIS settings and the authentication database).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsDataSourceUri,
    QgsProject,
    QgsProviderRegistry,
    QgsSettings,
)
from qgis.PyQt.QtCore import QCoreApplication, QThread

from .store_postgis import DEFAULT_SCHEMA, PostgisStore, SharedStoreError

logger = logging.getLogger(__name__)

PROJECT_SCOPE = "satellite_tasking"
SHARED_STORE_KEY = "shared_store"  # "qgis:<connection name>" or a libpq string; empty: the GeoPackage
SHARED_SCHEMA_KEY = "shared_store_schema"
QGIS_CONNECTION_PREFIX = "qgis:"
# The plugin settings' choice (every project that keeps none of its own): the same two values, never a password.
SETTINGS_STORE_KEY = "satellite_tasking/shared_store"
SETTINGS_SCHEMA_KEY = "satellite_tasking/shared_store_schema"
PROJECT_SCOPE_CHOICE = "project"
SETTINGS_SCOPE_CHOICE = "settings"
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
        if (manager is not None and not manager.masterPasswordIsSet()
                and QThread.currentThread() is not QCoreApplication.instance().thread()):
            # Reading would make QGIS ask for its master password, and a background task (a sync, a placement)
            # must not open that question: the user's own act on the GUI thread does ("Refresh now", Check).
            raise SharedStoreError("The shared store's credentials are locked in the QGIS authentication "
                                   "database: enter the master password (\u201cRefresh now\u201d in the order "
                                   "monitor asks for it) and try again.")
        if manager is None or not manager.loadAuthenticationConfig(authcfg, config, True)[0]:
            raise SharedStoreError(f"The credentials of the shared store (authentication config {authcfg}) could "
                                   f"not be read: is the QGIS master password entered?")
        found = {"user": config.config("username", ""), "password": config.config("password", "")}
        return {key: value for key, value in found.items() if value}

    return read


def _refuse_password(store: str) -> None:
    if store and not store.startswith(QGIS_CONNECTION_PREFIX) and "password" in store.lower():
        raise ValueError("A password does not belong in the project or the settings: keep it in pg_service.conf, "
                         "~/.pgpass or a QGIS PostgreSQL connection with an authentication configuration.")


def set_project_shared_store(project: QgsProject, store: Optional[str], schema: str = DEFAULT_SCHEMA) -> None:
    """Keep this project's orders in a shared store: ``qgis:<QGIS connection name>`` or a libpq string
    (``service=tasking``) — not one with a password in it. Empty: this project's GeoPackage; None: whatever the
    plugin settings say (the project keeps no choice of its own)."""
    if store is None:
        project.removeEntry(PROJECT_SCOPE, SHARED_STORE_KEY)
        project.removeEntry(PROJECT_SCOPE, SHARED_SCHEMA_KEY)
        return
    _refuse_password(store)
    project.writeEntry(PROJECT_SCOPE, SHARED_STORE_KEY, store or "")
    project.writeEntry(PROJECT_SCOPE, SHARED_SCHEMA_KEY, schema or DEFAULT_SCHEMA)


def set_default_shared_store(store: str, schema: str = DEFAULT_SCHEMA, settings: Optional[QgsSettings] = None) -> None:
    """The plugin settings' store, for every project that keeps no choice of its own. Empty: the GeoPackage."""
    _refuse_password(store)
    settings = settings or QgsSettings()
    if store:
        settings.setValue(SETTINGS_STORE_KEY, store)
        settings.setValue(SETTINGS_SCHEMA_KEY, schema or DEFAULT_SCHEMA)
    else:
        settings.remove(SETTINGS_STORE_KEY)
        settings.remove(SETTINGS_SCHEMA_KEY)


@dataclass(frozen=True)
class StoreChoice:
    """The store a project uses: ``store`` ("" for the GeoPackage), its schema, and where the choice is kept
    (``PROJECT_SCOPE_CHOICE`` or ``SETTINGS_SCOPE_CHOICE``)."""

    store: str
    schema: str
    scope: str

    @property
    def shared(self) -> bool:
        return bool(self.store)

    def describe(self) -> str:
        """The choice in words (no password: none can be in it)."""
        if not self.store:
            return "This project's own GeoPackage (orders seen by this QGIS only)."
        where = "this project" if self.scope == PROJECT_SCOPE_CHOICE else "the plugin settings"
        if self.store.startswith(QGIS_CONNECTION_PREFIX):
            name = f"the PostgreSQL connection \u201c{self.store[len(QGIS_CONNECTION_PREFIX):]}\u201d"
        else:
            name = f"the PostgreSQL database {self.store}"
        return f"The team's shared store in {name}, schema {self.schema} (chosen in {where})."


def store_choice(project: Optional[QgsProject] = None, settings: Optional[QgsSettings] = None) -> StoreChoice:
    """The project's own choice if it keeps one, else the plugin settings' (else the GeoPackage)."""
    project = project or QgsProject.instance()
    chosen, found = project.readEntry(PROJECT_SCOPE, SHARED_STORE_KEY, "")
    if found:
        schema = project.readEntry(PROJECT_SCOPE, SHARED_SCHEMA_KEY, DEFAULT_SCHEMA)[0] or DEFAULT_SCHEMA
        return StoreChoice(chosen or "", schema, PROJECT_SCOPE_CHOICE)
    settings = settings or QgsSettings()
    chosen = str(settings.value(SETTINGS_STORE_KEY, "") or "")
    schema = str(settings.value(SETTINGS_SCHEMA_KEY, DEFAULT_SCHEMA) or DEFAULT_SCHEMA)
    return StoreChoice(chosen, schema, SETTINGS_SCOPE_CHOICE)


def source_of(chosen: str) -> SharedStoreSource:
    """The connection of a chosen store (``qgis:<name>`` or a libpq string)."""
    if chosen.startswith(QGIS_CONNECTION_PREFIX):
        name = chosen[len(QGIS_CONNECTION_PREFIX):]
        source = qgis_postgres_connections().get(name)
        if source is None:
            raise SharedStoreError(f"This project keeps its orders in the PostgreSQL connection \u201c{name}\u201d, "
                                   f"which this QGIS does not have: add it (same name) in the Data Source Manager.")
        return source
    _refuse_password(chosen)
    return SharedStoreSource(chosen)


def open_store_of(chosen: str, schema: str = DEFAULT_SCHEMA) -> PostgisStore:
    """The shared store ``chosen`` names, opened (and migrated). Connects to the database: the store picker
    calls it from a background task."""
    source = source_of(chosen)
    store = PostgisStore(source.conninfo, schema=schema,
                         credentials=credentials_of(source.authcfg) if source.authcfg else None)
    store.authcfg = source.authcfg
    return store


def open_project_store(project: Optional[QgsProject] = None):
    """The store this project's orders live in: the shared PostGIS store it (or the plugin settings) chose, else
    its GeoPackage (the default). Raises ``StoreError`` (``SharedStoreError`` for the shared one) with a sentence."""
    project = project or QgsProject.instance()
    choice = store_choice(project)
    if choice.shared:
        return open_store_of(choice.store, choice.schema)
    from .layers import open_store

    return open_store(project)


def is_shared(store) -> bool:
    """True for the team's shared store (its rows belong to the whole team, not to this QGIS)."""
    return bool(getattr(store, "shared", False))


def ensure_store_layers(project: QgsProject, store) -> tuple:
    """(orders layer, captures layer) of ``store``, whichever kind it is (see ``layers.ensure_layers``)."""
    if is_shared(store):
        from .layers_postgis import ensure_postgis_layers

        return ensure_postgis_layers(project, store)
    from .layers import ensure_layers

    return ensure_layers(project, store)


def shared_store_source(project: Optional[QgsProject] = None) -> Optional[SharedStoreSource]:
    """The project's shared store, or None when it uses its GeoPackage."""
    choice = store_choice(project or QgsProject.instance())
    return source_of(choice.store) if choice.shared else None


def open_shared_store(project: Optional[QgsProject] = None) -> Optional[PostgisStore]:
    """The project's shared store, opened (and migrated), or None when the project uses its GeoPackage."""
    choice = store_choice(project or QgsProject.instance())
    return open_store_of(choice.store, choice.schema) if choice.shared else None


__all__ = ["SharedStoreSource", "StoreChoice", "credentials_of", "ensure_store_layers", "is_shared",
           "open_project_store", "open_shared_store", "open_store_of", "qgis_postgres_connections",
           "set_default_shared_store", "set_project_shared_store", "shared_store_source", "source_from_uri",
           "source_of", "store_choice"]
