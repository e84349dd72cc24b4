"""HTTP sessions for connections, configured the way the user configured QGIS.

Read on the GUI thread (QgsSettings), used in background tasks: the factory captures the
proxy and the user agent once, then builds a fresh ``TaskingSession`` per connection.
"""
from qgis.core import Qgis

from .metadata import user_agent
from .network_proxy import proxy_config_from_qgis_settings
from .provider_recipe import session_for


class SessionFactory:
    def __init__(self, proxy=None, agent: str = ""):
        self.proxy = proxy
        self.user_agent = agent or user_agent(Qgis.QGIS_VERSION)

    @classmethod
    def from_qgis_settings(cls) -> "SessionFactory":
        return cls(proxy=proxy_config_from_qgis_settings())

    def __call__(self, connection):
        return session_for(connection, self.user_agent, self.proxy)
