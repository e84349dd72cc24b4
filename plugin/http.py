"""The one HTTP layer of the plugin: every request to a provider goes through a ``TaskingSession``.

It is built on ``requests`` alone (no QGIS, no Qt) so providers work from a plain Python shell.
What it guarantees:

* connect/read timeouts on every request;
* bounded retries with exponential backoff and ``Retry-After`` for idempotent requests only
  (a POST that creates an order is never sent twice unless the caller says it is safe);
* cancellation: inside ``with cancellable(task.isCanceled):`` a cancelled task sends nothing new and
  stops waiting for a retry within ``CANCEL_POLL_SECONDS`` (``RequestCancelled``);
* TLS verification that cannot be switched off, and no plain ``http://`` except to loopback;
* the proxy the user chose in QGIS (see ``network_proxy.py``, which builds the ``ProxyConfig``);
* credentials bound to their origin: redirects are followed here hop by hop, a hop to another origin goes
  without them (and one that would carry the request's body there is refused); ``bind_credentials`` names the
  origins a provider's credentials belong to, ``follow_link``/``PageTrail`` check the links answers give;
* bounded answers: one JSON reader (``decode_json``/``decode_listing``) refusing depth beyond
  ``MAX_JSON_DEPTH``, at most ``MAX_JSON_BYTES`` read, and a total deadline per request that a server sending
  a byte now and then cannot stretch (``_Watchdog``);
* downloads (``download_to``) whose interruptions are typed errors, never raw ``requests``/``urllib3`` ones;
* typed exceptions whose messages tell a person what to do, and which never carry credentials (one
  redaction list, ``SENSITIVE_QUERY_KEYS``).
"""
from __future__ import annotations

import contextvars
import email.utils
import heapq
import http.client
import http.cookiejar
import ipaddress
import itertools
import json
import logging
import math
import re
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional, Tuple, Union
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.utils import requote_uri

from .fast.json_depth_scan import JsonTooDeep, check_json_depth
from .fast.json_listing_texts import listing_with_item_texts
from .fast.json_overflow_scan import may_hold_overflowing_number
from .fast.keep_alive_get import KeepAliveGets, TooLarge

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A 500 on a read is usually a passing fault; on a write it may mean the write happened.
RETRY_STATUSES_FOR_READS = RETRY_STATUSES | {500}
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: The one redaction list: query parameters whose values never reach a message or a log line (compared
#: lower-cased). Beside keys, tokens and passwords it holds the signing parameters of signed storage URLs:
#: AWS S3 (X-Amz-*), Google Cloud Storage (V4 X-Goog-*, V2 GoogleAccessId/Signature), Azure SAS (sig, and the
#: user-delegation key fields skoid/sktid/sks/skv/skt/ske; the others, such as se/sv/sp, only say when and
#: what, and are kept so a message still shows when a link expired).
SENSITIVE_QUERY_KEYS = frozenset({
    "api_key", "apikey", "api-key", "key", "token", "access_token", "access-token", "accesstoken",
    "refresh_token", "refresh-token", "id_token", "id-token", "jwt", "bearer", "session", "sessionid",
    "password", "passwd", "pwd", "secret", "client_secret", "signature", "sig", "code", "auth", "authorization",
    "credential", "credentials",
    "x-amz-signature", "x-amz-credential", "x-amz-security-token",
    "x-goog-signature", "x-goog-credential", "googleaccessid",
    "skoid", "sktid", "sks", "skv", "skt", "ske",
})
REDACTED = "***"
MAX_PROVIDER_MESSAGE_CHARS = 500

# Limits of what one request may cost, whatever the server does (documented in the README's reliability notes).
#: An answer read into memory (JSON, an error body) larger than this is refused; Content-Length is looked at
#: first, so a larger announced answer is refused before any of it is read.
MAX_JSON_BYTES = 64 * 1024 * 1024
#: JSON nested deeper than this is refused (real answers nest about ten levels; schemas a few dozen).
MAX_JSON_DEPTH = 128
#: Everything one ``request`` does — attempts, redirects, backoff waits and reading the answer — ends within
#: this many seconds: the read timeout bounds a single read, a server sending one byte at a time is cut here.
DEFAULT_DEADLINE_SECONDS = 300.0
# A download may take the session's deadline plus its size at this speed (256 kbit/s): a large file on a slow
# line gets its time, a server trickling bytes does not hold a task for ever.
DOWNLOAD_FLOOR_BYTES_PER_SECOND = 32 * 1024
# Without an announced length the download's deadline moves with what arrived, in steps of at least this (or a
# quarter of the session's deadline when that is shorter).
DOWNLOAD_REARM_SECONDS = 5.0
MAX_REDIRECTS = 10
#: A listing that sends this many empty pages in a row, each linking to yet another page, is refused.
MAX_EMPTY_PAGES = 5
BODY_CHUNK_BYTES = 1 << 16


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

class ProviderError(Exception):
    """A request to a provider failed; ``str(error)`` is a message a person can act on."""

    def __init__(self, connection_name: str, user_message: str, status: Optional[int] = None):
        super().__init__(user_message)
        self.connection_name = connection_name
        self.status = status
        self.user_message = user_message


class CredentialsRejected(ProviderError):  # noqa: N818 (names from the shared API)
    """401: the key, token or password was not accepted."""


class AccessForbidden(ProviderError):  # noqa: N818 (names from the shared API)
    """403: the credentials are valid but do not allow this."""


class NotFoundError(ProviderError):
    """404: the order, product or endpoint does not exist (or is not visible to this account)."""


class RequestRejected(ProviderError):  # noqa: N818 (names from the shared API)
    """400/409/422 (and other 4xx): the provider refused the request; it says why."""

    def __init__(self, connection_name: str, user_message: str, status: Optional[int] = None,
                 provider_message: str = "", field_errors: Optional[Mapping[str, list]] = None):
        super().__init__(connection_name, user_message, status)
        self.provider_message = provider_message
        self.field_errors = dict(field_errors or {})


class RateLimited(ProviderError):  # noqa: N818 (names from the shared API)
    """429 that did not clear within the retry budget."""

    def __init__(self, connection_name: str, user_message: str, status: Optional[int] = 429,
                 retry_after: Optional[float] = None):
        super().__init__(connection_name, user_message, status)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):  # noqa: N818 (names from the shared API)
    """5xx that did not clear within the retry budget (or a write that must not be retried)."""


class ProviderTimeout(ProviderError):  # noqa: N818 (names from the shared API)
    """No connection or no answer within the timeout."""


class ProviderUnreachable(ProviderError):  # noqa: N818 (names from the shared API)
    """The host could not be reached: name lookup, refused or dropped connection, proxy failure."""


class ProxyRejected(ProviderUnreachable):
    """407: the proxy configured in QGIS refused its credentials."""


class TlsVerificationFailed(ProviderUnreachable):
    """The server's TLS certificate could not be verified (verification is never switched off)."""


class InsecureUrl(ProviderError):  # noqa: N818 (names from the shared API)
    """A plain http:// URL (or another scheme) to a host that is not this machine."""


class UnreadableResponse(ProviderError):  # noqa: N818 (names from the shared API)
    """The provider answered, but not with the JSON it should have."""


class RequestCancelled(ProviderError):  # noqa: N818 (reads as a sentence at the except site)
    """The task making the request was cancelled: the request was not sent (again).

    ``attempts`` is how many times it had been sent before (0: the provider never saw it). A request that
    creates something is never retried, so a cancelled one was either sent once or not at all.
    """

    def __init__(self, connection_name: str, user_message: str, attempts: int = 0):
        super().__init__(connection_name, user_message)
        self.attempts = attempts


