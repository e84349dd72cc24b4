"""Core of the provider sandbox: simulated clock, request/response types, seeded world, errors.

Standard library only; imports nothing from the rest of the plugin (the sandbox stands in for remote servers).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

DEFAULT_START = datetime(2026, 1, 5, tzinfo=timezone.utc)

DEFAULT_SETTINGS: Dict[str, Any] = {
    # Seconds of SIMULATED time a UP42 access token lives (the SDK refreshes from expires_in).
    "up42_token_lifetime": 300,  # nosec B105  # seconds, not a token
    # Probability that a UP42 tasking order fails permanently somewhere in its life (seeded per order).
    "up42_failure_rate": 0.05,
}


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset) into a tz-aware UTC datetime."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with ``Z`` and millisecond precision, the shape the real services answer."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Clock:
    """Simulated time: ``start + advanced offset + elapsed real time * speed``.

    ``speed`` 0 freezes the clock between explicit advances, which makes runs byte-reproducible.
    """

    def __init__(self, start: datetime, speed: float = 1.0):
        if start.tzinfo is None:
            raise ValueError("Clock start must be timezone-aware")
        if speed < 0:
            raise ValueError("Clock speed must be >= 0")
        self.start = start.astimezone(timezone.utc)
        self.speed = float(speed)
        self._offset = 0.0
        self._real_origin = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._real_origin) * self.speed
            return self.start + timedelta(seconds=self._offset + elapsed)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("The clock only moves forward")
        with self._lock:
            self._offset += float(seconds)

    def set_speed(self, speed: float) -> None:
        """Run on at ``speed`` simulated seconds per real second from now on (0 pauses); no time is lost."""
        if speed < 0:
            raise ValueError("Clock speed must be >= 0")
        with self._lock:
            real = time.monotonic()
            self._offset += (real - self._real_origin) * self.speed
            self._real_origin = real
            self.speed = float(speed)

    def to_state(self) -> dict:
        return {"now": iso(self.now())}

    @classmethod
    def from_state(cls, d: dict, speed: float) -> Clock:
        return cls(parse_time(d["now"]), speed)


@dataclass
class Request:
    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: bytes
    base_url: str
    prefix: str

    def json(self) -> object:
        if not self.body:
            raise HttpError(
                400, problem(400, "Bad Request", "The request body is empty; a JSON body is required.")
            )
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise HttpError(
                400, problem(400, "Bad Request", f"The request body is not valid JSON: {exc}")
            ) from exc

    def arg(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """First value of a query parameter, or ``default``."""
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def full_path(self) -> str:
        return self.prefix + self.path


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)


def dumps(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def json_response(status: int, obj, headers: Optional[dict] = None) -> Response:
    all_headers = {"Content-Type": "application/json"}
    if headers:
        all_headers.update(headers)
    return Response(status, dumps(obj), all_headers)


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def problem(status: int, title: Optional[str] = None, detail: str = "", instance: str = "") -> dict:
    """An RFC 7807 problem body."""
    return {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
    }


class HttpError(Exception):
    """Raised by a dialect; the server answers ``json_response(status, body, headers)``."""

    def __init__(self, status: int, body: object, headers: Optional[dict] = None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def _digest(*parts) -> bytes:
    text = "\x1f".join(repr(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).digest()


class World:
    """Everything the dialects share: clock, seed, settings and the one lock every request holds."""

    def __init__(self, clock: Clock, seed: int = 1, settings: Optional[dict] = None):
        self.clock = clock
        self.seed = int(seed)
        self.lock = threading.RLock()
        self.settings: Dict[str, Any] = dict(DEFAULT_SETTINGS)
        if settings:
            self.settings.update(settings)
        self._counter = 0

    def random(self, *key) -> random.Random:
        return random.Random(int.from_bytes(_digest(self.seed, *key)[:16], "big"))  # nosec B311  # a simulation, replayable from its seed

    def new_id(self, *key) -> str:
        self._counter += 1
        raw = bytearray(_digest(self.seed, *key, self._counter)[:16])
        return str(uuid.UUID(bytes=bytes(raw), version=4))

    def to_state(self) -> dict:
        return {
            "seed": self.seed,
            "counter": self._counter,
            "settings": self.settings,
            "clock": self.clock.to_state(),
        }

    def load_state(self, state: dict) -> None:
        self._counter = int(state.get("counter", 0))
        self.settings.update(state.get("settings", {}))
