"""The sandbox's simulated clock as the dock shows and steers it: read it, set its speed, jump to the next event.

Plain HTTP to the sandbox's control endpoint (``/_sandbox/clock``) on 127.0.0.1; no Qt. Called from background
tasks: the monitor never waits for the sandbox on QGIS's GUI thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

import requests

from .sandbox.core import parse_time

TIMEOUT_S = 10
# The speeds the dock offers: simulated seconds per real second.
SPEEDS = ((0.0, "Pause"), (1.0, "×1"), (60.0, "×60"), (3600.0, "×3600"))


@dataclass(frozen=True)
class SandboxTime:
    now: datetime
    speed: float
    next_event: Optional[datetime] = None


def _answer(response) -> SandboxTime:
    response.raise_for_status()
    body = response.json()
    upcoming = body.get("next_event")
    return SandboxTime(now=parse_time(body["now"]), speed=float(body.get("speed", 0)),
                       next_event=parse_time(upcoming) if upcoming else None)


def read_clock(url: str) -> SandboxTime:
    return _answer(requests.get(f"{url.rstrip('/')}/_sandbox/clock", timeout=TIMEOUT_S))


def set_speed(url: str, speed: float) -> SandboxTime:
    return _answer(requests.post(f"{url.rstrip('/')}/_sandbox/clock", json={"speed": float(speed)},
                                 timeout=TIMEOUT_S))


def jump_to_next_event(url: str) -> SandboxTime:
    return _answer(requests.post(f"{url.rstrip('/')}/_sandbox/clock", json={"next_event": True},
                                 timeout=TIMEOUT_S))