class CrossOriginRefused(ProviderError):  # noqa: N818 (reads as a sentence at the except site)
    """An answer pointed to another origin (scheme, host, port) in a way that would carry this connection's
    credentials or request body there: a paging link, or a redirect that keeps the request's body."""


class AnswerTooLarge(UnreadableResponse):  # noqa: N818 (reads as a sentence at the except site)
    """The answer is larger than ``MAX_JSON_BYTES`` (or the session's ``max_json_bytes``)."""


class AnswerTooDeep(UnreadableResponse):  # noqa: N818 (reads as a sentence at the except site)
    """The answer's JSON nests deeper than ``MAX_JSON_DEPTH``."""


# ---------------------------------------------------------------------------------------------
# Cancellation
# ---------------------------------------------------------------------------------------------

#: A cancellation signal: a callable answering "cancelled?" (``QgsTask.isCanceled``) or a threading.Event.
CancelSignal = Union[Callable[[], bool], threading.Event]

# How often a backoff wait looks at the cancellation checks: the longest a cancelled task keeps waiting.
CANCEL_POLL_SECONDS = 0.05

# The checks of the code running now. A context variable rather than an attribute of the session: one
# provider (and its sessions) is shared by syncs, placements and dialogs running at the same time in
# different threads, and the question "was I cancelled?" belongs to the task asking, not to the session.
_CANCEL_CHECKS: contextvars.ContextVar = contextvars.ContextVar("tasking_cancel_checks", default=())

# What a failed attempt was, in the words of a cancellation message.
_PROBLEMS = {
    ProviderTimeout: "it did not answer in time",
    ProviderUnreachable: "it could not be reached",
}


def _as_check(cancelled: Optional[CancelSignal]) -> Optional[Callable[[], bool]]:
    if cancelled is None:
        return None
    is_set = getattr(cancelled, "is_set", None)
    if callable(is_set):
        return is_set
    if callable(cancelled):
        return cancelled
    raise TypeError("cancelled must be a callable answering a bool or a threading.Event")


@contextmanager
def cancellable(cancelled: Optional[CancelSignal]) -> Iterator[None]:
    """Within the block, requests of every ``TaskingSession`` made by this thread give up when
    ``cancelled`` says so: no new request is sent, no retry is waited for (``RequestCancelled``).

    Scopes nest (any of them cancels). The scope is the thread's (a ``contextvars`` context), so other
    threads using the same session are not affected; code handing work to a thread pool passes it on with
    ``contextvars.copy_context().run``. ``cancelled=None`` does nothing.
    """
    check = _as_check(cancelled)
    if check is None:
        yield
        return
    token = _CANCEL_CHECKS.set(_CANCEL_CHECKS.get() + (check,))
    try:
        yield
    finally:
        _CANCEL_CHECKS.reset(token)


def cancellation_requested() -> bool:
    """True when a ``cancellable`` scope of the running code says it was cancelled."""
    return any(check() for check in _CANCEL_CHECKS.get())


# ---------------------------------------------------------------------------------------------
# Proxy configuration (filled from QGIS settings by network_proxy.py)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProxyConfig:
    """The proxy to use, as the user set it in QGIS Options > Network.

    mode "none": direct connections, environment proxy variables ignored (QGIS with the proxy off).
    mode "http": the given HTTP proxy for http and https URLs (https through CONNECT).
    mode "system": the system's proxy as requests reads it (http_proxy/https_proxy/no_proxy on Linux,
    the registry on Windows, System Configuration on macOS) — the same sources Qt uses.
    ``excluded``: URL prefixes reached without any proxy (QGIS "proxy/noProxyUrls"); matched with
    ``str.startswith`` exactly as QGIS does.
    """

    mode: str = "none"
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = field(default="", repr=False)
    excluded: Tuple[str, ...] = ()

    def __post_init__(self):
        if self.mode not in ("none", "http", "system"):
            raise ValueError(f"unknown proxy mode {self.mode!r}")
        if self.mode == "http" and (not self.host or not self.port):
            raise ValueError("an http proxy needs a host and a port")

    def __repr__(self) -> str:
        password = REDACTED if self.password else ""
        return (f"ProxyConfig(mode={self.mode!r}, host={self.host!r}, port={self.port!r}, "
                f"user={self.user!r}, password={password!r}, excluded={self.excluded!r})")

    def proxy_url(self) -> str:
        """The proxy as a URL for requests, with credentials; never log this."""
        userinfo = ""
        if self.user:
            userinfo = quote(self.user, safe="")
            if self.password:
                userinfo += ":" + quote(self.password, safe="")
            userinfo += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{userinfo}{host}:{self.port}"

    def is_excluded(self, url: str) -> bool:
        return any(prefix.strip() and url.startswith(prefix.strip()) for prefix in self.excluded)


# ---------------------------------------------------------------------------------------------
# URL checks and redaction
# ---------------------------------------------------------------------------------------------

def is_loopback_host(host: Optional[str]) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, connection_name: str = "") -> None:
    """Refuse anything but https://, except plain http:// to this machine (sandbox, tests)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return
    host = parts.hostname or ""
    if scheme == "http" and is_loopback_host(host):
        return
    who = f"{connection_name}: " if connection_name else ""
    if scheme == "http":
        message = (f"{who}refusing to send a request to {host} over plain http://, which would expose "
                   f"credentials and data on the network; use an https:// address for this connection")
    else:
        message = f"{who}refusing a request with the unsupported address scheme {scheme or '(none)'!r}; use https://"
    raise InsecureUrl(connection_name, message)


_QUERY_NAMES = re.compile(r"(?:^|&)([^=&]*)")


def _may_hold_secrets(query: str) -> bool:
    """Whether a query names a secret-looking parameter; a name in an unusual spelling (escaped, ";") counts.
    Cheap for a long query of harmless names (a sync's capture addresses carry a hundred order ids)."""
    names = {name.lower() for name in _QUERY_NAMES.findall(query)}
    return bool(names & SENSITIVE_QUERY_KEYS) or any(("%" in n or "+" in n or ";" in n) for n in names)


def redact_url(url: str) -> str:
    """The URL without user:password@ and with secret-looking query values replaced; safe to log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query and _may_hold_secrets(query):
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if k.lower() in SENSITIVE_QUERY_KEYS else v) for k, v in pairs],
                          safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


# ---------------------------------------------------------------------------------------------
# Origins: where credentials may go
# ---------------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> tuple:
    """(scheme, host, port) of a URL, the default port filled in: credentials belong to one of these."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", url, None)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def _origin_text(origin: tuple) -> str:
    scheme, host, port = origin
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + ("" if port == _DEFAULT_PORTS.get(scheme) else f":{port}")


def follow_link(current_url: str, href: str, connection_name: str, what: str = "the next page") -> str:
    """The absolute address of a link an answer gave (a paging ``next``, a ``Location``), when it stays on
    the origin of the answer that gave it; a link elsewhere raises ``CrossOriginRefused``: following it would
    send this connection's credentials to a host they were not meant for, and no API the plugin speaks
    documents paging to another host."""
    target = requote_uri(urljoin(current_url, href))
    origin, here = url_origin(target), url_origin(current_url)
    if origin != here:
        raise CrossOriginRefused(
            connection_name,
            f"{connection_name} answered with a link to {what} at another address ({_origin_text(origin)}, not "
            f"{_origin_text(here)}); the plugin does not send this connection's credentials elsewhere, so it "
            f"stopped there. Check the connection's address, or tell the provider.")
    return target


