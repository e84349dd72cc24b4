"""Small HTTP servers on 127.0.0.x for tests: another origin that records what reaches it, a proxy, a script.

Importable as ``loopback_http`` (tests/conftest.py registers it by name). Standard library only.

- ``QuietHandler``: a ``BaseHTTPRequestHandler`` speaking HTTP/1.1 that logs nothing; ``read_body(limit)``.
- ``send_head(handler, status, headers)``: the status line and headers only; the test writes the body as it likes
  (slowly, chunked, never whole).
- ``reply(handler, status, body=b"", headers=None, content_type="application/json")``: one whole answer (a dict
  or list body is sent as JSON; none for HEAD).
- ``wrap_tls(server, cert, key)``: the server answers HTTPS with that certificate (before it starts serving).
- ``RecordingServer(host, script=None, lower_headers=False, body_limit=None)``: records every request as
  (method, path, headers, body) in ``seen`` (under ``lock``) and answers through ``script(handler, body)``
  (default: 404 ``{"detail": "Not here"}``); ``start()`` serves in a daemon thread, ``stop()`` ends it.
"""
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def read_body(self, limit: Optional[int] = None) -> bytes:
        """The body the request's Content-Length announces (at most ``limit`` bytes of it)."""
        length = int(self.headers.get("Content-Length") or 0)
        if limit is not None:
            length = min(length, limit)
        return self.rfile.read(length) if length else b""


def send_head(handler: BaseHTTPRequestHandler, status: int, headers: Dict[str, str]) -> None:
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.end_headers()


def reply(handler: BaseHTTPRequestHandler, status: int, body: Any = b"", headers: Optional[dict] = None,
          content_type: str = "application/json") -> None:
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def wrap_tls(server: ThreadingHTTPServer, cert: Any, key: Any) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)


def not_here(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    reply(handler, 404, {"detail": "Not here"})


class _Recording(QuietHandler):
    def _handle(self) -> None:
        server: RecordingServer = self.server  # type: ignore[assignment]
        body = self.read_body(server.body_limit)
        headers = {(k.lower() if server.lower_headers else k): v for k, v in self.headers.items()}
        with server.lock:
            server.seen.append((self.command, self.path, headers, body))
        server.script(self, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", script: Optional[Callable[[Any, bytes], None]] = None,
                 lower_headers: bool = False, body_limit: Optional[int] = None):
        super().__init__((host, 0), _Recording)
        self.seen: List[Tuple[str, str, Dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.script = script or not_here
        self.lower_headers = lower_headers
        self.body_limit = body_limit
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (deadlines, refusals) are part of what these servers see

    def start(self) -> "RecordingServer":
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(5)
