"""Planet Tasking API v2 dialect of the offline sandbox (prefix ``/tasking/v2``).

Wire facts: /work/shared/api/planet.md. The sandbox is strict by default: a request field or query parameter
that page does not document is answered 400 naming it (``ORDER_REQUEST_FIELDS``, ``EDIT_REQUEST_FIELDS``,
``WINDOW_SEARCH_FIELDS``, ``ORDER_QUERY``, ``CAPTURE_QUERY``), a repeated query parameter too. Behaviour no
source confirms sits behind settings that are off by default (``POST /_sandbox/settings``):

- ``planet_multi_order_id`` (False): several ``order_id`` values on /captures/ (comma-separated or repeated).
- ``planet_ignore_unknown_fields`` (False): unknown request fields ignored (never echoed) instead of 400.
- ``planet_flexible_rules`` (False): the dashboard's Flexible rules (start >= 24 h ahead, window >= 14 days)
  enforced with 400.
- ``planet_max_duration_days`` (None): orders longer than this many days refused with 400.
- ``planet_max_active_orders`` (None): an organisation limit on active orders (RECEIVED too) answered 400.
- ``planet_rate_limits`` (False): Planet's published limits (300 requests a minute, 40 a second per API key, real
  time) answered with 429 and ``Retry-After``.
- ``planet_publication_touches_order`` (False): a capture's publication moves its order's ``updated_time``. Planet
  does not say whether it does, so by default only the capture changes (a client must follow such orders itself).
- ``planet_pricing`` (False): ``POST /pricing/`` and ``GET /orders/<id>/pricing/`` (paths unconfirmed), answering
  ``estimated_quota_cost`` with ``units``; off, they are 404.

Conservative readings it follows: only ``scheduling_type: "MONITORING"`` exists (with an ``rrule`` whose COUNT is
required, at most 365, no YEARLY, no cadence under a day, no BYYEARDAY; ``end_time`` ignored); Assured is
chosen by ``product: "Assured Tasking"``, takes a Point and an ``imaging_window`` from an imaging-window search;
Monitoring takes a Point or a LineString; a Polygon is Flexible only. No cloud-cover request field exists: a
capture is assessed against the contract's threshold ``planet_contract_cloud_cover`` (0.2). Collections are
answered with a trailing slash, items without. The imaging-window search answers 202 with an empty body and a
``Location`` path, which reads CREATED, then IN_PROGRESS, then DONE (``planet_window_search_polls`` GETs, 2).

What the sandbox adds where Planet publishes nothing: response fields seen only in community/third-party code
(``original_geometry``, ``requested_sqkm``, ``is_cancellable``, ``capture_count``…; the client reads them as
optional); defaults of a minimal ``{"name", "geometry"}`` order: product ``Flexible Tasking`` and pl_number
``PL-SANDBOX`` (the API key's defaults), start_time now + 24 h, end_time start + 30 days, elevation 60-90.
- Test hooks (POST /_sandbox/planet/<action>): ``seed_orders`` {count, captures_per_order, statuses,
  name_prefix} creates orders whose history is already lived; ``touch`` {count | ids} bumps updated_time of
  exactly those orders (``count`` picks the least recently changed ones).
- Area orders larger than ``planet_max_area_sqkm`` (default 3000) cannot be tessellated and are REJECTED a few
  minutes after creation; other orders are REJECTED with probability ``planet_rejection_rate`` (default 0.02).
  ``planet_capture_failure_rate`` (0.05) and ``planet_reassessment_rate`` (0.02) steer captures. All rates are
  read when the order is created, so later setting changes do not rewrite an order's future.
- The whole sandbox is one organisation; any key except "wrong" is valid.

Life of an order (all times derived from the order's own times and ``world.random("planet", order_id, ...)``,
processed in simulated-time order, so results do not depend on when or how often ``tick`` runs):
RECEIVED (1-5 min) -> PENDING | REJECTED; PENDING -> IN_PROGRESS at start_time; IN_PROGRESS queues capture
attempts one at a time (first 2-30 h after start, retasks 1-2 days after the previous capture was published);
a capture goes QUEUED -> PROCESSING at its planned acquisition -> PUBLISHED (assessed) | FAILED 2-16 h later.
SUCCESS fulfils the order; INVALID/FAILED retasks while the next acquisition fits before end_time; otherwise the
order EXPIRES at end_time (or when its last capture in flight is published, if later). A rare human
re-assessment 1-23 h after publication flips SUCCESS/INVALID and moves the order accordingly. A Monitoring
order lives the same way within start_time + COUNT x INTERVAL x its cadence.
"""
from __future__ import annotations

import base64
import binascii
import heapq
import json
import logging
import math
import time
import uuid
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Optional
from urllib.parse import urlencode

from .core import HttpError, Request, Response, World, json_response
from .planet_geometry import GeometryError, geometry_area_sqkm, parse_geometry, point_buffer, strip_polygon
from .planet_geometry import footprint as capture_footprint
from .up42_schemas import hostile

logger = logging.getLogger(__name__)

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)

ORDER_STATUSES = ("RECEIVED", "PENDING", "REQUESTED", "IN_PROGRESS", "FULFILLED", "EXPIRED", "CANCELLED",
                  "REJECTED")
ACTIVE_STATUSES = ("RECEIVED", "PENDING", "REQUESTED", "IN_PROGRESS")
EDITABLE_STATUSES = ("PENDING", "REQUESTED", "IN_PROGRESS")
START_EDITABLE_STATUSES = ("PENDING", "REQUESTED")
CANCELLABLE_STATUSES = ("RECEIVED", "REQUESTED", "PENDING", "IN_PROGRESS")
CAPTURE_STATUSES = ("QUEUED", "PROCESSING", "PUBLISHED", "FAILED")
IN_FLIGHT = ("QUEUED", "PROCESSING")
SCHEDULING_TYPES = ("MONITORING",)
FLEXIBLE_PRODUCT = "Flexible Tasking"
ASSURED_PRODUCT = "Assured Tasking"
ARCHIVE_PRODUCT = "Archive Tasking"
# Sandbox quota rates per product (Planet publishes none); a product not listed is priced as Flexible.
QUOTA_RATE_PER_SQKM = {FLEXIBLE_PRODUCT: 1.0, ASSURED_PRODUCT: 2.5, "MONITORING": 1.0}
PRICING_UNITS = "sqkm"
DEFAULT_PL_NUMBER = "PL-SANDBOX"
DEFAULT_CLOUD_THRESHOLD = 0.2
DEFAULT_WINDOW = 30 * DAY
FLEXIBLE_MIN_WINDOW = 14 * DAY
FLEXIBLE_MIN_LEAD = 24 * HOUR
WINDOW_SEARCH_HORIZON = 7 * DAY
RRULE_MAX_COUNT = 365
RRULE_DAYS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 30}
CREATED_BY = "sandbox.user@example.com"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
RATE_PER_MINUTE = 300  # published for List Tasking Orders; applied to every call (planet.md "Rate limits")
RATE_PER_SECOND = 40

SETTING_DEFAULTS = {
    "planet_max_active_orders": None,
    "planet_max_duration_days": None,
    "planet_flexible_rules": False,
    "planet_multi_order_id": False,
    "planet_ignore_unknown_fields": False,
    "planet_pricing": False,
    "planet_publication_touches_order": False,
    "planet_rate_limits": False,
    "planet_contract_cloud_cover": DEFAULT_CLOUD_THRESHOLD,
    "planet_window_search_polls": 2,
    "planet_max_area_sqkm": 3000.0,
    "planet_rejection_rate": 0.02,
    "planet_capture_failure_rate": 0.05,
    "planet_reassessment_rate": 0.02,
}

# Request fields planet.md documents (see plugin/providers/planet_wire.py for the source of each).
ORDER_REQUEST_FIELDS = ("name", "geometry", "pl_number", "product", "start_time", "end_time",
                        "sat_elevation_angle_min", "sat_elevation_angle_max", "scheduling_type", "rrule",
                        "early_start", "requested_item_ids", "requested_items", "delivery", "imaging_window")
