"""QGIS proxy settings, as the Options > Network dialog writes them, carry the plugin's requests through a
real proxy (Debian's tinyproxy on 127.0.0.1)."""
import json
import logging
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from loopback_http import wrap_tls
from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsSettings

from satellite_tasking.plugin.http import (
    ProviderError,
    ProviderUnreachable,
    ProxyConfig,
    ProxyRejected,
    TlsVerificationFailed,
    build_session,
)
from satellite_tasking.plugin.network_proxy import proxy_config_from_qgis_settings

TINYPROXY = shutil.which("tinyproxy") or "/usr/sbin/tinyproxy"
VIA_NAME = "tasking-test-proxy"
UA = "SatelliteTasking/0.1.0 QGIS/3.22"
WRONG_PASSWORD = "Wr0ngPassw0rd"
PROXY_PASSWORD = "pr0xyS3cret42"  # tinyproxy accepts only [A-Za-z0-9]-ish here

pytestmark = pytest.mark.skipif(shutil.which("tinyproxy") is None, reason="tinyproxy is not installed")


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append(self.path)
        body = json.dumps({"path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Target(str):
    """The echo server's base URL, which also knows the paths it was asked for."""

    def __new__(cls, url, seen):
        self = super().__new__(cls, url)
        self.seen = seen
        return self


@pytest.fixture
def target():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    server.daemon_threads = True
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Target(f"http://127.0.0.1:{server.server_address[1]}", server.seen)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Tinyproxy:
    def __init__(self, directory, basic_auth=None):
        self.port = _free_port()
        self.log = directory / "tinyproxy.log"
        config = directory / "tinyproxy.conf"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            f'LogFile "{self.log}"',
            "LogLevel Connect",
            f'PidFile "{directory / "tinyproxy.pid"}"',
            "MaxClients 20",
            "Allow 127.0.0.1",
            f'ViaProxyName "{VIA_NAME}"',
        ]
        if basic_auth:
            lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
        config.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen([TINYPROXY, "-d", "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tinyproxy exited with {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("tinyproxy did not start listening within 10 s")

    def logged_requests(self):
        return [line for line in self.log.read_text().splitlines() if "Request (file descriptor" in line]

    def stop(self):
        self.process.kill()  # nothing to lose: tinyproxy writes its log as it goes and keeps no other state
        self.process.wait(timeout=5)


@pytest.fixture
def tinyproxy(tmp_path):
    proxy = Tinyproxy(tmp_path)
    yield proxy
    proxy.stop()


@pytest.fixture
def tinyproxy_with_auth(tmp_path):
    proxy = Tinyproxy(tmp_path, basic_auth=("alice", PROXY_PASSWORD))
    yield proxy
    proxy.stop()


@pytest.fixture
def qgis_proxy_settings(monkeypatch):
    """QgsSettings with the keys the QGIS 3.22 Options > Network dialog writes; removed afterwards."""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                 "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings = QgsSettings()
    settings.remove("proxy")

    def write(enabled=True, proxy_type="HttpProxy", host="", port="", user="", password="", no_proxy=(),
              authcfg=""):
        settings.setValue("proxy/proxyEnabled", enabled)
        settings.setValue("proxy/proxyType", proxy_type)
        settings.setValue("proxy/proxyHost", host)
        settings.setValue("proxy/proxyPort", str(port))
        settings.setValue("proxy/proxyUser", user)
        settings.setValue("proxy/proxyPassword", password)
        settings.setValue("proxy/noProxyUrls", list(no_proxy))
        settings.setValue("proxy/authcfg", authcfg)
        settings.sync()
        return QgsSettings()

    yield write
    settings.remove("proxy")
    settings.sync()


def _get(proxy_config, url, **kwargs):
    with build_session("Test provider", UA, proxy=proxy_config, max_retries=0, timeout=(3.0, 10.0),
                       **kwargs) as session:
        return session.json("GET", url)


def _wait_for_log(proxy, needle):
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if any(needle in line for line in proxy.logged_requests()):
            return True
        time.sleep(0.05)
    return False


def test_http_proxy_from_qgis_settings_carries_the_requests(target, tinyproxy, qgis_proxy_settings):
    qgis_proxy_settings(host="127.0.0.1", port=tinyproxy.port)
    config = proxy_config_from_qgis_settings()
    assert config == ProxyConfig(mode="http", host="127.0.0.1", port=tinyproxy.port)

    answer = _get(config, target + "/orders?page=1")
    assert VIA_NAME in answer["headers"].get("Via", "")
    assert answer["headers"]["User-Agent"] == UA
    assert _wait_for_log(tinyproxy, f"GET {target}/orders?page=1 HTTP/1.1")


def test_proxy_with_user_and_password(target, tinyproxy_with_auth, qgis_proxy_settings, caplog):
    caplog.set_level(logging.DEBUG)
    qgis_proxy_settings(host="127.0.0.1", port=tinyproxy_with_auth.port, user="alice",
                        password=PROXY_PASSWORD)
    config = proxy_config_from_qgis_settings()
    assert (config.user, config.password) == ("alice", PROXY_PASSWORD)
    assert PROXY_PASSWORD not in repr(config)

    answer = _get(config, target + "/with-auth")
    assert VIA_NAME in answer["headers"].get("Via", "")
    assert "Proxy-Authorization" not in answer["headers"]  # the proxy keeps its credentials to itself
    assert _wait_for_log(tinyproxy_with_auth, f"GET {target}/with-auth")

    # A proxy that wants credentials the QGIS settings do not give answers 407.
    qgis_proxy_settings(host="127.0.0.1", port=tinyproxy_with_auth.port)
    with pytest.raises(ProxyRejected) as info:
        _get(proxy_config_from_qgis_settings(), target + "/no-auth")
    assert info.value.status == 407
    assert "QGIS Options > Network" in str(info.value)

    # tinyproxy answers a wrong password with 401 (not the 407 of RFC 9110); either way it is refused
    # and the password appears nowhere.
    qgis_proxy_settings(host="127.0.0.1", port=tinyproxy_with_auth.port, user="alice",
                        password=WRONG_PASSWORD)
    with pytest.raises(ProviderError) as info:
        _get(proxy_config_from_qgis_settings(), target + "/bad-auth")
    assert info.value.status in (401, 407)
    everything = str(info.value) + repr(info.value) + "\n".join(r.getMessage() for r in caplog.records)
    assert PROXY_PASSWORD not in everything and WRONG_PASSWORD not in everything
    assert "/with-auth" in target.seen
    assert "/no-auth" not in target.seen and "/bad-auth" not in target.seen


def test_excluded_urls_bypass_the_proxy(target, tinyproxy, qgis_proxy_settings):
    qgis_proxy_settings(host="127.0.0.1", port=tinyproxy.port, no_proxy=[target + "/direct"])
    config = proxy_config_from_qgis_settings()
    assert config.excluded == (target + "/direct",)

    direct = _get(config, target + "/direct/orders")
    proxied = _get(config, target + "/proxied/orders")
    assert "Via" not in direct["headers"]
    assert VIA_NAME in proxied["headers"].get("Via", "")
    assert _wait_for_log(tinyproxy, f"GET {target}/proxied/orders")
    assert not any("/direct/" in line for line in tinyproxy.logged_requests())


def test_proxy_off_in_qgis_means_direct_even_with_environment_proxy(target, tinyproxy, qgis_proxy_settings,
                                                                    monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{tinyproxy.port}")
    qgis_proxy_settings(enabled=False, host="127.0.0.1", port=tinyproxy.port)
    config = proxy_config_from_qgis_settings()
    assert config == ProxyConfig(mode="none")
    assert "Via" not in _get(config, target + "/off")["headers"]
    # tinyproxy logs a request before forwarding it, so a proxied request would be in the log by now.
    assert not any("/off" in line for line in tinyproxy.logged_requests())


def test_system_proxy_is_read_from_the_environment(target, tinyproxy, qgis_proxy_settings, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{tinyproxy.port}")
    qgis_proxy_settings(proxy_type="DefaultProxy", no_proxy=[target + "/direct"])
    config = proxy_config_from_qgis_settings()
    assert config == ProxyConfig(mode="system", excluded=(target + "/direct",))
    assert VIA_NAME in _get(config, target + "/system")["headers"].get("Via", "")
    assert "Via" not in _get(config, target + "/direct/x")["headers"]
    assert _wait_for_log(tinyproxy, f"GET {target}/system")


def test_unreachable_proxy_has_an_actionable_message(target, qgis_proxy_settings):
    qgis_proxy_settings(host="127.0.0.1", port=_free_port())
    with pytest.raises(ProviderUnreachable) as info:
        _get(proxy_config_from_qgis_settings(), target + "/x")
    assert "proxy" in str(info.value)


def test_settings_edge_cases(qgis_proxy_settings):
    settings = qgis_proxy_settings(host="", port="")
    assert proxy_config_from_qgis_settings(settings) == ProxyConfig(mode="none")
    settings = qgis_proxy_settings(proxy_type="Socks5Proxy", host="127.0.0.1", port=1080)
    assert proxy_config_from_qgis_settings(settings).mode == "system"
    settings = qgis_proxy_settings(host="proxy.corp", port=" 3128 ", no_proxy=["", "https://intra/"])
    settings.setValue("proxy/proxyExcludedUrls", "https://legacy/")  # a one-item list read back as a str
    assert proxy_config_from_qgis_settings(settings) == ProxyConfig(
        mode="http", host="proxy.corp", port=3128, excluded=("https://intra/", "https://legacy/"))


def test_proxy_credentials_from_the_authentication_database(target, tinyproxy_with_auth, qgis_proxy_settings):
    manager = QgsApplication.authManager()
    if manager is None or manager.isDisabled():
        pytest.skip("QGIS authentication manager unavailable")
    if not manager.masterPasswordIsSet() and not manager.setMasterPassword("test-master-password", True):
        pytest.skip("could not set the master password of the test authentication database")
    auth_config = QgsAuthMethodConfig("Basic")
    auth_config.setName("tasking test proxy")
    auth_config.setConfig("username", "alice")
    auth_config.setConfig("password", PROXY_PASSWORD)
    assert manager.storeAuthenticationConfig(auth_config)
    try:
        qgis_proxy_settings(host="127.0.0.1", port=tinyproxy_with_auth.port, user="alice", password="stale",
                            authcfg=auth_config.id())
        config = proxy_config_from_qgis_settings()
        assert config.password == PROXY_PASSWORD
        assert VIA_NAME in _get(config, target + "/authcfg")["headers"].get("Via", "")
    finally:
        manager.removeAuthenticationConfig(auth_config.id())


@pytest.fixture
def tls_target(self_signed_certificate):
    """An https echo server with a self-signed certificate for 127.0.0.1 (trusted by passing its path)."""
    cert, key = self_signed_certificate
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    server.daemon_threads = True
    server.seen = []
    wrap_tls(server, cert, key)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Target(f"https://127.0.0.1:{server.server_address[1]}", server.seen), str(cert)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_https_goes_through_the_proxy_tunnel(tls_target, tinyproxy_with_auth, qgis_proxy_settings):
    url, cert = tls_target
    qgis_proxy_settings(host="127.0.0.1", port=tinyproxy_with_auth.port, user="alice",
                        password=PROXY_PASSWORD)
    config = proxy_config_from_qgis_settings()
    with build_session("Test provider", UA, proxy=config, max_retries=0) as session:
        answer = session.json("GET", url + "/secure", verify=cert)
        assert answer["path"] == "/secure"
        # Inside a CONNECT tunnel the proxy sees only the host and port, and adds no Via header.
        assert _wait_for_log(tinyproxy_with_auth, f"CONNECT 127.0.0.1:{url.rsplit(':', 1)[1]}")
    # The tunnel does not weaken certificate checks: without trusting the certificate it is refused.
    # (A fresh session: a pooled, already verified connection would be reused.)
    with build_session("Test provider", UA, proxy=config, max_retries=0) as session:
        with pytest.raises(TlsVerificationFailed):
            session.request("GET", url + "/unverified")
    assert "/unverified" not in url.seen
