"""The HTTP layer against a real scripted server on 127.0.0.1 (and a real TLS server)."""
import json
import logging
import socket
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from loopback_http import wrap_tls

from satellite_tasking.plugin.http import (
    AccessForbidden,
    CredentialsRejected,
    InsecureUrl,
    NonFiniteNumber,
    NotFoundError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    ProxyConfig,
    RateLimited,
    RequestRejected,
    TlsVerificationFailed,
    UnreadableResponse,
    build_session,
    decode_json,
    extract_provider_message,
    format_user_agent,
    parse_retry_after,
    redact_url,
    require_secure_url,
)

SECRET = "sk-live-0123456789abcdef"
UA = "SatelliteTasking/0.1.0 QGIS/3.22.16"


class ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def _reply(self, status, body=b"", content_type="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        server = self.server
        path = self.path.split("?")[0]
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with server.lock:
            server.hits[(self.command, path)] += 1
            count = server.hits[(self.command, path)]
            server.last_headers = dict(self.headers.items())
        if path == "/flaky":  # 503 twice, then 200
            if count <= 2:
                return self._reply(503, {"detail": "busy"})
            return self._reply(200, {"ok": True, "attempt": count})
        if path == "/always-503":
            return self._reply(503, "<html><title>503 Service Unavailable</title></html>", "text/html")
        if path == "/always-500":
            return self._reply(500, {"title": "Internal Server Error", "status": 500})
        if path == "/limited":  # 429 with Retry-After seconds once
            if count == 1:
                return self._reply(429, {"detail": "slow down"}, headers={"Retry-After": "1"})
            return self._reply(200, {"ok": True})
        if path == "/limited-long":
            return self._reply(429, {"detail": "quota"}, headers={"Retry-After": "3600"})
        if path == "/limited-date":
            if count == 1:
                return self._reply(429, {}, headers={"Retry-After": formatdate(time.time() + 2, usegmt=True)})
            return self._reply(200, {"ok": True})
        if path == "/drop":  # close without answering
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if path == "/slow":
            time.sleep(0.6)
            return self._reply(200, {"late": True})
        if path == "/malformed":
            return self._reply(200, '{"id": "abc", "status": ')
        if path == "/html":
            return self._reply(200, "<html><body>Please log in to the hotel wifi</body></html>", "text/html")
        if path == "/empty":
            return self._reply(204)
        if path == "/echo":
            return self._reply(200, {"headers": dict(self.headers.items())})
        if path == "/rfc7807":
            return self._reply(400, {"type": "https://api.up42.com/errors/validation", "title": "Bad Request",
                                     "status": 400, "detail": "acquisitionEnd must be after acquisitionStart",
                                     "instance": "/v2/orders"}, "application/problem+json")
        if path == "/drf-fields":
            return self._reply(400, {"geometry": ["Polygon is self-intersecting."],
                                     "end_time": ["Order may not last longer than one year."]})
        if path == "/drf-nonfield":
            return self._reply(400, {"non_field_errors": ["Too many active orders (max 5)."]})
        if path == "/drf-detail":
            return self._reply(409, {"detail": "Order is not cancellable in state FULFILLED."})
        if path == "/plain":
            return self._reply(422, "geometry too large: 12000 sq km > 10000 sq km\n", "text/plain")
        if path == "/empty-400":
            return self._reply(400)
        if path == "/401":
            return self._reply(401, {"detail": "Invalid API key"})
        if path == "/403":
            return self._reply(403, {"detail": "Contract PL-123 does not include SkySat"})
        if path == "/404":
            return self._reply(404, {"detail": "Not found."})
        if path == "/redirect-out":
            return self._reply(302, "", headers={"Location": "http://example.org/elsewhere"})
        return self._reply(404, {"detail": "no such script"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.hits = Counter()
        self.lock = threading.Lock()
        self.last_headers = {}

    def handle_error(self, request, client_address):
        pass  # clients hanging up early (timeouts) are part of the script

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server():
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


class SleepRecorder:
    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


@pytest.fixture
def sleeps():
    return SleepRecorder()


@pytest.fixture
def session(sleeps):
    s = build_session("UP42 test", UA, proxy=ProxyConfig(mode="none"), timeout=(2.0, 0.3),
                      max_retries=3, backoff_factor=0.5, max_backoff=5.0, sleep=sleeps)
    yield s
    s.close()


# -- retries ---------------------------------------------------------------------------------

def test_get_is_retried_on_503_until_it_succeeds(server, session, sleeps):
    assert session.json("GET", server.url + "/flaky") == {"ok": True, "attempt": 3}
    assert server.hits[("GET", "/flaky")] == 3
    assert sleeps.calls == [0.5, 1.0]


def test_post_is_not_retried_by_default(server, session, sleeps):
    with pytest.raises(ProviderUnavailable) as info:
        session.json("POST", server.url + "/flaky", json={"name": "order"})
    assert server.hits[("POST", "/flaky")] == 1
    assert sleeps.calls == []
    assert info.value.status == 503
    assert "busy" in str(info.value)


def test_post_marked_idempotent_is_retried(server, session):
    assert session.json("POST", server.url + "/flaky", idempotent=True, json={})["ok"] is True
    assert server.hits[("POST", "/flaky")] == 3


def test_retries_are_bounded_in_count(server, session, sleeps):
    with pytest.raises(ProviderUnavailable) as info:
        session.request("GET", server.url + "/always-503")
    assert server.hits[("GET", "/always-503")] == 4  # 1 + max_retries
    assert sleeps.calls == [0.5, 1.0, 2.0]
    assert info.value.status == 503
    assert "503 Service Unavailable" in str(info.value)  # the HTML title, not the markup
    assert "<html>" not in str(info.value)


def test_retries_are_bounded_in_total_wait(server, sleeps):
    s = build_session("P", UA, proxy=ProxyConfig(), max_retries=50, backoff_factor=1.0, max_backoff=4.0,
                      max_total_wait=10.0, sleep=sleeps)
    with pytest.raises(ProviderUnavailable):
        s.request("GET", server.url + "/always-503")
    assert sleeps.calls == [1.0, 2.0, 4.0]  # a further 4 s would pass the 10 s budget
    assert all(delay <= 4.0 for delay in sleeps.calls)
    assert server.hits[("GET", "/always-503")] == 4


def test_500_is_retried_for_get_but_not_put(server, session):
    with pytest.raises(ProviderUnavailable):
        session.request("GET", server.url + "/always-500")
    assert server.hits[("GET", "/always-500")] == 4
    with pytest.raises(ProviderUnavailable) as info:
        session.request("PUT", server.url + "/always-500", json={})
    assert server.hits[("PUT", "/always-500")] == 1
    assert "Internal Server Error" in str(info.value)


def test_retry_after_seconds_is_honoured(server, session, sleeps):
    assert session.json("GET", server.url + "/limited") == {"ok": True}
    assert sleeps.calls == [1.0]
    assert server.hits[("GET", "/limited")] == 2


def test_retry_after_http_date_is_honoured(server, session, sleeps):
    assert session.json("GET", server.url + "/limited-date") == {"ok": True}
    assert len(sleeps.calls) == 1 and 0.0 <= sleeps.calls[0] <= 3.0


def test_retry_after_longer_than_max_backoff_gives_up_with_the_wait(server, session, sleeps):
    with pytest.raises(RateLimited) as info:
        session.request("GET", server.url + "/limited-long")
    assert sleeps.calls == []
    assert server.hits[("GET", "/limited-long")] == 1
    assert info.value.retry_after == 3600
    assert "3600 s" in str(info.value)


def test_parse_retry_after():
    now = 1_700_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == pytest.approx(30.0, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) is None


def test_dropped_connection_is_retried_for_get_only(server, session, sleeps):
    with pytest.raises(ProviderUnreachable) as info:
        session.request("GET", server.url + "/drop")
    assert server.hits[("GET", "/drop")] == 4
    assert "UP42 test" in str(info.value)
    with pytest.raises(ProviderUnreachable):
        session.request("POST", server.url + "/drop", json={})
    assert server.hits[("POST", "/drop")] == 1


def test_read_timeout(server, session, sleeps):
    with pytest.raises(ProviderTimeout) as info:
        session.request("POST", server.url + "/slow", json={})
    assert "did not answer within 0.3 s" in str(info.value)
    assert server.hits[("POST", "/slow")] == 1
    s = build_session("P", UA, proxy=ProxyConfig(), timeout=(2.0, 0.2), max_retries=1, sleep=sleeps)
    with pytest.raises(ProviderTimeout):
        s.request("GET", server.url + "/slow")
    assert server.hits[("GET", "/slow")] == 2


def test_unreachable_host(sleeps):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    s = build_session("Planet", UA, proxy=ProxyConfig(), max_retries=2, sleep=sleeps)
    with pytest.raises(ProviderUnreachable) as info:
        s.request("GET", f"http://127.0.0.1:{port}/orders/?api_key={SECRET}")
    assert str(info.value).startswith("could not reach Planet at 127.0.0.1")
    assert len(sleeps.calls) == 2
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# -- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path, error_type, status, words", [
    ("/401", CredentialsRejected, 401, "credentials rejected by UP42 test"),
    ("/403", AccessForbidden, 403, "Contract PL-123 does not include SkySat"),
    ("/404", NotFoundError, 404, "does not know this item"),
])
def test_status_codes_become_typed_errors(server, session, path, error_type, status, words):
    with pytest.raises(error_type) as info:
        session.request("GET", server.url + path)
    assert isinstance(info.value, ProviderError)
    assert info.value.status == status
    assert info.value.connection_name == "UP42 test"
    assert words in info.value.user_message
    assert server.hits[("GET", path)] == 1


def test_rfc7807_body(server, session):
    with pytest.raises(RequestRejected) as info:
        session.request("POST", server.url + "/rfc7807", json={})
    assert info.value.provider_message == "Bad Request: acquisitionEnd must be after acquisitionStart"
    assert "acquisitionEnd must be after acquisitionStart" in str(info.value)


def test_drf_field_errors(server, session):
    with pytest.raises(RequestRejected) as info:
        session.request("POST", server.url + "/drf-fields", json={})
    assert info.value.field_errors == {"geometry": ["Polygon is self-intersecting."],
                                       "end_time": ["Order may not last longer than one year."]}
    assert "geometry: Polygon is self-intersecting." in str(info.value)


def test_drf_non_field_errors_and_detail(server, session):
    with pytest.raises(RequestRejected) as info:
        session.request("POST", server.url + "/drf-nonfield", json={})
    assert info.value.provider_message == "Too many active orders (max 5)."
    assert info.value.field_errors == {}
    with pytest.raises(RequestRejected) as info:
        session.request("DELETE", server.url + "/drf-detail")
    assert info.value.status == 409
    assert info.value.provider_message == "Order is not cancellable in state FULFILLED."


def test_plain_text_and_empty_bodies(server, session):
    with pytest.raises(RequestRejected) as info:
        session.request("POST", server.url + "/plain", json={})
    assert info.value.status == 422
    assert info.value.provider_message == "geometry too large: 12000 sq km > 10000 sq km"
    with pytest.raises(RequestRejected) as info:
        session.request("POST", server.url + "/empty-400", json={})
    assert "gave no reason" in str(info.value)


def test_extract_provider_message_shapes():
    assert extract_provider_message({"detail": "Not found."}) == ("Not found.", {})
    assert extract_provider_message({"message": "bad token"}) == ("bad token", {})
    assert extract_provider_message({"error": {"code": "X", "message": "nope"}}) == ("nope", {})
    message, fields = extract_provider_message({"geometry": {"coordinates": ["bad ring"]}})
    assert fields == {"geometry": ["coordinates: bad ring"]}
    assert extract_provider_message(["first", "second"])[0] == "first; second"
    assert len(extract_provider_message("x" * 5000)[0]) <= 500


def test_malformed_json_is_unreadable(server, session):
    with pytest.raises(UnreadableResponse) as info:
        session.json("GET", server.url + "/malformed")
    assert "the provider UP42 test answered something unreadable" in str(info.value)
    assert server.hits[("GET", "/malformed")] == 2  # a garbled read is read once more, not more
    with pytest.raises(UnreadableResponse):
        session.json("POST", server.url + "/malformed")
    assert server.hits[("POST", "/malformed")] == 1  # a write is never repeated
    with pytest.raises(UnreadableResponse) as info:
        session.json("GET", server.url + "/html")
    assert "proxy or login portal" in str(info.value)
    assert "hotel wifi" not in str(info.value)
    # The caller who does not expect JSON gets the response as is.
    assert session.request("GET", server.url + "/html", expect_json=False).status_code == 200


def test_empty_success_is_none(server, session):
    assert session.json("DELETE", server.url + "/empty") is None


# -- headers, auth, security -----------------------------------------------------------------

class ApiKeyAuth(requests.auth.AuthBase):
    def __init__(self, key):
        self.key = key

    def __call__(self, request):
        request.headers["Authorization"] = f"api-key {self.key}"
        return request


def test_user_agent_and_auth_hook(server, sleeps):
    s = build_session("Planet", UA, proxy=ProxyConfig(), auth=ApiKeyAuth(SECRET), sleep=sleeps)
    headers = s.json("GET", server.url + "/echo")["headers"]
    assert headers["User-Agent"] == UA
    assert headers["Authorization"] == f"api-key {SECRET}"
    s.auth = ApiKeyAuth("other")
    assert s.json("GET", server.url + "/echo")["headers"]["Authorization"] == "api-key other"
    agent = format_user_agent("Satellite Tasking", "0.1.0", "3.22.16")
    assert agent == "Satellite-Tasking/0.1.0 QGIS/3.22.16"


def test_secrets_never_reach_messages_or_logs(server, sleeps, caplog):
    caplog.set_level(logging.DEBUG, logger="satellite_tasking.plugin.http")
    s = build_session("Planet", UA, proxy=ProxyConfig(), auth=ApiKeyAuth(SECRET), timeout=(2.0, 0.2),
                      max_retries=1, sleep=sleeps)
    messages = []
    for path in ("/401", "/always-503", "/slow", "/malformed", "/rfc7807"):
        url = f"http://user:{SECRET}@127.0.0.1:{server.server_address[1]}{path}?api_key={SECRET}&page=2"
        with pytest.raises(ProviderError) as info:
            s.json("GET", url)
        messages.append(str(info.value))
        messages.append(repr(info.value))
    assert "page=2" in messages[0] and "api_key=***" in messages[0]
    assert caplog.records, "the layer logs its requests"
    text = "\n".join(messages + [r.getMessage() for r in caplog.records])
    assert SECRET not in text
    assert "Authorization" not in text


def test_redact_url():
    assert redact_url("https://u:p@api.example.com/v2/x?api_key=abc&token=t&page=2") == \
        "https://api.example.com/v2/x?api_key=***&token=***&page=2"
    assert redact_url("https://s3.example.com/a.tif?X-Amz-Signature=zz&X-Amz-Credential=cc") == \
        "https://s3.example.com/a.tif?X-Amz-Signature=***&X-Amz-Credential=***"


def test_proxy_config_repr_hides_password():
    proxy = ProxyConfig(mode="http", host="proxy.corp", port=3128, user="alice", password=SECRET)
    assert SECRET not in repr(proxy) and SECRET not in str(proxy)
    assert "alice" in repr(proxy)
    assert SECRET not in repr(build_session("X", UA, proxy=proxy))
    assert proxy.proxy_url() == f"http://alice:{SECRET}@proxy.corp:3128"
    assert ProxyConfig(mode="http", host="p", port=1, user="a@b", password="p:w/").proxy_url() == \
        "http://a%40b:p%3Aw%2F@p:1"
    with pytest.raises(ValueError):
        ProxyConfig(mode="socks")
    with pytest.raises(ValueError):
        ProxyConfig(mode="http")


@pytest.mark.parametrize("url", ["http://api.up42.com/v2/orders", "http://10.0.0.5/x", "ftp://127.0.0.1/x",
                                 "http://127.0.0.1.nip.io/x", "http://localhost.example.com/"])
def test_plain_http_is_refused_for_other_hosts(url):
    with pytest.raises(InsecureUrl) as info:
        require_secure_url(url, "UP42")
    assert "https://" in str(info.value)


@pytest.mark.parametrize("url", ["https://api.up42.com/v2/orders", "http://127.0.0.1:8000/x",
                                 "http://localhost:1/", "http://[::1]:80/", "http://127.5.0.1/"])
def test_secure_or_loopback_urls_pass(url):
    require_secure_url(url)


def test_session_refuses_plain_http_before_sending(server, session):
    with pytest.raises(InsecureUrl) as info:
        session.request("GET", "http://api.planet.com/tasking/v2/orders/")
    assert "plain http://" in str(info.value) and "api.planet.com" in str(info.value)
    with pytest.raises(InsecureUrl):  # a redirect to plain http elsewhere is refused too
        session.request("GET", server.url + "/redirect-out")
    assert server.hits[("GET", "/redirect-out")] == 1


def test_tls_verification_cannot_be_switched_off(server, session):
    with pytest.raises(ValueError):
        session.request("GET", server.url + "/echo", verify=False)
    with pytest.raises(ValueError):
        session.request("GET", server.url + "/echo", verify="")


@pytest.fixture
def tls_server(self_signed_certificate):
    cert, key = self_signed_certificate
    srv = ScriptedServer()
    wrap_tls(srv, cert, key)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv, str(cert)
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def test_self_signed_certificate_is_refused(tls_server, sleeps):
    srv, cert = tls_server
    url = f"https://127.0.0.1:{srv.server_address[1]}/echo"
    s = build_session("STAPI", UA, proxy=ProxyConfig(), max_retries=3, sleep=sleeps)
    with pytest.raises(TlsVerificationFailed) as info:
        s.request("GET", url)
    assert "could not be verified" in str(info.value)
    assert sleeps.calls == []  # retrying would not change the certificate
    s._session.verify = False  # even poking the inner session does not switch verification off
    with pytest.raises(TlsVerificationFailed):
        s.request("GET", url)
    # Trusting that certificate explicitly (a CA bundle path) keeps verification on and works.
    assert s.json("GET", url, verify=cert)["headers"]["User-Agent"] == UA


# Floats reach 1.8e308: a number written with 309 digits (or 250 digits and an exponent of 60) is infinite as well.
_HUGE_WITHOUT_A_LONG_EXPONENT = [b"[" + b"1" * 310 + b".5]", b'{"v": -' + b"9" * 309 + b".0}",
                                 b"[1" + b"0" * 250 + b"e60]"]


@pytest.mark.parametrize("body", [b"1e999", b"[1e999]", b'{"a": -2.5E+0400}', b'{"a":NaN}', b'{"a": [Infinity]}',
                                  b'{"a":-Infinity}', b'{"id": "x:1", "v": 1.5e308, "w": 9e9999}',
                                  *_HUGE_WITHOUT_A_LONG_EXPONENT])
def test_decode_json_refuses_non_finite_numbers(body):
    with pytest.raises(NonFiniteNumber):
        decode_json(body)


@pytest.mark.parametrize("body, value", [
    (b'{"id": "3fae123-1e234", "cloud": 0.25}', {"id": "3fae123-1e234", "cloud": 0.25}),
    (b'{"a": "x:1e999"}', {"a": "x:1e999"}),  # looks like a number, is a string: read the slower way, still read
    (b'[1e308, -1.5E+300, 1.0e-400, 12]', [1e308, -1.5e300, 0.0, 12]),
])
def test_decode_json_reads_finite_numbers_and_number_like_strings(body, value):
    assert decode_json(body) == value


# -- cancellation ----------------------------------------------------------------------------

from satellite_tasking.plugin.http import (  # noqa: E402 - the cancellation tests' own names
    CANCEL_POLL_SECONDS,
    RequestCancelled,
    cancellable,
    cancellation_requested,
)

BUSY_RETRY_AFTER = 5


class BusyHandler(BaseHTTPRequestHandler):
    """Every request (GET and POST) answers 503 with Retry-After: 5; the server counts them."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _busy(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with self.server.lock:
            self.server.hits += 1
        body = b'{"detail": "busy, come back later"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Retry-After", str(BUSY_RETRY_AFTER))
        self.end_headers()
        self.wfile.write(body)
        self.server.answered.set()

    do_GET = do_POST = _busy


@pytest.fixture
def busy_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), BusyHandler)
    srv.daemon_threads = True
    srv.hits = 0
    srv.lock = threading.Lock()
    srv.answered = threading.Event()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/orders"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def cancel_after_first_answer(srv, event, delay=0.1):
    """Like a user pressing Cancel while the session waits to retry: another thread sets the event."""
    def press():
        if srv.answered.wait(timeout=5):
            time.sleep(delay)
        event.set()
    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


def test_cancel_during_a_retry_after_wait_returns_at_once(busy_server):
    # Real sleeping: without the cancel this GET would wait 4 x 5 s before giving up.
    s = build_session("Planet busy", UA, proxy=ProxyConfig(mode="none"), timeout=(2.0, 2.0))
    cancel = threading.Event()
    presser = cancel_after_first_answer(busy_server, cancel)
    started = time.monotonic()
    with cancellable(cancel), pytest.raises(RequestCancelled) as info:
        s.get(busy_server.url)
    elapsed = time.monotonic() - started
    presser.join(timeout=5)
    assert elapsed < 0.5, elapsed
    assert busy_server.hits == 1, "nothing is sent again after the cancel"
    error = info.value
    assert isinstance(error, ProviderError) and error.attempts == 1 and error.connection_name == "Planet busy"
    assert str(error).startswith("Cancelled while waiting to retry Planet busy")
    assert "HTTP 503" in str(error)
    s.close()


def test_a_session_of_its_own_takes_the_cancel_signal_directly(busy_server):
    cancel = threading.Event()
    s = build_session("UP42 busy", UA, proxy=ProxyConfig(mode="none"), timeout=(2.0, 2.0), cancelled=cancel)
    presser = cancel_after_first_answer(busy_server, cancel, delay=0.2)
    started = time.monotonic()
    with pytest.raises(RequestCancelled):
        s.get(busy_server.url, idempotent=True)
    assert time.monotonic() - started < 0.7
    presser.join(timeout=5)
    assert busy_server.hits == 1
    # Still cancelled: the next request is not even sent.
    with pytest.raises(RequestCancelled) as info:
        s.get(busy_server.url)
    assert info.value.attempts == 0 and "was not sent" in str(info.value)
    assert busy_server.hits == 1
    s.close()


def test_an_uncancelled_scope_waits_the_whole_backoff_in_slices(busy_server, sleeps):
    s = build_session("Planet busy", UA, proxy=ProxyConfig(mode="none"), timeout=(2.0, 2.0), max_retries=2,
                      sleep=sleeps)
    checks = []

    def never():
        checks.append(1)
        return False

    with cancellable(never), pytest.raises(ProviderUnavailable):
        s.get(busy_server.url)
    assert busy_server.hits == 3
    assert sum(sleeps.calls) == pytest.approx(2 * BUSY_RETRY_AFTER)
    assert max(sleeps.calls) <= CANCEL_POLL_SECONDS + 1e-9
    assert len(checks) >= 2 * BUSY_RETRY_AFTER / CANCEL_POLL_SECONDS
    # Outside a scope the wait is one sleep, as before.
    sleeps.calls.clear()
    with pytest.raises(ProviderUnavailable):
        s.get(busy_server.url)
    assert sleeps.calls == [BUSY_RETRY_AFTER, BUSY_RETRY_AFTER]
    s.close()


def test_a_cancelled_task_sends_nothing_and_a_post_is_never_retried(busy_server, sleeps):
    s = build_session("Planet busy", UA, proxy=ProxyConfig(mode="none"), timeout=(2.0, 2.0), sleep=sleeps)
    with cancellable(lambda: True):
        for method in ("GET", "POST"):
            with pytest.raises(RequestCancelled) as info:
                s.request(method, busy_server.url, json={"name": "x"})
            assert info.value.attempts == 0
            assert str(info.value).startswith("Cancelled before contacting Planet busy")
    assert busy_server.hits == 0
    # A POST that creates something fails on its first 503, cancellable or not: never a retry, never a wait.
    with cancellable(lambda: False), pytest.raises(ProviderUnavailable):
        s.post(busy_server.url, json={"name": "x"})
    assert busy_server.hits == 1 and sleeps.calls == []
    s.close()


def test_cancel_scopes_nest_and_belong_to_their_thread(busy_server, sleeps):
    s = build_session("Planet busy", UA, proxy=ProxyConfig(mode="none"), timeout=(2.0, 2.0), max_retries=1,
                      sleep=sleeps)
    assert not cancellation_requested()
    with cancellable(lambda: False):
        assert not cancellation_requested()
        with cancellable(lambda: True):
            assert cancellation_requested()
            other = {}

            def elsewhere():  # same session, another task's thread: not cancelled
                try:
                    s.get(busy_server.url)
                except ProviderError as error:
                    other["error"] = error

            thread = threading.Thread(target=elsewhere)
            thread.start()
            thread.join(timeout=10)
            assert type(other["error"]) is ProviderUnavailable
            with pytest.raises(RequestCancelled):
                s.get(busy_server.url)
        assert not cancellation_requested()
    with cancellable(None):
        assert not cancellation_requested()
    with pytest.raises(TypeError):
        with cancellable("yes"):
            pass
    assert busy_server.hits == 2  # the other thread's first try and its one retry
    s.close()


# -- listing pages read item by item ---------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from satellite_tasking.plugin.http import decode_listing  # noqa: E402


@pytest.mark.parametrize("separators, indent", [((",", ":"), None), ((", ", ": "), None), ((",", ": "), 2)])
def test_decode_listing_keeps_each_items_exact_text(separators, indent):
    page = {"count": 2, "next": "https://x/captures/?offset=2", "previous": None,
            "results": [{"id": "a", "area": {"type": "Polygon", "coordinates": [[[1.5, 2], [3, 4.25]]]},
                         "note": "é \"quoted\" \\ \u2028", "items": [1, [2, {"x": None}]], "ok": True},
                        {"id": "b", "cloud": 1e-7, "empty": {}, "none": []}]}
    content = json.dumps(page, separators=separators, indent=indent, ensure_ascii=False).encode("utf-8")
    decoded, texts = decode_listing(content, "results")
    assert decoded == json.loads(content)
    assert [json.loads(text) for text in texts] == page["results"]
    for text in texts:
        assert text in content.decode("utf-8")  # a slice of what was sent, not a re-encoding


@pytest.mark.parametrize("body", [b'[{"a": 1}]', b'{"results": {"a": 1}}', b'{"results": [1, 2]}', b'{}',
                                  b'{"count": 0}', b'{"results": [{"a": 1}], "results": null}',
                                  b'\xef\xbb\xbf{"results": [{"a": 1}]}'])
def test_decode_listing_reads_other_shapes_as_json_without_texts(body):
    try:
        expected = decode_json(body)
    except ValueError as error:
        with pytest.raises(type(error)):
            decode_listing(body, "results")
        return
    decoded, texts = decode_listing(body, "results")
    assert decoded == expected and texts is None


@pytest.mark.parametrize("body", [b'{"results": [{"a": NaN}]}', b'{"results": [{"a": 1e999}]}',
                                  b'{"count": -Infinity, "results": []}',
                                  *(b'{"results": [{"a": ' + huge + b"}]}" for huge in _HUGE_WITHOUT_A_LONG_EXPONENT)])
def test_decode_listing_refuses_non_finite_numbers(body):
    with pytest.raises(NonFiniteNumber):
        decode_listing(body, "results")


@pytest.mark.parametrize("body", [b'{"results": [{"a": 1}]', b'{"results": [{"a": 1}]} x', b'{"results": [{"a": }]}',
                                  b'', b'{"results": [{"a": 1},]}'])
def test_decode_listing_refuses_broken_json_like_decode_json(body):
    with pytest.raises(ValueError):
        decode_json(body)
    with pytest.raises(ValueError):
        decode_listing(body, "results")


_JSON_SCALARS = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False,
                                                                                   allow_infinity=False) | st.text()
_JSON_VALUES = st.recursive(_JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(extra=st.dictionaries(st.text(max_size=8).filter(lambda k: k != "results"), _JSON_VALUES, max_size=3),
       items=st.lists(st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=4), max_size=5),
       indent=st.sampled_from([None, 0, 1, 3]), ascii_only=st.booleans())
def test_decode_listing_agrees_with_json_on_any_listing(extra, items, indent, ascii_only):
    content = json.dumps({**extra, "results": items}, indent=indent, ensure_ascii=ascii_only).encode("utf-8")
    decoded, texts = decode_listing(content, "results")
    assert decoded == json.loads(content)
    assert texts is not None and [json.loads(text) for text in texts] == items


@pytest.mark.parametrize("url, kept, hidden", [
    ("https://api.example.com/captures/?" + "&".join(f"order_id=id-{n}" for n in range(150)) + "&limit=100",
     "order_id=id-149", None),
    ("https://api.example.com/x?Token=abc123&page=2", "page=2", "abc123"),
    ("https://api.example.com/x?api%5Fkey=abc123", None, "abc123"),
    ("https://api.example.com/x?a=1&x-amz-signature=abc123", "a=1", "abc123"),
])
def test_redact_url_hides_secret_parameters_in_any_spelling_and_keeps_the_rest(url, kept, hidden):
    redacted = redact_url(url)
    if kept:
        assert kept in redacted
    if hidden:
        assert hidden not in redacted
