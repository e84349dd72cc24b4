"""Planet Tasking API v2 dialect of the offline sandbox (prefix ``/tasking/v2``).

Wire facts: /work/shared/api/planet.md. What the sandbox adds where Planet publishes nothing (documented here
because the plugin relies on the same names):

- ``max_cloud_cover`` (number 0-1, default 0.2) on an order: the cloud-cover threshold a capture is assessed
  against (SUCCESS when ``cloud_cover <= max_cloud_cover``). Also echoed: ``rank`` (default 0), ``rrule``,
  ``n_stereo_pov``, ``imaging_window`` (null unless given).
- Quota cost: ``estimated_quota_cost = round(requested_sqkm * QUOTA_RATE_PER_SQKM[scheduling_type], 2)``.
  ``requested_sqkm`` is the area of the order's (buffered / strip / area) polygon.
- Defaults of a minimal ``{"name", "geometry"}`` order: scheduling_type FLEXIBLE (Planet's default product),
  product from the scheduling type, pl_number ``PL-SANDBOX``, start_time now (now + 24 h for FLEXIBLE), end_time
  start + 30 days, order_type IMAGE, satellite_types ["SKYSAT"], elevation 60-90, exclusivity_days 0.
- Active-order limit ``world.settings["planet_max_active_orders"]`` (core default 20; 50 if unset) also counts
  RECEIVED orders: they become PENDING within minutes, and not counting them would let a burst of requests
  bypass the limit.
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
re-assessment 1-23 h after publication flips SUCCESS/INVALID and moves the order accordingly.
"""
from __future__ import annotations

import base64
import binascii
import heapq
import json
import logging
import uuid
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

ORDER_STATUSES = ("RECEIVED", "PENDING", "REQUESTED", "IN_PROGRESS", "FINALIZING", "FULFILLED", "EXPIRED",
                  "CANCELLED", "PENDING_CANCELLATION", "REJECTED", "FAILED")
ACTIVE_STATUSES = ("RECEIVED", "PENDING", "REQUESTED", "IN_PROGRESS", "FINALIZING")
EDITABLE_STATUSES = ("PENDING", "REQUESTED", "IN_PROGRESS")
START_EDITABLE_STATUSES = ("PENDING", "REQUESTED")
CANCELLABLE_STATUSES = ("RECEIVED", "REQUESTED", "PENDING", "IN_PROGRESS")
CAPTURE_STATUSES = ("SCHEDULED", "QUEUED", "PROCESSING", "DERIVING", "PUBLISHED", "FAILED", "REMOVED")
IN_FLIGHT = ("QUEUED", "PROCESSING")
SCHEDULING_TYPES = ("FLEXIBLE", "LOCK_IN", "MONITORING", "EXPRESS", "ASSURED", "ARCHIVE")
ORDER_TYPES = ("IMAGE", "VIDEO", "STEREO")
PRODUCT_NAMES = {
    "FLEXIBLE": "Flexible Tasking", "LOCK_IN": "Lock-In Tasking", "MONITORING": "Monitoring Tasking",
    "EXPRESS": "Express Tasking", "ASSURED": "Assured Tasking", "ARCHIVE": "Archive Tasking",
}
QUOTA_RATE_PER_SQKM = {
    "FLEXIBLE": 1.0, "MONITORING": 1.0, "LOCK_IN": 1.5, "EXPRESS": 2.0, "ASSURED": 2.5, "ARCHIVE": 0.5,
}
DEFAULT_PL_NUMBER = "PL-SANDBOX"
DEFAULT_MAX_CLOUD_COVER = 0.2
DEFAULT_WINDOW = 30 * DAY
MAX_DURATION = 365 * DAY
FLEXIBLE_MIN_WINDOW = 14 * DAY
FLEXIBLE_MIN_LEAD = 24 * HOUR
CREATED_BY = "sandbox.user@example.com"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000

SETTING_DEFAULTS = {
    "planet_max_active_orders": 50,
    "planet_max_area_sqkm": 3000.0,
    "planet_rejection_rate": 0.02,
    "planet_capture_failure_rate": 0.05,
    "planet_reassessment_rate": 0.02,
}

