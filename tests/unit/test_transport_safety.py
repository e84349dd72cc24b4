"""Transport safety: TLS verification stays on, plain http:// only to this machine, servers on 127.0.0.1 only.

Real servers on 127.0.0.1 (an HTTPS one with a self-signed certificate made by openssl, a redirecting
one, the sandbox); nothing here opens a connection to another address: the refusals happen before
any socket is opened.
"""
import logging
import re
import socket

import pytest
from loopback_http import RecordingServer, reply, wrap_tls
from sandbox_harness import REPO_ROOT, reading_proxy

from satellite_tasking.plugin.http import (
    InsecureUrl,
    TlsVerificationFailed,
    build_session,
    require_secure_url,
)
from satellite_tasking.plugin.model import Connection, ConnectionKind
from satellite_tasking.plugin.providers.planet import PlanetProvider
from satellite_tasking.plugin.providers.up42 import Up42Provider
from satellite_tasking.plugin.sandbox import SandboxServer

UP42_USER = "transport.SECRET-USER-5151@example.org"
UP42_PASSWORD = "pw-TRANSPORT-SECRET-8383"
PLANET_KEY = "PLAK-TRANSPORT-SECRET-2727"
AGENT = "SatelliteTasking/test QGIS/test"


class Credentials:
    def __init__(self, username, password=""):
        self.username = username
        self.password = password


def hello(handler, body):
    """A plain-HTTP service on this machine: JSON, or a redirect to plain HTTP elsewhere under /redirect."""
    if handler.path.startswith("/redirect"):
        reply(handler, 302, headers={"Location": "http://10.255.255.1/elsewhere"})
    else:
        reply(handler, 200, {"hello": "world"})


@pytest.fixture
def plain_server():
    server = RecordingServer("127.0.0.1", script=hello).start()
    yield server.url
    server.stop()


@pytest.fixture
def tls_server(self_signed_certificate):
    """An HTTPS server on 127.0.0.1 whose certificate no public CA signed."""
    cert, key = self_signed_certificate
    server = RecordingServer("127.0.0.1", script=hello)
    wrap_tls(server, cert, key)
    server.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", str(cert)
    server.stop()


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(seed=3, speed=1.0, settings={})


# Every test here runs both ways a session reads (requests, and the keep-alive path): tests/conftest.py's reading_way.
pytestmark = pytest.mark.usefixtures("reading_way")


def session(**kwargs):
    kwargs.setdefault("proxy", reading_proxy())
    return build_session("Test connection", AGENT, max_retries=0, sleep=lambda s: None, **kwargs)


# -- TLS --------------------------------------------------------------------------------------------


def test_a_certificate_nobody_vouches_for_is_refused_and_verification_cannot_be_switched_off(
        tls_server, monkeypatch):
    url, cert = tls_server
    # The server itself is fine: trusting its own certificate explicitly (a corporate CA bundle) works.
    assert session().get(url + "/ok", verify=cert) == {"hello": "world"}

    with pytest.raises(TlsVerificationFailed) as caught:
        session().get(url + "/ok")
    assert "could not be verified" in str(caught.value)

    with pytest.raises(ValueError, match="cannot be switched off"):
        session().get(url + "/ok", verify=False)
    with pytest.raises(ValueError, match="cannot be switched off"):
        session().request("GET", url + "/ok", verify="")

    # Every other door requests offers: the underlying session, and the environment variables
    # requests reads (an empty CA bundle would otherwise mean "no check").
    guarded = session()
    guarded._session.verify = False
    with pytest.raises(TlsVerificationFailed):
        guarded.get(url + "/ok")
    monkeypatch.setenv("CURL_CA_BUNDLE", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")
    with pytest.raises(TlsVerificationFailed):
        session(proxy=None).get(url + "/ok")


def test_a_provider_behind_an_unverifiable_certificate_is_never_sent_credentials(tls_server):
    url, _cert = tls_server
    up42 = Up42Provider(Connection(id="u", name="UP42 TLS", kind=ConnectionKind.UP42, base_url=url),
                        Credentials(UP42_USER, UP42_PASSWORD), session())
    with pytest.raises(TlsVerificationFailed) as caught:
        up42.check()
    planet = PlanetProvider(Connection(id="p", name="Planet TLS", kind=ConnectionKind.PLANET,
                                       base_url=url + "/tasking/v2"), Credentials(PLANET_KEY), session())
    with pytest.raises(TlsVerificationFailed) as caught_planet:
        planet.check()
    for error in (caught.value, caught_planet.value):
        for secret in (UP42_PASSWORD, PLANET_KEY):
            assert secret not in str(error) and secret not in repr(error)


# -- plain http:// ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://api.up42.com/v2/orders",
    "http://10.1.2.3/tasking/v2/orders",
    "http://192.168.0.10:8080/",
    "http://127.0.0.1.evil.example/steal",
    "http://localhost.evil.example/",
    "http://[2001:db8::1]/",
    "ftp://api.planet.com/",
    "api.planet.com/tasking/v2",
])
def test_plain_http_to_another_host_is_refused_before_any_connection(url, monkeypatch):
    def no_connections(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_connections)
    with pytest.raises(InsecureUrl) as caught:
        session().get(url)
    message = str(caught.value)
    assert message.startswith("Test connection: refusing"), message
    assert "https://" in message


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_to_this_machine_is_allowed(plain_server, host):
    url = plain_server.replace("127.0.0.1", host)
    require_secure_url(url)
    assert session().get(url + "/ok") == {"hello": "world"}