class PageTrail:
    """The checks every provider's paging shares: each ``next`` link stays on its origin (``follow_link``),
    a link back to a page already read ends the listing, and ``MAX_EMPTY_PAGES`` empty pages in a row that
    still link onwards end it with a sentence (not quietly: the listing must not be taken as complete)."""

    def __init__(self, connection_name: str, what: str, max_empty_pages: int = MAX_EMPTY_PAGES):
        self.connection_name = connection_name
        self.what = what
        self.max_empty_pages = max_empty_pages
        self._seen: set = set()
        self._empty_run = 0

    def follow(self, current_url: str, href: str, item_count: int, marker: Any = None) -> Optional[str]:
        """The next page's address, or None when the link leads back to a page already read.
        ``marker`` identifies a page when the address alone does not (a link with a method and body)."""
        target = follow_link(current_url, href, self.connection_name, f"the next page of {self.what}")
        self._empty_run = self._empty_run + 1 if item_count == 0 else 0
        if self._empty_run >= self.max_empty_pages:
            raise UnreadableResponse(
                self.connection_name,
                f"{self.connection_name} answered {self._empty_run} empty pages of {self.what} in a row, each "
                f"linking to yet another page; stopped reading there so the list is not taken as complete. "
                f"Try again later.")
        key = (target, marker)
        if key in self._seen:
            logger.warning("Paging of %s links back to a page already read; stopping", self.what)
            return None
        self._seen.add(key)
        return target


def _product_token(text: str) -> str:
    # HTTP headers travel as latin-1 and a product token holds no spaces: QGIS's own version
    # string ("3.22.16-Białowieża") would otherwise make every request fail to encode.
    return re.sub(r"[^A-Za-z0-9.!#$%&'*+^_`|~-]", "", text.replace(" ", "-"))


def format_user_agent(plugin_name: str, plugin_version: str, qgis_version: Optional[str] = None) -> str:
    """``<plugin>/<version> QGIS/<version>``, ASCII only (the QGIS release name is dropped)."""
    agent = f"{_product_token(plugin_name)}/{_product_token(plugin_version)}"
    if qgis_version:
        agent += f" QGIS/{_product_token(qgis_version.split('-')[0])}"
    return agent


# ---------------------------------------------------------------------------------------------
# Retry-After and provider messages
# ---------------------------------------------------------------------------------------------

