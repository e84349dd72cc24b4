"""The sandbox as tests use it: its control API and providers of each kind connected to it.

Importable as ``sandbox_harness`` from every test folder (tests/conftest.py registers it by name, as tests import
with --import-mode=importlib and no folder is on ``sys.path``). The fixtures built on it live in tests/conftest.py.

- ``SandboxControl(target)``: the sandbox's ``/_sandbox/...`` control API (clock, request log, faults, settings,
  seeded orders); ``target`` is a ``SandboxServer``, the plugin's ``SandboxService`` or a base URL.
- ``control(target, method, path, payload=None)``: one control call, its JSON answer (a non-2xx answer fails
  with its text).
- ``quick_session(name)``: a provider session for tests: short timeouts, retries without their waits.
- ``up42_provider_for``, ``planet_provider_for``, ``stapi_provider_for``, ``sandbox_provider_for``: a provider of
  that kind connected to a sandbox.
- ``QUIET``: sandbox settings with no random rejections, failures or re-assessments.
- ``sandbox_process(*arguments, python=sys.executable)``: the sandbox as a process of its own
  (``python -m plugin.sandbox --port 0 …``), a context manager giving the process and the URL it listens on.
- ``fault_mix(status, delay, drop_before, drop_after, malformed)``: the fault rules the soak tests draw from (every
  status, refusal and broken connection the providers meet), at the probabilities given.
- ``HOUR``, ``DAY``: seconds, as the sandbox's clock is advanced.
- ``UP42_OPTICAL``, ``UP42_OPTICAL_PARAMS``: the sandbox's UP42 optical product and valid parameters for it;
  ``BERLIN``, ``PARIS``: two small valid polygons (GeoJSON).
"""
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

QUIET: Dict[str, float] = {
    "planet_rejection_rate": 0.0,
    "planet_capture_failure_rate": 0.0,
    "planet_reassessment_rate": 0.0,
    "up42_failure_rate": 0.0,
}
TEST_AGENT = "SatelliteTasking/test"
REPO_ROOT = Path(__file__).resolve().parents[1]

# The sandbox's UP42 optical product (Pléiades Neo) and a complete set of its order parameters.
HOUR = 3600
DAY = 24 * HOUR
UP42_OPTICAL = "a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"
UP42_OPTICAL_PARAMS: Dict[str, Any] = {
    "acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-02-10T23:59:59Z",
    "acquisitionMode": "mono", "maxCloudCover": 10, "maxIncidenceAngle": 30, "geometricProcessing": "ortho",
    "projection": "UTM", "spectralBands": "4BANDS", "pixelCoding": "12bits",
    "radiometricProcessing": "REFLECTANCE", "priority": "STANDARD",
}
BERLIN = {"type": "Polygon",
          "coordinates": [[[13.30, 52.45], [13.50, 52.45], [13.50, 52.58], [13.30, 52.58], [13.30, 52.45]]]}
PARIS = {"type": "Polygon",
         "coordinates": [[[2.25, 48.80], [2.42, 48.80], [2.42, 48.90], [2.25, 48.90], [2.25, 48.80]]]}


def base_url_of(target: Any) -> str:
    """The sandbox's base URL from a SandboxServer (``base_url``), a SandboxService (``url()``) or a URL."""
    if isinstance(target, str):
        return target.rstrip("/")
    url = getattr(target, "base_url", None)
    return (url if isinstance(url, str) else target.url()).rstrip("/")


