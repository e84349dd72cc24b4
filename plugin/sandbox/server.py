"""The sandbox HTTP server: stdlib ThreadingHTTPServer on loopback, dialect routing, test control endpoints,
fault injection and the optional state file.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

from .core import DEFAULT_START, Clock, HttpError, Request, Response, World, dumps, iso, json_response, problem

logger = logging.getLogger(__name__)

DEFAULT_DIALECTS = ("up42", "planet", "stapi")
_DIALECT_CLASSES = {"up42": "UP42Dialect", "planet": "PlanetDialect", "stapi": "StapiDialect"}
FAULT_KINDS = ("status", "delay", "drop_before", "drop_after", "malformed", "truncate",
               "redirect", "deep", "huge", "drip", "poison")
# Hostile kinds: what an attacker's server or a broken proxy might answer (see SandboxServer.add_faults).
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
DEFAULT_DEEP_LEVELS = 100_000
MAX_DEEP_LEVELS = 10_000_000
DEFAULT_HUGE_BYTES = 80 * 1024 * 1024  # more than the plugin reads at once (64 MB)
HUGE_CHUNK = b" " * (1 << 16)
DEFAULT_HOSTILE_SECONDS = {"huge": 60.0, "drip": 10.0}
DEFAULT_DRIP_INTERVAL = 0.05
# The keys under which the dialects list their records (Planet, UP42, STAPI), looked for in this order.
LISTING_KEYS = ("orders", "captures", "content", "data", "features", "items", "results")
# Internal header (never sent) that tells the handler to cut the body short.
TRUNCATE_MARKER = "x-sandbox-truncate"
REQUEST_LOG_LIMIT = 200_000
SAVE_DEBOUNCE_SECONDS = 0.2


def check_loopback(host: str) -> str:
    """Return the IPv4 loopback address to bind, or raise ValueError for anything else."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"host {host!r} is not a loopback IPv4 address") from exc
    if address.version != 4 or not address.is_loopback:
        raise ValueError(f"host {host!r} is not a loopback IPv4 address; the sandbox binds to 127.0.0.1 only")
    return str(address)


def load_dialect_classes(names) -> list:
    classes = []
    for name in names:
        if not isinstance(name, str):
            classes.append(name)
            continue
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{name}":
                logger.warning("Sandbox dialect %s is not available", name)
                continue
            raise
        classes.append(getattr(module, _DIALECT_CLASSES[name]))
    return classes


