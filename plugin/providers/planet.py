"""Planet Tasking API v2 (SkySat tasking orders and their captures).

Wire facts: /work/shared/api/planet.md. Decisions this module makes:

* **The wire**: only the request fields and query parameters of ``planet_wire`` (each with its line of
  planet.md) are sent; every response field is optional except an order's ``id``; unknown statuses keep
  their raw text and are never final; any 2xx answers a write, and the order is read again after each.
* **Products** are Planet's order kinds by geometry (point, strip, area) plus Monitoring (point or line,
  ``scheduling_type`` MONITORING with an ``rrule``) and Assured (a point and one imaging window). Planet
  serves no JSON schema of its order form, so the plugin ships one per kind in
  ``resources/schemas/planet``; the order name comes from the draft and the geometry is the AOI. There is
  no cloud-cover field: the threshold is contractual, and a capture's own values are shown as read.
* **Authentication**: ``Authorization: api-key <KEY>`` added per request by a ``requests`` auth
  object on the session, never a default header, so the key cannot leak through a header dump.
* **Order names** carry the draft's ``client_reference``: ``<name> 2 [qgis-1a2b3c4d5e6f]``. The
  user's name stays first and readable; the bracketed tag makes each AOI's name unique, which is
  what reconciles a placement whose answer was lost (``name__icontains`` + exact comparison). Planet
  documents no tags, labels or metadata field on an order (planet.md, "Creating an order": the request
  fields are name, geometry, pl_number, product, times, angles, scheduling, delivery), so — unlike UP42,
  whose reference travels in ``tags`` — the name is the only documented place that comes back in a
  listing filter; the monitor shows the name without the bracket.
* **Placement never duplicates an order**: the one placement path (``placement.PlacementPath``). POSTs
  are never retried. Before posting, one listing of the draft's tag finds AOIs that already have an
  order (an earlier attempt whose answer was lost, or "Retry failed"); those are returned, not placed
  again. After POSTs that fail without a clear answer (timeout, dropped connection, 5xx, unreadable
  body), one more listing of the tag decides before those AOIs are reported as placed or failed.
* **Concurrency**: at most ``MAX_PARALLEL_POSTS`` requests at once from a ``ThreadPoolExecutor``
  sharing the one ``TaskingSession``. That is safe here: urllib3's connection pool is thread-safe,
  Planet sets no cookies we depend on and the api-key auth object is read-only; the pool's 10
  connections per host exceed the 4 workers. One shared session also keeps the user's proxy,
  user agent and retry settings without the provider having to rebuild them. Each job runs in a
  copy of the caller's ``contextvars`` context, so the caller's ``http.cancellable`` scope (a
  cancelled task) reaches the workers too.
* **Incremental reads** sort orders by ``-updated_time`` and stop paging at the first record older than
  ``since``, so a sync after a few changes reads one page. Captures are read one order per request
  (``order_id=<one id>``, the only documented form) and filtered by ``since`` here.
* **Pacing**: every request of a provider passes one ``RatePacer`` holding it inside Planet's published
  limits (300 requests a minute, 40 a second); a 429's ``Retry-After`` is honoured by the session.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Optional
from urllib.parse import urljoin

import requests
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from ..http import (
    NotFoundError,
    ProviderError,
    ProviderTimeout,
    RequestCancelled,
    RequestRejected,
    TaskingSession,
    UnreadableResponse,
    cancellation_requested,
    decode_json,
    follow_link,
    parse_retry_after,
)
from ..model import (
    Capture,
    Connection,
    Estimate,
    Order,
    OrderDraft,
    OrderStatus,
    Product,
    Status,
)
from ..records import isolated, record_id_text
from ..schema_validation import SchemaValidator
from ..utc import format_instant, parse_instant
from . import planet_wire as wire
from .base import NotSupported, TaskingProvider
from .placement import PlacementClaims, PlacementPath, PlacementProgressCallback, SendResult, Unclear, in_parallel

logger = logging.getLogger(__name__)

SCHEMA_FOLDER = Path(__file__).resolve().parents[2] / "resources" / "schemas" / "planet"

MAX_PARALLEL_POSTS = 4
PAGE_SIZE = 100
# Seconds added to the pacer's 1 s and 60 s windows.
PACING_MARGIN_S = 0.1
# The longest a 429's Retry-After holds every request of a provider (the session gives up on longer waits).
MAX_HOLD_SECONDS = 60.0
# planet.md "Order object and statuses": never treat FULFILLED as final for polling until its captures are
# PUBLISHED; keep polling slowly. Such orders have their captures read again at most this often.
FOLLOWED_UNTIL_PUBLISHED = frozenset({"FULFILLED"})
UNPUBLISHED_FOLLOW_INTERVAL = timedelta(minutes=15)
# ... and only while the order changed within this long: captures are published hours after acquisition, and a
# review is asked within two weeks of publication [planet.md "Captures"]. A capture that never will be (FAILED,
# named only by third-party code) does not keep its order followed for ever.
UNPUBLISHED_FOLLOW_HORIZON = timedelta(days=30)
# Planet's Tasking Dashboard rules for Flexible orders [planet.md "Scheduling types / products": TOI at least 14
# days, submitted at least 24 h before TOI start, max off-nadir 30°]. Whether the API enforces them is UNVERIFIED:
# the conservative reading is to warn in the client, not to block. The off-nadir limit is not checked: the API
# takes satellite elevation angles, and turning one into the other needs the satellite's altitude, which no
# Planet source gives (planet.md: never compute such things locally).
FLEXIBLE_KINDS = frozenset({"point", "strip", "area"})
FLEXIBLE_MIN_WINDOW = timedelta(days=14)
FLEXIBLE_MIN_LEAD = timedelta(hours=24)
# "areas under 25 sq km are charged as 25 sq km" [planet.md "Order kinds and geometry", Planet Tasking Dashboard
# docs]: stated on the area product, so the placement confirmation names it.
AREA_MIN_CHARGED_KM2 = 25.0
# Orders whose captures one capture stream reads, one request per order (see capture_page_streams).
ORDERS_PER_CAPTURE_STREAM = 10
# Bound on pages followed in one listing (100 000 records at the default page size).
MAX_PAGES = 1000
MAX_NAME_CHARS = 255
# How long an imaging-window search is polled, and how often.
WINDOW_SEARCH_TIMEOUT_S = 120.0
WINDOW_SEARCH_POLL_S = 2.0
ASSURED_PRODUCT = "Assured Tasking"
# Imaging windows are searched "not more than 7 days ahead" [docs.planet.com tasking/assured_tasking].
WINDOW_SEARCH_HORIZON = timedelta(days=7)

# Documented statuses only [planet.md "Order object and statuses"]; FINALIZING is community code but shows an
# order still being worked on. Anything else keeps its raw text, is never final and is followed like RECEIVED.
STATUS_MAP = {
    "RECEIVED": OrderStatus.RECEIVED,
    "REQUESTED": OrderStatus.RECEIVED,
    "PENDING": OrderStatus.ACCEPTED,
    "IN_PROGRESS": OrderStatus.TASKED,
    "FINALIZING": OrderStatus.PROCESSING,
    "FULFILLED": OrderStatus.COMPLETED,
    "REJECTED": OrderStatus.REJECTED,
    "CANCELLED": OrderStatus.CANCELLED,
    "EXPIRED": OrderStatus.EXPIRED,
}
CANCELLABLE_STATUSES = frozenset({"RECEIVED", "REQUESTED", "PENDING", "IN_PROGRESS"})
EDITABLE_STATUSES = frozenset({"PENDING", "REQUESTED", "IN_PROGRESS"})
START_EDITABLE_STATUSES = frozenset({"PENDING", "REQUESTED"})
EDITABLE_FIELDS = frozenset({"name", "rank", "end_time"})

# Order fields shown as the order's parameters: the documented request fields, as Planet echoes them.
PARAM_FIELDS = ("pl_number", "product", "scheduling_type", "start_time", "end_time", "sat_elevation_angle_min",
                "sat_elevation_angle_max", "rank", "rrule", "imaging_window")
# Form fields that build the monitoring ``rrule`` (never sent as such).
RRULE_FORM_FIELDS = ("rrule_frequency", "rrule_interval", "rrule_count")


@dataclass(frozen=True)
class OrderKind:
    id: str
    title: str
    geometry_types: tuple
    description: str


# Geometry per product [planet.md "Order kinds and geometry"]: SkySat Flexible = Point, Line or Area; SkySat
# Monitoring = Point, Line; Assured = Point only. Stereo has no documented API field, so it is not offered.
ORDER_KINDS = {
    kind.id: kind for kind in (
        OrderKind("point", "Point order", ("Point",),
                  "A Flexible capture around a point; Planet draws the guaranteed area around it (the order's "
                  "geometry as Planet returns it is shown)."),
        OrderKind("strip", "Strip order", ("LineString",),
                  "A Flexible SkySat strip along a line (Planet documents it as about 5 km wide)."),
        OrderKind("area", "Area order", ("Polygon",),
                  "A Flexible polygon; Planet cuts large areas into strips and rejects areas it cannot cut."),
        OrderKind("monitoring", "Monitoring order", ("Point", "LineString"),
                  "Repeated captures of a point or line on a recurrence (cadence and count chosen here)."),
        OrderKind("assured", "Assured order", ("Point",),
                  "A capture of a point in one imaging window Planet offered (search the windows first)."),
    )
}


class RatePacer:
    """Holds requests inside ``per_second`` and ``per_minute`` (sliding windows), shared by a provider's threads.

    ``wait()`` blocks until a request may go; a cancelled task (``http.cancellable``) stops the wait with
    ``RequestCancelled``. ``clock``/``sleep`` are for tests.
    """

    def __init__(self, per_second: int = wire.REQUESTS_PER_SECOND, per_minute: int = wire.REQUESTS_PER_MINUTE,
                 clock=time.monotonic, sleep=time.sleep, honour_holds: bool = True):
        self.per_second = per_second
        self.per_minute = per_minute
        self.honour_holds = honour_holds
        self._clock = clock
        self._sleep = sleep
        self._sent: deque = deque()
        self._lock = threading.Lock()
        self._held_until = 0.0
        self.waited = 0.0

    @classmethod
    def unpaced(cls) -> RatePacer:
        """No pacing at all: for benchmarks and soaks against the local sandbox, which skip every wait."""
        return cls(per_second=10 ** 9, per_minute=10 ** 9, honour_holds=False)

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a 429's ``Retry-After``): every thread of the provider waits, not only
        the one whose request was refused."""
        if not self.honour_holds:
            return
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + max(0.0, seconds))

    def _delay(self, now: float) -> float:
        while self._sent and self._sent[0] <= now - 60.0 - PACING_MARGIN_S:
            self._sent.popleft()
        delay = max(0.0, self._held_until - now)
        # A margin over each window: requests reach Planet a little later or closer together than they leave.
        if len(self._sent) >= self.per_minute:
            delay = max(delay, self._sent[len(self._sent) - self.per_minute] + 60.0 + PACING_MARGIN_S - now)
        if len(self._sent) >= self.per_second:
            delay = max(delay, self._sent[len(self._sent) - self.per_second] + 1.0 + PACING_MARGIN_S - now)
        return max(delay, 0.0)

    def wait(self, connection_name: str = "Planet") -> None:
        while True:
            with self._lock:
                now = self._clock()
                delay = self._delay(now)
                if delay <= 0:
                    self._sent.append(now)
                    return
            if cancellation_requested():
                raise RequestCancelled(connection_name, f"Cancelled while pacing requests to {connection_name} "
                                                        f"(Planet allows {self.per_minute} a minute).")
            step = min(delay, 0.05)
            self.waited += step
            self._sleep(step)