def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _clip(text: str, limit: int = MAX_PROVIDER_MESSAGE_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _messages_of(value: Any) -> list:
    """Flatten a DRF-style error value (string, list, nested dict) to a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        out: list = []
        for item in value:
            out.extend(_messages_of(item))
        return out
    if isinstance(value, dict):
        for key in ("message", "detail", "msg", "title"):
            if isinstance(value.get(key), str):
                return [value[key]]
        out = []
        for key, item in value.items():
            out.extend(f"{key}: {msg}" for msg in _messages_of(item))
        return out
    return [str(value)]


def extract_provider_message(body: Any) -> Tuple[str, dict]:
    """The provider's own explanation from an error body, and per-field errors.

    Understands RFC 7807 ({type, title, status, detail}), Django REST framework
    ({"field": ["msg"]}, {"non_field_errors": [...]}, {"detail": "..."}), common
    {"message"}/{"error"}/{"errors"} envelopes, and plain text.
    """
    if isinstance(body, str):
        return _plain_text_message(body), {}
    if isinstance(body, list):
        return _clip("; ".join(_messages_of(body))), {}
    if not isinstance(body, dict):
        return "", {}

    detail = body.get("detail")
    if isinstance(detail, list) and detail and all(isinstance(d, dict) and "msg" in d for d in detail):
        # FastAPI's validation errors (STAPI servers): {"detail": [{"loc", "msg", "type"}]}, each kept with
        # where it points.
        field_errors: dict = {}
        for item in detail:
            loc = [str(part) for part in item.get("loc") or [] if part != "body"]
            field_errors.setdefault(".".join(loc) or "request", []).append(str(item["msg"]))
        return _clip("; ".join(f"{k}: {', '.join(v)}" for k, v in field_errors.items())), field_errors
    title = body.get("title")
    if isinstance(detail, str) or isinstance(title, str):
        parts = [p for p in (title, detail) if isinstance(p, str) and p.strip()]
        if len(parts) == 2 and parts[1].lower().startswith(parts[0].lower()):
            parts = parts[1:]
        field_errors = _field_errors(
            body.get("errors") or body.get("invalid-params") or body.get("invalid_params"))
        message = ": ".join(parts)
        if field_errors:
            message += " (" + "; ".join(f"{k}: {', '.join(v)}" for k, v in field_errors.items()) + ")"
        return _clip(message), field_errors
    for key in ("message", "error_description", "error"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            details = body.get("details") if key == "message" else None
            if details not in (None, "", [], {}):
                # UP42's {code, message, details}: the details are part of what the provider said.
                value += ": " + (details if isinstance(details, str) else json.dumps(details, ensure_ascii=False))
            return _clip(value), _field_errors(body.get("errors"))
        if isinstance(value, dict):
            return extract_provider_message(value)
    if isinstance(body.get("errors"), list) and body["errors"]:
        return _clip("; ".join(_messages_of(body["errors"]))), {}

    # Django REST framework validation errors: every key is a field (or non_field_errors).
    general = _messages_of(body.get("non_field_errors"))
    field_errors = {k: _messages_of(v) for k, v in body.items() if k != "non_field_errors"}
    field_errors = {k: v for k, v in field_errors.items() if v}
    parts = list(general) + [f"{k}: {'; '.join(v)}" for k, v in field_errors.items()]
    return _clip("; ".join(parts)), field_errors


def _field_errors(value: Any) -> dict:
    """Per-field errors from an RFC 7807 extension ({"errors": {...}} or invalid-params list)."""
    if isinstance(value, dict):
        return {k: _messages_of(v) for k, v in value.items() if _messages_of(v)}
    if isinstance(value, list):
        out: dict = {}
        for item in value:
            if isinstance(item, dict) and isinstance(item.get("name") or item.get("field"), str):
                name = item.get("name") or item.get("field")
                out.setdefault(name, []).extend(_messages_of(item.get("reason") or item.get("message")))
        return out
    return {}


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")


def _plain_text_message(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("<"):
        # An HTML error page (proxy, load balancer): its title is the only readable part.
        match = _TITLE_RE.search(stripped)
        return _clip(_TAG_RE.sub("", match.group(1))) if match else ""
    return _clip(stripped)


def _error_body(response: requests.Response) -> Any:
    try:
        text = response.text
    except (requests.RequestException, UnicodeDecodeError, LookupError):
        return ""
    if not text.strip():
        return ""
    try:
        return decode_json(response.content)
    except JsonTooDeep:
        return ""  # nothing a person could read
    except ValueError:
        return text


# ---------------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------------

def _check_verify(verify: Any) -> None:
    """True, or the path of a CA bundle (a corporate proxy's CA): verification stays on either way."""
    if verify is not True and not (isinstance(verify, str) and verify):
        raise ValueError("TLS verification cannot be switched off")


class _GuardedSession(requests.Session):
    """A requests.Session whose every send (redirects included) is checked and proxied per URL."""

    def __init__(self, connection_name: str, proxy: Optional[ProxyConfig]):
        super().__init__()
        self.connection_name = connection_name
        self.proxy = proxy
        # Only "system" (and no configuration at all) reads the environment; QGIS settings win otherwise.
        self.trust_env = proxy is None or proxy.mode == "system"
        # .netrc could silently add credentials of another origin; environment CA bundles are fine.
        self.verify = True
        self.mount("https://", _DeadlineAdapter())
        self.mount("http://", _DeadlineAdapter())
        # No cookies kept: a cookie is bound to a host, not to an origin (another port of the same host gets
        # it), and no API the plugin speaks authenticates with one.
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def send(self, request, **kwargs):
        require_secure_url(request.url, self.connection_name)
        _check_verify(kwargs.get("verify", True))
        if self.proxy is not None:
            if self.proxy.is_excluded(request.url):
                kwargs["proxies"] = {}
            elif self.proxy.mode == "http":
                url = self.proxy.proxy_url()
                kwargs["proxies"] = {"http": url, "https": url}
            elif self.proxy.mode == "none":
                kwargs["proxies"] = {}
        return super().send(request, **kwargs)

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        # trust_env may add CURL_CA_BUNDLE="" style values; an empty bundle would mean "no check".
        if not settings.get("verify"):
            settings["verify"] = True
        return settings


class TaskingSession:
    """Requests to one provider connection, with retries, proxy, TLS and typed errors.

    ``auth`` is a ``requests.auth.AuthBase`` (or any callable taking and returning a
    ``PreparedRequest``) that providers use to add a bearer token or an api-key header per
    request; it can be replaced at any time through the ``auth`` attribute.

    ``cancelled`` (a callable or a threading.Event) cancels every request of this session, for a
    session owned by one task; a session shared between tasks is cancelled per task with
    ``cancellable``. Either way a cancelled request raises ``RequestCancelled`` before it is sent
    (again), and a backoff wait looks at the checks every ``CANCEL_POLL_SECONDS``. A request already
    on the wire is not cut: it ends within the timeout like any other.
    """

    def __init__(self, connection_name: str, user_agent: str, proxy: Optional[ProxyConfig] = None,
                 timeout: Tuple[float, float] = (5.0, 30.0), max_retries: int = 4,
                 backoff_factor: float = 0.5, max_backoff: float = 30.0, max_total_wait: float = 60.0,
                 auth: Optional[Callable] = None, sleep: Callable[[float], None] = time.sleep,
                 cancelled: Optional[CancelSignal] = None, deadline: float = DEFAULT_DEADLINE_SECONDS,
                 max_json_bytes: int = MAX_JSON_BYTES):
        if max_retries < 0 or backoff_factor < 0 or max_backoff < 0 or max_total_wait < 0:
            raise ValueError("retry limits must not be negative")
        if deadline <= 0 or max_json_bytes <= 0:
            raise ValueError("the deadline and the answer size limit must be positive")
        self.connection_name = connection_name
        self.timeout = timeout
        self.deadline = deadline
        self.max_json_bytes = max_json_bytes
        # Origins the credentials may go to (None: the origin of each request's own address).
        self.credential_origins: Optional[frozenset] = None
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.max_backoff = max_backoff
        self.max_total_wait = max_total_wait
        self._sleep = sleep
        self._cancelled = _as_check(cancelled)
        self._session = _GuardedSession(connection_name, proxy)
        self._session.headers["User-Agent"] = user_agent
        self._session.auth = auth
        self._keep_alive_gets = KeepAliveGets()

    def __repr__(self) -> str:
        return f"TaskingSession({self.connection_name!r}, proxy={self._session.proxy!r})"

    @property
    def headers(self):
        """Headers sent with every request (never put secrets here if you log them)."""
        return self._session.headers

    @property
    def auth(self):
        return self._session.auth

    @auth.setter
    def auth(self, value):
        self._session.auth = value

    @property
    def proxy(self) -> Optional[ProxyConfig]:
        return self._session.proxy

    def bind_credentials(self, *urls: str) -> None:
        """Send credentials (the ``auth`` object's headers, ``Authorization``, ``X-API-Key``...) only to the
        origins of these URLs: a request to any other address — a link an answer gave, a signed download
        URL — goes without them, whichever provider code makes it."""
        self.credential_origins = frozenset(url_origin(url) for url in urls if url)

    def close(self) -> None:
        self._session.close()
        self._keep_alive_gets.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- requests ---------------------------------------------------------------------------

    def request(self, method: str, url: str, *, idempotent: Optional[bool] = None, expect_json: bool = True,
                items_key: Optional[str] = None, **kwargs) -> requests.Response:
        """Send a request; return the successful response or raise a ``ProviderError``.

        ``idempotent`` defaults to True for GET/HEAD/PUT/DELETE/OPTIONS and False otherwise; only
        idempotent requests are retried. With ``expect_json`` a successful answer with a body that
        is not JSON raises ``UnreadableResponse``; with ``items_key`` too, the body is a listing whose
        items' texts are kept (``listing``).

        Every request ends within the session's ``deadline`` (attempts, redirects, waits and reading the
        answer together); an answer is read into memory only up to ``max_json_bytes``. With ``stream=True``
        the answer's body is left to the caller (``download_to``). Redirects are followed here, hop by hop:
        a hop to another origin goes without credentials, and one that would carry the request's body
        there (307/308) is refused (``CrossOriginRefused``).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        _check_verify(kwargs.get("verify", True))
        kwargs.setdefault("timeout", self.timeout)
        stream = bool(kwargs.pop("stream", False))
        follow_redirects = bool(kwargs.pop("allow_redirects", True))
        require_secure_url(url, self.connection_name)
        retry_statuses = RETRY_STATUSES_FOR_READS if method in READ_METHODS else RETRY_STATUSES
        safe_url = redact_url(url)
        deadline_at = time.monotonic() + self.deadline

        attempt = 0
        waited = 0.0
        last_problem = ""
        while True:
            attempt += 1
            if self._cancel_requested():
                raise self._cancelled_error(method, safe_url, attempt - 1, last_problem)
            if time.monotonic() >= deadline_at:
                raise self._deadline_error(method, safe_url)
            started = time.monotonic()
            watchdog = _Watchdog(deadline_at - started)
            try:
                with watchdog:
                    response = self._exchange(method, url, kwargs, deadline_at, follow_redirects, read_whole=not stream)
                    if not stream:  # a stream's body is its reader's (a download has no total deadline)
                        self._read_body(response, method, safe_url, watchdog)
            except requests.RequestException as exc:
                if watchdog.fired or time.monotonic() >= deadline_at:
                    raise self._deadline_error(method, safe_url) from None
                error = self._error_from_exception(exc, method, safe_url, kwargs["timeout"])
                if idempotent and not isinstance(error, (TlsVerificationFailed, ProxyRejected)):
                    delay = self._backoff(attempt)
                    if self._may_retry(attempt, waited, delay, deadline_at):
                        logger.info("%s %s failed (%s); retry %d in %.1f s", method, safe_url,
                                    type(error).__name__, attempt, delay)
                        last_problem = _PROBLEMS.get(type(error), "it failed")
                        self._wait(delay, method, safe_url, attempt, last_problem)
                        waited += delay
                        continue
                raise error from None
            logger.debug("%s %s -> %s in %.2f s (attempt %d)", method, safe_url, response.status_code,
                         time.monotonic() - started, attempt)

            status = response.status_code
            if status < 400:
                if expect_json and not stream:
                    try:
                        self._check_json(response, method, safe_url, items_key)
                    except (AnswerTooDeep, AnswerTooLarge):
                        raise  # reading it again gives the same answer
                    except UnreadableResponse:
                        # A garbled read is usually a passing fault (a proxy, a cut connection):
                        # read once more before giving up. Writes are never repeated.
                        delay = self._backoff(attempt)
                        if method in READ_METHODS and attempt == 1 and self._may_retry(attempt, waited, delay,
                                                                                        deadline_at):
                            logger.info("%s %s answered something unreadable; reading it once more", method,
                                        safe_url)
                            last_problem = "it answered something unreadable"
                            self._wait(delay, method, safe_url, attempt, last_problem)
                            waited += delay
                            continue
                        raise
                return response

            if stream:  # the error body is read for its message, within the same limits
                try:
                    with _Watchdog(deadline_at - time.monotonic()) as watchdog:
                        self._read_body(response, method, safe_url, watchdog)
                except (requests.RequestException, ProviderError):
                    response._content, response._content_consumed = b"", True
            if idempotent and status in retry_statuses:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if retry_after is not None and retry_after > self.max_backoff:
                    # Waiting less than the provider asked only earns another refusal.
                    raise self._error_from_response(response, method, safe_url, retry_after)
                delay = retry_after if retry_after is not None else self._backoff(attempt)
                if self._may_retry(attempt, waited, delay, deadline_at):
                    logger.info("%s %s answered %d; retry %d in %.1f s",
                                method, safe_url, status, attempt, delay)
                    response.close()
                    last_problem = f"it answered HTTP {status}"
                    self._wait(delay, method, safe_url, attempt, last_problem)
                    waited += delay
                    continue
                raise self._error_from_response(response, method, safe_url, retry_after)
            raise self._error_from_response(response, method, safe_url, None)

    def download_to(self, url: str, handle, *, what: str, headers: Optional[dict] = None,
                    on_chunk: Optional[Callable[[int, Optional[int]], None]] = None,
                    chunk_bytes: int = BODY_CHUNK_BYTES) -> int:
        """GET ``url`` and write its body into the open binary file ``handle``; the number of bytes written.

        ``what`` names the file in sentences. An answer that breaks off (a dropped connection, a chunked
        body cut short, fewer bytes than its Content-Length: urllib3 2 raises where urllib3 1 returned a
        short body) raises ``ProviderUnreachable``, one that stalls past the read timeout ``ProviderTimeout``:
        never a raw ``requests``/``urllib3`` exception. ``on_chunk(done, total)`` runs after each write; what
        it raises (a cancellation) passes through, as do errors writing ``handle``.

        The whole body has a deadline that grows with its size: the session's ``deadline`` plus the time its
        announced length (or, without one, what has arrived) takes at ``DOWNLOAD_FLOOR_BYTES_PER_SECOND``. A
        large file on a slow line gets its time; a server sending a byte now and then is cut off with
        ``ProviderTimeout`` instead of holding the task for ever (a read timeout bounds one read only).
        """
        safe_url = redact_url(url)
        response = self.request("GET", url, expect_json=False, stream=True, headers=headers)
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.strip().isdigit() else None
        done = 0
        started = time.monotonic()

        def allowed_until() -> float:
            return started + self.deadline + max(total or 0, done) / DOWNLOAD_FLOOR_BYTES_PER_SECOND

        armed_at = allowed_until()
        rearm_step = min(DOWNLOAD_REARM_SECONDS, self.deadline / 4)
        watchdog = _Watchdog(armed_at - time.monotonic())
        watchdog.__enter__()
        watchdog.attach_response(response)
        try:
            chunks = response.iter_content(chunk_bytes)
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
                except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
                        OSError) as exc:
                    if watchdog.fired:
                        raise self._download_deadline_error(what, safe_url, done, total, started) from None
                    raise self._interrupted_error(exc, what, safe_url, done, total) from None
                handle.write(chunk)
                done += len(chunk)
                if allowed_until() > armed_at + rearm_step:  # no length announced: data buys time
                    armed_at = allowed_until()
                    later = _Watchdog(armed_at - time.monotonic())
                    later.__enter__()
                    later.attach_response(response)
                    watchdog.__exit__(None, None, None)
                    if watchdog.fired:  # it fired while being replaced: the deadline had passed
                        later.__exit__(None, None, None)
                        raise self._download_deadline_error(what, safe_url, done, total, started)
                    watchdog = later
                if on_chunk is not None:
                    on_chunk(done, total)
        finally:
            watchdog.__exit__(None, None, None)
            response.close()
        if watchdog.fired:  # urllib3 1 returns what it had when the connection is shut
            raise self._download_deadline_error(what, safe_url, done, total, started)
        if total is not None and done != total:
            raise ProviderUnreachable(
                self.connection_name, f"the download of {what} from {self.connection_name} stopped after {done} "
                                      f"of {total} bytes: the connection broke off; try again (GET {safe_url})")
        return done

    def json(self, method: str, url: str, **kwargs) -> Any:
        """Send a request and return its parsed JSON body (None for an empty 204/205)."""
        kwargs["expect_json"] = True
        response = self.request(method, url, **kwargs)
        if not response.content.strip():
            return None
        # request() has decoded (and checked) the body already: decoding twice doubles the cost of
        # every page of a sync. A 204/205 or HEAD answer has no body to read.
        return getattr(response, _DECODED_ATTRIBUTE, None)

    def get(self, url: str, **kwargs) -> Any:
        return self.json("GET", url, **kwargs)

    def listing(self, url: str, items_key: str, **kwargs) -> Tuple[Any, Optional[list]]:
        """GET a page of a listing: (its parsed JSON, the exact JSON text of each item of its ``items_key``
        array, or None when the page is not shaped so) — see ``decode_listing``."""
        response = self.request("GET", url, expect_json=True, items_key=items_key, **kwargs)
        return getattr(response, _DECODED_ATTRIBUTE, None), getattr(response, _ITEM_TEXTS_ATTRIBUTE, None)

    def post(self, url: str, **kwargs) -> Any:
        return self.json("POST", url, **kwargs)

    # -- internals --------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff_factor * (2 ** (attempt - 1)))

    def _may_retry(self, attempt: int, waited: float, delay: float, deadline_at: Optional[float] = None) -> bool:
        if deadline_at is not None and time.monotonic() + delay >= deadline_at:
            return False
        return attempt <= self.max_retries and waited + delay <= self.max_total_wait

    def _exchange(self, method: str, url: str, kwargs: dict, deadline_at: float,
                  follow_redirects: bool = True, read_whole: bool = False) -> requests.Response:
        """One attempt: send, and follow redirects hop by hop; the response's body is not read yet (``read_whole``:
        it may be, by the keep-alive path of ``_send``).

        Credentials belong to an origin (scheme, host, port): the first address's, or those named by
        ``bind_credentials``. A hop to another origin goes without the ``auth`` object, without any header but
        ``_CROSS_ORIGIN_HEADERS`` and without cookies passed in — whatever the redirect's code and method
        (``requests`` itself strips only ``Authorization``). A 307/308 would send the request's body again:
        to another origin that is refused (a token request's body holds the user name and password)."""
        first = url_origin(url)
        hop = dict(kwargs)
        if self.credential_origins is not None and first not in self.credential_origins:
            hop = self._without_credentials(hop)
        for _hop in range(MAX_REDIRECTS + 1):
            hop["timeout"] = _bounded_timeout(kwargs["timeout"], deadline_at)
            response = self._send(method, url, hop, read_whole)
            if not (follow_redirects and response.is_redirect):
                return response
            status = response.status_code
            target = requote_uri(urljoin(response.url, self._session.get_redirect_target(response)))
            response.close()  # its body is not read: a redirect's body is nobody's business
            method, hop = _redirected(method, hop, status)
            origin = url_origin(target)
            if origin != first:
                if _carries_body(hop):
                    name = self.connection_name
                    raise CrossOriginRefused(
                        name, f"{name} redirected a request that carries data ({method} {redact_url(url)}, HTTP "
                              f"{status}) to another address, {_origin_text(origin)}; the plugin does not send "
                              f"this connection's data or credentials elsewhere, so it was not sent there. Check "
                              f"the connection's address.")
                hop = self._without_credentials(hop)
            logger.debug("%s %s redirected (HTTP %d) to %s", method, redact_url(url), status, redact_url(target))
            url = target
        raise requests.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")

    def _send(self, method: str, url: str, hop: dict, read_whole: bool) -> requests.Response:
        """One hop. A GET whose answer is read whole goes by ``KeepAliveGets`` where nothing of ``requests`` would
        be missed (see ``_keep_alive_allowed``): prepared by ``requests`` all the same (address, headers, the
        ``auth`` object), its response hooks run, its body read within ``max_json_bytes``. Anything else goes by
        ``requests``."""
        if not (read_whole and method == "GET" and self._keep_alive_allowed(url, hop)):
            return self._session.request(method, url, allow_redirects=False, stream=True, **hop)
        prepared = self._session.prepare_request(requests.Request(
            method, url, params=hop.get("params"), headers=hop.get("headers"), auth=hop.get("auth")))
        require_secure_url(prepared.url, self.connection_name)
        watchdog = _CURRENT_WATCHDOG.get()
        try:
            response = self._keep_alive_gets.send(
                prepared, url_origin(prepared.url), hop["timeout"], self.max_json_bytes,
                attach=watchdog.attach_connection if watchdog is not None else (lambda connection: None))
        except TooLarge as refused:
            raise self._too_large_error(method, redact_url(url), refused.status) from None
        return requests.hooks.dispatch_hook("response", prepared.hooks, response)

    def _keep_alive_allowed(self, url: str, hop: dict) -> bool:
        """No proxy for ``url`` (none set in QGIS, or the address excluded), nothing read from the environment
        (proxies, CA bundles, .netrc), TLS verified against requests' own bundle, the session's own adapter, and
        only arguments the keep-alive path sends as requests would."""
        session = self._session
        proxy = session.proxy
        if proxy is None or session.trust_env or session.verify is not True or session.cert:
            return False
        if proxy.mode != "none" and not proxy.is_excluded(url):
            return False
        if not set(hop) <= _KEEP_ALIVE_ARGUMENTS:
            return False
        return type(session.get_adapter(url)) is _DeadlineAdapter

    def _without_credentials(self, kwargs: dict) -> dict:
        kwargs = dict(kwargs)
        kwargs["auth"] = _no_auth  # not None: requests would use the session's auth (or .netrc) instead
        kwargs.pop("cookies", None)
        headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() in _CROSS_ORIGIN_HEADERS}
        for name in self._session.headers:
            if name.lower() not in _CROSS_ORIGIN_HEADERS:
                headers[name] = None  # requests drops a session header given as None
        kwargs["headers"] = headers
        return kwargs

    def _read_body(self, response: requests.Response, method: str, safe_url: str, watchdog: _Watchdog) -> None:
        """Read the answer into ``response.content``: at most ``max_json_bytes`` (an announced larger answer
        is refused before reading), and no later than the deadline (``watchdog``)."""
        if response.raw is None and response._content_consumed:  # read whole by the keep-alive path (``_send``)
            if watchdog.fired:  # the socket was shut under it: what it read ends early, or looks complete
                raise self._deadline_error(method, safe_url)
            return
        limit = self.max_json_bytes
        length = response.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > limit:
            response.close()
            raise self._too_large_error(method, safe_url, response.status_code)
        watchdog.attach_response(response)
        chunks = []
        size = 0
        try:
            for chunk in response.iter_content(BODY_CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    response.close()
                    raise self._too_large_error(method, safe_url, response.status_code)
                chunks.append(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
                OSError) as exc:  # what a cut read raises differs between requests/urllib3 versions (and TLS)
            response.close()
            if watchdog.fired:
                raise self._deadline_error(method, safe_url) from None
            if isinstance(exc, requests.RequestException):
                raise
            raise requests.exceptions.ConnectionError(type(exc).__name__) from None
        if watchdog.fired:  # urllib3 1 returns what it had when the connection is shut
            response.close()
            raise self._deadline_error(method, safe_url)
        response._content = b"".join(chunks)
        response._content_consumed = True
        response.close()  # the whole body was read: this hands the connection back to the pool

    def _too_large_error(self, method: str, safe_url: str, status: Optional[int]) -> AnswerTooLarge:
        name = self.connection_name
        return AnswerTooLarge(
            name, f"the provider {name} answered with more data than the plugin reads at once (larger than "
                  f"{self.max_json_bytes // (1024 * 1024)} MB) to {method} {safe_url}; it was not read. Ask for "
                  f"less (a smaller page or area), or tell the provider.", status)

    def _deadline_error(self, method: str, safe_url: str) -> ProviderTimeout:
        name = self.connection_name
        return ProviderTimeout(
            name, f"{name} did not finish answering within {self.deadline:g} s, the most one request may take; "
                  f"it may be overloaded or the connection very slow, try again later ({method} {safe_url})")

    def _download_deadline_error(self, what: str, safe_url: str, done: int, total: Optional[int],
                                 started: float) -> ProviderTimeout:
        name = self.connection_name
        got = f"{done} of {total} bytes" if total is not None else f"{done} bytes"
        return ProviderTimeout(
            name, f"the download of {what} from {name} was stopped after {time.monotonic() - started:.0f} s with "
                  f"{got}: it arrived slower than {DOWNLOAD_FLOOR_BYTES_PER_SECOND // 1024} KB/s, the least a "
                  f"download may average after its first {self.deadline:g} s; the server or the connection is "
                  f"stalling, try again later (GET {safe_url})")

    def _interrupted_error(self, exc: BaseException, what: str, safe_url: str, done: int,
                           total: Optional[int]) -> ProviderError:
        name = self.connection_name
        logger.debug("Download GET %s broke off after %d bytes: %s", safe_url, done, type(exc).__name__)
        got = f"{done} of {total} bytes" if total is not None else f"{done} bytes"
        if _is_read_timeout(exc):
            read_timeout = self.timeout[1] if isinstance(self.timeout, tuple) else self.timeout
            return ProviderTimeout(
                name, f"the download of {what} from {name} stalled after {got}: nothing arrived for "
                      f"{read_timeout} s; try again (GET {safe_url})")
        return ProviderUnreachable(
            name, f"the download of {what} from {name} broke off after {got}: the connection was interrupted; "
                  f"try again (GET {safe_url})")

    def _cancel_requested(self) -> bool:
        return (self._cancelled is not None and self._cancelled()) or cancellation_requested()

    def _wait(self, delay: float, method: str, safe_url: str, attempts: int, problem: str) -> None:
        """The backoff before a retry; with a cancellation check in force, in slices that look at it."""
        if self._cancelled is None and not _CANCEL_CHECKS.get():
            self._sleep(delay)
            return
        remaining = delay
        # Bounded: the delay is at most max_backoff, so at most max_backoff / CANCEL_POLL_SECONDS slices.
        while True:
            if self._cancel_requested():
                raise self._cancelled_error(method, safe_url, attempts, problem)
            if remaining <= 1e-9:
                return
            step = min(CANCEL_POLL_SECONDS, remaining)
            self._sleep(step)
            remaining -= step

    def _cancelled_error(self, method: str, safe_url: str, attempts: int, problem: str) -> RequestCancelled:
        name = self.connection_name
        logger.info("%s %s cancelled after %d attempt(s)", method, safe_url, attempts)
        if attempts == 0:
            return RequestCancelled(name, f"Cancelled before contacting {name}: the request was not sent "
                                          f"({method} {safe_url}).", attempts)
        return RequestCancelled(name, f"Cancelled while waiting to retry {name} ({method} {safe_url}; "
                                      f"{problem or 'it failed'}).", attempts)

    def _check_json(self, response: requests.Response, method: str, safe_url: str,
                    items_key: Optional[str] = None) -> None:
        if response.status_code in (204, 205) or method == "HEAD" or not response.content.strip():
            return
        try:
            if items_key is None:
                setattr(response, _DECODED_ATTRIBUTE, decode_json(response.content))
            else:
                decoded, texts = decode_listing(response.content, items_key)
                setattr(response, _DECODED_ATTRIBUTE, decoded)
                setattr(response, _ITEM_TEXTS_ATTRIBUTE, texts)
        except JsonTooDeep:
            raise AnswerTooDeep(
                self.connection_name,
                f"the provider {self.connection_name} answered something unreadable to {method} {safe_url}: "
                f"its JSON is nested deeper than {MAX_JSON_DEPTH} levels, which no answer of this API is",
                response.status_code) from None
        except NonFiniteNumber:
            raise UnreadableResponse(
                self.connection_name,
                f"the provider {self.connection_name} answered something unreadable to {method} {safe_url}: "
                f"its JSON holds NaN or an infinite number, which JSON does not allow",
                response.status_code) from None
        except ValueError:
            content_type = response.headers.get("Content-Type", "unknown type")
            logger.debug("%s %s: expected JSON, got %s (%d bytes)", method, safe_url, content_type,
                         len(response.content))
            hint = " (an HTML page: perhaps a proxy or login portal answered instead)" \
                if "html" in content_type.lower() else ""
            raise UnreadableResponse(
                self.connection_name,
                f"the provider {self.connection_name} answered something unreadable to {method} "
                f"{safe_url}: expected JSON, got {content_type}{hint}",
                response.status_code,
            ) from None

    def _error_from_response(self, response: requests.Response, method: str, safe_url: str,
                             retry_after: Optional[float]) -> ProviderError:
        name = self.connection_name
        status = response.status_code
        provider_message, field_errors = extract_provider_message(_error_body(response))
        said = f" The provider says: {provider_message}" if provider_message else ""
        where = f"({method} {safe_url}, HTTP {status})"
        logger.debug("%s %s failed with HTTP %d", method, safe_url, status)
        if status == 401:
            return CredentialsRejected(
                name, f"credentials rejected by {name}: check the key or password stored for this "
                      f"connection {where}.{said}", status)
        if status == 403:
            return AccessForbidden(
                name, f"{name} accepted the credentials but does not allow this request; the account "
                      f"may lack the permission, contract or product {where}.{said}", status)
        if status == 404:
            return NotFoundError(name, f"{name} does not know this item or address {where}.{said}", status)
        if status == 407:
            return ProxyRejected(
                name, f"the proxy refused its credentials while reaching {name}: check the proxy user "
                      f"and password in QGIS Options > Network {where}", status)
        if status == 429:
            wait = f" Try again in {retry_after:.0f} s." if retry_after else " Try again later."
            return RateLimited(name, f"{name} is limiting the number of requests {where}.{wait}{said}",
                               status, retry_after)
        if status >= 500:
            return ProviderUnavailable(
                name, f"{name} has a problem on its side; try again later {where}.{said}", status)
        message = f"{name} rejected the request {where}."
        message += said if provider_message else " It gave no reason."
        return RequestRejected(name, message, status, provider_message, field_errors)

    def _error_from_exception(self, exc: requests.RequestException, method: str, safe_url: str,
                              timeout: Any) -> ProviderError:
        name = self.connection_name
        host = urlsplit(safe_url).hostname or "the host"
        via_proxy = self.proxy is not None and self.proxy.mode == "http"
        connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        # The exception text can hold URLs with secrets and proxy credentials: only its type is logged.
        logger.debug("%s %s raised %s", method, safe_url, type(exc).__name__)
        if isinstance(exc, requests.exceptions.ProxyError):
            text = str(exc)
            if "407" in text:
                return ProxyRejected(
                    name, f"the proxy refused its credentials while reaching {name}: check the proxy user "
                          f"and password in QGIS Options > Network ({method} {safe_url})", 407)
            return ProviderUnreachable(
                name, f"could not reach {name} through the proxy set in QGIS Options > Network: check "
                      f"that the proxy is running and its address is right ({method} {safe_url})")
        if isinstance(exc, requests.exceptions.SSLError):
            return TlsVerificationFailed(
                name, f"the TLS certificate of {host} could not be verified, so {name} was not contacted: "
                      f"the address may be wrong, or something is intercepting the connection "
                      f"({method} {safe_url})")
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return ProviderTimeout(
                name, f"{host} did not accept a connection within {connect_timeout} s: check the network"
                      f"{' and the proxy' if via_proxy else ''} ({method} {safe_url})")
        if isinstance(exc, requests.exceptions.Timeout):
            return ProviderTimeout(
                name, f"{name} did not answer within {read_timeout} s; it may be busy, try again later "
                      f"({method} {safe_url})")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return ProviderUnreachable(
                name, f"could not reach {name} at {host}: check the address, the network connection"
                      f"{' and the proxy' if via_proxy else ''} ({method} {safe_url})")
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                            requests.exceptions.InvalidSchema)):
            return ProviderError(name, f"the address {safe_url} of {name} is not valid")
        return ProviderUnreachable(name, f"the request to {name} failed ({type(exc).__name__}, "
                                         f"{method} {safe_url})")