EDIT_REQUEST_FIELDS = ("name", "rank", "start_time", "end_time")
WINDOW_SEARCH_FIELDS = ("geometry", "pl_number", "product", "start_time", "end_time", "sat_elevation_angle_min",
                        "sat_elevation_angle_max")
COUNT_FILTERS = tuple(f"{name}__{op}" for name in ("capture_assessment_invalid_count",
                                                    "capture_assessment_success_count", "capture_count")
                      for op in ("gt", "gte", "lt", "lte"))
ORDER_QUERY = ("limit", "offset", "ordering", "status", "name__icontains") + COUNT_FILTERS
CAPTURE_QUERY = ("order_id", "fulfilling", "limit", "offset")

ORDER_FIELDS = (
    "id", "name", "status", "geometry", "original_geometry", "fulfilled_geometry", "pl_number", "product",
    "scheduling_type", "start_time", "end_time", "sat_elevation_angle_min", "sat_elevation_angle_max",
    "is_cancellable", "cancellable_until", "requested_sqkm", "fulfilled_sqkm", "capture_count",
    "capture_status_queued_count", "capture_status_processing_count", "capture_status_published_count",
    "capture_status_failed_count", "capture_assessment_success_count", "capture_assessment_invalid_count",
    "created_by", "created_time", "updated_time", "fulfilled_time", "last_acquired_time",
    "next_planned_acquisition_time", "rank", "rrule", "imaging_window",
)
CAPTURE_FIELDS = (
    "id", "order_id", "status", "status_description", "captured_area", "fulfilling", "assessment",
    "assessment_time", "cloud_cover", "satellite_type", "strip_id", "item_ids", "item_types",
    "planned_acquisition_time", "acquired_time", "published_time", "created_time", "updated_time",
)
ITEM_TYPES = ["SkySatScene", "SkySatCollect"]
ORDER_ORDERING = ("created_time", "updated_time", "start_time", "end_time", "name", "status", "fulfilled_time",
                  "last_acquired_time", "next_planned_acquisition_time", "requested_sqkm", "rank")

REQUIRED = "This field is required."
DATETIME_FORMAT_MESSAGE = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
NOT_FOUND = {"detail": "Not found."}


# ---- time -----------------------------------------------------------------------------------------------------
def to_us(moment: datetime) -> int:
    """Microseconds since the epoch: exact, orderable and JSON-safe."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def iso_us(us: int) -> str:
    """Planet's timestamp shape: microseconds and ``Z``. One fixed width, so strings sort like times."""
    text = (_NAIVE_EPOCH + timedelta(microseconds=us)).isoformat()
    return text + ".000000Z" if len(text) == 19 else text + "Z"