class PlanetApiKeyAuth(requests.auth.AuthBase):
    """``Authorization: api-key <KEY>`` on every request (the key never sits in session headers); each request
    (a retry too) first passes the provider's pacer."""

    def __init__(self, key: str, pacer: Optional[RatePacer] = None, connection_name: str = "Planet"):
        self._key = key
        self._pacer = pacer
        self._connection_name = connection_name

    def __call__(self, request):
        if self._pacer is not None:
            self._pacer.wait(self._connection_name)
            request.register_hook("response", self._heard)
        if self._key:
            request.headers["Authorization"] = f"api-key {self._key}"
        return request

    def _heard(self, response, *args, **kwargs):
        """A 429 with ``Retry-After`` holds the whole provider that long [planet.md "Rate limits"]."""
        if response.status_code == 429 and self._pacer is not None:
            seconds = parse_retry_after(response.headers.get("Retry-After"))
            if seconds is not None:
                self._pacer.hold(min(seconds, MAX_HOLD_SECONDS))
        return response

    def __repr__(self) -> str:
        return "PlanetApiKeyAuth(<hidden>)"


#: Planet's timestamps are read by the one UTC reader (``plugin/utc.py``); the name stays for its callers.
parse_time = parse_instant


def format_time(value) -> str:
    """A datetime (naive = UTC) as Planet wants it: UTC with six fraction digits and ``Z``; text is sent as the
    user gave it (the schema has checked it), so Planet names a bad value itself."""
    return format_instant(value, "micros") if isinstance(value, datetime) else str(value)