# What a hop of ``_exchange`` may carry for the keep-alive path to send it as requests would.
_KEEP_ALIVE_ARGUMENTS = frozenset({"params", "headers", "auth", "timeout"})

#: Headers that may go to another origin on a redirect; every other one (Authorization, X-API-Key, whatever
#: an auth object or a caller added) stays with the origin it was meant for.
_CROSS_ORIGIN_HEADERS = frozenset({
    "user-agent", "accept", "accept-encoding", "accept-language", "connection", "content-type", "range",
    "if-none-match", "if-modified-since", "cache-control",
})


def _no_auth(request):
    return request


def _redirected(method: str, kwargs: dict, status: int) -> tuple:
    """(method, request arguments) of the next hop, as browsers and ``requests`` do: 303 (and 302, and a
    301 of a POST) becomes a GET without body; 307/308 repeat the request as it was."""
    if status in (302, 303) and method != "HEAD":
        method = "GET"
    elif status == 301 and method == "POST":
        method = "GET"
    if status not in (307, 308):
        kwargs = {k: v for k, v in kwargs.items() if k not in ("data", "json", "files")}
        if kwargs.get("headers"):
            kwargs["headers"] = {k: v for k, v in kwargs["headers"].items() if k.lower() != "content-type"}
    return method, kwargs


