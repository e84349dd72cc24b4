"""The keep-alive path of a session's GETs (plugin/fast/keep_alive_get.py) and its plain reference (requests) send
the same requests and read the same answers, against real servers on 127.0.0.1."""
import gzip
import json
import socket
import threading
import zlib
from http.server import ThreadingHTTPServer

import pytest
import requests
from loopback_http import QuietHandler, RecordingServer, reply, send_head, wrap_tls

from satellite_tasking.plugin.fast import keep_alive_get
from satellite_tasking.plugin.fast.keep_alive_get import KeepAliveGets
from satellite_tasking.plugin.http import (
    AnswerTooLarge,
    NotFoundError,
    ProviderUnreachable,
    ProxyConfig,
    TaskingSession,
    UnreadableResponse,
    build_session,
    url_origin,
)

try:  # urllib3 offers br where brotli is installed; both ways then read it
    import brotli
except ImportError:
    brotli = None

UA = "SatelliteTasking/0.1.0 QGIS/3.22.16"
PAGE = {"results": [{"id": f"c{i}", "cloud_cover": 0.25, "captured_area": {"type": "Polygon", "coordinates": [
    [[10.0, 50.0], [10.1, 50.0], [10.1, 50.1], [10.0, 50.0]]]}} for i in range(20)], "next": None}
PAGE_BYTES = json.dumps(PAGE).encode()


def _answer(handler, body: bytes) -> None:
    path = handler.path.split("?")[0]
    if path == "/page":
        reply(handler, 200, PAGE_BYTES, headers={"X-Trace": "a", "X-Rate": "1"})
    elif path == "/gzip":
        reply(handler, 200, gzip.compress(PAGE_BYTES), headers={"Content-Encoding": "gzip"})
    elif path == "/deflate":
        reply(handler, 200, zlib.compress(PAGE_BYTES), headers={"Content-Encoding": "deflate"})
    elif path == "/raw-deflate":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        reply(handler, 200, packer.compress(PAGE_BYTES) + packer.flush(), headers={"Content-Encoding": "deflate"})
    elif path == "/chunked":
        send_head(handler, 200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        for start in range(0, len(PAGE_BYTES), 700):
            part = PAGE_BYTES[start:start + 700]
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        handler.wfile.write(b"0\r\n\r\n")
    elif path == "/brotli" and brotli is not None:
        reply(handler, 200, brotli.compress(PAGE_BYTES), headers={"Content-Encoding": "br"})
    elif path == "/gzip-members":  # two gzip members one after the other: one body
        half = len(PAGE_BYTES) // 2
        reply(handler, 200, gzip.compress(PAGE_BYTES[:half]) + gzip.compress(PAGE_BYTES[half:]),
              headers={"Content-Encoding": "gzip"})
    elif path == "/gzip-twice":
        reply(handler, 200, gzip.compress(gzip.compress(PAGE_BYTES)), headers={"Content-Encoding": "gzip, gzip"})
    elif path == "/missing":
        reply(handler, 404, {"detail": "No such order."})
    elif path == "/moved":
        send_head(handler, 302, {"Location": "/page?moved=1", "Content-Length": "0"})
    else:
        reply(handler, 400, {"detail": f"unexpected {path}"})


@pytest.fixture
def server():
    srv = RecordingServer(script=_answer).start()
    yield srv
    srv.stop()


def _sessions():
    """A session that takes the keep-alive path (proxies as set in QGIS: none) and one that cannot (no QGIS
    configuration: requests reads the environment, so every request goes the plain way)."""
    auth = _KeyAuth()
    keep_alive = build_session("Planet", UA, proxy=ProxyConfig(mode="none"), auth=auth, max_retries=0)
    plain = build_session("Planet", UA, proxy=None, auth=auth, max_retries=0)
    return keep_alive, plain


class _KeyAuth(requests.auth.AuthBase):
    """An API key per request and a response hook, as Planet's auth adds both."""

    def __init__(self):
        self.heard = []

    def __call__(self, request):
        request.headers["Authorization"] = "api-key abc"
        request.register_hook("response", lambda response, **kwargs: self.heard.append(response.status_code))
        return request


def _sent(server, index):
    method, path, headers, body = server.seen[index]
    headers = {name.lower(): value for name, value in headers.items()}
    return method, path, headers, body


@pytest.mark.parametrize("path", ["/page", "/gzip", "/deflate", "/raw-deflate", "/chunked", "/moved", "/gzip-twice",
                                  "/gzip-members", pytest.param("/brotli", marks=pytest.mark.skipif(brotli is None,
                                                                                   reason="brotli not installed"))])
def test_both_ways_send_the_same_request_and_read_the_same_answer(server, path):
    keep_alive, plain = _sessions()
    query = {"order_id": "o 1", "limit": 100}
    try:
        fast_page, fast_texts = keep_alive.listing(server.url + path, "results", params=query)
        assert keep_alive._keep_alive_gets._idle, "the keep-alive path was not taken"
        plain_page, plain_texts = plain.listing(server.url + path, "results", params=query)
        assert not plain._keep_alive_gets._idle
    finally:
        keep_alive.close()
        plain.close()
    assert fast_page == plain_page == PAGE
    assert fast_texts == plain_texts and len(fast_texts) == 20
    hops = 2 if path == "/moved" else 1
    assert len(server.seen) == 2 * hops
    for hop in range(hops):
        fast, slow = _sent(server, hop), _sent(server, hops + hop)
        assert fast == slow, "the two ways sent different requests"
    method, sent_path, headers, _ = _sent(server, 0)
    assert sent_path.endswith("?order_id=o+1&limit=100") and headers["authorization"] == "api-key abc"
    assert headers["user-agent"] == UA and headers["host"] == server.url.split("//")[1]


def test_answers_headers_status_and_hooks_read_the_same(server):
    keep_alive, plain = _sessions()
    try:
        answers = [s.request("GET", server.url + "/page") for s in (keep_alive, plain)]
        for session in (keep_alive, plain):
            with pytest.raises(NotFoundError) as refused:
                session.json("GET", server.url + "/missing")
            assert "No such order." in str(refused.value)
    finally:
        keep_alive.close()
        plain.close()
    fast, slow = answers
    assert fast.status_code == slow.status_code == 200 and fast.reason == slow.reason
    assert fast.content == slow.content and fast.json() == slow.json() == PAGE
    assert fast.url == slow.url and fast.encoding == slow.encoding
    for name in ("Content-Type", "Content-Length", "X-Trace", "X-Rate"):
        assert fast.headers[name] == slow.headers[name]
    # Both ways ran the auth object's response hook on every answer (Planet's 429 hold hangs on it).
    assert keep_alive._session.auth.heard == [200, 200, 404, 404]


class _ConnectionCounting(QuietHandler):
    def do_GET(self):
        server = self.server
        with server.lock:
            server.ports.add(self.client_address[1])
            server.requests.append(self.path)
        reply(self, 200, PAGE_BYTES)
        if self.path.startswith("/then-close"):
            self.close_connection = True  # said nowhere in the answer: the client finds out on its next request


@pytest.fixture
def counting_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _ConnectionCounting)
    srv.daemon_threads = True
    srv.lock, srv.ports, srv.requests = threading.Lock(), set(), []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_one_connection_serves_request_after_request(counting_server):
    url = f"http://127.0.0.1:{counting_server.server_address[1]}"
    session = build_session("Planet", UA, proxy=ProxyConfig(mode="none"))
    try:
        for index in range(12):
            assert session.get(f"{url}/page/{index}") == PAGE
    finally:
        session.close()
    assert len(counting_server.ports) == 1
    assert len(counting_server.requests) == 12


