"""A download has a total deadline that grows with its size (``TaskingSession.download_to``).

A read timeout bounds one read only: a server sending a byte now and then held a download — and the task doing
it — for as long as it liked (issue 15). Now the body may take the session's deadline plus its announced size
(or, without one, what arrived) at ``DOWNLOAD_FLOOR_BYTES_PER_SECOND``; past that it ends with a sentence.
"""
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from satellite_tasking.plugin.http import ProviderTimeout, TaskingSession
from satellite_tasking.plugin.sandbox import SandboxServer

ORDERS = "/tasking/v2/orders/"
KEY = {"Authorization": "api-key sandbox-api-key"}


def session(**options) -> TaskingSession:
    options = {"timeout": (2.0, 2.0), "max_retries": 0, "sleep": lambda s: None, **options}
    plugin_session = TaskingSession("Download test", "SatelliteTasking/test", **options)
    plugin_session.headers.update(KEY)
    return plugin_session


@pytest.fixture(scope="module")
def sandbox():
    server = SandboxServer(port=0, seed=7, speed=0).start()
    requests.post(server.base_url + "/_sandbox/planet/seed_orders", json={"count": 3, "captures_per_order": 1},
                  timeout=10).raise_for_status()
    yield server
    server.stop()


def test_a_dripping_download_is_stopped_at_its_deadline_with_a_sentence(sandbox):
    requests.post(sandbox.base_url + "/_sandbox/faults",
                  json={"prefix": ORDERS, "kind": "drip", "interval": 0.02, "seconds": 8, "count": 1},
                  timeout=10).raise_for_status()
    target = io.BytesIO()
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        session(deadline=1.0).download_to(sandbox.base_url + ORDERS, target, what="scene.tif")
    assert time.monotonic() - started < 3.0
    message = caught.value.user_message
    assert "the download of scene.tif from Download test was stopped after" in message
    assert "slower than 32 KB/s" in message and "try again later" in message
    # At most what had dripped in by then (urllib3 2, on QGIS 3.40+, hands over none of a chunk it has not filled).
    assert len(target.getvalue()) < 2000


class _Steady(BaseHTTPRequestHandler):
    """Sends ``server.size`` bytes in 8 KB pieces ``server.pause`` apart (chunked when ``server.chunked``)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        size, pause, chunked = self.server.size, self.server.pause, self.server.chunked
        self.send_response(200)
        self.send_header("Content-Type", "image/tiff")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        try:
            while sent < size:
                piece = b"x" * min(8192, size - sent)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                self.wfile.flush()
                sent += len(piece)
                time.sleep(pause)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass


@pytest.fixture
def steady():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Steady)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("chunked", [False, True], ids=["announced", "chunked"])
def test_a_download_above_the_floor_speed_may_take_longer_than_the_session_deadline(steady, chunked):
    # 640 KB at about 160 KB/s: 4 s, four times the session's deadline, well above the floor speed.
    steady.size, steady.pause, steady.chunked = 640 * 1024, 0.05, chunked
    target = io.BytesIO()
    started = time.monotonic()
    done = session(deadline=1.0).download_to(f"http://127.0.0.1:{steady.server_address[1]}/scene.tif", target,
                                             what="scene.tif")
    assert time.monotonic() - started > 1.5
    assert done == len(target.getvalue()) == 640 * 1024
