""""Test connection": one cheap authenticated request, answered in a sentence.

Runs in a background task (it does network I/O); builds no Qt objects. The provider does
the asking, so the check authenticates exactly as the real work will.
"""
from __future__ import annotations

from typing import Optional

from .http import CredentialsRejected
from .model import Connection, ConnectionKind
from .providers.registry import create_provider


def check_connection(connection: Connection, credentials, session_factory, sandbox_url: Optional[str] = None) -> str:
    """Ask the provider who we are; return what it said, or raise a ProviderError."""
    if credentials is None and connection.kind in (ConnectionKind.UP42, ConnectionKind.PLANET):
        raise CredentialsRejected(connection.name, f"{connection.name} has no credentials yet: enter them "
                                                   "and save the connection.")
    provider = create_provider(connection, credentials, session_factory, sandbox_url=sandbox_url)
    try:
        return provider.check()
    finally:
        provider.session.close()