def test_a_redirect_from_this_machine_to_plain_http_elsewhere_is_refused(plain_server, monkeypatch):
    real_create_connection = socket.create_connection

    def loopback_only(address, *args, **kwargs):
        assert address[0] in ("127.0.0.1", "localhost"), f"connection attempted to {address}"
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", loopback_only)
    with pytest.raises(InsecureUrl) as caught:
        session().get(plain_server + "/redirect")
    assert "10.255.255.1" in str(caught.value)


@pytest.mark.parametrize("kind, base_url", [
    (ConnectionKind.UP42, "http://api.up42.com"),
    (ConnectionKind.PLANET, "http://api.planet.com/tasking/v2"),
])
def test_providers_refuse_a_plain_http_base_url_with_a_clear_message(kind, base_url, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("connection attempted"))
    connection = Connection(id="x", name="Insecure", kind=kind, base_url=base_url)
    credentials = Credentials(UP42_USER, UP42_PASSWORD) if kind == ConnectionKind.UP42 else Credentials(PLANET_KEY)
    provider = (Up42Provider if kind == ConnectionKind.UP42 else PlanetProvider)(connection, credentials, session())
    with pytest.raises(InsecureUrl) as caught:
        provider.check()
    message = caught.value.user_message
    assert "plain http://" in message and "https://" in message, message
    for secret in (UP42_PASSWORD, PLANET_KEY):
        assert secret not in message and secret not in repr(caught.value)


# -- servers on 127.0.0.1 only -----------------------------------------------------------------------

# Socket-level binds: the first element of the address tuple.
_SOCKET_BIND = re.compile(r"(?:\.bind|HTTPServer|TCPServer|UDPServer|create_server)\(\s*\(\s*([^,]+),")
# The sandbox binds 127.0.0.1 unless told otherwise: only an explicit host= can change that.
_SANDBOX_HOST = re.compile(r"SandboxServer\(.*?\bhost\s*=\s*([^,)\s]+)")
_LISTEN = re.compile(r"""["']Listen\s+([^"']+)["']""")
_HOST_OPTION = re.compile(r"""["']--host["']\s*,\s*([^,\]\)\s]+)""")
_ANY_ADDRESS = re.compile(r"""["'](?:0\.0\.0\.0|::)["']""")
_LOOPBACK = {"127.0.0.1", "localhost"}
# Names checked at run time: the sandbox passes every host through check_loopback (tested below).
_CHECKED_NAMES = {("plugin/sandbox/server.py", "self.host")}
_THIS_FILE = "tests/unit/test_transport_safety.py"


def _source_files():
    for folder in ("plugin", "tests", "scripts", "ui"):
        yield from sorted((REPO_ROOT / folder).rglob("*.py"))
    yield REPO_ROOT / "__init__.py"


