""""Test connection": one cheap authenticated request per provider, answered in a sentence.

Runs in a background task (it does network I/O); builds no Qt objects. The session comes
from the caller, so the user's proxy, the user agent and the typed errors of http.py apply.
"""
from __future__ import annotations

from typing import Optional

from .http import CredentialsRejected, ProviderError, TaskingSession
from .model import Connection, ConnectionKind
from .providers.planet import PlanetProvider
from .providers.up42 import UP42_CLIENT_ID, Up42Provider, up42_auth_urls

# up42_auth_urls and UP42_CLIENT_ID live in providers/up42.py; re-exported for older callers.
__all__ = ["check_connection", "up42_auth_urls", "UP42_CLIENT_ID"]


def check_connection(connection: Connection, credentials, session_factory, sandbox_url: Optional[str] = None) -> str:
    """Ask the provider who we are; return what it said, or raise a ProviderError."""
    with session_factory(connection) as session:
        if connection.kind == ConnectionKind.SANDBOX:
            return _check_sandbox(connection, session, sandbox_url)
        if credentials is None and connection.kind != ConnectionKind.STAPI:
            raise CredentialsRejected(connection.name, f"{connection.name} has no credentials yet: enter them "
                                                       "and save the connection.")
        if connection.kind == ConnectionKind.UP42:
            return _check_up42(connection, credentials, session)
        if connection.kind == ConnectionKind.PLANET:
            return _check_planet(connection, credentials, session)
        return _check_stapi(connection, credentials, session)


def _check_sandbox(connection: Connection, session: TaskingSession, sandbox_url: Optional[str]) -> str:
    if not sandbox_url:
        raise ProviderError(connection.name, "The sandbox is not running.")
    clock = session.get(f"{sandbox_url}/_sandbox/clock")
    now = clock.get("now", "?") if isinstance(clock, dict) else "?"
    return f"The sandbox answers at {sandbox_url}; its simulated time is {now}."


def _check_up42(connection: Connection, credentials, session: TaskingSession) -> str:
    # The token logic lives in the provider, so the check and the real work authenticate alike.
    return Up42Provider(connection, credentials, session).check()


def _check_planet(connection: Connection, credentials, session: TaskingSession) -> str:
    # The provider owns Planet's wire details (auth header, endpoint), so the check is its own.
    return PlanetProvider(connection, credentials, session).check()


def _check_stapi(connection: Connection, credentials, session: TaskingSession) -> str:
    headers = {"Authorization": f"Bearer {credentials.username}"} if credentials else {}
    landing = session.get(connection.base_url.rstrip("/") + "/", headers=headers)
    title = landing.get("title") or landing.get("id") or "STAPI server" if isinstance(landing, dict) else "?"
    return f"Connected to {connection.name}: {title}."