class FaultRule:
    """One fault-injection rule; see SandboxServer.add_faults for the fields."""

    def __init__(self, rule_id: int, spec: dict):
        self.id = rule_id
        self.spec = dict(spec)
        kind = spec.get("kind", "status")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        self.kind = kind
        self.path_regex = re.compile(spec["path"]) if spec.get("path") else None
        self.prefix = spec.get("prefix")
        methods = spec.get("method")
        if isinstance(methods, str):
            methods = [methods]
        self.methods = {m.upper() for m in methods} if methods else None
        self.probability = float(spec.get("probability", 1.0))
        self.count = spec.get("count")  # None: unlimited
        self.after = int(spec.get("after", 0))  # let this many matching requests through first
        self.status = int(spec.get("status", 503 if kind == "status" else 200))
        self.retry_after = spec.get("retry_after")
        self.seconds = float(spec.get("seconds", DEFAULT_HOSTILE_SECONDS.get(kind, 30.0)))
        self.matched = 0
        self.fired = 0
        self.applied = 0  # poison: answers that held a record to poison (the others went out as they were)
        if kind == "redirect":
            self._check_redirect(spec)
        elif kind == "deep":
            self.levels = int(spec.get("levels", DEFAULT_DEEP_LEVELS))
            if not 1 <= self.levels <= MAX_DEEP_LEVELS:
                raise ValueError(f"a deep fault's levels must be 1 to {MAX_DEEP_LEVELS}")
        elif kind == "huge":
            self.size = int(spec.get("bytes", DEFAULT_HUGE_BYTES))
            self.announce = bool(spec.get("announce", True))
            if self.size <= 0:
                raise ValueError("a huge fault's bytes must be positive")
        elif kind == "drip":
            self.interval = float(spec.get("interval", DEFAULT_DRIP_INTERVAL))
            if self.interval < 0:
                raise ValueError("a drip fault's interval must not be negative")
        elif kind == "poison":
            if not spec.get("field"):
                raise ValueError("a poison fault names the field to poison ('field', dotted for nested ones)")
            self.field = str(spec["field"]).split(".")
            self.value = spec.get("value", "30")
            ids = spec.get("id")
            # One rule fires per request, so several records poisoned together are named by one rule.
            self.record_ids = None if ids is None else {str(i) for i in (ids if isinstance(ids, list) else [ids])}
            self.index = int(spec.get("index", 0))
        if kind in ("huge", "drip") and not 0 < self.seconds <= 3600:
            raise ValueError(f"a {kind} fault's seconds must be more than 0 and at most 3600")

    def _check_redirect(self, spec: dict) -> None:
        self.status = int(spec.get("status", 302))
        if self.status not in REDIRECT_STATUSES:
            raise ValueError(f"a redirect's status is one of {REDIRECT_STATUSES}")
        location = urlsplit(str(spec.get("location") or ""))
        if location.scheme != "http" or not location.hostname:
            raise ValueError("a redirect fault needs a location: http://127.0.0.x:port of another server")
        # The other origin is a loopback server too: nothing the sandbox says sends a client off this machine.
        check_loopback(location.hostname)
        self.location = f"http://{location.netloc}{location.path.rstrip('/')}"

    def matches(self, method: str, path: str) -> bool:
        if self.methods and method not in self.methods:
            return False
        if self.prefix is not None and not path.startswith(self.prefix):
            return False
        if self.path_regex is not None and not self.path_regex.search(path):
            return False
        return True

    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= int(self.count)

    def describe(self) -> dict:
        described = {**self.spec, "id": self.id, "kind": self.kind, "matched": self.matched, "fired": self.fired}
        if self.kind == "poison":
            described["applied"] = self.applied
        return described

    def poisoned(self, body: bytes) -> Optional[bytes]:
        """The JSON answer with one listed record's field given the rule's (wrong-typed) value, or None when
        the answer lists no such record."""
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        records = _listed_records(data)
        if self.record_ids is not None:
            chosen = [r for r in records if str(r.get("id")) in self.record_ids]
        else:
            chosen = records[self.index:self.index + 1] if -len(records) <= self.index < len(records) else []
        done = False
        for record in chosen:
            target = record
            for key in self.field[:-1]:
                target = target.get(key) if isinstance(target, dict) else None
            if isinstance(target, dict):
                target[self.field[-1]] = self.value
                done = True
        return dumps(data) if done else None


def _listed_records(data) -> list:
    """The records of a listing: the first list of objects under one of LISTING_KEYS, at the top or one level
    down (UP42 wraps its pages in ``data``)."""
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    if not isinstance(data, dict):
        return []
    for holder in [data] + [data[key] for key in LISTING_KEYS if isinstance(data.get(key), dict)]:
        for key in LISTING_KEYS:
            value = holder.get(key)
            if isinstance(value, list):
                return [item for item in value if isinstance(item, dict)]
    return []