def _proves_a_refusal(lines: list, index: int) -> bool:
    """A line inside `with pytest.raises(...)` (or a subprocess run that must fail) tests the refusal."""
    window = lines[max(0, index - 3):index + 1]
    return any("pytest.raises" in line or "subprocess.run(" in line for line in window)


def test_no_server_in_the_code_or_the_tests_binds_anything_but_loopback():
    offenders, binds = [], 0
    for path in _source_files():
        relative = path.relative_to(REPO_ROOT).as_posix()
        if relative == _THIS_FILE:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            if line.strip().startswith("#"):
                continue
            where = f"{relative}:{index + 1}: {line.strip()}"
            for match in _SOCKET_BIND.finditer(line):
                binds += 1
                host = match.group(1).strip()
                if host.strip("'\"") not in _LOOPBACK and (relative, host) not in _CHECKED_NAMES:
                    offenders.append(where)
            for pattern in (_SANDBOX_HOST, _LISTEN, _HOST_OPTION):
                for match in pattern.finditer(line):
                    binds += pattern is not _SANDBOX_HOST
                    if match.group(1).strip().strip("'\"") not in _LOOPBACK and not _proves_a_refusal(lines, index):
                        offenders.append(where)
            if _ANY_ADDRESS.search(line) and ("host" in line.lower() or "bind" in line.lower()) \
                    and not _proves_a_refusal(lines, index):
                offenders.append(where)
    assert binds >= 5, "the scan found the servers it should have found"
    assert offenders == [], "servers must listen on 127.0.0.1 only:\n" + "\n".join(sorted(set(offenders)))


def test_the_scan_catches_a_server_on_every_address(tmp_path):
    # The scan above must be able to fail: the shapes it looks for, on a wildcard address.
    bad = ['server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)', "sock.bind(('', 8080))",
           'SandboxServer(port=0, host="0.0.0.0")', '"Listen 0.0.0.0",', '["python", "-m", "plugin.sandbox", '
           '"--host", "0.0.0.0"]']
    for line in bad:
        found = (any(m.group(1).strip().strip("'\"") not in _LOOPBACK for m in _SOCKET_BIND.finditer(line))
                 or any(m.group(1).strip().strip("'\"") not in _LOOPBACK
                        for p in (_SANDBOX_HOST, _LISTEN, _HOST_OPTION) for m in p.finditer(line)))
        assert found, line


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "::1", "10.0.0.1", "192.168.1.20", "example.com",
                                  "127.0.0.1.nip.io"])
def test_the_sandbox_refuses_to_listen_on_anything_but_loopback(host):
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(port=0, host=host)


def test_the_sandbox_listens_on_127_0_0_1(sandbox):
    assert sandbox.base_url.startswith("http://127.0.0.1:")
    assert sandbox._httpd.socket.getsockname()[0] == "127.0.0.1"
    assert SandboxServer(port=0, host="localhost").host == "127.0.0.1"


# -- what the HTTP libraries log ---------------------------------------------------------------------


def test_debug_logging_of_requests_and_urllib3_shows_no_credentials(sandbox):
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    root = logging.getLogger()
    handler = Collect(level=logging.DEBUG)
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        up42 = Up42Provider(Connection(id="u", name="UP42 sandbox", kind=ConnectionKind.UP42,
                                       base_url=sandbox.base_url), Credentials(UP42_USER, UP42_PASSWORD), session())
        assert up42.check().startswith("Connected to UP42 sandbox")
        assert up42.products()
        planet = PlanetProvider(Connection(id="p", name="Planet sandbox", kind=ConnectionKind.PLANET,
                                           base_url=sandbox.base_url + "/tasking/v2"), Credentials(PLANET_KEY),
                                session())
        planet.check()
        planet.orders()
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    tokens = list(sandbox.dialects["up42"].tokens)
    assert tokens, "the UP42 provider authenticated with a token"
    text = "\n".join(lines)
    assert "urllib3.connectionpool" in text or "Starting new HTTP connection" in text or "/v2/" in text, (
        "urllib3/requests DEBUG logging was captured")
    for secret in [UP42_PASSWORD, PLANET_KEY, *tokens]:
        assert secret not in text
    assert "authorization" not in text.lower()
    assert "bearer " not in text.lower() and "api-key " not in text.lower()