ORDER_FIELDS = (
    "id", "name", "status", "geometry", "original_geometry", "fulfilled_geometry", "pl_number", "product",
    "scheduling_type", "order_type", "start_time", "end_time", "sat_elevation_angle_min",
    "sat_elevation_angle_max", "satellite_types", "exclusivity_days", "is_cancellable", "cancellable_until",
    "requested_sqkm", "fulfilled_sqkm", "estimated_quota_cost", "capture_count", "capture_status_queued_count",
    "capture_status_processing_count", "capture_status_published_count", "capture_status_failed_count",
    "capture_assessment_success_count", "capture_assessment_invalid_count", "created_by", "created_time",
    "updated_time", "fulfilled_time", "last_acquired_time", "next_planned_acquisition_time",
    "max_cloud_cover", "rank", "rrule", "n_stereo_pov", "imaging_window",
)
CAPTURE_FIELDS = (
    "id", "order_id", "status", "status_description", "captured_area", "fulfilling", "assessment",
    "assessment_time", "cloud_cover", "satellite_type", "strip_id", "item_ids", "item_types",
    "planned_acquisition_time", "acquired_time", "published_time", "created_time", "updated_time",
)
ITEM_TYPES = ["SkySatScene", "SkySatCollect"]
# Fields a client may send back unchanged in a PUT (e.g. the order it fetched) but may not change.
FROZEN_FIELDS = ("geometry", "pl_number", "product", "scheduling_type", "order_type", "sat_elevation_angle_min",
                 "sat_elevation_angle_max", "satellite_types", "exclusivity_days", "max_cloud_cover", "rrule",
                 "n_stereo_pov", "imaging_window")
ORDER_ORDERING = ("created_time", "updated_time", "start_time", "end_time", "name", "status", "fulfilled_time",
                  "last_acquired_time", "next_planned_acquisition_time", "requested_sqkm", "rank")