def normalise_status(raw_status) -> Status:
    raw = str(raw_status or "")
    code = STATUS_MAP.get(raw.upper())
    if code is None:
        logger.debug("Unknown Planet order status %r, shown as received", raw)
        code = OrderStatus.RECEIVED
    return Status(code, raw)


def flexible_rule_warnings(params: Mapping, now: datetime) -> list:
    """Sentences for the Tasking Dashboard's Flexible rules that ``params`` break (window shorter than 14 days,
    window starting less than 24 h after ``now``), ending with one saying the order may still be placed;
    ``[]`` when none is broken. Times missing from ``params`` are Planet's to choose: nothing is said of them."""
    start, end = parse_time(params.get("start_time")), parse_time(params.get("end_time"))
    found = []
    if start is not None:
        lead = start - now
        if lead < FLEXIBLE_MIN_LEAD:
            when = ("has already begun" if lead.total_seconds() <= 0 else
                    f"starts in {_hours_text(lead)}")
            found.append(f"The acquisition window {when}: Planet's Tasking Dashboard asks Flexible orders to be "
                         f"submitted at least 24 hours before their window starts.")
    if start is not None and end is not None and end - start < FLEXIBLE_MIN_WINDOW:
        found.append(f"The acquisition window is {_days_text(end - start)} long: Planet's Tasking Dashboard asks "
                     f"Flexible orders for a window of at least 14 days.")
    if found:
        found.append("Planet may refuse such an order or be less likely to fulfil it (whether its API enforces "
                     "these dashboard rules is not documented); you can still place it.")
    return found