@pytest.mark.parametrize("looked_at", [True, False], ids=["seen-closed-before-use", "found-closed-while-used"])
def test_a_connection_the_server_closed_is_replaced_and_nothing_is_asked_twice(counting_server, monkeypatch,
                                                                                 looked_at):
    if not looked_at:  # the server closes between the look and the use: the request fails on the wire
        monkeypatch.setattr(keep_alive_get, "_dropped", lambda connection: connection.sock is None)
    url = f"http://127.0.0.1:{counting_server.server_address[1]}"
    session = build_session("Planet", UA, proxy=ProxyConfig(mode="none"), max_retries=0)
    try:
        assert session.get(f"{url}/then-close") == PAGE
        assert session.get(f"{url}/after") == PAGE
        assert session.get(f"{url}/again") == PAGE
    finally:
        session.close()
    assert counting_server.requests == ["/then-close", "/after", "/again"]
    assert len(counting_server.ports) == 2


def _limited(server, path, limit=64 * 1024):
    session = TaskingSession("Planet", UA, proxy=ProxyConfig(mode="none"), max_retries=0, max_json_bytes=limit)
    try:
        return session.get(server.url + path)
    finally:
        session.close()


def test_answers_past_the_size_limit_are_refused_announced_sent_or_unpacked():
    bomb = gzip.compress(b'{"a": "' + b"0" * (4 * 1024 * 1024) + b'"}')

    def script(handler, body):
        path = handler.path
        if path == "/announced":
            send_head(handler, 200, {"Content-Length": str(10 ** 9), "Content-Type": "application/json"})
        elif path == "/chunked":
            send_head(handler, 200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
            part = b"[" + b"1," * 40000 + b"1]"
            handler.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(part), part))
        elif path == "/unannounced":  # neither a length nor chunks: the body ends when the connection does
            send_head(handler, 200, {"Content-Type": "application/json", "Connection": "close"})
            handler.wfile.write(b"[" + b"1," * 40000 + b"1]")
            handler.close_connection = True
        else:
            reply(handler, 200, bomb, headers={"Content-Encoding": "gzip"})

    srv = RecordingServer(script=script).start()
    try:
        for path in ("/announced", "/chunked", "/bomb", "/unannounced"):
            with pytest.raises(AnswerTooLarge) as refused:
                _limited(srv, path)
            assert refused.value.status == 200
        assert len(bomb) < 64 * 1024  # the bomb itself is small: what counts is what it unpacks to
    finally:
        srv.stop()