def _carries_body(kwargs: dict) -> bool:
    return kwargs.get("json") is not None or bool(kwargs.get("data")) or bool(kwargs.get("files"))


def _bounded_timeout(timeout: Any, deadline_at: float) -> Any:
    """The (connect, read) timeout, neither longer than what is left before the deadline."""
    left = max(0.001, deadline_at - time.monotonic())
    if isinstance(timeout, tuple):
        return tuple(left if t is None else min(t, left) for t in timeout)
    return left if timeout is None else min(timeout, left)


def _is_read_timeout(exc: BaseException) -> bool:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, socket.timeout)):
            return True
        inner = [a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)]
        exc = inner[0] if inner else (exc.__cause__ or exc.__context__)
        seen += 1
    return False


def _socket_of(response: requests.Response) -> Optional[socket.socket]:
    raw = getattr(response, "raw", None)
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:  # http.client's socket file (urllib3 1 and 2 keep it there as well)
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


# The watchdog of the attempt running in this thread (the connection pools below attach their connection to it).
_CURRENT_WATCHDOG: contextvars.ContextVar = contextvars.ContextVar("tasking_watchdog", default=None)


class _DeadlineWatcher:
    """One thread for every watchdog: it sleeps until the earliest deadline (at most ``IDLE_SECONDS``), fires
    those that passed, and ends once no watchdog has been pending for ``IDLE_SECONDS`` (a thread per request
    would cost more than a small answer takes to read).

    A request's start and end do not wake the thread unless its deadline is earlier than the thread's next
    wake-up: on a sync's thousands of requests, two wake-ups each were thousands of hand-overs of Python's lock
    between the sync's threads for nothing."""

    IDLE_SECONDS = 2.0

    def __init__(self):
        self._condition = threading.Condition()
        self._heap: list = []
        self._order = itertools.count()
        self._pending = 0
        self._thread: Optional[threading.Thread] = None
        self._wakes_at = math.inf  # when the thread's current wait ends

    def watch(self, watchdog: _Watchdog, at: float) -> None:
        with self._condition:
            heapq.heappush(self._heap, (at, next(self._order), watchdog))
            self._pending += 1
            if self._thread is None:
                self._wakes_at = -math.inf
                self._thread = threading.Thread(target=self._run, name="tasking-deadlines", daemon=True)
                self._thread.start()
            elif at < self._wakes_at:
                self._condition.notify()

    def forget(self, watchdog: _Watchdog) -> None:
        with self._condition:
            self._pending -= 1
            if self._pending == 0:
                self._heap.clear()  # only finished ones were left; the thread ends after IDLE_SECONDS of this
            elif len(self._heap) > 2 * self._pending + 64:  # finished ones pile up behind a live one
                self._heap = [entry for entry in self._heap if not entry[2].finished]
                heapq.heapify(self._heap)

    def _run(self) -> None:
        idle_since = None
        while True:
            due = []
            with self._condition:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].finished or self._heap[0][0] <= now):
                    watchdog = heapq.heappop(self._heap)[2]
                    if not watchdog.finished:
                        due.append(watchdog)
                if not due:
                    if self._pending:
                        idle_since = None
                    elif idle_since is None:
                        idle_since = now
                    elif now - idle_since >= self.IDLE_SECONDS:
                        self._thread = None
                        self._wakes_at = math.inf
                        return
                    self._wakes_at = min(now + self.IDLE_SECONDS, self._heap[0][0] if self._heap else math.inf)
                    self._condition.wait(self._wakes_at - now)
                    continue
            for watchdog in due:
                watchdog.fire()


