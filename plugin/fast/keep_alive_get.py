"""GET requests sent with the standard library's ``http.client`` over kept-alive connections: the fast path of a
provider session's reads (``TaskingSession`` in ``http.py``), which a sync makes thousands of.

The plain reference is the session's own way, ``requests`` over ``urllib3``. Both send the same request: the
session prepares it with ``requests`` (URL, headers, credentials) whichever way it goes, and this module only puts
it on the wire and reads the answer into a ``requests.Response`` (body read, decoded and size-limited; errors raised
as the ``requests`` exceptions the session already turns into sentences). On a first sync of 2,000 Planet orders the
layers of ``requests`` and ``urllib3`` took about 0.45 ms of Python per request, a third of the sync's time;
``tests/unit/test_keep_alive_get.py`` shows that both ways send and read the same.

The session takes this path only where nothing of ``requests`` is missed: a GET without a body, no proxy for the
address, TLS verified against ``requests``' own CA bundle, the session's own adapter, the answer read whole.
"""
from __future__ import annotations

import http.client
import io
import os
import select
import socket
import ssl
import threading
import time
from datetime import timedelta
from typing import Callable, Optional

import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, extract_zipped_paths, get_encoding_from_headers
from urllib3.util.ssl_ import create_urllib3_context

# Idle connections kept per address (the sync reads with two threads; more only wait for one).
MAX_IDLE_PER_ORIGIN = 4
# A connection kept from an earlier answer may have been closed by the server meanwhile (urllib3 looks before reusing
# one, and so does ``_take``): the request is sent again once on a new connection when a kept one failed before any
# answer came (a GET, so nothing is done twice).
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
          ssl.SSLEOFError, ssl.SSLZeroReturnError)


# Read a body this much at a time (a read of the whole limit at once would set that much memory aside first).
READ_BYTES = 1 << 16


class TooLarge(Exception):
    """The answer holds more than the limit (announced or decoded); the session names it (``AnswerTooLarge``)."""

    def __init__(self, status: Optional[int]):
        super().__init__(f"HTTP {status}: more than the limit")
        self.status = status


class KeepAliveGets:
    """GETs over connections kept per (scheme, host, port); safe to use from several threads (a connection serves
    one request at a time). ``close`` shuts every idle connection."""

    def __init__(self, ca_bundle: str = DEFAULT_CA_BUNDLE_PATH):
        self._ca_bundle = ca_bundle
        self._context: Optional[ssl.SSLContext] = None
        self._idle: dict = {}  # origin -> [HTTPConnection]
        self._lock = threading.Lock()
        self._closed = False

    def send(self, prepared: requests.PreparedRequest, origin: tuple, timeout, limit: int,
             attach: Callable[[object], None] = lambda connection: None) -> requests.Response:
        """The answer to ``prepared`` (a GET to ``origin``, its (scheme, host, port) as ``http.url_origin`` gives
        it), its body read and decoded (at most ``limit`` bytes, else ``TooLarge``; an encoded body is unpacked by
        urllib3's own decoders, as the plain way unpacks it). ``timeout``: seconds or (connect, read).
        ``attach(connection)`` is called with each connection used, before it is used, then with an object holding
        its socket as ``sock`` (the session's deadline watchdog shuts that socket when time is up; the caller looks
        whether it did). Raises ``requests`` exceptions: ``ConnectTimeout``, ``ReadTimeout``, ``SSLError``,
        ``ConnectionError``, ``ChunkedEncodingError``, ``ContentDecodingError``."""
        connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        started = time.monotonic()
        for attempt in range(2):
            connection, reused = self._take(origin, fresh=attempt > 0)
            attach(connection)
            try:
                if connection.sock is None:
                    connection.timeout = connect_timeout
                    try:
                        connection.connect()
                    except (socket.timeout, TimeoutError):
                        raise requests.exceptions.ConnectTimeout("the connection was not accepted in time") from None
                    # As urllib3: small requests leave at once (no waiting for more data to fill a packet).
                    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # The socket itself from here on: an answer saying "Connection: close" takes it over from the
                # connection, which then forgets it, while its body is still being read.
                attach(_Holding(connection.sock))
                connection.sock.settimeout(read_timeout)
                try:
                    _put_request(connection, prepared)
                    answer = connection.getresponse()
                except _STALE:
                    connection.close()
                    if reused and attempt == 0:
                        continue
                    raise
                response = _response(prepared, answer, _body(answer, limit), started)
            except Exception as error:  # noqa: BLE001 - raised again, as requests words it
                connection.close()
                raise _as_requests_error(error) from None
            except BaseException:
                connection.close()
                raise
            if answer.will_close:
                connection.close()
            else:
                self._keep(origin, connection)
            return response
        raise requests.exceptions.ConnectionError("the connection closed twice")  # pragma: no cover - loop returns

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # -- inside ------------------------------------------------------------------------------------------------------
    def _take(self, origin: tuple, fresh: bool = False):
        while not fresh:
            with self._lock:
                kept = self._idle.get(origin)
                connection = kept.pop() if kept else None
            if connection is None:
                break
            if not _dropped(connection):
                return connection, True
            connection.close()
        scheme, host, port = origin
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, context=self._tls()), False
        return http.client.HTTPConnection(host, port), False

    def _keep(self, origin: tuple, connection) -> None:
        with self._lock:
            kept = self._idle.setdefault(origin, [])
            if not self._closed and len(kept) < MAX_IDLE_PER_ORIGIN:
                kept.append(connection)
                return
        connection.close()

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                # urllib3's own context (its protocol versions, ciphers and verification flags: not those of
                # ssl.create_default_context, which Python 3.13 made stricter than what requests accepts), with
                # certificates and host names checked against the CA bundle requests uses for verify=True, found
                # the way its adapter finds it.
                context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
                location = extract_zipped_paths(self._ca_bundle)
                if os.path.isdir(location):
                    context.load_verify_locations(capath=location)
                else:
                    context.load_verify_locations(cafile=location)
                context.check_hostname = True
                self._context = context
            return self._context