class SandboxControl:
    """The sandbox's control API, spoken over HTTP as a test (or a person with curl) would."""

    def __init__(self, target: Any, timeout: float = 30):
        self.target = target
        self.timeout = timeout

    @property
    def base_url(self) -> str:
        return base_url_of(self.target)

    def call(self, method: str, path: str, payload: Any = None, *, params: Optional[dict] = None,
             headers: Optional[dict] = None) -> Any:
        import requests

        response = requests.request(method, self.base_url + path, json=payload, params=params, headers=headers,
                                    timeout=self.timeout)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    # -- the clock -------------------------------------------------------------------------------------------
    def clock(self) -> dict:
        return self.call("GET", "/_sandbox/clock")

    def now(self) -> datetime:
        text = self.clock()["now"]
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)

    def advance(self, seconds: float) -> dict:
        return self.call("POST", "/_sandbox/clock", {"advance_seconds": seconds})

    # -- what it was asked -------------------------------------------------------------------------------------
    def requests(self, method: Optional[str] = None, path_part: str = "") -> List[dict]:
        """The logged requests, those of ``method`` whose path contains ``path_part`` when given."""
        entries = self.call("GET", "/_sandbox/requests")["requests"]
        return [e for e in entries if (method is None or e["method"] == method) and path_part in e["path"]]

    def forget_requests(self) -> None:
        self.call("DELETE", "/_sandbox/requests")

    # -- how it answers ----------------------------------------------------------------------------------------
    def add_fault(self, **rule: Any) -> List[dict]:
        """The rule as the sandbox keeps it (with its id and how often it fired), in a list."""
        return self.call("POST", "/_sandbox/faults", rule)["rules"]

    def faults(self) -> List[dict]:
        return self.call("GET", "/_sandbox/faults")["rules"]

    def clear_faults(self) -> None:
        self.call("DELETE", "/_sandbox/faults")

    def settings(self, **values: Any) -> dict:
        return self.call("POST", "/_sandbox/settings", values)

    def seed_orders(self, api: str, payload: dict) -> dict:
        """Orders made directly in the sandbox (``api``: up42, planet or stapi), as if placed elsewhere."""
        return self.call("POST", f"/_sandbox/{api}/seed_orders", payload)


# Each status rule of ``fault_mix``: (status, Retry-After or None, its probability as a share of the plain 500's)
STATUS_FAULTS: Tuple[Tuple[int, Optional[int], float], ...] = (
    (500, None, 1.0), (502, 0, 0.75), (502, None, 0.5), (503, 1, 0.75), (503, None, 0.75), (429, 2, 0.75),
    (429, None, 0.5),
)


def fault_mix(status: float, delay: Tuple[float, float], drop_before: float, drop_after: float,
              malformed: float) -> List[Dict[str, Any]]:
    """Fault rules for ``SandboxControl.faults`` (the first that fires wins): 500, 502, 503 and 429 with and without
    Retry-After (``status`` is the 500's probability, the others a share of it: ``STATUS_FAULTS``), an answer
    ``delay[0]`` seconds late (probability ``delay[1]``), the connection dropped before or after the sandbox handled
    the request, and malformed JSON."""
    rules: List[Dict[str, Any]] = []
    for code, retry_after, share in STATUS_FAULTS:
        rule: Dict[str, Any] = {"kind": "status", "status": code}
        if retry_after is not None:
            rule["retry_after"] = retry_after
        rules.append({**rule, "probability": round(status * share, 9)})
    seconds, delay_probability = delay
    return rules + [
        {"kind": "delay", "seconds": seconds, "probability": delay_probability},
        {"kind": "drop_before", "probability": drop_before},
        {"kind": "drop_after", "probability": drop_after},
        {"kind": "malformed", "probability": malformed},
    ]


def control(target: Any, method: str, path: str, payload: Any = None, **options: Any) -> Any:
    """One control call (``options``: params, headers, timeout), its JSON answer; a non-2xx answer fails."""
    timeout = options.pop("timeout", 30)
    return SandboxControl(target, timeout=timeout).call(method, path, payload, **options)