_DEADLINES = _DeadlineWatcher()


class _Watchdog:
    """Shuts the connection of an attempt still running when its request's deadline passes.

    A read timeout bounds one read only, and a read asks for a whole line or chunk: a server sending a byte
    now and then — in its headers or its body — would hold the reader for as long as it likes. The
    connection pools of ``_DeadlineAdapter`` attach the connection they use (``_CURRENT_WATCHDOG``); an
    answer's own socket is attached when no pool did (an adapter mounted by someone else). Shutting the
    socket from another thread (``_DeadlineWatcher``) ends a blocked read at once, on every platform; the
    reader then sees ``fired``.
    """

    def __init__(self, seconds: float):
        self.fired = False
        self.finished = False
        self._seconds = seconds
        self._connection: Any = None
        self._socket: Optional[socket.socket] = None
        self._token = None

    def __enter__(self):
        self._token = _CURRENT_WATCHDOG.set(self)
        _DEADLINES.watch(self, time.monotonic() + max(self._seconds, 0.0))
        return self

    def __exit__(self, *exc_info):
        self.finished = True
        _DEADLINES.forget(self)
        _CURRENT_WATCHDOG.reset(self._token)
        self._connection = self._socket = None

    def attach_connection(self, connection: Any) -> None:
        self._connection = connection

    def attach_response(self, response: requests.Response) -> None:
        # Also when a pool attached its connection: an answer saying "Connection: close" leaves the connection
        # without a socket (http.client hands it to the answer's file), and the body is read from there.
        self._socket = _socket_of(response)

    def fire(self) -> None:
        if self.finished:
            return
        self.fired = True
        for sock in (getattr(self._connection, "sock", None), self._socket):
            if isinstance(sock, socket.socket):
                try:
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass


