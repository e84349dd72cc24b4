"""Providers for connections, built on the GUI thread, used in background tasks.

Everything that needs QGIS (credentials from the authentication database, the proxy from
QgsSettings, the sandbox's URL) is read here, once, when a provider is created; the
provider itself then only does network I/O and can run in any thread.
"""
from typing import Optional

from .model import Connection, ConnectionKind
from .provider_recipe import ProviderRecipe
from .providers.registry import create_provider
from .sessions import SessionFactory
from .settings import ConnectionSettings, read_credentials


class ProviderFactory:
    def __init__(self, sandbox, settings: ConnectionSettings = None, session_factory=None):
        self.sandbox = sandbox
        self.settings = settings or ConnectionSettings()
        self.session_factory = session_factory

    def connections(self) -> list:
        return self.settings.connections()

    def default_connection_id(self) -> str:
        return self.settings.default_connection_id()

    def provider_for(self, connection: Connection):
        """Raises CredentialsError (a sentence) when the connection's credentials are missing."""
        credentials, sandbox_url = self._read(connection)
        session_factory = self.session_factory or SessionFactory.from_qgis_settings()
        return create_provider(connection, credentials, session_factory, sandbox_url=sandbox_url)

    def recipe_for(self, connection: Connection) -> Optional[ProviderRecipe]:
        """What ``provider_for`` builds, as data another process can build it from; None when this factory's
        sessions are not QGIS's (a session factory given as any callable cannot be described). Raises as
        ``provider_for``."""
        credentials, sandbox_url = self._read(connection)
        session_factory = self.session_factory or SessionFactory.from_qgis_settings()
        if not isinstance(session_factory, SessionFactory):
            return None
        return ProviderRecipe(connection, credentials, session_factory.proxy, session_factory.user_agent,
                              sandbox_url)

    def _read(self, connection: Connection):
        credentials = None
        needs_credentials = connection.kind in (ConnectionKind.UP42, ConnectionKind.PLANET)
        if needs_credentials or (connection.kind == ConnectionKind.STAPI and connection.authcfg):
            credentials = read_credentials(connection.authcfg)
        sandbox_url = self.sandbox.url() if connection.kind == ConnectionKind.SANDBOX else None
        return credentials, sandbox_url
