"""The proxy the user chose in QGIS Options > Network, read for the plugin's HTTP layer.

QGIS 3.22 keeps it in QgsSettings (QgsNetworkAccessManager::setupDefaultProxyAndCache reads the same keys):
``proxy/proxyEnabled`` (bool), ``proxy/proxyType`` ("DefaultProxy" = the system's proxy, "HttpProxy",
"HttpCachingProxy", "Socks5Proxy", "FtpCachingProxy"), ``proxy/proxyHost``, ``proxy/proxyPort`` (a string),
``proxy/proxyUser``, ``proxy/proxyPassword``, ``proxy/authcfg`` (credentials in the authentication
database, which win over user/password), ``proxy/noProxyUrls`` (URL prefixes reached without a proxy; the
"Exclude URLs" list of the dialog) and the legacy ``proxy/proxyExcludedUrls``.

"DefaultProxy" becomes ``ProxyConfig(mode="system")``: requests then reads the system proxy itself
(http_proxy/https_proxy/no_proxy on Linux, the registry on Windows, System Configuration on macOS),
which are the sources Qt's ``QNetworkProxyFactory.systemProxyForQuery`` uses too. Resolving it here
through Qt would freeze one proxy for all URLs and lose the system's own exclusions.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from qgis.core import QgsApplication, QgsSettings
from qgis.PyQt.QtNetwork import QNetworkProxy

from .http import ProxyConfig

logger = logging.getLogger(__name__)

HTTP_PROXY_TYPES = ("HttpProxy", "HttpCachingProxy")


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _as_list(value: Any) -> list:
    """QSettings gives a str for a one-item list in .ini files, a list otherwise, None when unset."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    return [str(item).strip() for item in value if str(item).strip()]


def _as_port(value: Any) -> int:
    try:
        port = int(str(value).strip())
    except (TypeError, ValueError):
        return 0
    return port if 0 < port < 65536 else 0


def _credentials_from_authcfg(authcfg: str, host: str, port: int) -> Optional[tuple]:
    manager = QgsApplication.authManager()
    if manager is None:
        return None
    proxy = QNetworkProxy(QNetworkProxy.ProxyType.HttpProxy, host, port)
    if not manager.updateNetworkProxy(proxy, authcfg):
        logger.warning("The proxy authentication configuration %s could not be applied", authcfg)
        return None
    return proxy.user(), proxy.password()


def proxy_config_from_qgis_settings(settings: Optional[QgsSettings] = None) -> Optional[ProxyConfig]:
    """The ProxyConfig matching QGIS's network settings (never None in practice; typed so callers may pass
    "no configuration" along to ``build_session``)."""
    settings = settings or QgsSettings()
    if not _as_bool(settings.value("proxy/proxyEnabled", False)):
        return ProxyConfig(mode="none")

    no_proxy = tuple(_as_list(settings.value("proxy/noProxyUrls", [])))
    proxy_type = str(settings.value("proxy/proxyType", "DefaultProxy") or "DefaultProxy")

    if proxy_type == "DefaultProxy":
        return ProxyConfig(mode="system", excluded=no_proxy)

    if proxy_type not in HTTP_PROXY_TYPES:
        logger.warning("The %s proxy set in QGIS is not supported for provider connections; "
                       "the system's proxy settings are used instead", proxy_type)
        return ProxyConfig(mode="system", excluded=no_proxy)

    host = str(settings.value("proxy/proxyHost", "") or "").strip()
    port = _as_port(settings.value("proxy/proxyPort", ""))
    if not host or not port:
        logger.warning("The HTTP proxy set in QGIS has no host or port; connecting without a proxy")
        return ProxyConfig(mode="none", excluded=no_proxy)

    user = str(settings.value("proxy/proxyUser", "") or "")
    password = str(settings.value("proxy/proxyPassword", "") or "")
    authcfg = str(settings.value("proxy/authcfg", "") or "")
    if authcfg:
        credentials = _credentials_from_authcfg(authcfg, host, port)
        if credentials is not None:
            user, password = credentials

    # QGIS sends the legacy excluded URLs to Qt's application proxy, which is "no proxy" unless the
    # system proxy is in use: for an explicit HTTP proxy both lists mean "connect directly".
    legacy_excluded = tuple(_as_list(settings.value("proxy/proxyExcludedUrls", [])))
    return ProxyConfig(mode="http", host=host, port=port, user=user, password=password,
                       excluded=no_proxy + tuple(u for u in legacy_excluded if u not in no_proxy))
