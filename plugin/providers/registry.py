"""Which provider class serves which kind of connection."""
from ..model import Connection, ConnectionKind


def create_provider(connection: Connection, credentials, session_factory, sandbox_url: str = None):
    """A provider for the connection. ``session_factory(connection)`` gives a TaskingSession."""
    if connection.kind == ConnectionKind.SANDBOX:
        from .sandbox import SandboxProvider

        return SandboxProvider(connection, session_factory, sandbox_url)
    if connection.kind == ConnectionKind.UP42:
        from .up42 import Up42Provider

        return Up42Provider(connection, credentials, session_factory(connection))
    if connection.kind == ConnectionKind.PLANET:
        from .planet import PlanetProvider

        return PlanetProvider(connection, credentials, session_factory(connection))
    if connection.kind == ConnectionKind.STAPI:
        try:
            from .stapi import StapiProvider
        except ImportError:
            from .base import NotSupported

            raise NotSupported(connection.name, "STAPI connections are not supported by this version of the "
                                                "plugin yet.") from None
        return StapiProvider(connection, credentials, session_factory(connection))
    raise ValueError(f"unknown connection kind {connection.kind!r}")