def _hours_text(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours < 1:
        minutes = max(1, round(span.total_seconds() / 60))
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    whole = round(hours)
    return f"{whole} hour{'s' if whole != 1 else ''}"


def _days_text(span: timedelta) -> str:
    days = span.total_seconds() / 86400
    if days < 1:
        return _hours_text(span) if span.total_seconds() > 0 else "0 days"
    shown = f"{days:.1f}".rstrip("0").rstrip(".")
    return f"{shown} day{'s' if shown != '1' else ''}"


def unique_order_name(draft: OrderDraft, index: int) -> str:
    """``<name> [ref]`` (or ``<name> 2 [ref]`` with several AOIs), cut to Planet's 255 characters."""
    tag = f" [{draft.client_reference}]"
    readable = draft.order_name(index).strip() or "QGIS order"
    return readable[:MAX_NAME_CHARS - len(tag)].rstrip() + tag


def describe_refusal(error: RequestRejected) -> str:
    """A sentence for a 400 from Planet, naming the organisation limit when one was hit."""
    texts = [error.provider_message or ""]
    for messages in error.field_errors.values():
        texts.extend(str(m) for m in messages)
    text = " ".join(texts)
    if re.search(r"active[ _-]orders?", text, re.IGNORECASE):
        number = re.search(r"(?:at most|maximum of|limit of|limit is|limit:)\s*(\d+)", text, re.IGNORECASE)
        count = f" ({number.group(1)})" if number else ""
        return (f"Planet refused the order: your organisation reached its maximum number of active "
                f"orders{count}. Wait for orders to finish or cancel some, then retry.")
    if re.search(r"\b(?:one|1)[ -]year\b|365 days|maximum (?:order )?duration|contract duration", text,
                 re.IGNORECASE):
        return ("Planet refused the order: it lasts longer than the one-year maximum (or beyond the end of "
                "your contract); shorten the time between start and end.")
    said = error.provider_message or "it gave no reason"
    return f"Planet refused the order: {said}"


def monitoring_rrule(params: Mapping) -> str:
    """The ``rrule`` of a Monitoring order: the form's cadence and count (``rrule_frequency``, ``rrule_interval``,
    ``rrule_count``), or an ``rrule`` given as text (Processing), as Planet's example writes it
    (``FREQ=WEEKLY;COUNT=4;INTERVAL=1``) [nb/monitoring_orders]."""
    text = params.get("rrule")
    if isinstance(text, str) and text.strip():
        return text.strip()
    frequency = str(params.get("rrule_frequency") or "WEEKLY").upper()
    count = params.get("rrule_count")
    interval = params.get("rrule_interval") or 1
    return f"FREQ={frequency};COUNT={count};INTERVAL={interval}"


def rrule_problem(params: Mapping) -> Optional[str]:
    """Planet's documented rrule limits, checked before sending: COUNT required and at most 365 instances, no
    YEARLY and no cadence under a day, no BYYEARDAY [developers.planet.com tasking/examples/monitoring]."""
    rule = monitoring_rrule(params)
    parts = {}
    for piece in rule.removeprefix("RRULE:").split(";"):
        key, _, value = piece.partition("=")
        parts[key.strip().upper()] = value.strip()
    frequency = parts.get("FREQ", "").upper()
    if not frequency:
        return f"The recurrence {rule!r} has no FREQ."
    if frequency not in wire.RRULE_FREQUENCIES:
        return (f"Planet does not accept a {frequency} recurrence for Monitoring orders "
                f"(use {', '.join(wire.RRULE_FREQUENCIES)}).")
    if "BYYEARDAY" in parts:
        return "Planet does not accept BYYEARDAY in a Monitoring recurrence."
    count = parts.get("COUNT", "")
    if not count.isdigit() or int(count) < 1:
        return "A Monitoring recurrence needs a COUNT (how many captures), which Planet requires."
    if int(count) > wire.RRULE_MAX_COUNT:
        return f"Planet allows at most {wire.RRULE_MAX_COUNT} Monitoring instances; the recurrence asks for {count}."
    interval = parts.get("INTERVAL", "1")
    if not interval.isdigit() or int(interval) < 1:
        return f"The recurrence interval {interval!r} is not a whole number of at least 1."
    return None


def describe_window(window: Mapping) -> str:
    """One line for an imaging window: its times, satellite and cloud forecast, as Planet gave them."""
    start = parse_time(window.get("start_time"))
    end = parse_time(window.get("end_time"))
    when = (f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC" if start and end
            else str(window.get("start_time") or "time unknown"))
    satellite = str(window.get("satellite_type") or "satellite not named")
    forecasts = window.get("cloud_forecast")
    cloud = ""
    if isinstance(forecasts, list):
        values = [f.get("prediction") for f in forecasts if isinstance(f, dict) and f.get("prediction") is not None]
        if values:
            cloud = f", cloud forecast {', '.join(str(v) for v in values)}"
    return f"{when}, {satellite}{cloud}"


def load_order_schema(kind: str) -> dict:
    path = SCHEMA_FOLDER / f"{kind}.json"
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class PlanetProvider(TaskingProvider):
    api_name = "Planet Tasking API"

    def __init__(self, connection: Connection, credentials, session: TaskingSession,
                 pacer: Optional[RatePacer] = None):
        """``pacer``: the rate limits this provider keeps to (Planet's published ones unless given)."""
        super().__init__(connection, credentials, session)
        self.base_url = (connection.base_url or "https://api.planet.com/tasking/v2").rstrip("/")
        session.bind_credentials(self.base_url)  # the API key goes to Planet's API origin only
        self.page_size = PAGE_SIZE
        self.pacer = pacer if pacer is not None else RatePacer()
        # order id -> exclusivity days, when an order read says so (an optional field; never asked for).
        self._exclusivity_days: dict = {}
        # When FULFILLED orders with unpublished captures were last followed (the sync's clock).
        self._unpublished_followed_at: Optional[datetime] = None
        key = getattr(credentials, "username", "") if credentials is not None else ""
        self._auth = PlanetApiKeyAuth(key or "", self.pacer, connection.name)
        session.auth = self._auth

    def pace_with(self, pacer: RatePacer) -> None:
        """Keep to ``pacer`` from now on (e.g. ``RatePacer.unpaced()`` against the local sandbox)."""
        self.pacer = pacer
        self._auth._pacer = pacer

    # -- identity ---------------------------------------------------------------------------
    def check(self) -> str:
        page = self.session.get(self._url("orders/"), params={"limit": 1})
        count = page.get("count") if isinstance(page, dict) else None
        said = f" ({count} orders)" if isinstance(count, int) and not isinstance(count, bool) else ""
        return f"Connected to {self.connection.name}: Planet accepted the API key{said}."

    # -- catalogue --------------------------------------------------------------------------
    def products(self) -> list:
        return [
            Product(id=kind.id, title=kind.title, provider_name="Planet", collection="tasking",
                    collection_title="Planet tasking", description=kind.description,
                    geometry_types=kind.geometry_types, needs_feasibility=False, needs_quotation=False,
                    extra={"order_kind": kind.id, "opportunities": kind.id == "assured",
                           **({"min_charged_area_km2": AREA_MIN_CHARGED_KM2} if kind.id == "area" else {}),
                           **({"earliest_start_hours": FLEXIBLE_MIN_LEAD.total_seconds() / 3600}
                              if kind.id in FLEXIBLE_KINDS else {})})
            for kind in ORDER_KINDS.values()
        ]

    def order_warnings(self, product, params: Mapping, now: datetime) -> list:
        """Planet's dashboard rules for Flexible orders that ``params`` break (see ``flexible_rule_warnings``)."""
        kind = ORDER_KINDS.get(str(getattr(product, "id", product)).lower())
        chosen = str(params.get("product") or "")
        if kind is None or kind.id not in FLEXIBLE_KINDS or (chosen and "flexible" not in chosen.lower()):
            return []
        return flexible_rule_warnings(params, now)

    def order_schema(self, product: Product) -> dict:
        kind = self._kind(product.id if isinstance(product, Product) else str(product))
        return load_order_schema(kind.id)

    # -- ordering ---------------------------------------------------------------------------
    def estimate(self, draft: OrderDraft) -> Estimate:
        """A pricing preview per AOI. Its path is unconfirmed [planet.md "Pricing"], so a 404/405 reads as "price
        unavailable", and a number is kept only together with the unit Planet names beside it."""
        kind = self._kind(draft.product_id)
        per_aoi: list = [None] * len(draft.aois)
        errors: dict = {}
        problem = self._params_problem(kind, draft.params)
        if problem:
            return Estimate(total=0.0, unit="", per_aoi=per_aoi,
                            errors={i: problem for i in range(len(draft.aois))})
        jobs = {}
        for index, aoi in enumerate(draft.aois):
            geometry_problem = self._geometry_problem(kind, index, aoi)
            if geometry_problem:
                errors[index] = geometry_problem
            else:
                jobs[index] = self._order_body(draft, index, kind)

        def price(index: int):
            # A price preview changes nothing, so it may be retried like a read.
            return self.session.json("POST", self._url("pricing/"), json=jobs[index], idempotent=True)

        units = set()
        for index, result in self._run_parallel(price, list(jobs)):
            if isinstance(result, NotFoundError) or getattr(result, "status", None) == 405:
                errors[index] = "Price unavailable: this Planet account offers no pricing preview."
            elif isinstance(result, RequestRejected):
                errors[index] = describe_refusal(result).replace("refused the order", "refused to price the order")
            elif isinstance(result, ProviderError):
                errors[index] = str(result)
            else:
                cost, unit = _quota_cost(result)
                if cost is None or not unit:
                    errors[index] = "Estimate unavailable: Planet's answer names no price with its unit."
                else:
                    per_aoi[index] = cost
                    units.add(unit)
        if len(units) > 1:
            for index in range(len(per_aoi)):
                if per_aoi[index] is not None:
                    errors[index] = f"Planet priced the AOIs in different units ({', '.join(sorted(units))})."
                    per_aoi[index] = None
            units = set()
        total = round(sum(cost for cost in per_aoi if cost is not None), 2)
        return Estimate(total=total, unit=units.pop() if units else "", per_aoi=per_aoi, errors=errors)

    # -- assured: imaging windows as opportunities (the order dialog's "Find opportunities") ------------------
    def offers_opportunities(self, product) -> bool:
        return self._kind(product.id if isinstance(product, Product) else str(product)).id == "assured"

    def queryables(self, product) -> dict:
        """What the imaging-window search asks besides the point and the window: the contract, which the search
        requires [planet.md "Imaging windows"]. No request: Planet serves no queryables."""
        if not self.offers_opportunities(product):
            raise self._unsupported(f"imaging-window searches for {getattr(product, 'title', product)}")
        return {"type": "object", "properties": {
            "pl_number": {"title": "Contract (PL number)", "type": "string",
                          "description": "The contract the search and the order are charged to (begins with PL-)."}}}

    def opportunities(self, product, aoi_geometry: dict, start, end, filter: Optional[dict] = None,  # noqa: A002
                      **options) -> list:
        """The imaging windows of an Assured order of ``aoi_geometry`` between ``start`` and ``end`` (Planet
        searches at most 7 days ahead: a longer window is sent without its end), as ``ImagingWindow``s.
        ``filter`` is the dialog's CQL2 (``pl_number = …``)."""
        if not self.offers_opportunities(product):
            raise self._unsupported(f"imaging-window searches for {getattr(product, 'title', product)}")
        pl_number = _cql2_equals(filter, "pl_number")
        params = {"pl_number": pl_number, "start_time": start, "end_time": end}
        if isinstance(end, datetime) and isinstance(start, datetime) and end > start + WINDOW_SEARCH_HORIZON:
            # Planet's own "now" decides where its 7 days end: leave the end out rather than guess it here.
            del params["end_time"]
        windows = self.imaging_windows(aoi_geometry, params, **options)
        return [ImagingWindow.from_raw(window, aoi_geometry, pl_number) for window in windows if window.get("id")]

    # -- assured: imaging windows ---------------------------------------------------------------
    def imaging_windows(self, geometry: dict, params: Optional[dict] = None,
                        progress: Optional[Callable[[str], None]] = None,
                        timeout: float = WINDOW_SEARCH_TIMEOUT_S, poll: float = WINDOW_SEARCH_POLL_S,
                        sleep: Callable[[float], None] = time.sleep) -> list:
        """Imaging windows for an Assured order of ``geometry`` (a Point): an asynchronous search whose result
        address comes in ``Location``, polled until DONE or FAILED, or until ``timeout`` seconds.

        ``params``: the order form's values (``pl_number`` and ``product`` are required by the search;
        ``start_time``/``end_time`` and the elevation angles are passed on when set). ``progress(text)`` hears
        each poll. Returns the windows as Planet sent them (dicts; read with ``describe_window``)."""
        params = dict(params or {})
        params.setdefault("product", ASSURED_PRODUCT)
        body = {key: (format_time(value) if key.endswith("_time") else value)
                for key, value in params.items()
                if key in wire.IMAGING_WINDOW_SEARCH_FIELDS and value not in (None, "")}
        body["geometry"] = geometry
        missing = [key for key in ("pl_number", "product") if not body.get(key)]
        if missing:
            raise NotSupported(self.connection.name, f"Planet's imaging-window search needs {' and '.join(missing)} "
                                                     f"(your contract's PL number and product).")
        response = self.session.request("POST", self._url("imaging-windows/search/"), json=body, expect_json=False)
        location = response.headers.get("Location")
        answer = _json_or_none(response)
        if not location:
            if isinstance(answer, dict) and isinstance(answer.get("imaging_windows"), list):
                return [w for w in answer["imaging_windows"] if isinstance(w, dict)]
            raise UnreadableResponse(self.connection.name, "Planet started no imaging-window search (its answer "
                                                           "names no Location to read the result from).")
        url = follow_link(self.base_url + "/", location, self.connection.name, "the imaging-window search result")
        waited = 0.0
        while True:
            result = self.session.get(url)
            status = str(result.get("status") or "") if isinstance(result, dict) else ""
            if progress is not None:
                progress(status or "waiting")
            if status.upper() == "DONE":
                windows = result.get("imaging_windows")
                return [w for w in windows if isinstance(w, dict)] if isinstance(windows, list) else []
            if status.upper() == "FAILED":
                said = " ".join(str(result.get(k)) for k in ("error_code", "error_message") if result.get(k))
                raise ProviderError(self.connection.name,
                                    f"Planet's imaging-window search failed: {said or 'it gave no reason'}")
            if waited + poll > timeout:
                raise ProviderTimeout(self.connection.name,
                                      f"Planet's imaging-window search did not finish within {timeout:g} s "
                                      f"(last status: {status or 'none'}).")
            if cancellation_requested():
                raise RequestCancelled(self.connection.name, "Imaging-window search cancelled.")
            sleep(poll)
            waited += poll

    def place(self, draft: OrderDraft, only: Optional[Iterable[int]] = None,
              progress: Optional[PlacementProgressCallback] = None,
              claims: Optional[PlacementClaims] = None) -> list:
        """The one placement path (``placement.PlacementPath``) with Planet's steps: parameters and geometries
        checked against the shipped schema first, the orders named with the draft's reference looked up, and
        one POST per AOI from a pool of ``MAX_PARALLEL_POSTS`` (paced by the session's ``RatePacer``)."""
        kind = self._kind(draft.product_id)
        path = PlacementPath(
            who="Planet", lookup=self.placed_orders,
            send=in_parallel(lambda d, index: self._send_one(d, index, kind), MAX_PARALLEL_POSTS, "planet"),
            refuse=lambda d, indexes: self._refuse_placement(d, indexes, kind), label=self._aoi_label)
        return path.place(draft, only=only, progress=progress, claims=claims)

    def _refuse_placement(self, draft: OrderDraft, indexes: list, kind: OrderKind) -> dict:
        """AOI index -> why it cannot be sent: parameters the schema refuses (all AOIs), or a geometry the order
        kind does not take."""
        problem = self._params_problem(kind, draft.params)
        if problem:
            return {index: problem for index in indexes}
        problems = {index: self._geometry_problem(kind, index, draft.aois[index]) for index in indexes}
        return {index: text for index, text in problems.items() if text}

    def _send_one(self, draft: OrderDraft, index: int, kind: OrderKind) -> SendResult:
        """One POST /orders/ for AOI ``index``: the order as Planet then shows it, a sentence when Planet refused
        it, ``Unclear`` when its answer holds no order (other errors are judged by the placement path)."""
        try:
            answer = self.session.post(self._url("orders/"), json=self._order_body(draft, index, kind))
        except RequestRejected as error:
            return f"{self._aoi_label(draft, index)}: {describe_refusal(error)}"
        if not isinstance(answer, dict) or not answer.get("id"):
            return Unclear(UnreadableResponse(self.connection.name,
                                              f"{self.connection.name} answered the placement without an order"))
        return self._read_again(self._order_from(answer))

    def _read_again(self, order: Order) -> Order:
        """The order as Planet shows it after a write; the write's own answer when that read fails."""
        try:
            return self.order(order.id)
        except ProviderError as error:
            logger.info("Reading order %s after a write failed: %s", order.id, type(error).__name__)
            return order

    def _order_body(self, draft: OrderDraft, index: int, kind: OrderKind) -> dict:
        """The POST /orders/ body: documented fields only (``planet_wire.ORDER_FIELDS``), empty values left out
        so the API key's defaults apply."""
        params = dict(draft.params or {})
        body = {key: value for key, value in params.items()
                if key in wire.ORDER_FIELDS and key not in ("name", "geometry", "scheduling_type", "rrule")
                and value is not None and value != ""}
        for key in ("start_time", "end_time"):
            if key in body:
                body[key] = format_time(body[key])
        if kind.id == "monitoring":
            body["scheduling_type"] = "MONITORING"
            body["rrule"] = monitoring_rrule(params)
            body.pop("end_time", None)  # ignored for Monitoring [nb/monitoring_orders]
        if kind.id == "assured":
            body.setdefault("product", ASSURED_PRODUCT)
        else:
            body.pop("imaging_window", None)
        if kind.id != "monitoring":
            body.pop("early_start", None)
        body["name"] = unique_order_name(draft, index)
        body["geometry"] = self._aoi_geometry(draft.aois[index])
        return body

    def _params_problem(self, kind: OrderKind, params: dict) -> Optional[str]:
        """The first problem of the order parameters against the shipped schema (geometry aside)."""
        schema = dict(self.order_schema(kind.id))
        schema["required"] = [name for name in schema.get("required", []) if name != "geometry"]
        values = {key: (format_time(value) if isinstance(value, datetime) else value)
                  for key, value in (params or {}).items() if value is not None and value != ""}
        # The plugin's one validator (references resolved only inside the schema), though these schemas ship
        # with the plugin.
        error = best_match(SchemaValidator(schema, validator_class=Draft7Validator).errors(values))
        if error is None:
            return rrule_problem(params) if kind.id == "monitoring" else None
        where = ".".join(str(part) for part in error.absolute_path)
        return f"The order parameters are not valid for a Planet {kind.id} order: " \
               f"{where + ': ' if where else ''}{error.message}"

    def _geometry_problem(self, kind: OrderKind, index: int, aoi) -> Optional[str]:
        geometry = self._aoi_geometry(aoi)
        geometry_type = geometry.get("type") if isinstance(geometry, dict) else None
        if geometry_type not in kind.geometry_types:
            return (f"AOI {index + 1}: a Planet {kind.id} order needs a {' or a '.join(kind.geometry_types)}, "
                    f"not {geometry_type or 'a missing geometry'}.")
        return None

    @staticmethod
    def _aoi_geometry(aoi) -> Optional[dict]:
        if isinstance(aoi, dict):
            return aoi.get("geometry", aoi) if aoi.get("type") is None else aoi
        return getattr(aoi, "geometry", None)

    @staticmethod
    def _aoi_label(draft: OrderDraft, index: int) -> str:
        aoi = draft.aois[index]
        label = aoi.get("label") if isinstance(aoi, dict) else getattr(aoi, "label", "")
        return f"AOI {index + 1}" + (f" ({label})" if label else "")

    def placed_orders(self, draft: OrderDraft) -> dict:
        existing = self._orders_named_with(draft)
        names = {index: unique_order_name(draft, index) for index in range(len(draft.aois))}
        return {index: existing[name] for index, name in names.items() if name in existing}

    def _orders_named_with(self, draft: OrderDraft) -> dict:
        """Orders whose name carries the draft's tag, by exact name."""
        tag = f"[{draft.client_reference}]"
        found = {}
        for raw in self._pages("orders/", {"name__icontains": tag, "ordering": "-created_time"}):
            if tag in str(raw.get("name", "")):
                found.setdefault(raw["name"], self._order_from(raw))
        return found

    # -- reading ----------------------------------------------------------------------------
    def orders(self, since: Optional[datetime] = None) -> list:
        """Orders changed after ``since`` (all when None), newest change first.

        Sorted by ``-updated_time``, paging stops at the first order not newer than ``since``: pass
        the newest ``updated_at`` already stored (Planet's clock, not this computer's) and a sync
        after a few changes reads a single page.
        """
        return [order for page in self.iter_order_pages(since=since) for order in page]

    def iter_order_pages(self, since: Optional[datetime] = None) -> Iterator[list]:
        """``orders(since)`` as Planet pages them: one list per page read."""
        for raws in self._page_lists("orders/", {"ordering": "-updated_time"}):
            page = []
            for raw, text in raws:
                order = isolated("order", raw, self._order_from, raw, text)
                if order is None:
                    continue  # unreadable: skipped and named by the sync
                if since is not None and order.updated_at is not None and order.updated_at <= since:
                    if page:
                        yield page
                    return
                page.append(order)
            if page:
                yield page

    def order(self, order_id: str) -> Order:
        return self._order_from(self.session.get(self._url(f"orders/{order_id}")))

    def captures(self, order_ids: Iterable[str], since: Optional[datetime] = None, *,
                 exclusivity_days: Optional[Mapping[str, int]] = None) -> list:
        """Captures of those orders (changed after ``since`` when given), one request per order and page.

        ``exclusivity_days`` (order id -> days) adds what the orders said (an optional order field); nothing
        is read to learn it.
        """
        return [capture for page in self.iter_capture_pages(order_ids, since, exclusivity_days=exclusivity_days)
                for capture in page]

    def iter_capture_pages(self, order_ids: Iterable[str], since: Optional[datetime] = None, *,
                           exclusivity_days: Optional[Mapping[str, int]] = None) -> Iterator[list]:
        """``captures(order_ids, since)`` as Planet pages them: one list per page read."""
        for stream in self.capture_page_streams(order_ids, since, exclusivity_days=exclusivity_days):
            yield from stream

    def capture_page_streams(self, order_ids: Iterable[str], since: Optional[datetime] = None, *,
                             exclusivity_days: Optional[Mapping[str, int]] = None) -> list:
        """Page iterators of the captures of ``ORDERS_PER_CAPTURE_STREAM`` orders each. Planet documents
        ``order_id`` with one value only [planet.md "Captures"], so each order is its own listing; a stream reads
        its orders one after the other and hands their captures on in pages of about ``page_size`` (most orders
        have a handful of captures: the store then writes a few large pages instead of many small ones).
        Nothing is read before a stream is iterated."""
        ids = list(dict.fromkeys(str(i) for i in order_ids if i))
        days = dict(self._exclusivity_days)
        days.update(exclusivity_days or {})
        return [self._capture_pages_of_orders(ids[i:i + ORDERS_PER_CAPTURE_STREAM], since, days)
                for i in range(0, len(ids), ORDERS_PER_CAPTURE_STREAM)]

    def final_orders_to_follow(self, unpublished: Callable[[], Mapping], now: datetime) -> list:
        """FULFILLED orders whose captures are not all PUBLISHED, once every ``UNPUBLISHED_FOLLOW_INTERVAL``
        and while the order changed within ``UNPUBLISHED_FOLLOW_HORIZON`` (a capture may still be Queued or
        Processing when its order is FULFILLED; Planet does not say that the order's ``updated_time`` moves when
        a capture is published, so the order alone would never show it)."""
        last = self._unpublished_followed_at
        if last is not None and timedelta(0) <= now - last < UNPUBLISHED_FOLLOW_INTERVAL:
            return []
        self._unpublished_followed_at = now
        return [order_id for order_id, state in unpublished().items()
                if state.status.raw.upper() in FOLLOWED_UNTIL_PUBLISHED
                and (state.updated_at is None or now - state.updated_at <= UNPUBLISHED_FOLLOW_HORIZON)]

    def _capture_pages_of_orders(self, order_ids: list, since: Optional[datetime], days: dict) -> Iterator[list]:
        gathered: list = []
        for order_id in order_ids:
            for page in self._capture_pages_of(order_id, since, days):
                gathered.extend(page)
                if len(gathered) >= self.page_size:
                    yield gathered
                    gathered = []
        if gathered:
            yield gathered

    def _capture_pages_of(self, order_id: str, since: Optional[datetime], days: dict) -> Iterator[list]:
        if "," in order_id:
            # Planet's multi-value filters split one parameter at its commas [planet.md "Listing, filtering,
            # paging"]: this id would be asked for as two orders (the strict sandbox refuses it), failing the
            # whole sync. Only this order's captures are left out, named by the sync; the order itself is kept.
            isolated("order", {"id": order_id}, self._unsendable_order_id, order_id)
            return
        seen = set()  # offset paging may show a capture again when the list shifts under it
        for raws in self._page_lists("captures/", {"order_id": order_id}):
            page = []
            for raw, text in raws:
                capture = isolated("capture", raw, self._capture_from, raw, text)
                if capture is None:
                    continue  # unreadable: skipped and named by the sync
                # No documented ordering or time filter on captures: ``since`` is applied here.
                if since is not None and capture.updated_at is not None and capture.updated_at <= since:
                    continue
                if capture.id not in seen:
                    seen.add(capture.id)
                    if not capture.order_id:
                        capture.order_id = order_id
                    capture.exclusivity_days = days.get(capture.order_id)
                    page.append(capture)
            if page:
                yield page

    def _unsendable_order_id(self, order_id: str) -> None:
        raise UnreadableResponse(self.connection.name,
                                 f"its captures were not read: the comma in its id would make Planet's order_id "
                                 f"filter ask for {len(order_id.split(','))} orders.")

    # -- changing ---------------------------------------------------------------------------
    def can_cancel(self, order: Order) -> bool:
        return (order.status.raw.upper() in CANCELLABLE_STATUSES
                and order.raw.get("is_cancellable", True) is not False)

    def cancel(self, order: Order) -> Order:
        """DELETE the order; any 2xx with or without a body is accepted, then the order is read again."""
        if not self.can_cancel(order):
            raise NotSupported(self.connection.name, f"Planet cannot cancel order {order.name}: it is "
                                                     f"{order.status.raw}, and only RECEIVED, REQUESTED, PENDING "
                                                     f"or IN_PROGRESS orders can be cancelled.")
        response = self.session.request("DELETE", self._url(f"orders/{order.id}"), expect_json=False)
        answer = _json_or_none(response)
        try:
            return self.order(order.id)
        except ProviderError:
            if isinstance(answer, dict) and answer.get("id"):
                return self._order_from(answer)
            raise

    def editable_fields(self, order: Order) -> frozenset:
        status = order.status.raw.upper()
        if status not in EDITABLE_STATUSES:
            return frozenset()
        if status in START_EDITABLE_STATUSES:
            return EDITABLE_FIELDS | {"start_time"}
        return EDITABLE_FIELDS

    def edit(self, order: Order, fields: dict) -> Order:
        """PUT a partial body of the changed fields (as Planet's notebook does); any 2xx is accepted and the
        order is read again."""
        allowed = self.editable_fields(order)
        refused = sorted(set(fields) - allowed)
        if refused:
            if not allowed:
                reason = f"orders can be edited only while PENDING, REQUESTED or IN_PROGRESS, and it is " \
                         f"{order.status.raw}"
            else:
                reason = f"in status {order.status.raw} only {', '.join(sorted(allowed))} can change"
            raise NotSupported(self.connection.name, f"Planet cannot change {', '.join(refused)} of order "
                                                     f"{order.name}: {reason}.")
        body = {}
        for key, value in fields.items():
            if key in wire.EDIT_FIELDS and value is not None:
                body[key] = format_time(value) if key.endswith("_time") else value
        if not body:
            return order
        response = self.session.request("PUT", self._url(f"orders/{order.id}"), json=body, expect_json=False)
        answer = _json_or_none(response)
        written = self._order_from(answer) if isinstance(answer, dict) and answer.get("id") else order
        return self._read_again(written)

    # -- mapping ----------------------------------------------------------------------------
    def _order_from(self, raw, raw_json: str = "") -> Order:
        if not isinstance(raw, dict) or not record_id_text(raw.get("id")):
            raise UnreadableResponse(self.connection.name,
                                     f"{self.connection.name} answered an order without an id.")
        order_id = record_id_text(raw["id"])
        if raw.get("exclusivity_days") is not None:
            self._exclusivity_days[order_id] = raw["exclusivity_days"]
        return Order(
            id=order_id,
            connection_id=self.connection.id,
            name=str(raw.get("name") or ""),
            status=normalise_status(raw.get("status")),
            product_id=_kind_of(raw),
            geometry=_geometry_or_none(raw.get("geometry")) or _geometry_or_none(raw.get("original_geometry")),
            created_at=parse_time(raw.get("created_time")),
            updated_at=parse_time(raw.get("updated_time")) or parse_time(raw.get("created_time")),
            acquisition_start=parse_time(raw.get("start_time")),
            acquisition_end=parse_time(raw.get("end_time")),
            params={key: raw[key] for key in PARAM_FIELDS if raw.get(key) is not None},
            raw=raw,
            raw_json=raw_json,
        )

    def _capture_from(self, raw, raw_json: str = "") -> Capture:
        if not isinstance(raw, dict) or not record_id_text(raw.get("id")):
            raise UnreadableResponse(self.connection.name,
                                     f"{self.connection.name} answered a capture without an id.")
        order_id = str(raw.get("order_id") or "")
        cloud = raw.get("cloud_cover")
        return Capture(
            id=str(raw["id"]),
            order_id=order_id,
            status=str(raw.get("status") or ""),
            assessment=None if raw.get("assessment") is None else str(raw["assessment"]),
            cloud_cover=float(cloud) if isinstance(cloud, (int, float)) and not isinstance(cloud, bool) else None,
            footprint=_geometry_or_none(raw.get("captured_area")),
            acquired_at=parse_time(raw.get("acquired_time")),
            published_at=parse_time(raw.get("published_time")),
            updated_at=parse_time(raw.get("updated_time")) or parse_time(raw.get("created_time")),
            raw=raw,
            raw_json=raw_json,
        )

    # -- plumbing ---------------------------------------------------------------------------
    def _kind(self, product_id: str) -> OrderKind:
        kind = ORDER_KINDS.get(str(product_id).lower())
        if kind is None:
            raise NotSupported(self.connection.name, f"Planet has no order kind {product_id!r}; "
                                                     f"use one of {', '.join(ORDER_KINDS)}.")
        return kind

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def _pages(self, path: str, params: dict) -> Iterator[dict]:
        """The results of a listing, page after page, following ``next`` exactly as given."""
        for page in self._page_lists(path, params):
            for item, _text in page:
                yield item

    def _page_lists(self, path: str, params: dict) -> Iterator[list]:
        """The results of a listing, one list per page of (item, its JSON text as sent or ""), following
        ``next`` exactly as given."""
        url = self._url(path)
        query: Optional[dict] = {**params, "limit": self.page_size}
        seen_urls = set()
        for _page in range(MAX_PAGES):
            page, texts = self.session.listing(url, "results", params=query)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise UnreadableResponse(self.connection.name,
                                         f"{self.connection.name} answered a listing without results.")
            if texts is None:
                yield [(item, "") for item in page["results"] if isinstance(item, dict)]
            else:
                yield list(zip(page["results"], texts))
            next_url = page.get("next")
            if not next_url or not page["results"]:
                return
            if not isinstance(next_url, str):
                raise UnreadableResponse(self.connection.name,
                                         f"{self.connection.name} answered a listing whose next page link is not "
                                         f"an address.")
            next_url = follow_link(url, urljoin(url, next_url), self.connection.name, "the next page of the listing")
            if next_url in seen_urls:
                logger.warning("Planet paging links back to a page already read; stopping")
                return
            seen_urls.add(next_url)
            url, query = next_url, None
        logger.warning("Stopped reading %s after %d pages", path, MAX_PAGES)

    @staticmethod
    def _run_parallel(function, indexes: list, on_result=None) -> list:
        """``[(index, result or ProviderError)]`` in the order of ``indexes``, with at most MAX_PARALLEL_POSTS
        requests in flight; ``on_result(index, result)`` runs on the calling thread as each one ends."""
        if not indexes:
            return []

        def guarded(index):
            try:
                return index, function(index)
            except ProviderError as error:
                return index, error

        results = {}
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_POSTS, len(indexes)),
                                thread_name_prefix="planet") as pool:
            # A copy of the caller's context per job (one context cannot be entered by two threads at once).
            futures = [pool.submit(contextvars.copy_context().run, guarded, index) for index in indexes]
            for future in as_completed(futures):
                index, result = future.result()
                results[index] = result
                if on_result is not None:
                    on_result(index, result)
        return [(index, results[index]) for index in indexes]