class _WatchedPool:
    def _make_request(self, conn, *args, **kwargs):
        watchdog = _CURRENT_WATCHDOG.get()
        if watchdog is not None:
            watchdog.attach_connection(conn)
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPPool(_WatchedPool, urllib3.HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_WatchedPool, urllib3.HTTPSConnectionPool):
    pass


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connection pools (direct or through a proxy) show the attempt's watchdog the
    connection they use."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if getattr(manager, "pool_classes_by_scheme", None) is not None:
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


_DECODED_ATTRIBUTE = "_tasking_decoded_json"
_ITEM_TEXTS_ATTRIBUTE = "_tasking_item_texts"
class NonFiniteNumber(ValueError):
    """NaN or an infinite number: Python's json reads them, no JSON standard allows them, and the
    store could not write them back."""


def _refuse_non_finite(constant: str):
    raise NonFiniteNumber(f"{constant} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise NonFiniteNumber(f"{text} overflows a float")
    return value


def decode_json(content: bytes) -> Any:
    """JSON from a body, refusing NaN and infinities and nesting deeper than ``MAX_JSON_DEPTH``
    (``JsonTooDeep``); the per-number check only runs when a large exponent makes an overflow possible (it
    would cost a Python call for every number)."""
    check_json_depth(content, MAX_JSON_DEPTH)
    try:
        if may_hold_overflowing_number(content):
            return json.loads(content, parse_constant=_refuse_non_finite, parse_float=_finite_float)
        return json.loads(content, parse_constant=_refuse_non_finite)
    except RecursionError:  # only with a stack already deep when reading began
        raise JsonTooDeep("JSON nested too deeply to read") from None


_PLAIN_DECODER = json.JSONDecoder(parse_constant=_refuse_non_finite)
_CHECKING_DECODER = json.JSONDecoder(parse_constant=_refuse_non_finite, parse_float=_finite_float)


def decode_listing(content: bytes, items_key: str) -> Tuple[Any, Optional[list]]:
    """(JSON of a listing page, the exact JSON text of each item of its ``items_key`` array).

    The texts are what the provider sent for each item, so a store can keep an item's answer without
    encoding it again (for thousands of captures, that encoding costs more than reading them). The page
    is read once, item by item, with the same checks as ``decode_json``. Anything but an object holding
    that array of objects is read as ``decode_json`` reads it, without texts (None).
    """
    check_json_depth(content, MAX_JSON_DEPTH)
    decoder = _CHECKING_DECODER if may_hold_overflowing_number(content) else _PLAIN_DECODER
    try:
        text = content.decode("utf-8")
        walked = listing_with_item_texts(text, items_key, decoder)
    except NonFiniteNumber:
        raise
    except RecursionError:
        raise JsonTooDeep("JSON nested too deeply to read") from None
    except (UnicodeDecodeError, StopIteration, IndexError, ValueError):
        walked = None
    if walked is None:
        return decode_json(content), None
    return walked


def build_session(connection_name: str, user_agent: str, proxy: Optional[ProxyConfig] = None,
                  timeout: Tuple[float, float] = (5.0, 30.0), max_retries: int = 4,
                  backoff_factor: float = 0.5, max_backoff: float = 30.0, max_total_wait: float = 60.0,
                  auth: Optional[Callable] = None,
                  sleep: Callable[[float], None] = time.sleep,
                  cancelled: Optional[CancelSignal] = None,
                  deadline: float = DEFAULT_DEADLINE_SECONDS) -> TaskingSession:
    """The session every provider uses.

    ``proxy=None`` means "no QGIS configuration": requests' own environment handling, as in any
    Python script. Inside QGIS pass ``network_proxy.proxy_config_from_qgis_settings()``.
    """
    return TaskingSession(connection_name, user_agent, proxy=proxy, timeout=timeout, max_retries=max_retries,
                          backoff_factor=backoff_factor, max_backoff=max_backoff,
                          max_total_wait=max_total_wait, auth=auth, sleep=sleep, cancelled=cancelled,
                          deadline=deadline)