def parse_us(text) -> int:
    """Parse an ISO 8601 timestamp into microseconds; raise ValueError."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("not a timestamp")
    value = text.strip()
    if "T" in value and " " in value:  # an unescaped "+" in a query string arrives as a space
        value = value.replace(" ", "+")
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return to_us(parsed.astimezone(timezone.utc))


def _draw_us(rnd, low: int, high: int) -> int:
    return rnd.randint(low, high)


def _uuid_from(rnd) -> str:
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))


def _draw_cloud_cover(rnd) -> float:
    # About half the attempts are clear enough for the default 0.2 threshold; never exactly 0, so a
    # threshold of 0 always retasks (useful to drive the EXPIRED path).
    if rnd.random() < 0.5:
        return round(rnd.uniform(0.01, 0.2), 2)
    return round(rnd.uniform(0.21, 1.0), 2)


def _public(record: dict, fields) -> dict:
    return {name: record[name] for name in fields}


def _bad_request(errors: dict) -> HttpError:
    return HttpError(400, errors)


class PlanetDialect:
    name = "planet"
    prefix = "/tasking/v2"

    def __init__(self, world: World):
        self.world = world
        self._reset()

    def _reset(self) -> None:
        self._arrivals: Dict[str, deque] = {}
        self.orders: Dict[str, dict] = {}
        self.captures: Dict[str, dict] = {}
        self.windows: Dict[str, dict] = {}
        self.searches: Dict[str, dict] = {}
        self._heap: List[list] = []
        self._event_seq = 0
        self._order_seq = 0
        self._capture_seq = 0

    # ---- settings ----------------------------------------------------------------------------------------------
    def _setting(self, name: str):
        value = self.world.settings.get(name)
        return SETTING_DEFAULTS[name] if value is None else value

    # ---- hostile text: world.settings["hostile_text"] (see up42_schemas.hostile) -------------------------------
    def _public_order(self, order: dict) -> dict:
        public = _public(order, ORDER_FIELDS)
        if self.world.settings.get("hostile_text"):
            public["name"] = hostile(public["name"])
        return public

    # ---- state -------------------------------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {
            "orders": list(self.orders.values()),
            "captures": list(self.captures.values()),
            "heap": self._heap,
            "event_seq": self._event_seq,
            "order_seq": self._order_seq,
            "capture_seq": self._capture_seq,
            "windows": list(self.windows.values()),
            "searches": list(self.searches.values()),
        }

    def load_state(self, state: dict) -> None:
        self._reset()
        for record in state.get("orders", []):
            self.orders[record["id"]] = record
        for record in state.get("captures", []):
            self.captures[record["id"]] = record
        for record in state.get("windows", []):
            self.windows[record["id"]] = record
        for record in state.get("searches", []):
            self.searches[record["id"]] = record
        self._heap = [list(event) for event in state.get("heap", [])]
        heapq.heapify(self._heap)
        self._event_seq = int(state.get("event_seq", 0))
        self._order_seq = int(state.get("order_seq", len(self.orders)))
        self._capture_seq = int(state.get("capture_seq", len(self.captures)))

    # ---- events ------------------------------------------------------------------------------------------------
    def _push(self, at: int, kind: str, order_id: str, capture_id: str = "", gen: int = 0) -> None:
        self._event_seq += 1
        heapq.heappush(self._heap, [at, self._event_seq, kind, order_id, capture_id, gen])

    def _push_order_event(self, order: dict, at: int, kind: str) -> None:
        self._push(at, kind, order["id"], "", order["_gen"])

    def next_event_at(self) -> Optional[datetime]:
        """When the next scheduled event happens (the sandbox clock's "jump to next event")."""
        due = [event[0] for event in self._heap
               if event[3] in self.orders and (event[4] or event[5] == self.orders[event[3]]["_gen"])]
        return _EPOCH + timedelta(microseconds=min(due)) if due else None

    def tick(self, now: datetime) -> None:
        now_us = to_us(now)
        heap = self._heap
        while heap and heap[0][0] <= now_us:
            at, _seq, kind, order_id, capture_id, gen = heapq.heappop(heap)
            order = self.orders.get(order_id)
            if order is None:
                continue
            if capture_id:
                capture = self.captures[capture_id]
                getattr(self, "_on_" + kind)(at, order, capture)
            elif gen == order["_gen"]:
                getattr(self, "_on_" + kind)(at, order)

    def _touch(self, order: dict, at: int) -> None:
        order["updated_time"] = iso_us(max(at, order["_updated_us"]))
        order["_updated_us"] = max(at, order["_updated_us"])

    def _set_status(self, order: dict, status: str, at: int) -> None:
        order["status"] = status
        cancellable = status in CANCELLABLE_STATUSES
        order["is_cancellable"] = cancellable
        order["cancellable_until"] = order["end_time"] if cancellable else None
        if status not in ("IN_PROGRESS",):
            order["next_planned_acquisition_time"] = None
            order["_planned"] = None
        self._touch(order, at)

    def _count_captures(self, order: dict) -> None:
        counts = {"QUEUED": 0, "PROCESSING": 0, "PUBLISHED": 0, "FAILED": 0}
        success = invalid = 0
        for capture_id in order["_captures"]:
            capture = self.captures[capture_id]
            if capture["status"] in counts:
                counts[capture["status"]] += 1
            if capture["assessment"] == "SUCCESS":
                success += 1
            elif capture["assessment"] == "INVALID":
                invalid += 1
        order["capture_count"] = len(order["_captures"])
        order["capture_status_queued_count"] = counts["QUEUED"]
        order["capture_status_processing_count"] = counts["PROCESSING"]
        order["capture_status_published_count"] = counts["PUBLISHED"]
        order["capture_status_failed_count"] = counts["FAILED"]
        order["capture_assessment_success_count"] = success
        order["capture_assessment_invalid_count"] = invalid

    def _in_flight(self, order: dict) -> bool:
        return any(self.captures[c]["status"] in IN_FLIGHT for c in order["_captures"])

    def _plan_attempt(self, order: dict, base: int) -> None:
        """Plan the next capture attempt after ``base``, or the expiry when none fits before end_time."""
        n = order["_attempt_n"]
        rnd = self.world.random("planet", order["id"], "attempt", n)
        if n == 0:
            acquire = base + _draw_us(rnd, 2 * HOUR, 30 * HOUR)
        else:
            acquire = base + _draw_us(rnd, DAY, 2 * DAY)
        queue = max(base, acquire - _draw_us(rnd, HOUR, 6 * HOUR))
        if acquire > order["_end_us"]:
            order["_planned"] = None
            order["next_planned_acquisition_time"] = None
            self._push_order_event(order, max(order["_end_us"], base), "expire")
        else:
            order["_planned"] = [queue, acquire]
            order["next_planned_acquisition_time"] = iso_us(acquire)
            self._push_order_event(order, queue, "attempt")
        self._touch(order, base)

    def _settle(self, order: dict, at: int) -> None:
        """An IN_PROGRESS order with nothing fulfilling it: wait, retask or expire."""
        if self._in_flight(order) or order["_planned"]:
            return
        if at < order["_end_us"]:
            self._plan_attempt(order, at)
        else:
            self._set_status(order, "EXPIRED", at)

    def _fulfil(self, order: dict, capture: dict, at: int) -> None:
        order["_gen"] += 1  # drops a planned attempt or expiry
        capture["fulfilling"] = True
        order["fulfilled_time"] = iso_us(at)
        order["fulfilled_sqkm"] = order["requested_sqkm"]
        order["fulfilled_geometry"] = order["geometry"]
        self._set_status(order, "FULFILLED", at)

    def _on_accept(self, at: int, order: dict) -> None:
        if order["status"] != "RECEIVED":
            return
        if order["_reject"]:
            self._set_status(order, "REJECTED", at)
            return
        self._set_status(order, "PENDING", at)
        self._push_order_event(order, max(order["_start_us"], at), "start")

    def _on_start(self, at: int, order: dict) -> None:
        if order["status"] not in START_EDITABLE_STATUSES:
            return
        self._set_status(order, "IN_PROGRESS", at)
        self._plan_attempt(order, at)

    def _on_expire(self, at: int, order: dict) -> None:
        if order["status"] == "IN_PROGRESS" and not self._in_flight(order):
            self._set_status(order, "EXPIRED", at)

    def _on_attempt(self, at: int, order: dict) -> None:
        if order["status"] != "IN_PROGRESS" or not order["_planned"]:
            return
        _queue, acquire = order["_planned"]
        n = order["_attempt_n"]
        order["_attempt_n"] = n + 1
        order["_planned"] = None
        capture = self._new_capture(order, n, at, acquire)
        self._push(acquire, "acquire", order["id"], capture["id"])
        self._count_captures(order)
        self._touch(order, at)

    def _new_capture(self, order: dict, n: int, created: int, acquire: int) -> dict:
        rnd = self.world.random("planet", order["id"], "capture", n)
        capture_id = _uuid_from(rnd)
        publish_delay = _draw_us(rnd, 2 * HOUR, 16 * HOUR)
        failed = rnd.random() < order["_failure_rate"]
        cloud_cover = _draw_cloud_cover(rnd)
        reassess = rnd.random() < order["_reassessment_rate"]
        reassess_delay = _draw_us(rnd, HOUR, 23 * HOUR)
        satellite = rnd.randint(1, 21)
        shift = [round(rnd.uniform(-0.08, 0.08), 4), round(rnd.uniform(-0.08, 0.08), 4),
                 round(rnd.uniform(0.02, 0.2), 4)]
        self._capture_seq += 1
        stamp = iso_us(created)
        capture = {
            "id": capture_id, "order_id": order["id"], "status": "QUEUED", "status_description": None,
            "captured_area": None, "fulfilling": False, "assessment": None, "assessment_time": None,
            "cloud_cover": None, "satellite_type": "SKYSAT", "strip_id": None, "item_ids": [], "item_types": [],
            "planned_acquisition_time": iso_us(acquire), "acquired_time": None, "published_time": None,
            "created_time": stamp, "updated_time": stamp,
            "_seq": self._capture_seq, "_n": n, "_publish_delay": publish_delay, "_failed": failed,
            "_cloud_cover": cloud_cover, "_reassess_delay": reassess_delay if reassess else None,
            "_satellite": satellite, "_shift": shift,
        }
        self.captures[capture_id] = capture
        order["_captures"].append(capture_id)
        return capture

    def _on_acquire(self, at: int, order: dict, capture: dict) -> None:
        if capture["status"] != "QUEUED":
            return
        capture["status"] = "PROCESSING"
        capture["acquired_time"] = iso_us(at)
        stamp = (_EPOCH + timedelta(microseconds=at)).strftime("%Y%m%dT%H%M%SZ")
        capture["strip_id"] = f"s{100 + capture['_satellite']}_{stamp}"
        sx, sy, grow = capture["_shift"]
        capture["captured_area"] = capture_footprint(order["geometry"], sx, sy, grow)
        capture["updated_time"] = iso_us(at)
        order["last_acquired_time"] = iso_us(at)
        if order["next_planned_acquisition_time"] == capture["planned_acquisition_time"] and not order["_planned"]:
            order["next_planned_acquisition_time"] = None
        self._count_captures(order)
        self._touch(order, at)
        self._push(at + capture["_publish_delay"], "publish", order["id"], capture["id"])

    def _on_publish(self, at: int, order: dict, capture: dict) -> None:
        if capture["status"] != "PROCESSING":
            return
        stamp = iso_us(at)
        capture["updated_time"] = stamp
        if capture["_failed"]:
            capture["status"] = "FAILED"
            capture["status_description"] = "The capture failed in processing."
        else:
            capture["status"] = "PUBLISHED"
            capture["published_time"] = stamp
            capture["cloud_cover"] = capture["_cloud_cover"]
            success = capture["_cloud_cover"] <= order.get("_cloud_threshold", DEFAULT_CLOUD_THRESHOLD)
            capture["assessment"] = "SUCCESS" if success else "INVALID"
            capture["assessment_time"] = stamp
            day = capture["acquired_time"][:10].replace("-", "")
            clock = capture["acquired_time"][11:19].replace(":", "")
            sat = capture["_satellite"]
            capture["item_ids"] = [f"{day}_{clock}_ssc{sat}d{d}_{i:04d}" for d in (1, 2) for i in (1, 2)] + [
                f"{day}_{clock}_ssc{sat}_u0001"
            ]
            capture["item_types"] = list(ITEM_TYPES)
            if capture["_reassess_delay"] is not None:
                self._push(at + capture["_reassess_delay"], "reassess", order["id"], capture["id"])
        self._count_captures(order)
        if order["status"] == "IN_PROGRESS" or self._setting("planet_publication_touches_order"):
            self._touch(order, at)
        if order["status"] != "IN_PROGRESS":
            return
        if capture["assessment"] == "SUCCESS":
            self._fulfil(order, capture, at)
        else:
            self._settle(order, at)

    def _on_reassess(self, at: int, order: dict, capture: dict) -> None:
        if capture["status"] != "PUBLISHED":
            return
        was_success = capture["assessment"] == "SUCCESS"
        capture["assessment"] = "INVALID" if was_success else "SUCCESS"
        capture["assessment_time"] = iso_us(at)
        capture["status_description"] = "Manually re-assessed."
        capture["updated_time"] = iso_us(at)
        self._count_captures(order)
        self._touch(order, at)
        if was_success:
            if not capture["fulfilling"]:
                return
            capture["fulfilling"] = False
            if order["status"] != "FULFILLED":
                return
            others = [self.captures[c] for c in order["_captures"]]
            replacement = next((c for c in others if c["assessment"] == "SUCCESS"), None)
            if replacement is not None:
                self._fulfil(order, replacement, at)
                return
            order["fulfilled_time"] = None
            order["fulfilled_sqkm"] = None
            order["fulfilled_geometry"] = None
            order["_gen"] += 1
            if at < order["_end_us"] or self._in_flight(order):
                self._set_status(order, "IN_PROGRESS", at)
                self._settle(order, at)
            else:
                self._set_status(order, "EXPIRED", at)
        elif order["status"] in ("IN_PROGRESS", "EXPIRED"):
            self._fulfil(order, capture, at)

    # ---- HTTP --------------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        now = self.world.clock.now()
        self.tick(now)
        now_us = to_us(now)
        key = self._authenticate(request)
        if self._setting("planet_rate_limits"):
            self._throttle(key)
        path = request.path
        parts = [p for p in path.split("/") if p]
        collection = path.endswith("/")
        method = request.method.upper()
        # Collections carry a trailing slash, items none [planet.md "Transport"]: other forms are not found.
        if parts == ["orders"] and collection:
            if method == "GET":
                return self._list_orders(request)
            if method == "POST":
                return self._create_order(request, now_us)
            raise self._not_allowed(method)
        if len(parts) == 2 and parts[0] == "orders" and not collection:
            order = self._order_or_404(parts[1])
            if method == "GET":
                self._no_query(request)
                return json_response(200, self._public_order(order))
            if method == "PUT":
                return self._edit_order(request, order, now_us)
            if method == "DELETE":
                return self._cancel_order(order, now_us)
            raise self._not_allowed(method)
        if self._setting("planet_pricing"):
            if len(parts) == 3 and parts[0] == "orders" and parts[2] == "pricing" and collection:
                order = self._order_or_404(parts[1])
                if method == "GET":
                    rate_key = order.get("_rate_key", FLEXIBLE_PRODUCT)
                    return json_response(200, self._pricing(order["requested_sqkm"], rate_key, order["id"]))
                raise self._not_allowed(method)
            if parts == ["pricing"] and collection:
                if method == "POST":
                    fields = self._validate_order(self._json_object(request), now_us)
                    return json_response(200, self._pricing(fields["requested_sqkm"], fields["_rate_key"]))
                raise self._not_allowed(method)
        if parts == ["captures"] and collection:
            if method == "GET":
                return self._list_captures(request)
            raise self._not_allowed(method)
        if len(parts) == 2 and parts[0] == "captures" and not collection:
            capture = self.captures.get(parts[1])
            if capture is None:
                raise HttpError(404, NOT_FOUND)
            if method == "GET":
                self._no_query(request)
                return json_response(200, _public(capture, CAPTURE_FIELDS))
            raise self._not_allowed(method)
        if parts == ["imaging-windows", "search"] and collection:
            if method == "POST":
                return self._search_windows(request, now_us)
            raise self._not_allowed(method)
        if len(parts) == 3 and parts[:2] == ["imaging-windows", "search"] and not collection:
            if method == "GET":
                return self._window_search_result(parts[2])
            raise self._not_allowed(method)
        raise HttpError(404, NOT_FOUND)

    def _throttle(self, key: str) -> None:
        """429 with Retry-After beyond 300 requests in 60 s or 40 in 1 s of one key (sliding, real time)."""
        now = time.monotonic()
        arrivals = self._arrivals.setdefault(key, deque())
        while arrivals and arrivals[0] <= now - 60.0:
            arrivals.popleft()
        wait = 0.0
        if len(arrivals) >= RATE_PER_MINUTE:
            wait = arrivals[len(arrivals) - RATE_PER_MINUTE] + 60.0 - now
        if len(arrivals) >= RATE_PER_SECOND:
            wait = max(wait, arrivals[len(arrivals) - RATE_PER_SECOND] + 1.0 - now)
        if wait > 0:
            raise HttpError(429, {"detail": "Request was throttled."}, {"Retry-After": str(max(1, math.ceil(wait)))})
        arrivals.append(now)

    @staticmethod
    def _no_query(request: Request) -> None:
        if request.query:
            raise _bad_request({name: ["Unknown query parameter."] for name in sorted(request.query)})

    @staticmethod
    def _check_query(request: Request, allowed) -> None:
        """400 naming every query parameter planet.md does not document for this listing, or any repeated one."""
        errors = {name: ["Unknown query parameter."] for name in sorted(request.query) if name not in allowed}
        errors.update({name: ["Give this parameter once."] for name, values in sorted(request.query.items())
                       if name in allowed and len(values) > 1})
        if errors:
            raise _bad_request(errors)

    def _check_fields(self, data: dict, allowed) -> dict:
        """400 naming every request field planet.md does not document (or, with ``planet_ignore_unknown_fields``,
        the documented fields alone)."""
        unknown = sorted(name for name in data if name not in allowed)
        if unknown and not self._setting("planet_ignore_unknown_fields"):
            raise _bad_request({name: ["Unknown field."] for name in unknown})
        return {name: value for name, value in data.items() if name in allowed}

    @staticmethod
    def _not_allowed(method: str) -> HttpError:
        return HttpError(405, {"detail": f'Method "{method}" not allowed.'})

    @staticmethod
    def _authenticate(request: Request) -> str:
        challenge = {"WWW-Authenticate": 'Basic realm="api"'}
        header = request.headers.get("authorization", "").strip()
        scheme, _, credentials = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "api-key":
            key = credentials.strip()
        elif scheme == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise HttpError(
                    401, {"detail": "Invalid basic header. Credentials not correctly base64 encoded."}, challenge
                ) from exc
            key = decoded.partition(":")[0]
        else:
            raise HttpError(401, {"detail": "Authentication credentials were not provided."}, challenge)
        if not key:
            raise HttpError(401, {"detail": "Authentication credentials were not provided."}, challenge)
        if key == "wrong":
            raise HttpError(401, {"detail": "Invalid API key."}, challenge)
        return key

    def _order_or_404(self, order_id: str) -> dict:
        order = self.orders.get(order_id)
        if order is None:
            raise HttpError(404, NOT_FOUND)
        return order

    @staticmethod
    def _json_object(request: Request) -> dict:
        try:
            data = json.loads(request.body.decode("utf-8")) if request.body.strip() else {}
        except (UnicodeDecodeError, ValueError) as exc:
            raise HttpError(400, {"detail": f"JSON parse error - {exc}"}) from exc
        if not isinstance(data, dict):
            raise _bad_request(
                {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(data).__name__}."]}
            )
        return data

    @staticmethod
    def _pricing(sqkm: float, rate_key: str, order_id: Optional[str] = None) -> dict:
        rate = QUOTA_RATE_PER_SQKM.get(rate_key, QUOTA_RATE_PER_SQKM[FLEXIBLE_PRODUCT])
        body = {"estimated_quota_cost": round(sqkm * rate, 2), "units": PRICING_UNITS, "requested_sqkm": sqkm}
        if order_id is not None:
            body["order_id"] = order_id
        return body

    # ---- create ------------------------------------------------------------------------------------------------
    @staticmethod
    def _parse_rrule(rule, errors: dict) -> Optional[tuple]:
        """(frequency, count, interval) of a Monitoring rrule within Planet's documented limits, or None with
        ``errors["rrule"]`` set."""
        if not isinstance(rule, str) or not rule.strip():
            errors["rrule"] = ["Monitoring orders need an rrule."]
            return None
        parts = {}
        for piece in rule.strip().removeprefix("RRULE:").split(";"):
            key, _, value = piece.partition("=")
            parts[key.strip().upper()] = value.strip().upper()
        frequency = parts.get("FREQ", "")
        problem = None
        if frequency == "YEARLY":
            problem = "FREQ=YEARLY is not supported."
        elif frequency not in RRULE_DAYS:
            problem = "Recurrence instances must last at least one day (FREQ DAILY, WEEKLY or MONTHLY)."
        elif "BYYEARDAY" in parts:
            problem = "BYYEARDAY is not supported."
        elif not parts.get("COUNT", "").isdigit() or int(parts["COUNT"]) < 1:
            problem = "COUNT is required."
        elif int(parts["COUNT"]) > RRULE_MAX_COUNT:
            problem = f"At most {RRULE_MAX_COUNT} instances are allowed."
        elif not parts.get("INTERVAL", "1").isdigit() or int(parts.get("INTERVAL", "1")) < 1:
            problem = "INTERVAL must be a positive integer."
        if problem:
            errors["rrule"] = [problem]
            return None
        return frequency, int(parts["COUNT"]), int(parts.get("INTERVAL", "1"))

    def _validate_order(self, data: dict, now_us: int) -> dict:
        """Field checks of a new order (everything but the active-order limit); raise 400 or return fields."""
        data = self._check_fields(data, ORDER_REQUEST_FIELDS)
        errors: Dict[str, List[str]] = {}
        out: dict = {}

        name = data.get("name")
        if name is None:
            errors["name"] = [REQUIRED]
        elif not isinstance(name, str):
            errors["name"] = ["Not a valid string."]
        elif not name.strip():
            errors["name"] = ["This field may not be blank."]
        elif len(name) > 255:
            errors["name"] = ["Ensure this field has no more than 255 characters."]
        else:
            out["name"] = name

        scheduling_type = data.get("scheduling_type")
        if scheduling_type is not None and scheduling_type not in SCHEDULING_TYPES:
            errors["scheduling_type"] = [f'"{scheduling_type}" is not a valid choice.']
        monitoring = scheduling_type == "MONITORING"
        out["scheduling_type"] = scheduling_type if monitoring else None
        product = data.get("product")
        if product is not None and (not isinstance(product, str) or not product.strip()):
            errors["product"] = ["Not a valid product name."]
            product = None
        out["product"] = product if product is not None else FLEXIBLE_PRODUCT
        assured = out["product"] == ASSURED_PRODUCT
        if out["product"] == ARCHIVE_PRODUCT or "requested_item_ids" in data or "requested_items" in data:
            errors.setdefault("product", []).append("Archive Tasking is not part of this contract.")
        pl_number = data.get("pl_number")
        if pl_number is not None and (not isinstance(pl_number, str) or not pl_number.startswith("PL-")):
            errors["pl_number"] = ["A contract number begins with PL-."]
        out["pl_number"] = pl_number if isinstance(pl_number, str) else DEFAULT_PL_NUMBER

        if data.get("geometry") is None:
            errors["geometry"] = [REQUIRED]
        else:
            try:
                original = parse_geometry(data["geometry"])
                kind = original["type"]
                if assured and kind != "Point":
                    errors["geometry"] = ["Assured Tasking orders take a Point."]
                elif monitoring and kind == "Polygon":
                    errors["geometry"] = ["Monitoring orders take a Point or a LineString."]
                if kind == "Point":
                    geometry = point_buffer(original["coordinates"])
                elif kind == "LineString":
                    geometry = strip_polygon(original["coordinates"])
                else:
                    geometry = original
                out["original_geometry"] = original
                out["geometry"] = geometry
                out["requested_sqkm"] = round(geometry_area_sqkm(geometry), 2)
            except GeometryError as exc:
                errors["geometry"] = [str(exc)]

        def number(field: str, default, low: float, high: float, integer: bool = False):
            value = data.get(field)
            if value is None:
                return default
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                integer and not float(value).is_integer()
            ):
                errors[field] = ["A valid integer is required." if integer else "A valid number is required."]
                return default
            if not low <= value <= high:
                errors[field] = [f"Ensure this value is between {low:g} and {high:g}."]
                return default
            return int(value) if integer else value

        out["sat_elevation_angle_min"] = number("sat_elevation_angle_min", 60, 0, 90)
        out["sat_elevation_angle_max"] = number("sat_elevation_angle_max", 90, 0, 90)
        if out["sat_elevation_angle_min"] > out["sat_elevation_angle_max"]:
            errors.setdefault("sat_elevation_angle_min", []).append(
                "sat_elevation_angle_min must not be greater than sat_elevation_angle_max."
            )
        out["rank"] = 0
        early_start = data.get("early_start")
        if early_start is not None and not isinstance(early_start, bool):
            errors["early_start"] = ["Must be a valid boolean."]
        if early_start is not None and not monitoring:
            errors.setdefault("early_start", []).append("early_start is for Monitoring orders.")
        delivery = data.get("delivery")
        if delivery is not None and not (isinstance(delivery, dict) and isinstance(
                (delivery.get("destination") or {}).get("ref") if isinstance(delivery.get("destination"), dict)
                else None, str)):
            errors["delivery"] = ["delivery.destination.ref is required."]
        rrule = data.get("rrule")
        recurrence = None
        if monitoring:
            recurrence = self._parse_rrule(rrule, errors)
        elif rrule is not None:
            errors["rrule"] = ["rrule is for Monitoring orders (scheduling_type MONITORING)."]
        out["rrule"] = rrule if monitoring else None
        window = data.get("imaging_window")
        out["imaging_window"] = None
        if assured:
            if not isinstance(window, str) or window not in self.windows:
                errors["imaging_window"] = ["Choose an imaging window from an imaging-window search."]
            else:
                out["imaging_window"] = window
        elif window is not None:
            errors["imaging_window"] = ["imaging_window is for Assured Tasking orders."]
        out["_rate_key"] = "MONITORING" if monitoring else out["product"]

        times = {}
        for field in ("start_time", "end_time"):
            if data.get(field) is None:
                continue
            try:
                times[field] = parse_us(data[field])
            except (TypeError, ValueError):
                errors[field] = [DATETIME_FORMAT_MESSAGE]
        if "start_time" in errors or "end_time" in errors:
            raise _bad_request(errors)
        if assured and out["imaging_window"]:
            chosen = self.windows[out["imaging_window"]]
            start, end = chosen["_start_us"], chosen["_end_us"]
        else:
            start = times.get("start_time", now_us + FLEXIBLE_MIN_LEAD)
            if recurrence is not None:  # end_time is ignored for Monitoring [nb/monitoring_orders]
                frequency, count, interval = recurrence
                end = start + count * interval * RRULE_DAYS[frequency] * DAY
            else:
                end = times.get("end_time", start + DEFAULT_WINDOW)
        non_field = []
        if end <= start:
            errors.setdefault("end_time", []).append("end_time must be after start_time.")
        elif end <= now_us:
            errors.setdefault("end_time", []).append("end_time must be in the future.")
        else:
            non_field.extend(self._duration_problems(start, end))
        if self._setting("planet_flexible_rules") and not (monitoring or assured):
            errors_flexible = self._flexible_problems(start, end, now_us, start_changed=True)
            for field, messages in errors_flexible.items():
                errors.setdefault(field, []).extend(messages)
        if errors:
            raise _bad_request(errors)
        if non_field:
            raise _bad_request({"non_field_errors": non_field})
        out["_start_us"] = start
        out["_end_us"] = end
        return out

    def _duration_problems(self, start: int, end: int) -> List[str]:
        days = self._setting("planet_max_duration_days")
        if days is not None and end - start > float(days) * DAY:
            return [f"The order lasts longer than the maximum order duration of {days:g} days: shorten the "
                    "window between start_time and end_time."]
        return []

    @staticmethod
    def _flexible_problems(start: int, end: int, now_us: int, start_changed: bool) -> dict:
        problems: Dict[str, List[str]] = {}
        if start_changed and start < now_us + FLEXIBLE_MIN_LEAD:
            problems["start_time"] = ["Flexible orders must be placed at least 24 hours before their start_time."]
        if end - start < FLEXIBLE_MIN_WINDOW:
            problems["end_time"] = ["Flexible orders need a window of at least 14 days between start_time and "
                                    "end_time."]
        return problems

    def _active_count(self) -> int:
        return sum(1 for order in self.orders.values() if order["status"] in ACTIVE_STATUSES)

    def _create_order(self, request: Request, now_us: int) -> Response:
        fields = self._validate_order(self._json_object(request), now_us)
        limit = self._setting("planet_max_active_orders")
        if limit is not None and self._active_count() >= int(limit):
            raise _bad_request({"non_field_errors": [
                f"Maximum active orders limit reached: your organisation may have at most {int(limit)} active "
                "orders (PENDING or IN_PROGRESS). Wait for orders to finish or cancel some."
            ]})
        order = self._new_order(fields, now_us)
        accept = now_us + _draw_us(self.world.random("planet", order["id"], "accept"), MINUTE, 5 * MINUTE)
        self._push_order_event(order, accept, "accept")
        return json_response(201, self._public_order(order))

    def _new_order(self, fields: dict, now_us: int, order_id: Optional[str] = None) -> dict:
        order_id = order_id or self.world.new_id("planet", "order")
        rnd = self.world.random("planet", order_id, "feasibility")
        too_large = fields["requested_sqkm"] > float(self._setting("planet_max_area_sqkm"))
        reject = too_large or rnd.random() < float(self._setting("planet_rejection_rate"))
        self._order_seq += 1
        stamp = iso_us(now_us)
        order = {
            "id": order_id, "name": fields["name"], "status": "RECEIVED",
            "geometry": fields["geometry"], "original_geometry": fields["original_geometry"],
            "fulfilled_geometry": None, "pl_number": fields["pl_number"], "product": fields["product"],
            "scheduling_type": fields["scheduling_type"],
            "start_time": iso_us(fields["_start_us"]), "end_time": iso_us(fields["_end_us"]),
            "sat_elevation_angle_min": fields["sat_elevation_angle_min"],
            "sat_elevation_angle_max": fields["sat_elevation_angle_max"],
            "is_cancellable": True, "cancellable_until": iso_us(fields["_end_us"]),
            "requested_sqkm": fields["requested_sqkm"], "fulfilled_sqkm": None,
            "capture_count": 0, "capture_status_queued_count": 0, "capture_status_processing_count": 0,
            "capture_status_published_count": 0, "capture_status_failed_count": 0,
            "capture_assessment_success_count": 0, "capture_assessment_invalid_count": 0,
            "created_by": CREATED_BY, "created_time": stamp, "updated_time": stamp, "fulfilled_time": None,
            "last_acquired_time": None, "next_planned_acquisition_time": None,
            "rank": fields["rank"], "rrule": fields["rrule"], "imaging_window": fields["imaging_window"],
            "_seq": self._order_seq, "_gen": 0, "_start_us": fields["_start_us"], "_end_us": fields["_end_us"],
            "_updated_us": now_us, "_reject": reject, "_attempt_n": 0, "_planned": None, "_captures": [],
            "_rate_key": fields["_rate_key"],
            "_cloud_threshold": float(self._setting("planet_contract_cloud_cover")),
            "_failure_rate": float(self._setting("planet_capture_failure_rate")),
            "_reassessment_rate": float(self._setting("planet_reassessment_rate")),
        }
        self.orders[order_id] = order
        return order

    # ---- imaging windows (Assured) -----------------------------------------------------------------------------
    def _search_windows(self, request: Request, now_us: int) -> Response:
        data = self._check_fields(self._json_object(request), WINDOW_SEARCH_FIELDS)
        errors: Dict[str, List[str]] = {}
        for field in ("geometry", "pl_number", "product"):
            if data.get(field) is None:
                errors[field] = [REQUIRED]
        point = None
        if data.get("geometry") is not None:
            try:
                geometry = parse_geometry(data["geometry"])
                if geometry["type"] == "Point":
                    point = geometry["coordinates"]
                elif geometry["type"] == "LineString" and len(geometry["coordinates"]) == 2:
                    point = geometry["coordinates"][0]
                else:
                    errors["geometry"] = ["A Point or a two-point LineString is required."]
            except GeometryError as exc:
                errors["geometry"] = [str(exc)]
        if data.get("pl_number") is not None and not str(data["pl_number"]).startswith("PL-"):
            errors["pl_number"] = ["A contract number begins with PL-."]
        if data.get("product") is not None and data["product"] != ASSURED_PRODUCT:
            errors["product"] = [f"Imaging windows are searched for {ASSURED_PRODUCT}."]
        times = {}
        for field in ("start_time", "end_time"):
            if data.get(field) is None:
                continue
            try:
                times[field] = parse_us(data[field])
            except (TypeError, ValueError):
                errors[field] = [DATETIME_FORMAT_MESSAGE]
                continue
            if times[field] > now_us + WINDOW_SEARCH_HORIZON:
                errors[field] = ["Imaging windows can be searched at most 7 days ahead."]
        if errors:
            raise _bad_request(errors)
        start = max(times.get("start_time", now_us), now_us)
        end = times.get("end_time", now_us + WINDOW_SEARCH_HORIZON)
        search_id = self.world.new_id("planet", "window-search")
        rnd = self.world.random("planet", search_id, "windows")
        windows = []
        at = start + _draw_us(rnd, 2 * HOUR, 12 * HOUR)
        while at + 10 * MINUTE <= end and len(windows) < 8:
            window_id = _uuid_from(rnd)
            length = _draw_us(rnd, MINUTE, 5 * MINUTE)
            window = {
                "id": window_id, "start_time": iso_us(at), "end_time": iso_us(at + length),
                "satellite_type": rnd.choice(["SKYSAT", "PELICAN"]),
                "cloud_forecast": [{"prediction": round(rnd.uniform(0.0, 0.9), 2)}],
                "_start_us": at, "_end_us": at + length, "_point": point,
            }
            self.windows[window_id] = window
            windows.append(window_id)
            at += _draw_us(rnd, 12 * HOUR, 30 * HOUR)
        self.searches[search_id] = {"id": search_id, "polls": 0, "windows": windows}
        location = f"{request.prefix}/imaging-windows/search/{search_id}"
        return Response(202, b"", {"Location": location})

    def _window_search_result(self, search_id: str) -> Response:
        search = self.searches.get(search_id)
        if search is None:
            raise HttpError(404, NOT_FOUND)
        search["polls"] += 1
        needed = int(self._setting("planet_window_search_polls"))
        if search["polls"] < needed:
            status = "CREATED" if search["polls"] == 1 else "IN_PROGRESS"
            return json_response(200, {"id": search_id, "status": status})
        windows = [{k: v for k, v in self.windows[w].items() if not k.startswith("_")} for w in search["windows"]]
        return json_response(200, {"id": search_id, "status": "DONE", "imaging_windows": windows})

    # ---- edit / cancel -----------------------------------------------------------------------------------------
    def _edit_order(self, request: Request, order: dict, now_us: int) -> Response:
        data = self._check_fields(self._json_object(request), EDIT_REQUEST_FIELDS)
        status = order["status"]
        if status not in EDITABLE_STATUSES:
            raise _bad_request({"non_field_errors": [
                f"Orders in status {status} cannot be edited; editing is allowed in "
                f"{', '.join(EDITABLE_STATUSES)}."
            ]})
        errors: Dict[str, List[str]] = {}
        changes: dict = {}
        if "name" in data:
            name = data["name"]
            if not isinstance(name, str):
                errors["name"] = ["Not a valid string."]
            elif not name.strip():
                errors["name"] = ["This field may not be blank."]
            elif len(name) > 255:
                errors["name"] = ["Ensure this field has no more than 255 characters."]
            elif name != order["name"]:
                changes["name"] = name
        if "rank" in data:
            rank = data["rank"]
            if isinstance(rank, bool) or not isinstance(rank, (int, float)) or not float(rank).is_integer():
                errors["rank"] = ["A valid integer is required."]
            elif int(rank) != order["rank"]:
                changes["rank"] = int(rank)
        start, end = order["_start_us"], order["_end_us"]
        for field in ("start_time", "end_time"):
            if field not in data:
                continue
            try:
                value = parse_us(data[field])
            except (TypeError, ValueError):
                errors[field] = [DATETIME_FORMAT_MESSAGE]
                continue
            current = start if field == "start_time" else end
            if value == current:
                continue
            if field == "start_time":
                if status not in START_EDITABLE_STATUSES:
                    errors[field] = [
                        f"start_time can only be changed while the order is PENDING or REQUESTED, not {status}."
                    ]
                    continue
                start = value
            else:
                end = value
            changes[field] = value
        if errors:
            raise _bad_request(errors)
        if "start_time" in changes or "end_time" in changes:
            time_errors: Dict[str, List[str]] = {}
            if end <= start:
                time_errors["end_time"] = ["end_time must be after start_time."]
            elif end <= now_us:
                time_errors["end_time"] = ["end_time must be in the future."]
            elif self._duration_problems(start, end):
                raise _bad_request({"non_field_errors": self._duration_problems(start, end)})
            if self._setting("planet_flexible_rules") and order.get("_rate_key", FLEXIBLE_PRODUCT) == FLEXIBLE_PRODUCT:
                for field, messages in self._flexible_problems(start, end, now_us,
                                                               "start_time" in changes).items():
                    time_errors.setdefault(field, []).extend(messages)
            if time_errors:
                raise _bad_request(time_errors)
        if changes:
            for field in ("name", "rank"):
                if field in changes:
                    order[field] = changes[field]
            if "start_time" in changes or "end_time" in changes:
                order["_start_us"], order["_end_us"] = start, end
                order["start_time"], order["end_time"] = iso_us(start), iso_us(end)
                if order["is_cancellable"]:
                    order["cancellable_until"] = order["end_time"]
                self._replan(order, now_us)
            self._touch(order, now_us)
        return json_response(200, self._public_order(order))

    def _replan(self, order: dict, now_us: int) -> None:
        """New start/end times: replace the order's pending order-level event."""
        order["_gen"] += 1
        if order["status"] in START_EDITABLE_STATUSES:
            self._push_order_event(order, max(order["_start_us"], now_us), "start")
            return
        if order["status"] != "IN_PROGRESS" or self._in_flight(order):
            return
        planned = order["_planned"]
        if planned and planned[1] <= order["_end_us"]:
            self._push_order_event(order, max(planned[0], now_us), "attempt")
            return
        order["_planned"] = None
        self._plan_attempt(order, now_us)

    def _cancel_order(self, order: dict, now_us: int) -> Response:
        status = order["status"]
        if status not in CANCELLABLE_STATUSES:
            raise _bad_request({"non_field_errors": [
                f"Orders in status {status} cannot be cancelled; cancelling is allowed in "
                f"{', '.join(CANCELLABLE_STATUSES)}."
            ]})
        order["_gen"] += 1
        self._set_status(order, "CANCELLED", now_us)
        return Response(204, b"", {})

    # ---- listing -----------------------------------------------------------------------------------------------
    @staticmethod
    def _values(request: Request, name: str) -> List[str]:
        """All values of a repeatable, comma-separated filter."""
        values = []
        for raw in request.query.get(name, []):
            values.extend(v.strip() for v in raw.split(",") if v.strip())
        return values

    def _choices(self, request: Request, names, allowed, errors: dict) -> List[set]:
        sets = []
        for name in names:
            values = self._values(request, name)
            if not values:
                continue
            wrong = [v for v in values if v not in allowed]
            if wrong:
                errors[name] = [f"Select a valid choice. {wrong[0]} is not one of the available choices."]
            sets.append(set(values))
        return sets

    @staticmethod
    def _sort(records: List[dict], request: Request, allowed, default: str) -> List[dict]:
        records.sort(key=lambda r: r["_seq"])
        fields = []
        for raw in request.query.get("ordering", []):
            for term in raw.split(","):
                term = term.strip()
                if term.lstrip("-") in allowed:
                    fields.append(term)
        if not fields:
            fields = [default]
        for term in reversed(fields):
            name = term.lstrip("-")
            descending = term.startswith("-")
            present = [r for r in records if r[name] is not None]
            missing = [r for r in records if r[name] is None]
            present.sort(key=lambda r, n=name: r[n], reverse=descending)
            # Postgres puts NULLs last ascending and first descending.
            records = missing + present if descending else present + missing
        return records

    def _page(self, request: Request, records: List[dict], fields) -> Response:
        def positive(name: str, default: int, cap: Optional[int] = None) -> int:
            try:
                value = int(request.query.get(name, [""])[-1])
            except ValueError:
                return default
            if value < 0 or (value == 0 and name == "limit"):
                return default
            return min(value, cap) if cap else value

        limit = positive("limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        offset = positive("offset", 0)
        count = len(records)
        page = [self._public_order(r) if fields is ORDER_FIELDS else _public(r, fields)
                for r in records[offset:offset + limit]]
        base = request.base_url + request.prefix + request.path

        def link(new_offset: Optional[int]) -> str:
            params = {k: v for k, v in request.query.items() if k not in ("limit", "offset")}
            params["limit"] = [str(limit)]
            if new_offset:
                params["offset"] = [str(new_offset)]
            return base + "?" + urlencode(sorted(params.items()), doseq=True)

        next_url = link(offset + limit) if offset + limit < count else None
        previous_url = None
        if offset > 0:
            previous_url = link(max(offset - limit, 0))
        return json_response(200, {"count": count, "next": next_url, "previous": previous_url, "results": page})

    def _list_orders(self, request: Request) -> Response:
        self._check_query(request, ORDER_QUERY)
        errors: Dict[str, List[str]] = {}
        statuses = self._choices(request, ("status",), ORDER_STATUSES, errors)
        name_part = (request.query.get("name__icontains") or [""])[-1].lower()
        counts = []
        for name in COUNT_FILTERS:
            raw = (request.query.get(name) or [""])[-1].strip()
            if not raw:
                continue
            if not raw.isdigit():
                errors[name] = ["Enter a number."]
                continue
            field, _, op = name.rpartition("__")
            counts.append((field, op, int(raw)))
        if errors:
            raise _bad_request(errors)
        compare = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
                   "lte": lambda a, b: a <= b}
        records = []
        for order in self.orders.values():
            if any(order["status"] not in s for s in statuses):
                continue
            if name_part and name_part not in order["name"].lower():
                continue
            if any(not compare[op](order[field], value) for field, op, value in counts):
                continue
            records.append(order)
        records = self._sort(records, request, ORDER_ORDERING, "-created_time")
        return self._page(request, records, ORDER_FIELDS)

    def _list_captures(self, request: Request) -> Response:
        self._check_query(request, CAPTURE_QUERY)
        errors: Dict[str, List[str]] = {}
        fulfilling = None
        raw = (request.query.get("fulfilling") or [""])[-1].strip().lower()
        if raw:
            if raw in ("true", "1"):
                fulfilling = True
            elif raw in ("false", "0"):
                fulfilling = False
            else:
                errors["fulfilling"] = ["Select a valid choice. Use true or false."]
        order_ids = self._values(request, "order_id")
        if len(order_ids) > 1 and not self._setting("planet_multi_order_id"):
            errors["order_id"] = ["Give one order id."]
        if errors:
            raise _bad_request(errors)
        if order_ids:
            candidates = [self.captures[c] for oid in dict.fromkeys(order_ids) if oid in self.orders
                          for c in self.orders[oid]["_captures"]]
        else:
            candidates = self.captures.values()
        records = [c for c in candidates if fulfilling is None or c["fulfilling"] is fulfilling]
        records = sorted(records, key=lambda r: r["_seq"])
        return self._page(request, records, CAPTURE_FIELDS)

    # ---- test hooks --------------------------------------------------------------------------------------------
    def control(self, action: str, payload: dict) -> dict:
        now_us = to_us(self.world.clock.now())
        if action == "seed_orders":
            return self._seed_orders(payload or {}, now_us)
        if action == "touch":
            return self._touch_orders(payload or {}, now_us)
        raise HttpError(404, {"detail": f"Unknown planet control action {action!r}: use seed_orders or touch."})

    def _touch_orders(self, payload: dict, now_us: int) -> dict:
        if payload.get("ids") is not None:
            ids = list(payload["ids"])
            unknown = [i for i in ids if i not in self.orders]
            if unknown:
                raise HttpError(400, {"detail": f"Unknown order ids: {', '.join(map(str, unknown))}"})
            chosen = [self.orders[i] for i in ids]
        else:
            count = int(payload.get("count", 1))
            # The least recently changed orders: repeated touches walk through all orders.
            chosen = sorted(self.orders.values(), key=lambda o: (o["_updated_us"], o["_seq"]))[:max(count, 0)]
        for order in chosen:
            self._touch(order, now_us)
        return {"touched": [o["id"] for o in chosen], "updated_time": iso_us(now_us)}

    def _seed_orders(self, payload: dict, now_us: int) -> dict:
        """Create ``count`` orders with ``captures_per_order`` captures each, their history already lived.

        ``statuses`` (cycled, default ["FULFILLED", "EXPIRED"]): FULFILLED, EXPIRED and CANCELLED orders lie in
        the past; IN_PROGRESS orders started in the past, end in the future and continue to live; PENDING orders
        start in the future and have no captures. ``name_prefix`` (default "seeded"). ``unpublished_hours``
        (default none): the fulfilling capture of each FULFILLED order is still PROCESSING and is published that
        many hours from now (the order is FULFILLED already).
        """
        count = int(payload.get("count", 100))
        per_order = int(payload.get("captures_per_order", 3))
        statuses = payload.get("statuses") or ["FULFILLED", "EXPIRED"]
        prefix = str(payload.get("name_prefix", "seeded"))
        unpublished_hours = payload.get("unpublished_hours")
        if not 0 <= count <= 100_000 or not 0 <= per_order <= 100:
            raise HttpError(400, {"detail": "count must be 0..100000 and captures_per_order 0..100."})
        allowed = ("FULFILLED", "EXPIRED", "CANCELLED", "IN_PROGRESS", "PENDING")
        if any(s not in allowed for s in statuses):
            raise HttpError(400, {"detail": f"statuses must be among {', '.join(allowed)}."})
        ids = []
        total_captures = 0
        for i in range(count):
            status = statuses[i % len(statuses)]
            order_id = self.world.new_id("planet", "seeded-order")
            rnd = self.world.random("planet", order_id, "seed")
            lon, lat = round(rnd.uniform(-170, 170), 6), round(rnd.uniform(-60, 60), 6)
            original = {"type": "Point", "coordinates": [lon, lat]}
            geometry = point_buffer(original["coordinates"])
            captures = 0 if status == "PENDING" else per_order
            span = (captures + 1) * 2 * DAY
            if status == "PENDING":
                start = now_us + _draw_us(rnd, DAY, 10 * DAY)
                end = start + 30 * DAY
            elif status == "IN_PROGRESS":
                start = now_us - span - _draw_us(rnd, 0, DAY)
                end = now_us + _draw_us(rnd, 5 * DAY, 20 * DAY)
            else:
                end = now_us - _draw_us(rnd, HOUR, 200 * DAY)
                start = end - span - _draw_us(rnd, 0, DAY)
            # Never in the future: a PENDING order starts later but was created by now.
            created = min(start - _draw_us(rnd, HOUR, 3 * DAY), now_us)
            fields = {
                "name": f"{prefix}-{i:05d}", "geometry": geometry, "original_geometry": original,
                "pl_number": DEFAULT_PL_NUMBER, "product": FLEXIBLE_PRODUCT, "scheduling_type": None,
                "sat_elevation_angle_min": 60, "sat_elevation_angle_max": 90, "rank": 0, "rrule": None,
                "imaging_window": None, "_rate_key": FLEXIBLE_PRODUCT,
                "requested_sqkm": round(geometry_area_sqkm(geometry), 2), "_start_us": start, "_end_us": end,
            }
            order = self._new_order(fields, created, order_id)
            order["_reject"] = False
            last = start
            # One footprint per order: seeded captures share it (it is never mutated).
            area = capture_footprint(order["geometry"], 0.02, -0.02, 0.1)
            for n in range(captures):
                acquire = start + (n + 1) * 2 * DAY - _draw_us(rnd, 0, 12 * HOUR)
                published = acquire + _draw_us(rnd, 2 * HOUR, 16 * HOUR)
                succeed = status == "FULFILLED" and n == captures - 1
                failed = not succeed and rnd.random() < 0.1
                cloud = round(rnd.uniform(0.01, 0.2), 2) if succeed else round(rnd.uniform(0.21, 1.0), 2)
                self._seed_capture(order, n, rnd, acquire, published, failed, cloud, succeed, area)
                last = published
            order["_attempt_n"] = captures
            total_captures += captures
            self._count_captures(order)
            order["last_acquired_time"] = (
                self.captures[order["_captures"][-1]]["acquired_time"] if captures else None
            )
            if status == "FULFILLED" and unpublished_hours is not None and captures:
                last = self._unpublish(order, now_us - HOUR, now_us + int(float(unpublished_hours) * HOUR))
            if status == "FULFILLED":
                closed = last
                order["fulfilled_time"] = iso_us(last)
                order["fulfilled_sqkm"] = order["requested_sqkm"]
                order["fulfilled_geometry"] = order["geometry"]
            elif status == "EXPIRED":
                closed = max(end, last)
            elif status == "CANCELLED":
                closed = min(last + _draw_us(rnd, HOUR, DAY), end)
            else:
                closed = max(last, created)
            if status in ("FULFILLED", "EXPIRED", "CANCELLED"):
                self._set_status(order, status, min(closed, now_us))
            elif status == "PENDING":
                self._set_status(order, "PENDING", created)
                self._push_order_event(order, start, "start")
            else:
                self._set_status(order, "IN_PROGRESS", closed)
                self._plan_attempt(order, now_us)
            ids.append(order_id)
        return {"created": len(ids), "captures": total_captures, "order_ids": ids}

    def _unpublish(self, order: dict, acquired: int, publish_at: int) -> int:
        """The order's last capture acquired at ``acquired`` and still PROCESSING, published at ``publish_at``;
        returns ``acquired`` (when the order was fulfilled)."""
        capture = self.captures[order["_captures"][-1]]
        capture.update({"status": "PROCESSING", "assessment": None, "assessment_time": None, "cloud_cover": None,
                        "item_ids": [], "item_types": [], "published_time": None, "_failed": False,
                        "acquired_time": iso_us(acquired), "planned_acquisition_time": iso_us(acquired),
                        "updated_time": iso_us(acquired), "_publish_delay": publish_at - acquired})
        order["last_acquired_time"] = iso_us(acquired)
        self._push(publish_at, "publish", order["id"], capture["id"])
        self._count_captures(order)
        return acquired

    def _seed_capture(self, order, n, rnd, acquire, published, failed, cloud, succeed, area) -> None:
        capture_id = _uuid_from(rnd)
        satellite = rnd.randint(1, 21)
        self._capture_seq += 1
        created = acquire - 3 * HOUR
        day = iso_us(acquire)
        stamp = day[:19].replace("-", "").replace(":", "") + "Z"
        capture = {
            "id": capture_id, "order_id": order["id"], "status": "FAILED" if failed else "PUBLISHED",
            "status_description": "The capture failed in processing." if failed else None,
            "captured_area": area,
            "fulfilling": succeed, "assessment": None if failed else ("SUCCESS" if succeed else "INVALID"),
            "assessment_time": None if failed else iso_us(published), "cloud_cover": None if failed else cloud,
            "satellite_type": "SKYSAT", "strip_id": f"s{100 + satellite}_{stamp}",
            "item_ids": [] if failed else [f"{stamp[:8]}_{stamp[9:15]}_ssc{satellite}d1_0001",
                                           f"{stamp[:8]}_{stamp[9:15]}_ssc{satellite}_u0001"],
            "item_types": [] if failed else list(ITEM_TYPES),
            "planned_acquisition_time": iso_us(acquire), "acquired_time": iso_us(acquire),
            "published_time": None if failed else iso_us(published), "created_time": iso_us(created),
            "updated_time": iso_us(published),
            "_seq": self._capture_seq, "_n": n, "_publish_delay": published - acquire, "_failed": failed,
            "_cloud_cover": cloud, "_reassess_delay": None, "_satellite": satellite, "_shift": [0.02, -0.02, 0.1],
        }
        self.captures[capture_id] = capture
        order["_captures"].append(capture_id)