class _Holding:
    """A socket, as ``sock``: what the deadline watchdog shuts."""

    __slots__ = ("sock",)

    def __init__(self, sock):
        self.sock = sock


def _dropped(connection) -> bool:
    """Whether a kept connection was closed by the server (or has something unasked-for to read): readable while
    idle means either. Looked at without waiting, as urllib3 does before reusing a connection."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # no limit on the descriptor's number (select's is 1024 on Linux)
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)  # Windows
    except (OSError, ValueError):
        return True
    return bool(readable)


def _put_request(connection, prepared: requests.PreparedRequest) -> None:
    """The request line and the prepared headers (``Host`` added by http.client unless given, as urllib3 does)."""
    headers = prepared.headers
    connection.putrequest("GET", prepared.path_url, skip_host="Host" in headers,
                          skip_accept_encoding="Accept-Encoding" in headers)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()


def _body(answer: http.client.HTTPResponse, limit: int) -> bytes:
    """The whole body, decoded; ``TooLarge`` past ``limit`` (announced, sent or decoded)."""
    length = answer.getheader("Content-Length", "")
    if length.strip().isdigit() and int(length) > limit:
        raise TooLarge(answer.status)
    parts, size = [], 0
    while True:
        part = answer.read(READ_BYTES)
        if not part:
            break
        size += len(part)
        if size > limit:
            raise TooLarge(answer.status)
        parts.append(part)
    raw = b"".join(parts)
    if answer.length:  # fewer bytes than announced: the connection broke off (read(amt) does not say so itself)
        raise http.client.IncompleteRead(raw, answer.length)
    encoding = (answer.getheader("Content-Encoding", "") or "").strip().lower()
    if not encoding or encoding == "identity":
        return raw
    return _unpacked(raw, encoding, limit, answer.status)


def _unpacked(raw: bytes, encoding: str, limit: int, status: int) -> bytes:
    """``raw`` unpacked by urllib3's decoders, ``READ_BYTES`` of it at a time: the size is looked at after each
    chunk, so a small answer that unpacks to gigabytes stops within a chunk of the limit (as the plain way does).
    What urllib3 cannot unpack raises ``ContentDecodingError``, as requests says it."""
    packed = urllib3.HTTPResponse(body=io.BytesIO(raw), headers={"Content-Encoding": encoding}, preload_content=False,
                                  decode_content=True)
    parts, size = [], 0
    try:
        for part in packed.stream(READ_BYTES):
            size += len(part)
            if size > limit:
                raise TooLarge(status)
            parts.append(part)
    except urllib3.exceptions.HTTPError as error:
        raise requests.exceptions.ContentDecodingError(f"an answer encoded as {encoding!r} could not be read") \
            from error
    return b"".join(parts)


def _response(prepared: requests.PreparedRequest, answer: http.client.HTTPResponse, body: bytes,
              started: float) -> requests.Response:
    headers = CaseInsensitiveDict()
    for name, value in answer.getheaders():  # a header sent twice reads as urllib3 reads it: joined with ", "
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    response = requests.Response()
    response.status_code = answer.status
    response.reason = answer.reason
    response.headers = headers
    response.url = prepared.url
    response.request = prepared
    response.encoding = get_encoding_from_headers(headers)
    response._content = body
    response._content_consumed = True
    response.elapsed = timedelta(seconds=time.monotonic() - started)
    return response


def _as_requests_error(error: Exception) -> Exception:
    """What ``requests`` raises for the same failure, so the session words it the same way."""
    if isinstance(error, (requests.exceptions.RequestException, TooLarge)):
        return error
    if isinstance(error, ssl.SSLError):
        return requests.exceptions.SSLError(type(error).__name__)
    if isinstance(error, (socket.timeout, TimeoutError)):
        return requests.exceptions.ReadTimeout(f"read timed out ({type(error).__name__})")
    if isinstance(error, http.client.IncompleteRead):
        return requests.exceptions.ChunkedEncodingError("the answer broke off")
    if isinstance(error, (OSError, http.client.HTTPException, ValueError)):
        return requests.exceptions.ConnectionError(type(error).__name__)
    return error
