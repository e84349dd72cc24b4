"""Connections in QgsSettings; their credentials only in the QGIS authentication database.

A connection's settings hold its name, kind, base URL and the *id* of a QGIS
authentication config — never a key, token or password. The config itself is a "Basic"
config in QgsAuthManager (encrypted with the user's master password): user name and
password for UP42, the API key as user name with an empty password for Planet.
"""
from __future__ import annotations

import logging
import uuid
from typing import Optional

from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsSettings
from qgis.PyQt.QtCore import QThread

from .model import Connection, ConnectionKind, Credentials  # noqa: F401 - Credentials is read from here too

logger = logging.getLogger(__name__)

SETTINGS_PREFIX = "satellite_tasking"
CONNECTIONS_GROUP = f"{SETTINGS_PREFIX}/connections"
DEFAULT_CONNECTION_KEY = f"{SETTINGS_PREFIX}/default_connection"
SANDBOX_CONNECTION_ID = "sandbox"
_CONNECTION_FIELDS = ("name", "kind", "base_url", "authcfg", "auth_url")


class CredentialsError(Exception):
    """The authentication database could not store or give back a connection's credentials."""

    @property
    def user_message(self) -> str:
        return str(self)


class ConnectionSettings:
    """The user's connections, as stored in QgsSettings.

    Read from the GUI thread (dialogs, the monitor) and from worker threads (Processing algorithms) alike, so it
    holds no QgsSettings of its own: QSettings is reentrant, not thread-safe, and one object whose group stack is
    pushed and popped from two threads at once corrupts the heap (QGIS crashed in a Processing run beside the
    monitor's sync). Each use takes a fresh QgsSettings; one given to the constructor (tests) is used only on
    the thread it belongs to.
    """

    def __init__(self, settings: Optional[QgsSettings] = None):
        self._given = settings

    @property
    def _settings(self) -> QgsSettings:
        given = self._given
        if given is not None and given.thread() is QThread.currentThread():
            return given
        return QgsSettings()

    def connections(self) -> list:
        settings = self._settings
        settings.beginGroup(CONNECTIONS_GROUP)
        try:
            ids = settings.childGroups()
        finally:
            settings.endGroup()
        found = [self.connection(connection_id, settings) for connection_id in ids]
        return sorted((c for c in found if c is not None), key=lambda c: (c.kind != ConnectionKind.SANDBOX,
                                                                         c.name.lower()))

    def connection(self, connection_id: str, settings: Optional[QgsSettings] = None) -> Optional[Connection]:
        settings = settings or self._settings
        key = f"{CONNECTIONS_GROUP}/{connection_id}"
        values = {name: settings.value(f"{key}/{name}", "", type=str) for name in _CONNECTION_FIELDS}
        if not values["name"]:
            return None
        try:
            kind = ConnectionKind(values.pop("kind"))
        except ValueError:
            logger.warning("Ignoring connection %s of an unknown kind", connection_id)
            return None
        return Connection(id=connection_id, kind=kind, **values)

    def save(self, connection: Connection) -> None:
        if not connection.name.strip():
            raise ValueError("A connection needs a name.")
        key = f"{CONNECTIONS_GROUP}/{connection.id}"
        settings = self._settings
        for name in _CONNECTION_FIELDS:
            value = getattr(connection, name)
            settings.setValue(f"{key}/{name}", value.value if isinstance(value, ConnectionKind) else value)
        settings.sync()

    def remove(self, connection_id: str) -> None:
        connection = self.connection(connection_id)
        if connection and connection.authcfg:
            remove_credentials(connection.authcfg)
        settings = self._settings
        settings.remove(f"{CONNECTIONS_GROUP}/{connection_id}")
        if self.default_connection_id() == connection_id:
            settings.remove(DEFAULT_CONNECTION_KEY)
        settings.sync()

    def default_connection_id(self) -> str:
        return self._settings.value(DEFAULT_CONNECTION_KEY, "", type=str)

    def set_default_connection(self, connection_id: str) -> None:
        self._settings.setValue(DEFAULT_CONNECTION_KEY, connection_id)

    def ensure_sandbox_connection(self) -> Connection:
        """The offline sandbox is there for every new user, and the default until they choose another."""
        sandbox = self.connection(SANDBOX_CONNECTION_ID)
        if sandbox is None:
            sandbox = Connection(id=SANDBOX_CONNECTION_ID, name="Sandbox", kind=ConnectionKind.SANDBOX)
            self.save(sandbox)
        if not self.default_connection_id() or self.connection(self.default_connection_id()) is None:
            self.set_default_connection(sandbox.id)
        return sandbox