CAPTURE_ORDERING = ("created_time", "updated_time", "acquired_time", "published_time", "planned_acquisition_time",
                    "assessment_time", "cloud_cover", "status")

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
        self.orders: Dict[str, dict] = {}
        self.captures: Dict[str, dict] = {}
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
        }

    def load_state(self, state: dict) -> None:
        self._reset()
        for record in state.get("orders", []):
            self.orders[record["id"]] = record
        for record in state.get("captures", []):
            self.captures[record["id"]] = record
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
            success = capture["_cloud_cover"] <= order["max_cloud_cover"]
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
        self._authenticate(request)
        parts = [p for p in request.path.split("/") if p]
        method = request.method.upper()
        if parts == ["orders"]:
            if method == "GET":
                return self._list_orders(request)
            if method == "POST":
                return self._create_order(request, now_us)
            raise self._not_allowed(method)
        if len(parts) == 2 and parts[0] == "orders":
            order = self._order_or_404(parts[1])
            if method == "GET":
                return json_response(200, self._public_order(order))
            if method in ("PUT", "PATCH"):
                return self._edit_order(request, order, now_us)
            if method == "DELETE":
                return self._cancel_order(order, now_us)
            raise self._not_allowed(method)
        if len(parts) == 3 and parts[0] == "orders" and parts[2] == "pricing":
            order = self._order_or_404(parts[1])
            if method == "GET":
                return json_response(200, self._pricing(order["requested_sqkm"], order["scheduling_type"],
                                                         order["id"]))
            raise self._not_allowed(method)
        if parts == ["pricing"]:
            if method == "POST":
                fields = self._validate_order(self._json_object(request), now_us)
                return json_response(200, self._pricing(fields["requested_sqkm"], fields["scheduling_type"]))
            raise self._not_allowed(method)
        if parts == ["captures"]:
            if method == "GET":
                return self._list_captures(request)
            raise self._not_allowed(method)
        if len(parts) == 2 and parts[0] == "captures":
            capture = self.captures.get(parts[1])
            if capture is None:
                raise HttpError(404, NOT_FOUND)
            if method == "GET":
                return json_response(200, _public(capture, CAPTURE_FIELDS))
            raise self._not_allowed(method)
        raise HttpError(404, NOT_FOUND)

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
    def _pricing(sqkm: float, scheduling_type: str, order_id: Optional[str] = None) -> dict:
        rate = QUOTA_RATE_PER_SQKM[scheduling_type]
        body = {
            "requested_sqkm": sqkm,
            "scheduling_type": scheduling_type,
            "quota_rate_per_sqkm": rate,
            "estimated_quota_cost": round(sqkm * rate, 2),
        }
        if order_id is not None:
            body["order_id"] = order_id
        return body

    # ---- create ------------------------------------------------------------------------------------------------
    def _validate_order(self, data: dict, now_us: int) -> dict:
        """Field checks of a new order (everything but the active-order limit); raise 400 or return fields."""
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

        if data.get("geometry") is None:
            errors["geometry"] = [REQUIRED]
        else:
            try:
                original = parse_geometry(data["geometry"])
                if original["type"] == "Point":
                    geometry = point_buffer(original["coordinates"])
                elif original["type"] == "LineString":
                    geometry = strip_polygon(original["coordinates"])
                else:
                    geometry = original
                out["original_geometry"] = original
                out["geometry"] = geometry
                out["requested_sqkm"] = round(geometry_area_sqkm(geometry), 2)
            except GeometryError as exc:
                errors["geometry"] = [str(exc)]

        scheduling_type = data.get("scheduling_type")
        product = data.get("product")
        if scheduling_type is None:
            by_product = {v: k for k, v in PRODUCT_NAMES.items()}
            scheduling_type = by_product.get(product, "FLEXIBLE")
        if scheduling_type not in SCHEDULING_TYPES:
            errors["scheduling_type"] = [f'"{scheduling_type}" is not a valid choice.']
            scheduling_type = "FLEXIBLE"
        out["scheduling_type"] = scheduling_type
        if product is not None and not isinstance(product, str):
            errors["product"] = ["Not a valid string."]
        out["product"] = product if product is not None else PRODUCT_NAMES[scheduling_type]
        pl_number = data.get("pl_number")
        if pl_number is not None and not isinstance(pl_number, str):
            errors["pl_number"] = ["Not a valid string."]
        out["pl_number"] = pl_number if pl_number is not None else DEFAULT_PL_NUMBER

        order_type = data.get("order_type", "IMAGE") or "IMAGE"
        if order_type not in ORDER_TYPES:
            errors["order_type"] = [f'"{order_type}" is not a valid choice.']
        out["order_type"] = order_type

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
        out["exclusivity_days"] = number("exclusivity_days", 0, 0, 3650, integer=True)
        out["max_cloud_cover"] = number("max_cloud_cover", DEFAULT_MAX_CLOUD_COVER, 0, 1)
        out["rank"] = number("rank", 0, -(2 ** 31), 2 ** 31 - 1, integer=True)
        out["n_stereo_pov"] = number("n_stereo_pov", None, 2, 3, integer=True)

        satellite_types = data.get("satellite_types")
        if satellite_types is None:
            satellite_types = ["SKYSAT"]
        elif not isinstance(satellite_types, list) or not all(isinstance(s, str) for s in satellite_types):
            errors["satellite_types"] = ["Expected a list of items."]
        out["satellite_types"] = satellite_types
        rrule = data.get("rrule")
        if rrule is not None and not isinstance(rrule, str):
            errors["rrule"] = ["Not a valid string."]
        out["rrule"] = rrule
        out["imaging_window"] = data.get("imaging_window")

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
        flexible = scheduling_type == "FLEXIBLE"
        start = times.get("start_time", now_us + (FLEXIBLE_MIN_LEAD if flexible else 0))
        end = times.get("end_time", start + DEFAULT_WINDOW)
        non_field = []
        if end <= start:
            errors.setdefault("end_time", []).append("end_time must be after start_time.")
        elif end <= now_us:
            errors.setdefault("end_time", []).append("end_time must be in the future.")
        elif end - start > MAX_DURATION:
            non_field.append(
                "The order lasts longer than the maximum order duration of 1 year (365 days): "
                "shorten the window between start_time and end_time."
            )
        if flexible:
            if start < now_us + FLEXIBLE_MIN_LEAD:
                errors.setdefault("start_time", []).append(
                    "Flexible orders must be placed at least 24 hours before their start_time."
                )
            if end - start < FLEXIBLE_MIN_WINDOW:
                errors.setdefault("end_time", []).append(
                    "Flexible orders need a window of at least 14 days between start_time and end_time."
                )
        if errors:
            raise _bad_request(errors)
        if non_field:
            raise _bad_request({"non_field_errors": non_field})
        out["_start_us"] = start
        out["_end_us"] = end
        return out

    def _active_count(self) -> int:
        return sum(1 for order in self.orders.values() if order["status"] in ACTIVE_STATUSES)

    def _create_order(self, request: Request, now_us: int) -> Response:
        fields = self._validate_order(self._json_object(request), now_us)
        limit = int(self._setting("planet_max_active_orders"))
        if self._active_count() >= limit:
            raise _bad_request({"non_field_errors": [
                f"Maximum active orders limit reached: your organisation may have at most {limit} active orders "
                "(PENDING or IN_PROGRESS). Wait for orders to finish or cancel some."
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
            "scheduling_type": fields["scheduling_type"], "order_type": fields["order_type"],
            "start_time": iso_us(fields["_start_us"]), "end_time": iso_us(fields["_end_us"]),
            "sat_elevation_angle_min": fields["sat_elevation_angle_min"],
            "sat_elevation_angle_max": fields["sat_elevation_angle_max"],
            "satellite_types": fields["satellite_types"], "exclusivity_days": fields["exclusivity_days"],
            "is_cancellable": True, "cancellable_until": iso_us(fields["_end_us"]),
            "requested_sqkm": fields["requested_sqkm"], "fulfilled_sqkm": None,
            "estimated_quota_cost": round(fields["requested_sqkm"] * QUOTA_RATE_PER_SQKM[fields["scheduling_type"]], 2),
            "capture_count": 0, "capture_status_queued_count": 0, "capture_status_processing_count": 0,
            "capture_status_published_count": 0, "capture_status_failed_count": 0,
            "capture_assessment_success_count": 0, "capture_assessment_invalid_count": 0,
            "created_by": CREATED_BY, "created_time": stamp, "updated_time": stamp, "fulfilled_time": None,
            "last_acquired_time": None, "next_planned_acquisition_time": None,
            "max_cloud_cover": fields["max_cloud_cover"], "rank": fields["rank"], "rrule": fields["rrule"],
            "n_stereo_pov": fields["n_stereo_pov"], "imaging_window": fields["imaging_window"],
            "_seq": self._order_seq, "_gen": 0, "_start_us": fields["_start_us"], "_end_us": fields["_end_us"],
            "_updated_us": now_us, "_reject": reject, "_attempt_n": 0, "_planned": None, "_captures": [],
            "_failure_rate": float(self._setting("planet_capture_failure_rate")),
            "_reassessment_rate": float(self._setting("planet_reassessment_rate")),
        }
        self.orders[order_id] = order
        return order

    # ---- edit / cancel -----------------------------------------------------------------------------------------
    def _edit_order(self, request: Request, order: dict, now_us: int) -> Response:
        data = self._json_object(request)
        status = order["status"]
        if status not in EDITABLE_STATUSES:
            raise _bad_request({"non_field_errors": [
                f"Orders in status {status} cannot be edited; editing is allowed in "
                f"{', '.join(EDITABLE_STATUSES)}."
            ]})
        errors: Dict[str, List[str]] = {}
        for field in FROZEN_FIELDS:
            if field in data and data[field] != order[field]:
                if field == "geometry" and data[field] == order["original_geometry"]:
                    continue
                errors[field] = ["This field cannot be changed after the order is created."]
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
            elif end - start > MAX_DURATION:
                raise _bad_request({"non_field_errors": [
                    "The order lasts longer than the maximum order duration of 1 year (365 days): "
                    "shorten the window between start_time and end_time."
                ]})
            if order["scheduling_type"] == "FLEXIBLE":
                if "start_time" in changes and start < now_us + FLEXIBLE_MIN_LEAD:
                    time_errors.setdefault("start_time", []).append(
                        "Flexible orders must be placed at least 24 hours before their start_time."
                    )
                if end - start < FLEXIBLE_MIN_WINDOW:
                    time_errors.setdefault("end_time", []).append(
                        "Flexible orders need a window of at least 14 days between start_time and end_time."
                    )
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

    @staticmethod
    def _time_filter(request: Request, name: str, errors: dict) -> Optional[str]:
        raw = request.query.get(name)
        if not raw or not raw[-1].strip():
            return None
        try:
            return iso_us(parse_us(raw[-1]))
        except (TypeError, ValueError, OverflowError):
            errors[name] = ["Enter a valid date/time."]
            return None

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
        errors: Dict[str, List[str]] = {}
        statuses = self._choices(request, ("status", "status__in"), ORDER_STATUSES, errors)
        scheduling = self._choices(request, ("scheduling_type",), SCHEDULING_TYPES, errors)
        exact = {name: set(self._values(request, name)) for name in ("pl_number", "product", "id")}
        name_part = (request.query.get("name__icontains") or [""])[-1].lower()
        ranges = []
        for field in ("created_time", "start_time", "end_time", "updated_time"):
            low = self._time_filter(request, field + "__gte", errors)
            high = self._time_filter(request, field + "__lte", errors)
            if low or high:
                ranges.append((field, low, high))
        if errors:
            raise _bad_request(errors)
        records = []
        for order in self.orders.values():
            if any(order["status"] not in s for s in statuses):
                continue
            if any(order["scheduling_type"] not in s for s in scheduling):
                continue
            if any(values and order[name] not in values for name, values in exact.items()):
                continue
            if name_part and name_part not in order["name"].lower():
                continue
            if any((low and order[f] < low) or (high and order[f] > high) for f, low, high in ranges):
                continue
            records.append(order)
        records = self._sort(records, request, ORDER_ORDERING, "-created_time")
        return self._page(request, records, ORDER_FIELDS)

    def _list_captures(self, request: Request) -> Response:
        errors: Dict[str, List[str]] = {}
        statuses = self._choices(request, ("status", "status__in"), CAPTURE_STATUSES, errors)
        assessments = self._choices(request, ("assessment",), ("SUCCESS", "INVALID"), errors)
        fulfilling = None
        raw = (request.query.get("fulfilling") or [""])[-1].strip().lower()
        if raw:
            if raw in ("true", "1"):
                fulfilling = True
            elif raw in ("false", "0"):
                fulfilling = False
            else:
                errors["fulfilling"] = ["Select a valid choice. Use true or false."]
        ranges = []
        for field in ("updated_time", "created_time", "acquired_time", "published_time"):
            low = self._time_filter(request, field + "__gte", errors)
            high = self._time_filter(request, field + "__lte", errors)
            if low or high:
                ranges.append((field, low, high))
        if errors:
            raise _bad_request(errors)
        order_ids = self._values(request, "order_id")
        if order_ids:
            candidates = [self.captures[c] for oid in dict.fromkeys(order_ids) if oid in self.orders
                          for c in self.orders[oid]["_captures"]]
        else:
            candidates = self.captures.values()
        records = []
        for capture in candidates:
            if any(capture["status"] not in s for s in statuses):
                continue
            if any(capture["assessment"] not in s for s in assessments):
                continue
            if fulfilling is not None and capture["fulfilling"] is not fulfilling:
                continue
            if any(capture[f] is None or (low and capture[f] < low) or (high and capture[f] > high)
                   for f, low, high in ranges):
                continue
            records.append(capture)
        records = self._sort(records, request, CAPTURE_ORDERING, "-created_time")
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
        start in the future and have no captures. ``name_prefix`` (default "seeded").
        """
        count = int(payload.get("count", 100))
        per_order = int(payload.get("captures_per_order", 3))
        statuses = payload.get("statuses") or ["FULFILLED", "EXPIRED"]
        prefix = str(payload.get("name_prefix", "seeded"))
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
                "pl_number": DEFAULT_PL_NUMBER, "product": PRODUCT_NAMES["FLEXIBLE"], "scheduling_type": "FLEXIBLE",
                "order_type": "IMAGE", "sat_elevation_angle_min": 60, "sat_elevation_angle_max": 90,
                "satellite_types": ["SKYSAT"], "exclusivity_days": 0, "max_cloud_cover": DEFAULT_MAX_CLOUD_COVER,
                "rank": 0, "rrule": None, "n_stereo_pov": None, "imaging_window": None,
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
