"""Which connection an algorithm works on, and the provider for it.

Connections are offered by name (an enum of the configured ones, the Sandbox always among them) and may be
given by name or id, so a model or a ``qgis_process`` command line names them the way the user knows them.

The Sandbox needs no set-up, also headless: the plugin's SandboxService starts the in-process simulator on
first use, with its state in the profile folder (``qgis_process`` runs keep their orders between runs). When
``SATELLITE_TASKING_SANDBOX_URL`` is set, the Sandbox connection uses the simulator at that URL instead
(a test, or ``python -m satellite_tasking.plugin.sandbox`` started by hand).
"""
from __future__ import annotations

import logging
import os
from typing import Optional

import requests
from qgis.core import QgsProcessingException

from ..model import Connection, ConnectionKind
from ..settings import SANDBOX_CONNECTION_ID

logger = logging.getLogger(__name__)

SANDBOX_URL_ENV = "SATELLITE_TASKING_SANDBOX_URL"
SANDBOX_NAME = "Sandbox"


class FixedSandbox:
    """A sandbox that runs elsewhere (stands in for the SandboxService)."""

    def __init__(self, url: str):
        self._url = url.rstrip("/")

    def url(self) -> str:
        return self._url


def _sandbox_connection() -> Connection:
    return Connection(id=SANDBOX_CONNECTION_ID, name=SANDBOX_NAME, kind=ConnectionKind.SANDBOX)


def available_connections(factory) -> list:
    """The configured connections, with the Sandbox first even where none is configured (headless)."""
    try:
        found = list(factory.connections())
    except Exception:  # noqa: BLE001 - unreadable settings must not hide the algorithms
        logger.warning("The connections could not be read", exc_info=True)
        found = []
    if not any(c.kind == ConnectionKind.SANDBOX for c in found):
        found.insert(0, _sandbox_connection())
    return found


def connection_names(factory) -> list:
    return [c.name for c in available_connections(factory)]


def find_connection(factory, wanted) -> Connection:
    """The connection named (case-insensitive) or with the id ``wanted``; an enum index works too."""
    connections = available_connections(factory)
    text = str(wanted if wanted is not None else "").strip()
    if not text:
        raise QgsProcessingException("Choose a connection.")
    for connection in connections:
        if connection.id == text or connection.name.lower() == text.lower():
            return connection
    if text.isdigit() and int(text) < len(connections):
        return connections[int(text)]
    names = ", ".join(f"“{c.name}”" for c in connections)
    raise QgsProcessingException(f"There is no connection named “{text}”. The connections are: {names}.")


def provider_for(factory, connection: Connection):
    """The tasking provider of ``connection``; missing credentials or a sandbox that cannot start become a
    QgsProcessingException with the reason."""
    if connection.kind == ConnectionKind.SANDBOX and os.environ.get(SANDBOX_URL_ENV):
        factory = _with_sandbox(factory, FixedSandbox(os.environ[SANDBOX_URL_ENV]))
    try:
        return factory.provider_for(connection)
    except QgsProcessingException:
        raise
    except Exception as error:  # noqa: BLE001 - credentials, auth database, sandbox start: one sentence
        message = getattr(error, "user_message", None) or str(error) or type(error).__name__
        raise QgsProcessingException(f"{connection.name}: {message}") from None


def _with_sandbox(factory, sandbox):
    from ..provider_factory import ProviderFactory

    return ProviderFactory(sandbox, settings=factory.settings, session_factory=factory.session_factory)


def keep_sandbox_state(provider, connection: Connection) -> None:
    """Ask the sandbox to write its state now: a ``qgis_process`` run ends without stopping it."""
    url: Optional[str] = getattr(provider, "sandbox_url", None)
    if connection.kind != ConnectionKind.SANDBOX or not url:
        return
    try:
        requests.post(f"{url}/_sandbox/state/save", timeout=10)
    except requests.RequestException:
        logger.warning("The sandbox state could not be saved", exc_info=True)


def provider_error(connection: Connection, error: Exception) -> QgsProcessingException:
    """A provider failure as the sentence the provider gives (ProviderError.user_message)."""
    message = getattr(error, "user_message", None) or str(error) or type(error).__name__
    if connection.name.lower() not in message.lower():
        message = f"{connection.name}: {message}"
    return QgsProcessingException(message)
