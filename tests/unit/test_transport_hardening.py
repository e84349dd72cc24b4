"""Issue 15, the shared transport: credentials stay with their origin, hostile answers become sentences,
secrets stay out of messages and logs, downloads never overwrite, follow links or leak raw exceptions.

Every server here is a real one on loopback: "A" on 127.0.0.1 (the connection's origin) and "B", another
origin — 127.0.0.2 or another port of 127.0.0.1 — that records what it receives.
"""
import json
import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
from loopback_http import RecordingServer, reply, send_head, wrap_tls
from sandbox_harness import reading_proxy

from satellite_tasking.plugin.http import (
    CrossOriginRefused,
    PageTrail,
    ProviderError,
    ProviderTimeout,
    RequestRejected,
    UnreadableResponse,
    build_session,
    decode_json,
    follow_link,
    redact_url,
)
from satellite_tasking.plugin.model import Asset, Connection
from satellite_tasking.plugin.providers.base import TaskingProvider, safe_file_name
from satellite_tasking.plugin.providers.planet import PlanetProvider
from satellite_tasking.plugin.providers.stapi import StapiProvider
from satellite_tasking.plugin.providers.up42 import Up42Provider

SECRET_KEY = "KEY-HARDENING-SECRET-4242"
SECRET_USER = "user.HARDENING-SECRET@example.org"
SECRET_PASSWORD = "pw-HARDENING-SECRET-9191"
SECRET_TOKEN = "tok-HARDENING-SECRET-7373"
SECRETS = (SECRET_KEY, SECRET_USER.split("@")[0], SECRET_PASSWORD, SECRET_TOKEN)
AGENT = "SatelliteTasking/test"
DEEP = b"[" * 100_000 + b"]" * 100_000


# ---------------------------------------------------------------------------------------------
# Recording servers
# ---------------------------------------------------------------------------------------------

class Recorder(RecordingServer):
    """A loopback origin whose answers each test scripts (``script``); 404 until it does."""

    def __init__(self, host="127.0.0.1"):
        super().__init__(host, script=lambda handler, body: reply(handler, 404, {"detail": "no script"}))

    def everything_seen(self) -> str:
        return repr(self.seen)


@pytest.fixture
def a_server():
    server = Recorder("127.0.0.1").start()
    yield server
    server.stop()


@pytest.fixture(params=["127.0.0.2", "127.0.0.1"], ids=["other-host", "other-port"])
def b_server(request):
    server = Recorder(request.param).start()
    yield server
    server.stop()


# Every test here runs both ways a session reads (requests, and the keep-alive path): tests/conftest.py's reading_way.
pytestmark = pytest.mark.usefixtures("reading_way")


def session(timeout=(2.0, 2.0)):
    return build_session("test connection", AGENT, proxy=reading_proxy(), timeout=timeout, max_retries=1,
                         sleep=lambda s: None)


def assert_no_secret(server):
    seen = server.everything_seen()
    for secret in SECRETS:
        assert secret not in seen, f"{secret} reached {server.url}"


def assert_checked_at_home_only(provider, a_server, b_server, secret):
    """``provider.check()`` (failing with a sentence or not) sent ``secret`` to its own origin, no secret to b."""
    try:
        provider.check()
    except ProviderError:
        pass
    assert secret in repr(a_server.seen)
    assert_no_secret(b_server)


def redirect_to(target, code=302):
    return lambda handler, body: reply(handler, code, b"", headers={"Location": target})


REDIRECTS = [301, 302, 303, 307, 308]
METHODS = ["GET", "POST", "PUT", "DELETE"]


# ---------------------------------------------------------------------------------------------
# 1. Credentials bound to their origin
# ---------------------------------------------------------------------------------------------

def stapi(a_server, secret):
    connection = Connection(id="stapi-1", name="test connection", kind="stapi", base_url=a_server.url)
    return StapiProvider(connection, SimpleNamespace(username=secret, password=""), session())