def test_an_answer_cut_short_or_encoded_unknown_is_a_sentence_not_a_traceback():
    def script(handler, body):
        if handler.path == "/short":
            send_head(handler, 200, {"Content-Length": "5000", "Content-Type": "application/json"})
            handler.wfile.write(b'{"results": [')
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
        elif handler.path == "/brotli":
            reply(handler, 200, b"\x1b\x00\x00 not brotli", headers={"Content-Encoding": "br"})
        else:
            reply(handler, 200, b"not gzip at all", headers={"Content-Encoding": "gzip"})

    srv = RecordingServer(script=script).start()
    try:
        with pytest.raises(ProviderUnreachable) as cut:
            _limited(srv, "/short")
        assert "Planet" in str(cut.value)
        for path in ("/brotli", "/broken-gzip"):  # "br" that is no brotli, "gzip" that is none
            with pytest.raises((ProviderUnreachable, UnreadableResponse)) as unread:
                _limited(srv, path)
            assert "Planet" in str(unread.value)
    finally:
        srv.stop()


def test_where_requests_is_needed_the_plain_way_is_taken(server, monkeypatch):
    """A proxy for the address, a CA bundle of the caller's, another adapter or an answer read as a stream: the
    keep-alive path would miss what requests does there."""
    used = []
    real_send = KeepAliveGets.send
    monkeypatch.setattr(KeepAliveGets, "send", lambda self, *a, **k: used.append(1) or real_send(self, *a, **k))
    cases = [
        (build_session("P", UA, proxy=ProxyConfig(mode="none")), {}, True),
        (build_session("P", UA, proxy=ProxyConfig(mode="http", host="127.0.0.1", port=1,
                                                  excluded=(server.url,))), {}, True),
        (build_session("P", UA, proxy=ProxyConfig(mode="system")), {}, False),
        (build_session("P", UA, proxy=None), {}, False),
        (build_session("P", UA, proxy=ProxyConfig(mode="none")), {"verify": requests.certs.where()}, False),
    ]
    for session, extra, expected in cases:
        used.clear()
        try:
            assert session.get(server.url + "/page", **extra) == PAGE
        finally:
            session.close()
        assert bool(used) is expected, (session.proxy, extra)
    streamed = build_session("P", UA, proxy=ProxyConfig(mode="none"))
    mounted = build_session("P", UA, proxy=ProxyConfig(mode="none"))
    mounted._session.mount("http://", requests.adapters.HTTPAdapter())
    try:
        used.clear()
        assert b"".join(streamed.request("GET", server.url + "/page", stream=True).iter_content(1024)) == PAGE_BYTES
        assert mounted.get(server.url + "/page") == PAGE
        assert used == []
    finally:
        streamed.close()
        mounted.close()


def test_tls_is_verified_against_the_bundle_and_the_host_name(self_signed_certificate):
    cert, key = self_signed_certificate
    srv = RecordingServer(script=_answer)
    wrap_tls(srv, cert, key)
    srv.start()
    port = srv.server_address[1]
    prepared = requests.Request("GET", f"https://127.0.0.1:{port}/page").prepare()
    try:
        trusting = KeepAliveGets(ca_bundle=str(cert))
        assert trusting.send(prepared, url_origin(prepared.url), (2.0, 2.0), 1 << 20).json() == PAGE
        trusting.close()
        for bundle, url in ((requests.certs.where(), f"https://127.0.0.1:{port}/page"),
                            (str(cert), f"https://localhost:{port}/page")):  # trusted, but not for that name
            with pytest.raises(requests.exceptions.SSLError):
                KeepAliveGets(ca_bundle=bundle).send(requests.Request("GET", url).prepare(), url_origin(url),
                                                     (2.0, 2.0), 1 << 20)
    finally:
        srv.stop()
