""""Test connection": one cheap authenticated request per provider, answered in a sentence.

Runs in a background task (it does network I/O); builds no Qt objects. The session comes
from the caller, so the user's proxy, the user agent and the typed errors of http.py apply.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit, urlunsplit

from .http import CredentialsRejected, ProviderError, TaskingSession
from .model import Connection, ConnectionKind

UP42_CLIENT_ID = "up42-sdk"
_UP42_TOKEN_PATH = "/realms/public/protocol/openid-connect/token"
_UP42_USERINFO_PATH = "/realms/public/protocol/openid-connect/userinfo"


def up42_auth_urls(connection: Connection) -> tuple:
    """(token URL, user info URL) of a UP42 connection.

    UP42 authenticates on a sibling host (api.up42.com → auth.up42.com, api.sa.up42.com →
    auth.sa.up42.com); any other base URL (the sandbox, a proxy in front of UP42) serves both
    under the base URL itself unless the connection names an auth URL of its own.
    """
    if connection.auth_url:
        base = connection.auth_url.rstrip("/")
        return base + _UP42_TOKEN_PATH, base + _UP42_USERINFO_PATH
    parts = urlsplit(connection.base_url.rstrip("/"))
    host = parts.hostname or ""
    if host.startswith("api.") and host.endswith("up42.com"):
        auth_root = urlunsplit((parts.scheme, "auth." + host[len("api."):], "", "", ""))
        return auth_root + _UP42_TOKEN_PATH, auth_root + _UP42_USERINFO_PATH
    base = connection.base_url.rstrip("/")
    return base + "/oauth/token", base + "/userinfo"


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
    token_url, userinfo_url = up42_auth_urls(connection)
    token = session.json("POST", token_url, idempotent=True, data={
        "grant_type": "password", "username": credentials.username, "password": credentials.password,
        "client_id": UP42_CLIENT_ID, "scope": "openid",
    })
    access_token = token.get("access_token") if isinstance(token, dict) else None
    if not access_token:
        raise ProviderError(connection.name, f"{connection.name} gave no access token.")
    info = session.get(userinfo_url, headers={"Authorization": f"Bearer {access_token}"})
    workspace = info.get("sub", "?") if isinstance(info, dict) else "?"
    return f"Connected to {connection.name}: UP42 accepted the credentials (workspace {workspace})."


def _check_planet(connection: Connection, credentials, session: TaskingSession) -> str:
    page = session.get(f"{connection.base_url.rstrip('/')}/orders/", params={"limit": 1},
                       headers={"Authorization": f"api-key {credentials.username}"})
    count = page.get("count", "?") if isinstance(page, dict) else "?"
    return f"Connected to {connection.name}: Planet accepted the API key ({count} orders)."


def _check_stapi(connection: Connection, credentials, session: TaskingSession) -> str:
    headers = {"Authorization": f"Bearer {credentials.username}"} if credentials else {}
    landing = session.get(connection.base_url.rstrip("/") + "/", headers=headers)
    title = landing.get("title") or landing.get("id") or "STAPI server" if isinstance(landing, dict) else "?"
    return f"Connected to {connection.name}: {title}."