@dataclass
class ImagingWindow:
    """One imaging window of an Assured search, shaped like a STAPI opportunity for the order dialog: its times,
    satellite and cloud forecast as Planet gave them, and the form values that order it."""

    id: str
    geometry: Optional[dict]
    start: Optional[datetime]
    end: Optional[datetime]
    properties: dict
    pl_number: str = ""
    raw: Optional[dict] = None

    @classmethod
    def from_raw(cls, raw: Mapping, geometry: Optional[dict], pl_number: str = "") -> ImagingWindow:
        forecasts = raw.get("cloud_forecast")
        predictions = [f.get("prediction") for f in forecasts if isinstance(f, dict)] \
            if isinstance(forecasts, list) else []
        properties = {"satellite_type": raw.get("satellite_type"),
                      "cloud_forecast": predictions[0] if len(predictions) == 1 else
                      (", ".join(str(p) for p in predictions) if predictions else None)}
        for key in ("off_nadir_angle_min", "off_nadir_angle_max", "start_off_nadir", "end_off_nadir"):
            if raw.get(key) is not None:
                properties[key] = raw[key]
        return cls(id=str(raw["id"]), geometry=geometry, start=parse_time(raw.get("start_time")),
                   end=parse_time(raw.get("end_time")), properties=properties, pl_number=pl_number, raw=dict(raw))

    def form_values(self) -> dict:
        values = {"imaging_window": self.id}
        if self.pl_number:
            values["pl_number"] = self.pl_number
        return values


