"""What a connection's provider is made of, as plain data: read in QGIS, built in any thread or process.

``ProviderFactory`` (on QGIS's GUI thread) reads what only QGIS holds — the credentials from the authentication
database, the proxy from QGIS's network settings, the user agent, the sandbox's URL — into a ``ProviderRecipe``;
``build()`` makes the provider from it. The sync process (``sync_process``) receives a recipe as a message on
its standard input and builds the same provider there: a secret travels in that pipe only, never on a command
line, in the environment or in a file. No Qt and no QGIS here: the sync process runs without them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from .http import ProxyConfig, build_session
from .model import Connection, Credentials
from .providers.planet import RatePacer
from .providers.registry import create_provider


def session_for(connection: Connection, user_agent: str, proxy: Optional[ProxyConfig]):
    """The one way a provider's session is built from a connection (SessionFactory and the recipe use it)."""
    return build_session(connection.name, user_agent, proxy=proxy)


@dataclass(frozen=True)
class ProviderRecipe:
    connection: Connection
    credentials: Optional[Credentials]
    proxy: Optional[ProxyConfig]  # None: requests' own reading of the environment (no QGIS configuration)
    user_agent: str
    sandbox_url: Optional[str] = None
    # Planet's published rate limits are kept (RatePacer) unless this is False: only for a sandbox on this machine
    # that a benchmark drives as fast as it answers (bench_sync.py, bench_gui_stall.py).
    paced: bool = True

    def build(self):
        """The provider (network I/O only; usable from any thread)."""
        provider = create_provider(self.connection, self.credentials,
                                   lambda connection: session_for(connection, self.user_agent, self.proxy),
                                   sandbox_url=self.sandbox_url)
        if not self.paced:
            for part in (provider, *getattr(provider, "parts", {}).values()):
                if hasattr(part, "pace_with"):
                    part.pace_with(RatePacer.unpaced())
        return provider

    def to_message(self) -> dict:
        """JSON-ready; holds the secrets, so it goes into the sync process's pipe and nowhere else."""
        connection = asdict(self.connection)
        connection["kind"] = self.connection.kind.value
        return {
            "connection": connection,
            "credentials": None if self.credentials is None else {"username": self.credentials.username,
                                                                  "password": self.credentials.password},
            "proxy": None if self.proxy is None else {**asdict(self.proxy), "excluded": list(self.proxy.excluded)},
            "user_agent": self.user_agent,
            "sandbox_url": self.sandbox_url,
            "paced": self.paced,
        }

    @classmethod
    def from_message(cls, message: dict) -> ProviderRecipe:
        credentials, proxy = message.get("credentials"), message.get("proxy")
        return cls(
            connection=Connection(**message["connection"]),
            credentials=None if credentials is None else Credentials(**credentials),
            proxy=None if proxy is None else ProxyConfig(**{**proxy, "excluded": tuple(proxy.get("excluded", ()))}),
            user_agent=str(message.get("user_agent") or ""),
            sandbox_url=message.get("sandbox_url"),
            paced=bool(message.get("paced", True)),
        )