@pytest.mark.parametrize("secret", ["apikey:" + SECRET_KEY, "bearer:" + SECRET_KEY], ids=["x-api-key", "bearer"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("code", REDIRECTS)
def test_stapi_credentials_never_follow_a_redirect_to_another_origin(a_server, b_server, secret, method, code):
    provider = stapi(a_server, secret)
    a_server.script = redirect_to(b_server.url + "/elsewhere", code)
    b_server.script = lambda handler, body: reply(handler, 200, {"ok": True})
    try:
        provider.session.request(method, a_server.url + "/orders", json={"note": "x"})
    except ProviderError as error:  # a refusal is a sentence naming the other origin
        assert "redirect" in str(error).lower() and b_server.url.split("//")[1] in str(error)
        assert b_server.seen == []
    assert SECRET_KEY in repr(a_server.seen)  # the origin itself gets the credentials
    assert_no_secret(b_server)


@pytest.mark.parametrize("code", [307, 308])
def test_a_redirect_that_would_post_the_body_to_another_origin_is_refused(a_server, b_server, code):
    provider = stapi(a_server, "apikey:" + SECRET_KEY)
    a_server.script = redirect_to(b_server.url + "/orders", code)
    with pytest.raises(ProviderError, match="redirect"):
        provider.session.post(a_server.url + "/orders", json={"secret": SECRET_PASSWORD})
    assert b_server.seen == []


def test_a_cookie_set_by_the_origin_never_reaches_another_port_of_the_same_host(a_server):
    other = Recorder("127.0.0.1").start()
    try:
        a_server.script = lambda handler, body: reply(handler, 302, b"", headers={
            "Location": other.url + "/x", "Set-Cookie": f"session={SECRET_TOKEN}; Path=/"})
        other.script = lambda handler, body: reply(handler, 200, {"ok": True})
        with session() as s:
            s.get(a_server.url + "/login")
            s.get(other.url + "/y")
        assert_no_secret(other)
    finally:
        other.stop()


def test_a_same_origin_redirect_keeps_the_credentials(a_server):
    provider = stapi(a_server, "apikey:" + SECRET_KEY)

    def script(handler, body):
        if handler.path == "/old":
            return reply(handler, 307, b"", headers={"Location": "/new"})
        return reply(handler, 200, {"headers": dict(handler.headers.items()), "body": body.decode()})

    a_server.script = script
    answer = provider.session.post(a_server.url + "/old", json={"x": 1})
    assert answer["headers"].get("X-API-Key") == SECRET_KEY and json.loads(answer["body"]) == {"x": 1}


def planet(a_server):
    connection = Connection(id="planet-1", name="test connection", kind="planet", base_url=a_server.url + "/v2")
    return PlanetProvider(connection, SimpleNamespace(username=SECRET_KEY, password=""), session())


@pytest.mark.parametrize("code", REDIRECTS)
def test_planet_api_key_never_follows_a_redirect_to_another_origin(a_server, b_server, code):
    provider = planet(a_server)
    a_server.script = redirect_to(b_server.url + "/v2/orders/", code)
    b_server.script = lambda handler, body: reply(handler, 200, {"count": 0, "results": []})
    assert_checked_at_home_only(provider, a_server, b_server, SECRET_KEY)


PLANET_ORDER = {"id": "9b3f2c1e-0000-4000-8000-000000000001", "name": "x [qgis-1]", "status": "RECEIVED",
                "order_type": "IMAGE", "scheduling_type": "FLEXIBLE",
                "geometry": {"type": "Point", "coordinates": [13.4, 52.5]},
                "created_time": "2026-01-01T00:00:00Z", "updated_time": "2026-01-01T00:00:00Z",
                "start_time": "2026-01-02T00:00:00Z", "end_time": "2026-01-09T00:00:00Z"}


def test_planet_refuses_a_paging_link_to_another_origin(a_server, b_server):
    provider = planet(a_server)
    a_server.script = lambda handler, body: reply(handler, 200, {
        "results": [PLANET_ORDER], "next": b_server.url + "/v2/orders/?page=2"})
    b_server.script = lambda handler, body: reply(handler, 200, {"results": [], "next": None})
    with pytest.raises(ProviderError, match="another address|another origin|elsewhere") as caught:
        provider.orders()
    assert SECRET_KEY not in str(caught.value)
    assert b_server.seen == []


def up42(a_server):
    connection = Connection(id="up42-1", name="test connection", kind="up42", base_url=a_server.url)
    return Up42Provider(connection, SimpleNamespace(username=SECRET_USER, password=SECRET_PASSWORD), session())


@pytest.mark.parametrize("code", REDIRECTS)
def test_up42_token_request_is_never_sent_to_another_origin(a_server, b_server, code):
    provider = up42(a_server)
    a_server.script = redirect_to(b_server.url + "/oauth/token", code)
    b_server.script = lambda handler, body: reply(handler, 200, {"access_token": "stolen", "expires_in": 300})
    with pytest.raises(ProviderError):
        provider.check()
    assert_no_secret(b_server)


@pytest.mark.parametrize("code", REDIRECTS)
def test_up42_bearer_token_never_follows_a_redirect_to_another_origin(a_server, b_server, code):
    provider = up42(a_server)

    def script(handler, body):
        if handler.path.startswith("/oauth/token"):
            return reply(handler, 200, {"access_token": SECRET_TOKEN, "expires_in": 300})
        return reply(handler, code, b"", headers={"Location": b_server.url + handler.path})

    a_server.script = script
    b_server.script = lambda handler, body: reply(handler, 200, {"data": {"id": "w"}, "content": []})
    assert_checked_at_home_only(provider, a_server, b_server, SECRET_TOKEN)


# ---------------------------------------------------------------------------------------------
# 2. One JSON reader: bounded depth and size, a total deadline, empty pages
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_json_nested_100000_deep_is_a_sentence(a_server, method):
    a_server.script = lambda handler, body: reply(handler, 200, DEEP)
    with session() as s, pytest.raises(UnreadableResponse, match="nested"):
        s.json(method, a_server.url + "/deep")


def test_an_error_body_nested_100000_deep_is_still_a_sentence(a_server):
    a_server.script = lambda handler, body: reply(handler, 400, DEEP)
    with session() as s, pytest.raises(RequestRejected, match="rejected the request"):
        s.get(a_server.url + "/deep")


def dribble(handler, pieces, interval=0.05):
    """Writes the pieces one by one, ``interval`` apart (far below the read timeout: no single read ever times
    out); a client that hung up ends it."""
    try:
        for piece in pieces:
            handler.wfile.write(piece)
            handler.wfile.flush()
            time.sleep(interval)
    except OSError:
        pass


def assert_cut_at_one_second(url, **options):
    """A session with a 1 s total deadline gives up on ``url`` with a sentence, long before the answer ends."""
    s = session(timeout=(2.0, 1.0))
    s.deadline = 1.0
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match="within 1 s"):
        s.get(url, **options)
    assert time.monotonic() - started < 4
    s.close()


@pytest.mark.parametrize("head", [{"Content-Length": "200"}, {"Content-Length": "200", "Connection": "close"},
                                  {"Connection": "close"}], ids=["kept-alive", "closing", "closing-without-length"])
def test_a_dripping_answer_is_cut_at_the_total_deadline(a_server, head):
    """With "Connection: close" http.client hands the socket over to the answer: the deadline still reaches it."""
    def drip(handler, body):
        send_head(handler, 200, {"Content-Type": "application/json", **head})
        dribble(handler, [b" "] * 200)

    a_server.script = drip
    assert_cut_at_one_second(a_server.url + "/drip")


def test_headers_dripping_one_byte_at_a_time_are_cut_at_the_total_deadline(a_server):
    def drip(handler, body):
        dribble(handler, [bytes([byte]) for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200])

    a_server.script = drip
    assert_cut_at_one_second(a_server.url + "/drip-headers")


def test_a_dripping_answer_over_tls_is_cut_at_the_total_deadline(a_server, self_signed_certificate):
    cert, key = self_signed_certificate
    server = Recorder("127.0.0.1")
    wrap_tls(server, cert, key)

    def drip(handler, body):
        send_head(handler, 200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        dribble(handler, [b"1\r\n \r\n"] * 100)

    server.script = drip
    server.start()
    try:
        assert_cut_at_one_second(f"https://127.0.0.1:{server.server_address[1]}/drip", verify=str(cert))
    finally:
        server.stop()


def test_an_answer_larger_than_the_limit_is_refused_without_reading_it(a_server):
    def huge(handler, body):
        send_head(handler, 200, {"Content-Type": "application/json", "Content-Length": str(256 * 1024 * 1024)})
        handler.wfile.write(b'{"a": "')
        time.sleep(2)  # the rest never comes: reading it whole would wait for it

    a_server.script = huge
    started = time.monotonic()
    with session() as s, pytest.raises(UnreadableResponse, match="larger than"):
        s.get(a_server.url + "/huge")
    assert time.monotonic() - started < 1.5


def test_an_answer_without_length_is_cut_at_the_limit(a_server):
    def chunked(handler, body):
        send_head(handler, 200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        try:
            handler.wfile.write(b'1\r\n[\r\n')
            piece = b'"' + b"x" * 65534 + b'",'
            for _ in range(64):  # 4 MB
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            handler.wfile.write(b'2\r\n0]\r\n0\r\n\r\n')
        except OSError:
            pass

    a_server.script = chunked
    s = session()
    s.max_json_bytes = 1024 * 1024
    with pytest.raises(UnreadableResponse, match="larger than"):
        s.get(a_server.url + "/chunked")
    s.close()


def test_planet_stops_paging_after_empty_pages_with_fresh_links(a_server):
    provider = planet(a_server)
    a_server.script = lambda handler, body: reply(handler, 200, {
        "results": [], "next": f"{a_server.url}/v2/orders/?page={len(a_server.seen) + 1}"})
    try:  # stopping at once, or after a few empty pages with a sentence
        provider.orders()
    except UnreadableResponse as error:
        assert "empty pages" in str(error)
    assert len(a_server.seen) <= 6


def test_the_shared_page_trail_refuses_endless_empty_pages_and_foreign_links():
    trail = PageTrail("test connection", "orders")
    url = "https://api.example.com/v2/orders/"
    for page in range(1, 5):
        url = trail.follow(url, f"?page={page}", 0)
        assert url.endswith(f"?page={page}")
    with pytest.raises(UnreadableResponse, match="5 empty pages of orders in a row"):
        trail.follow(url, "?page=5", 0)
    assert trail.follow(url, "?page=1", 3) is None  # back to a page already read: the end
    with pytest.raises(CrossOriginRefused, match="another address"):
        trail.follow(url, "https://evil.example.com/v2/orders/?page=6", 3)
    for other in ("http://api.example.com/v2/", "https://api.example.com:8443/v2/", "//api.example.com.evil/"):
        with pytest.raises(CrossOriginRefused):
            follow_link(url, other, "test connection")
    assert follow_link(url, "https://API.example.com:443/v2/orders/?page=7", "c") == \
        "https://API.example.com:443/v2/orders/?page=7"


# ---------------------------------------------------------------------------------------------
# 3. One redaction list
# ---------------------------------------------------------------------------------------------

SIGNED_URLS = [
    "https://storage.googleapis.com/b/o.tif?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p.iam"
    "&X-Goog-Date=20260101T000000Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature=abc123SECRET",
    "https://storage.googleapis.com/b/o.tif?GoogleAccessId=sa@p.iam&Expires=1&Signature=abc123SECRET",
    "https://s3.amazonaws.com/b/o.tif?X-Amz-Credential=AKIASECRET&X-Amz-Security-Token=abc123SECRET"
    "&X-Amz-Signature=abc123SECRET",
    "https://acct.blob.core.windows.net/c/o.tif?sv=2022-11-02&se=2026-01-01&sr=b&sp=r&sig=abc123SECRET",
    "https://cdn.example.com/o.tif?jwt=abc123SECRET",
    "https://cdn.example.com/o.tif?access-token=abc123SECRET",
    "https://cdn.example.com/o.tif?access_token=abc123SECRET&token=abc123SECRET&api_key=abc123SECRET",
]


@pytest.mark.parametrize("url", SIGNED_URLS)
def test_signing_parameters_are_redacted(url):
    safe = redact_url(url)
    assert "SECRET" not in safe and "sa%40p.iam" not in safe and "sa@p.iam" not in safe, safe
    assert urlsplit(safe).path == urlsplit(url).path


@pytest.mark.parametrize("url_tail", [u.split("?", 1)[1] for u in SIGNED_URLS])
def test_signing_parameters_stay_out_of_error_sentences_and_retry_lines(a_server, url_tail, caplog):
    a_server.script = lambda handler, body: reply(handler, 503, {"detail": "busy"})
    caplog.set_level(logging.DEBUG)
    with session() as s, pytest.raises(ProviderError) as caught:
        s.get(f"{a_server.url}/o.tif?{url_tail}")
    assert "SECRET" not in str(caught.value)
    assert any("retry" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    # The plugin's own records (urllib3 logs whole URLs at DEBUG under its own name, which the plugin's one
    # handler does not forward).
    ours = [r for r in caplog.records if r.name.startswith("satellite_tasking")]
    assert not [r.getMessage() for r in ours if "SECRET" in r.getMessage()]


# ---------------------------------------------------------------------------------------------
# 4. Downloads
# ---------------------------------------------------------------------------------------------

class Plain(TaskingProvider):
    api_name = "test"


def downloader(read_timeout=2.0):
    connection = Connection(id="d-1", name="test connection", kind="stapi", base_url="http://127.0.0.1")
    return Plain(connection, None, session(timeout=(2.0, read_timeout)))


def asset(server, title="scene", path="/file"):
    return Asset(id="a", order_id="o", title=title, url=server.url + path, media_type="image/tiff")


def test_two_assets_with_the_same_title_get_two_files(a_server, tmp_path):
    a_server.script = lambda handler, body: reply(handler, 200, handler.path.encode(), content_type="image/tiff")
    provider = downloader()
    first = provider.download(asset(a_server, path="/one"), tmp_path)
    second = provider.download(asset(a_server, path="/two"), tmp_path)
    assert first != second
    assert first.read_bytes() == b"/one" and second.read_bytes() == b"/two"


@pytest.mark.parametrize("title", ["CON", "nul", "com1", "LPT9", "aux.tif", "con .txt", "name. . ", "a<b>c:d|e?*"])
def test_windows_unsafe_names_are_made_safe(title):
    name = safe_file_name(title, "image/tiff")
    stem = name.split(".")[0].strip().upper()
    assert stem not in {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(10)} | {f"LPT{i}" for i in range(10)}
    assert not name.endswith((".", " ")) and not set('<>:"/\\|?*') & set(name)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
def test_a_planted_part_symlink_is_never_followed(a_server, tmp_path):
    a_server.script = lambda handler, body: reply(handler, 200, b"IMAGERY", content_type="image/tiff")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "downloads"
    folder.mkdir()
    os.symlink(victim, folder / "scene.tif.part")
    path = downloader().download(asset(a_server), folder)
    assert victim.read_text() == "precious"
    assert path.read_bytes() == b"IMAGERY" and not path.is_symlink()


def _first_hundred_bytes(handler, **headers):
    """An image answer that sends 100 bytes of the 1,000 (or of the first chunk) it announces."""
    send_head(handler, 200, {"Content-Type": "image/tiff", **headers})
    handler.wfile.write((b"1000\r\n" if "Transfer-Encoding" in headers else b"") + b"x" * 100)
    handler.wfile.flush()


def _hang_up(handler):
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


def _broken_chunked(handler, body):
    _first_hundred_bytes(handler, **{"Transfer-Encoding": "chunked"})
    _hang_up(handler)


def _stalled(handler, body):
    _first_hundred_bytes(handler, **{"Content-Length": "1000"})
    time.sleep(1.5)


def _short(handler, body):
    _first_hundred_bytes(handler, **{"Content-Length": "1000"})
    _hang_up(handler)


@pytest.mark.parametrize("script", [_broken_chunked, _stalled, _short], ids=["chunked-cut", "stalled", "short"])
def test_an_interrupted_download_is_a_sentence_and_leaves_no_file(a_server, tmp_path, script):
    a_server.script = script
    with pytest.raises(ProviderError, match="scene") as caught:
        downloader(read_timeout=0.5).download(asset(a_server), tmp_path)
    assert not isinstance(caught.value, requests.RequestException)
    assert list(tmp_path.iterdir()) == []


# -- an order-creating POST answered with JSON nested 100,000 deep: the orders it created are not lost ------

class DeepOnCreate(Recorder):
    """Forwards every request to the sandbox (keeping the Host header, so its links point here) and answers
    each order-creating POST — after the sandbox created the order — with JSON nested 100,000 deep."""

    def __init__(self, sandbox_url, create_path):
        super().__init__("127.0.0.1")
        self.script = self._forward
        self.sandbox_url = sandbox_url
        self.create_path = create_path

    def _forward(self, handler, body):
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("content-length", "connection")}
        answer = requests.request(handler.command, self.sandbox_url + handler.path, headers=headers, data=body,
                                  timeout=30, allow_redirects=False)
        if handler.command == "POST" and urlsplit(handler.path).path == self.create_path and answer.ok:
            return reply(handler, answer.status_code, DEEP)
        reply(handler, answer.status_code, answer.content,
              content_type=answer.headers.get("Content-Type", "application/json"))


def test_planet_parallel_placement_answered_too_deep_keeps_every_order_it_created():
    from satellite_tasking.plugin.model import Aoi, OrderDraft
    from satellite_tasking.plugin.sandbox import SandboxServer

    quiet = {"planet_max_active_orders": 50, "planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
             "planet_reassessment_rate": 0.0}
    sandbox = SandboxServer(port=0, seed=11, speed=0, settings=quiet).start()
    proxy = DeepOnCreate(sandbox.base_url, "/tasking/v2/orders/")
    proxy.start()
    try:
        now = requests.get(f"{sandbox.base_url}/_sandbox/clock", timeout=5).json()["now"]
        start = datetime.fromisoformat(now.replace("Z", "+00:00")).replace(microsecond=0) + timedelta(hours=1)
        square = [[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]
        draft = OrderDraft(
            connection_id="planet-1", product_id="area", name="Dam",
            params={"start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end_time": (start + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            aois=[Aoi(geometry={"type": "Polygon", "coordinates": [[[x + 0.3 * i, y] for x, y in square]]})
                  for i in range(3)],
            client_reference="qgis-deep00000001")
        connection = Connection(id="planet-1", name="test Planet", kind="planet",
                                base_url=proxy.url + "/tasking/v2")
        provider = PlanetProvider(connection, SimpleNamespace(username="sandbox-key", password=""),
                                  build_session("test Planet", AGENT, proxy=reading_proxy(), sleep=lambda s: None))
        outcomes = provider.place(draft)  # not a RecursionError out of the thread pool
        assert all(o.placed for o in outcomes), [o.error for o in outcomes]
        posts = [s for s in proxy.seen if s[0] == "POST" and urlsplit(s[1]).path == "/tasking/v2/orders/"]
        assert len(posts) == 3  # each read back, none placed twice
        assert len({o.order.id for o in outcomes}) == 3
    finally:
        proxy.stop()
        sandbox.stop()


def test_the_depth_check_refuses_unpaired_brackets_without_recursing():
    with pytest.raises(ValueError):
        decode_json(b"[" * 100_000)
    with pytest.raises(ValueError):
        decode_json(b"[" * 200 + b"}" * 200)


def test_up42_order_answered_too_deep_is_read_back_not_lost():
    from satellite_tasking.plugin.model import Aoi, OrderDraft
    from satellite_tasking.plugin.sandbox import SandboxServer

    sandbox = SandboxServer(port=0, seed=11, speed=0, settings={"up42_failure_rate": 0.0}).start()
    proxy = DeepOnCreate(sandbox.base_url, "/v2/orders")
    proxy.start()
    try:
        connection = Connection(id="up42-test", name="test UP42", kind="up42", base_url=proxy.url)
        provider = Up42Provider(connection, SimpleNamespace(username="pilot@example.com", password="secret"),
                                build_session("test UP42", AGENT, proxy=reading_proxy(), sleep=lambda s: None))
        params = {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-01-20T00:00:00Z",
                  "maxCloudCover": 20, "priority": "STANDARD"}
        draft = OrderDraft(connection_id="up42-test", product_id="c0d3f8b2-7e5a-4d9c-9b43-2a8e4f6d9c33",
                           name="Test order", params=params, client_reference="qgis-deep-1", tags=("qgis",),
                           aois=[Aoi(geometry={"type": "Point", "coordinates": [13.4, 52.5]})])
        [outcome] = provider.place(draft)
        assert outcome.placed, outcome.error
        posts = [s for s in proxy.seen if s[0] == "POST" and urlsplit(s[1]).path == "/v2/orders"]
        assert len(posts) == 1
    finally:
        proxy.stop()
        sandbox.stop()


def test_the_deadline_thread_ends_when_no_request_is_running(a_server):
    a_server.script = lambda handler, body: reply(handler, 200, {"ok": True})
    with session() as s:
        for _ in range(20):
            s.get(a_server.url + "/ok")
    give_up = time.monotonic() + 10
    while any(t.name == "tasking-deadlines" for t in threading.enumerate()) and time.monotonic() < give_up:
        time.sleep(0.1)
    assert not any(t.name == "tasking-deadlines" for t in threading.enumerate())


def test_requests_one_after_another_do_not_wake_the_deadline_thread(a_server, monkeypatch):
    """The deadline thread sleeps until the earliest deadline: a request starting with a later deadline, or ending,
    does not wake it (on a sync's thousands of requests, each wake-up made the sync's threads hand Python's lock
    around for nothing)."""
    from satellite_tasking.plugin import http as http_module

    a_server.script = lambda handler, body: reply(handler, 200, {"ok": True})
    watcher = http_module._DEADLINES
    wakeups = []
    real_notify = watcher._condition.notify
    monkeypatch.setattr(watcher._condition, "notify", lambda *a: (wakeups.append(1), real_notify(*a)))
    with session() as s:
        for _ in range(50):
            s.get(a_server.url + "/ok")
    assert len(wakeups) <= 2, f"{len(wakeups)} wake-ups for 50 requests"