def new_connection_id() -> str:
    return uuid.uuid4().hex[:12]


def _auth_manager():
    manager = QgsApplication.authManager()
    if manager is None or manager.isDisabled():
        raise CredentialsError(
            "The QGIS authentication database is not available, so credentials cannot be stored safely. "
            "Open Settings > Options > Authentication to set it up."
        )
    return manager


# The QGIS master password is asked for at most once per session on the plugin's behalf: a user who cancels the
# prompt is not asked again by every connection and every sync (QGIS would ask on each read). Asking again takes
# an explicit act of the user (saving or testing credentials in the Connections dialog: ``may_ask_again``).
_master_password_asked = False


def credentials_locked() -> bool:
    """Whether reading a stored secret now would make QGIS ask for its master password."""
    try:
        return not _auth_manager().masterPasswordIsSet()
    except CredentialsError:
        return False


def needs_stored_credentials(connection: Connection) -> bool:
    """Whether the connection's provider reads a secret from the authentication database (never the sandbox)."""
    return connection.kind in (ConnectionKind.UP42, ConnectionKind.PLANET) or (
        connection.kind == ConnectionKind.STAPI and bool(connection.authcfg))


def may_ask_again() -> None:
    global _master_password_asked
    _master_password_asked = False


def _unlocked_auth_manager():
    global _master_password_asked
    manager = _auth_manager()
    if manager.masterPasswordIsSet():
        return manager
    if _master_password_asked:
        raise CredentialsError(
            "The QGIS master password was not entered, so the stored credentials cannot be read. Open "
            "Connections… and test the connection to enter it.")
    _master_password_asked = True
    if not manager.setMasterPassword(True):
        raise CredentialsError(
            "The QGIS master password was not entered, so the stored credentials cannot be read. Open "
            "Connections… and test the connection to enter it.")
    return manager


def store_credentials(connection: Connection, username: str, password: str) -> str:
    """Store the credentials in a Basic auth config (new, or the connection's own) and return its id."""
    if not username:
        raise CredentialsError("A user name (or, for Planet, the API key) is required.")
    manager = _unlocked_auth_manager()
    config = QgsAuthMethodConfig()
    existing = bool(connection.authcfg) and manager.loadAuthenticationConfig(connection.authcfg, config, True)[0]
    if not existing:
        config = QgsAuthMethodConfig()
        config.setMethod("Basic")
    config.setName(f"Satellite tasking: {connection.name}")
    config.setConfig("username", username)
    config.setConfig("password", password)
    if existing:
        ok = manager.updateAuthenticationConfig(config)
    else:
        ok, config = manager.storeAuthenticationConfig(config)
    if not ok or not config.id():
        raise CredentialsError(
            f"QGIS did not store the credentials of {connection.name}: the authentication database may be "
            "locked (was the master password entered?)."
        )
    return config.id()


def read_credentials(authcfg: str) -> Credentials:
    if not authcfg:
        raise CredentialsError("This connection has no credentials yet: add them in the Connections dialog.")
    config = QgsAuthMethodConfig()
    ok = _unlocked_auth_manager().loadAuthenticationConfig(authcfg, config, True)[0]
    if not ok:
        raise CredentialsError(
            f"The authentication config {authcfg} could not be read: it was removed, or the master password "
            "was not entered."
        )
    return Credentials(username=config.config("username", ""), password=config.config("password", ""))


def remove_credentials(authcfg: str) -> None:
    try:
        manager = _auth_manager()
    except CredentialsError:
        return
    if authcfg in manager.configIds():
        manager.removeAuthenticationConfig(authcfg)