def _cql2_equals(cql2, name: str) -> str:
    """The value a CQL2-JSON filter sets ``name`` equal to ("" when it does not)."""
    if not isinstance(cql2, dict):
        return ""
    if cql2.get("op") == "=" and isinstance(cql2.get("args"), list) and len(cql2["args"]) == 2:
        prop, value = cql2["args"]
        if isinstance(prop, dict) and prop.get("property") == name and isinstance(value, str):
            return value
    if cql2.get("op") == "and" and isinstance(cql2.get("args"), list):
        return next((found for found in (_cql2_equals(a, name) for a in cql2["args"]) if found), "")
    return ""


def _kind_of(raw: dict) -> str:
    if str(raw.get("scheduling_type") or "").upper() == "MONITORING":
        return "monitoring"
    if str(raw.get("product") or "").lower() == ASSURED_PRODUCT.lower():
        return "assured"
    geometry = raw.get("original_geometry") or raw.get("geometry") or {}
    geometry_type = geometry.get("type") if isinstance(geometry, dict) else None
    if not isinstance(geometry_type, str):
        return "area"  # a garbled type (a list is not even hashable)
    return {"Point": "point", "LineString": "strip"}.get(geometry_type, "area")


def _quota_cost(answer) -> tuple:
    """(price, unit) from a pricing answer; the unit names only third-party code has seen are read
    [planet.md "Pricing": ``units``, ``estimated_quota_cost``]. (None, "") when either is missing."""
    if not isinstance(answer, dict):
        return None, ""
    unit = next((answer[key] for key in ("units", "unit") if isinstance(answer.get(key), str) and answer[key]), "")
    for key in ("estimated_quota_cost", "quota_cost", "price", "cost"):
        value = answer.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), unit
    return None, unit


def _geometry_or_none(value) -> Optional[dict]:
    return value if isinstance(value, dict) else None


def _json_or_none(response):
    """The JSON body of a write's answer, or None (no body, 204, or not JSON: any 2xx is accepted)."""
    if response.status_code in (204, 205) or not response.content.strip():
        return None
    try:
        return decode_json(response.content)  # the shared reader: bounded depth (a ValueError beyond it)
    except ValueError:
        return None