@contextmanager
def sandbox_process(*arguments: str, python: str = sys.executable) -> Iterator[Tuple[subprocess.Popen, str]]:
    """``python -m plugin.sandbox --port 0 <arguments>`` from the repository root, as a person starts it; the
    process and the URL its first line says it listens on. Terminated (and waited for) on the way out."""
    process = subprocess.Popen([python, "-m", "plugin.sandbox", "--port", "0", *arguments], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("listening on "), line + process.stderr.read()
        yield process, line.split("listening on ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


# Which way the sessions of a test read, for modules that run every test both ways (the ``reading_way`` fixture of
# tests/conftest.py sets it): None, no proxy configuration from QGIS, so requests reads the environment and every read
# goes by requests; or QGIS's proxy off, so reads take the keep-alive path (plugin/fast/keep_alive_get.py).
READING: Dict[str, Any] = {"proxy": None}


def reading_proxy():
    """The proxy configuration a test session gets under the ``reading_way`` fixture (None outside it)."""
    return READING["proxy"]


def quick_session(name: str, agent: str = TEST_AGENT, **options: Any):
    """A provider session as the plugin builds it inside QGIS with its proxy off (``ProxyConfig(mode="none")``: so
    its reads take the keep-alive path, as the plugin's do), with short timeouts and retries that do not wait."""
    from satellite_tasking.plugin.http import ProxyConfig, build_session

    settings: Dict[str, Any] = {"timeout": (2, 5), "sleep": lambda seconds: None, "proxy": ProxyConfig(mode="none")}
    settings.update(options)
    return build_session(name, agent, **settings)


def session_factory(**options: Any) -> Callable[[Any], Any]:
    """What providers take to make a session for a connection: ``quick_session`` named after it."""
    return lambda connection: quick_session(connection.name, **options)


@dataclass(frozen=True)
class Credentials:
    """A username and password as QGIS's authentication database hands them to a provider."""

    username: str
    password: str = field(default="secret", repr=False)


def up42_provider_for(target: Any, username: str = "pilot@example.com", password: str = "secret",
                      name: str = "test UP42", connection_id: str = "up42-test",
                      session_options: Optional[dict] = None, **provider_options: Any):
    """``session_options`` go to ``quick_session`` (timeout, retries, …), ``provider_options`` to Up42Provider."""
    from satellite_tasking.plugin.model import Connection
    from satellite_tasking.plugin.providers.up42 import Up42Provider

    connection = Connection(id=connection_id, name=name, kind="up42", base_url=base_url_of(target))
    session = quick_session(name, **(session_options or {}))
    return Up42Provider(connection, Credentials(username, password), session, **provider_options)


def planet_provider_for(target: Any, key: str = "sandbox-key", name: str = "test Planet",
                        connection_id: str = "planet-1", session_options: Optional[dict] = None,
                        **provider_options: Any):
    """``session_options`` go to ``quick_session``, ``provider_options`` (pacer, …) to PlanetProvider."""
    from satellite_tasking.plugin.model import Connection
    from satellite_tasking.plugin.providers.planet import PlanetProvider

    connection = Connection(id=connection_id, name=name, kind="planet",
                            base_url=base_url_of(target) + "/tasking/v2")
    session = quick_session(name, **(session_options or {}))
    return PlanetProvider(connection, Credentials(key, ""), session, **provider_options)


def stapi_provider_for(target: Any, name: str = "test STAPI", connection_id: str = "stapi-1",
                       credentials: Optional[Credentials] = None):
    from satellite_tasking.plugin.model import Connection
    from satellite_tasking.plugin.providers.registry import create_provider

    connection = Connection(id=connection_id, name=name, kind="stapi", base_url=base_url_of(target) + "/stapi")
    return create_provider(connection, credentials, session_factory())


def sandbox_provider_for(target: Any, connection_id: str = "sandbox", name: str = "Sandbox",
                         session_options: Optional[dict] = None):
    """The Sandbox connection's provider: UP42, Planet and STAPI behind one, each call routed to its API.
    ``session_options`` go to ``quick_session`` (agent, timeout, max_retries, …)."""
    from satellite_tasking.plugin.model import Connection
    from satellite_tasking.plugin.providers.registry import create_provider

    connection = Connection(id=connection_id, name=name, kind="sandbox")
    return create_provider(connection, None, session_factory(**(session_options or {})),
                           sandbox_url=base_url_of(target))