class _StreamedResponse(Response):
    """An answer written by ``stream(handler)`` instead of from a body built in memory (huge, drip)."""

    def __init__(self, status: int, headers: dict, stream):
        super().__init__(status, b"", headers)
        self.stream = stream


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SatelliteTaskingSandbox/1"
    timeout = 60  # idle keep-alive connections end on their own

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and
        # delayed ACKs hold every answer on a reused connection back by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.sandbox._track(self.connection, add=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.sandbox._track(self.connection, add=False)

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        logger.debug("%s - %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, response: Response, head_only: bool = False) -> None:
        if isinstance(response, _StreamedResponse):
            self._send_streamed(response, head_only)
            return
        self.send_response(response.status)
        headers = {k.lower(): (k, v) for k, v in response.headers.items()}
        truncate = headers.pop(TRUNCATE_MARKER, None) is not None
        for key, value in headers.values():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not head_only and response.body:
            if truncate:
                # The "truncate" fault: announce the whole body, send half, hang up.
                self.wfile.write(response.body[: len(response.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self.wfile.write(response.body)

    def _send_streamed(self, response: _StreamedResponse, head_only: bool) -> None:
        """Headers as given (Content-Length or chunked), then the body from ``response.stream``; the
        connection is closed afterwards: a client may have stopped reading part-way."""
        self.close_connection = True
        self.send_response(response.status)
        for key, value in response.headers.items():
            if key.lower() != "connection":
                self.send_header(key, str(value))
        self.send_header("Connection", "close")
        self.end_headers()
        if head_only:
            return
        try:
            response.stream(self.wfile)
            self.wfile.flush()
        except OSError:  # the client hung up (refused the size, met its deadline): what the fault is for
            logger.debug("Sandbox client hung up during a streamed fault answer")
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self):
        sandbox: SandboxServer = self.server.sandbox
        body = self._read_body()
        outcome = sandbox.process(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        if outcome is None:  # fault: drop the connection without answering
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(outcome, head_only=self.command == "HEAD")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that hung up (fault tests drop and time out on purpose) is not an error worth a
        # traceback on stderr.
        logger.debug("Sandbox connection from %s ended abruptly", client_address[0], exc_info=True)


class SandboxServer:
    """In-process or standalone sandbox.

    ``SandboxServer(port=0, seed=1, speed=1.0, start=None, state_file=None)``; ``start()`` binds and serves in
    a thread, ``stop()`` joins it and closes every socket. ``base_url`` is ``http://127.0.0.1:<port>``.
    ``dialects``: iterable of names ("up42", "planet") or dialect classes; default both.
    """

    def __init__(
        self,
        port: int = 0,
        seed: int = 1,
        speed: float = 1.0,
        start: Optional[datetime] = None,
        state_file: Optional[str] = None,
        host: str = "127.0.0.1",
        dialects=None,
        settings: Optional[dict] = None,
    ):
        self.host = check_loopback(host)
        self.requested_port = int(port)
        self.state_file = os.fspath(state_file) if state_file else None
        self.speed = float(speed)
        clock = Clock(start or DEFAULT_START, self.speed)
        saved = self._read_state_file()
        if saved:
            clock = Clock.from_state(saved["world"]["clock"], self.speed)
            seed = saved["world"].get("seed", seed)
        self.world = World(clock, seed, settings)
        self.dialects: Dict[str, object] = {}
        for cls in load_dialect_classes(dialects if dialects is not None else DEFAULT_DIALECTS):
            dialect = cls(self.world)
            self.dialects[dialect.name] = dialect
        self._routes = sorted(self.dialects.values(), key=lambda d: len(d.prefix), reverse=True)
        if saved:
            self.world.load_state(saved["world"])
            for name, dialect_state in saved.get("dialects", {}).items():
                if name in self.dialects:
                    self.dialects[name].load_state(dialect_state)
        self._faults: List[FaultRule] = []
        self._fault_ids = 0
        self._fault_lock = threading.Lock()
        self._log: List[dict] = []
        self._log_lock = threading.Lock()
        self._connections: Dict[object, threading.Thread] = {}
        self._conn_lock = threading.Lock()
        self._stopping = threading.Event()
        self._dirty = threading.Event()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._saver: Optional[threading.Thread] = None

    # ---- life ------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("sandbox not started")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    url = base_url

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.requested_port), _Handler)
        self._httpd.sandbox = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        if self.state_file:
            self._saver = threading.Thread(target=self._save_loop, name="sandbox-state", daemon=True)
            self._saver.start()
        logger.info("Sandbox listening on %s (dialects: %s)", self.base_url, ", ".join(self.dialects))
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._conn_lock:
            connections = list(self._connections.items())
        for conn, _thread in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=10)
        for _conn, thread in connections:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        if self._saver is not None:
            self._dirty.set()
            self._saver.join(timeout=10)
            self._saver = None
        if self.state_file:
            self.save_state()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def _track(self, conn, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections[conn] = threading.current_thread()
            else:
                self._connections.pop(conn, None)

    # ---- state file ------------------------------------------------------------------------------
    def _read_state_file(self) -> Optional[dict]:
        if not self.state_file or not os.path.exists(self.state_file):
            return None
        with open(self.state_file, encoding="utf-8") as fh:
            return json.load(fh)

    def snapshot(self) -> dict:
        with self.world.lock:
            return {
                "version": 1,
                "world": self.world.to_state(),
                "dialects": {name: d.to_state() for name, d in self.dialects.items()},
            }

    def save_state(self) -> None:
        if not self.state_file:
            return
        data = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":")).encode("utf-8")
        folder = os.path.dirname(os.path.abspath(self.state_file))
        fd, tmp = tempfile.mkstemp(prefix=".sandbox-state-", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.state_file)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _save_loop(self) -> None:
        while True:
            self._dirty.wait()
            if self._stopping.is_set():
                return
            self._stopping.wait(SAVE_DEBOUNCE_SECONDS)
            self._dirty.clear()
            try:
                self.save_state()
            except OSError:
                logger.exception("Could not write the sandbox state file")

    def _mark_dirty(self) -> None:
        if self.state_file:
            self._dirty.set()

    # ---- faults ----------------------------------------------------------------------------------
    def add_faults(self, specs) -> List[dict]:
        """Add fault rules. Fields of a rule:

        - ``path`` (regex searched in the path) and/or ``prefix``; ``method`` (str or list); all optional.
        - ``kind``: ``status`` (answer ``status`` 500/502/503/429 with a problem body; ``retry_after`` seconds
          adds a Retry-After header), ``delay`` (wait ``seconds`` then handle normally), ``drop_before``
          (close the connection without handling), ``drop_after`` (handle — e.g. create the orders — then
          close without answering), ``malformed`` (handle, then answer a truncated JSON body
          with the real status), ``truncate`` (handle, announce the full Content-Length, send half the
          body and hang up: an interrupted download).
        - Hostile kinds: ``redirect`` (answer ``status`` 301/302/303/307/308, default 302, without handling,
          to ``location`` — ``http://127.0.0.x:port`` of another loopback server — plus the request's path and
          query), ``deep`` (handle, then answer JSON arrays nested ``levels`` deep, default 100,000),
          ``huge`` (handle, then answer ``bytes`` of JSON, default 80 MB, streamed from one small chunk, with
          that Content-Length or, with ``announce`` false, chunked), ``drip`` (handle, then send the answer a
          byte at a time ``interval`` seconds apart, default 0.05), ``poison`` (handle, then give one listed
          record's ``field`` — dotted for a nested one, e.g. ``properties.status`` — the wrong-typed ``value``,
          default ``"30"``: the records whose ``id`` is given (one or a list), else the one at ``index``,
          default 0; an answer listing no such record goes out as it was; the rule's ``applied`` counts those
          poisoned).
          ``huge`` and ``drip`` stop after ``seconds`` (default 60 and 10) or when the client hangs up.
        - ``count``: fire at most this many times (default unlimited); ``after``: let the first N matching
          requests through; ``probability``: chance of firing per matching request, drawn from the seed.
        """
        if isinstance(specs, dict):
            specs = specs.get("rules", [specs]) if "rules" in specs else [specs]
        added = []
        with self._fault_lock:
            for spec in specs:
                self._fault_ids += 1
                rule = FaultRule(self._fault_ids, spec)
                self._faults.append(rule)
                added.append(rule.describe())
        return added

    def clear_faults(self) -> None:
        with self._fault_lock:
            self._faults = []

    def faults(self) -> List[dict]:
        with self._fault_lock:
            return [rule.describe() for rule in self._faults]

    def _pick_fault(self, method: str, path: str) -> Optional[FaultRule]:
        with self._fault_lock:
            for rule in self._faults:
                if rule.exhausted() or not rule.matches(method, path):
                    continue
                rule.matched += 1
                if rule.matched <= rule.after:
                    continue
                if rule.probability < 1.0:
                    draw = self.world.random("fault", rule.id, rule.matched).random()
                    if draw >= rule.probability:
                        continue
                rule.fired += 1
                return rule
        return None

    # ---- request log -----------------------------------------------------------------------------
    def requests_log(self) -> List[dict]:
        with self._log_lock:
            return list(self._log)

    def clear_requests_log(self) -> None:
        with self._log_lock:
            self._log = []

    def _record(self, method, path, query, status, fault) -> None:
        entry = {"method": method, "path": path, "query": query, "status": status}
        if fault:
            entry["fault"] = fault
        with self._log_lock:
            if len(self._log) < REQUEST_LOG_LIMIT:
                self._log.append(entry)

    # ---- request processing ----------------------------------------------------------------------
    def process(self, method: str, raw_path: str, headers: dict, body: bytes) -> Optional[Response]:
        """Answer one request; None means: drop the connection without answering."""
        split = urlsplit(raw_path)
        path = split.path or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            try:
                return self._control(method, path, query, body)
            except HttpError as err:
                return json_response(err.status, err.body, err.headers)
            except (ValueError, KeyError, TypeError) as exc:
                return json_response(400, problem(400, detail=str(exc), instance=path))
        rule = self._pick_fault(method, path)
        if rule is not None and rule.kind == "drop_before":
            self._record(method, path, query, None, "drop_before")
            return None
        if rule is not None and rule.kind == "delay":
            if self._stopping.wait(rule.seconds):
                self._record(method, path, query, None, "delay")
                return None
        if rule is not None and rule.kind == "redirect":
            # Not handled here: the client is sent to the other origin with the same path and query.
            self._record(method, path, query, rule.status, "redirect")
            return Response(rule.status, b"", {"Location": rule.location + raw_path, "Content-Type": "text/plain"})
        if rule is not None and rule.kind == "status":
            headers_out = {}
            if rule.retry_after is not None:
                headers_out["Retry-After"] = str(rule.retry_after)
            self._record(method, path, query, rule.status, "status")
            return json_response(
                rule.status, problem(rule.status, detail="Injected fault", instance=path), headers_out
            )
        response = self._handle(method, path, query, headers, body)
        fault = rule.kind if rule is not None else None
        if fault == "drop_after":
            self._record(method, path, query, response.status, fault)
            return None
        if fault == "truncate":
            response = Response(response.status, response.body, {**response.headers, TRUNCATE_MARKER: "1"})
        if fault == "malformed":
            response = Response(
                response.status,
                response.body[: max(1, len(response.body) // 2)] or b"{",
                {"Content-Type": "application/json"},
            )
        if fault == "huge":
            # Handled for real too; the answer is larger than any client should read.
            self._record(method, path, query, response.status, fault)
            return self._huge_answer(rule, response.status)
        if fault == "deep":
            # Handled for real (an order may have been created), answered with JSON nested `levels` deep.
            response = Response(response.status, b"[" * rule.levels + b"]" * rule.levels,
                                {"Content-Type": "application/json"})
        if fault == "drip":
            response = self._drip_answer(rule, response)
        if fault == "poison":
            poisoned = rule.poisoned(response.body) if 200 <= response.status < 300 else None
            if poisoned is None:
                fault = None  # nothing listed to poison: the answer goes out as it was
            else:
                with self._fault_lock:
                    rule.applied += 1
                response = Response(response.status, poisoned, response.headers)
        self._record(method, path, query, response.status, fault)
        return response

    def _huge_answer(self, rule: FaultRule, status: int) -> Response:
        """``rule.size`` bytes of a JSON object that never closes, announced by Content-Length (or chunked),
        streamed from one small chunk: nothing that size is ever built. Ends when all is sent, the client
        hangs up, the sandbox stops or ``rule.seconds`` pass."""
        size, seconds, stopping = rule.size, rule.seconds, self._stopping
        head = b'{"orders": [], "padding": "'

        def stream(out) -> None:
            ends_at = time.monotonic() + seconds

            def send(piece: bytes) -> None:
                out.write(piece if rule.announce else b"%x\r\n%s\r\n" % (len(piece), piece))

            first = head[:size]
            send(first)
            left = size - len(first)
            # Bounded: at most size / len(HUGE_CHUNK) writes, and no longer than `seconds`.
            while left > 0 and not stopping.is_set() and time.monotonic() < ends_at:
                piece = HUGE_CHUNK[:left]
                send(piece)
                left -= len(piece)
            if not rule.announce and left <= 0:
                out.write(b"0\r\n\r\n")

        headers = {"Content-Type": "application/json"}
        if rule.announce:
            headers["Content-Length"] = str(size)
        else:
            headers["Transfer-Encoding"] = "chunked"
        return _StreamedResponse(status, headers, stream)

    def _drip_answer(self, rule: FaultRule, response: Response) -> Response:
        """The real answer (its whole length announced) a byte at a time, ``rule.interval`` apart; after
        ``rule.seconds`` the rest is not sent and the connection is closed."""
        body, interval, seconds, stopping = response.body, rule.interval, rule.seconds, self._stopping

        def stream(out) -> None:
            ends_at = time.monotonic() + seconds
            for index in range(len(body)):
                if time.monotonic() >= ends_at:
                    return
                out.write(body[index:index + 1])
                out.flush()
                if stopping.wait(interval):
                    return

        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        headers["Content-Length"] = str(len(body))
        return _StreamedResponse(response.status, headers, stream)

    def _base_url(self, headers: dict) -> str:
        return self.base_url if self._httpd is not None else f"http://{headers.get('host', self.host)}"

    def _next_event_at(self) -> Optional[datetime]:
        moments = [dialect.next_event_at() for dialect in self.dialects.values() if hasattr(dialect, "next_event_at")]
        moments = [moment for moment in moments if moment is not None]
        return min(moments) if moments else None

    def _tick(self) -> datetime:
        now = self.world.clock.now()
        for dialect in self.dialects.values():
            dialect.tick(now)
        return now

    def _handle(self, method, path, query, headers, body) -> Response:
        for dialect in self._routes:
            prefix = dialect.prefix
            if prefix and not (path == prefix or path.startswith(prefix + "/")):
                continue
            request = Request(
                method, path[len(prefix) :] or "/", query, headers, body, self._base_url(headers), prefix
            )
            with self.world.lock:
                try:
                    self._tick()
                    response = dialect.handle(request)
                except HttpError as err:
                    response = json_response(err.status, err.body, err.headers)
                except Exception:  # noqa: BLE001 - a sandbox bug must answer 500, not kill the connection
                    logger.exception("Sandbox dialect %s failed on %s %s", dialect.name, method, path)
                    response = json_response(
                        500, problem(500, detail="Sandbox internal error", instance=path)
                    )
            if method not in ("GET", "HEAD"):
                self._mark_dirty()
            return response
        return json_response(404, problem(404, detail=f"No route for {method} {path}", instance=path))

    def _control(self, method: str, path: str, query: dict, body: bytes) -> Response:
        payload = json.loads(body.decode("utf-8")) if body.strip() else {}
        parts = [p for p in path.split("/") if p][1:]
        topic = parts[0] if parts else ""
        if topic == "clock" and method in ("GET", "POST"):
            # {"advance_seconds": s} moves the clock on; {"speed": x} runs it at x simulated seconds per real
            # second (0 pauses); {"next_event": true} jumps to the next scheduled event of any order.
            with self.world.lock:
                if method == "POST":
                    if payload.get("speed") is not None:
                        self.world.clock.set_speed(float(payload["speed"]))
                    seconds = float(payload.get("advance_seconds", 0))
                    if payload.get("next_event"):
                        upcoming = self._next_event_at()
                        if upcoming is not None:
                            seconds += max((upcoming - self.world.clock.now()).total_seconds(), 0.0)
                    self.world.clock.advance(seconds)
                    self._tick()
                    self._mark_dirty()
                upcoming = self._next_event_at()
                return json_response(200, {"now": iso(self.world.clock.now()), "speed": self.world.clock.speed,
                                           "next_event": iso(upcoming) if upcoming is not None else None})
        if topic == "faults":
            if method == "POST":
                return json_response(200, {"rules": self.add_faults(payload)})
            if method == "DELETE":
                self.clear_faults()
                return json_response(200, {"rules": []})
            if method == "GET":
                return json_response(200, {"rules": self.faults()})
        if topic == "requests":
            if method == "DELETE":
                self.clear_requests_log()
                return json_response(200, {"requests": [], "count": 0})
            if method == "GET":
                entries = self.requests_log()
                return json_response(200, {"requests": entries, "count": len(entries)})
        if topic == "settings":
            with self.world.lock:
                if method == "POST":
                    self.world.settings.update(payload)
                    self._mark_dirty()
                return json_response(200, {"settings": self.world.settings})
        if topic == "health" and method == "GET":
            return json_response(
                200, {"ok": True, "dialects": sorted(self.dialects), "now": iso(self.world.clock.now())}
            )
        if topic == "state" and method == "POST" and len(parts) == 2 and parts[1] == "save":
            self.save_state()
            return json_response(200, {"saved": bool(self.state_file)})
        if topic in self.dialects and len(parts) == 2 and method == "POST":
            dialect = self.dialects[topic]
            if not hasattr(dialect, "control"):
                raise HttpError(
                    404, problem(404, detail=f"Dialect {topic} has no control hooks", instance=path)
                )
            with self.world.lock:
                self._tick()
                result = dialect.control(parts[1], payload)
            self._mark_dirty()
            return json_response(200, result)
        raise HttpError(404, problem(404, detail=f"Unknown sandbox control {method} {path}", instance=path))
