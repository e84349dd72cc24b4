"""Planet Tasking API v2 (SkySat tasking orders and their captures).

Wire facts: /work/shared/api/planet.md. Decisions this module makes:

* **Products** are Planet's order kinds (point, strip, area, stereo). Planet serves no JSON
  schema of its order form, so the plugin ships one per kind in ``resources/schemas/planet``;
  the order name does not appear there (it comes from the draft) and the geometry is the AOI.
* **Authentication**: ``Authorization: api-key <KEY>`` added per request by a ``requests`` auth
  object on the session, never a default header, so the key cannot leak through a header dump.
* **Order names** carry the draft's ``client_reference``: ``<name> 2 [qgis-1a2b3c4d5e6f]``. The
  user's name stays first and readable; the bracketed tag makes each AOI's name unique, which is
  what reconciles a placement whose answer was lost (``name__icontains`` + exact comparison).
* **Placement never duplicates an order.** POSTs are never retried. Before posting, one listing of
  the draft's tag finds AOIs that already have an order (an earlier attempt whose answer was lost,
  or "Retry failed"); those are returned, not placed again. A POST that fails without a clear
  answer (timeout, dropped connection, 5xx, unreadable body) is followed by a look-up of its unique
  name before the AOI is reported as placed or failed.
* **Concurrency**: at most ``MAX_PARALLEL_POSTS`` requests at once from a ``ThreadPoolExecutor``
  sharing the one ``TaskingSession``. That is safe here: urllib3's connection pool is thread-safe,
  Planet sets no cookies we depend on and the api-key auth object is read-only; the pool's 10
  connections per host exceed the 4 workers. One shared session also keeps the user's proxy,
  user agent and retry settings without the provider having to rebuild them. Each job runs in a
  copy of the caller's ``contextvars`` context, so the caller's ``http.cancellable`` scope (a
  cancelled task) reaches the workers too.
* **Incremental reads** sort by ``-updated_time`` and stop paging at the first record older than
  ``since``, so a sync after a few changes reads one page.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Optional
from urllib.parse import urlencode, urljoin

import requests
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from ..http import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    RequestCancelled,
    RequestRejected,
    TaskingSession,
    UnreadableResponse,
    follow_link,
)
from ..model import (
    Capture,
    Connection,
    Estimate,
    Order,
    OrderDraft,
    OrderStatus,
    PlacementOutcome,
    Product,
    Status,
)
from .base import NotSupported, PlacementProgress, PlacementProgressCallback, TaskingProvider, placement_indexes

logger = logging.getLogger(__name__)

SCHEMA_FOLDER = Path(__file__).resolve().parents[2] / "resources" / "schemas" / "planet"

MAX_PARALLEL_POSTS = 4
PAGE_SIZE = 100
# Bound on pages followed in one listing (100 000 records at the default page size).
MAX_PAGES = 1000
# Captures are asked for many orders at once; the URL (before paging parameters) stays under this.
MAX_CAPTURE_URL_CHARS = 6000
MAX_NAME_CHARS = 255
ESTIMATE_UNIT = "quota km²"

STATUS_MAP = {
    "RECEIVED": OrderStatus.RECEIVED,
    "REQUESTED": OrderStatus.RECEIVED,
    "PENDING": OrderStatus.ACCEPTED,
    "IN_PROGRESS": OrderStatus.TASKED,
    "FINALIZING": OrderStatus.PROCESSING,
    "FULFILLED": OrderStatus.COMPLETED,
    "REJECTED": OrderStatus.REJECTED,
    "CANCELLED": OrderStatus.CANCELLED,
    "PENDING_CANCELLATION": OrderStatus.CANCELLED,
    "EXPIRED": OrderStatus.EXPIRED,
    "FAILED": OrderStatus.FAILED,
}
CANCELLABLE_STATUSES = frozenset({"RECEIVED", "REQUESTED", "PENDING", "IN_PROGRESS"})
EDITABLE_STATUSES = frozenset({"PENDING", "REQUESTED", "IN_PROGRESS"})
START_EDITABLE_STATUSES = frozenset({"PENDING", "REQUESTED"})
EDITABLE_FIELDS = frozenset({"name", "rank", "end_time"})

# Order fields shown as the order's parameters (everything the user chose when placing).
PARAM_FIELDS = ("pl_number", "product", "scheduling_type", "order_type", "start_time", "end_time",
                "sat_elevation_angle_min", "sat_elevation_angle_max", "satellite_types", "exclusivity_days",
                "max_cloud_cover", "rank", "rrule", "n_stereo_pov", "imaging_window")


@dataclass(frozen=True)
class OrderKind:
    id: str
    title: str
    geometry_type: str
    order_type: str
    description: str


ORDER_KINDS = {
    kind.id: kind for kind in (
        OrderKind("point", "Point order", "Point", "IMAGE",
                  "One SkySat capture centred on a point (Planet buffers it to about 2 km radius)."),
        OrderKind("strip", "Strip order", "LineString", "IMAGE",
                  "A strip about 5 km wide along a line of up to about 100 km."),
        OrderKind("area", "Area order", "Polygon", "IMAGE",
                  "Any polygon; Planet cuts large areas into strips and rejects areas it cannot cut."),
        OrderKind("stereo", "Stereo order", "Polygon", "STEREO",
                  "Stereo captures of a polygon from two or three viewing angles."),
    )
}


class PlanetApiKeyAuth(requests.auth.AuthBase):
    """``Authorization: api-key <KEY>`` on every request (the key never sits in session headers)."""

    def __init__(self, key: str):
        self._key = key

    def __call__(self, request):
        request.headers["Authorization"] = f"api-key {self._key}"
        return request

    def __repr__(self) -> str:
        return "PlanetApiKeyAuth(<hidden>)"


def parse_time(value) -> Optional[datetime]:
    """A Planet timestamp (ISO 8601, ``Z``) as an aware UTC datetime; None when absent or garbled."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:  # Python 3.11 reads Planet's form directly: the fast way for thousands of captures
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            return moment.astimezone(timezone.utc)
    except ValueError:
        pass
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.9/3.10 fromisoformat accepts only 3 or 6 fraction digits.
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match and match.group(2):
        fraction = (match.group(2)[1:] + "000000")[:6]
        text = f"{match.group(1)}.{fraction}{match.group(3)}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_time(value) -> str:
    """A datetime (naive = UTC) or an ISO string, as Planet wants it: UTC with ``Z``."""
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


def normalise_status(raw_status) -> Status:
    raw = str(raw_status or "")
    code = STATUS_MAP.get(raw.upper())
    if code is None:
        logger.debug("Unknown Planet order status %r, shown as received", raw)
        code = OrderStatus.RECEIVED
    return Status(code, raw)


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


def load_order_schema(kind: str) -> dict:
    path = SCHEMA_FOLDER / f"{kind}.json"
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class PlanetProvider(TaskingProvider):
    api_name = "Planet Tasking API"

    def __init__(self, connection: Connection, credentials, session: TaskingSession):
        super().__init__(connection, credentials, session)
        self.base_url = (connection.base_url or "https://api.planet.com/tasking/v2").rstrip("/")
        session.bind_credentials(self.base_url)  # the API key goes to Planet's API origin only
        self.page_size = PAGE_SIZE
        # order id -> exclusivity days, learnt from every order read (captures need it).
        self._exclusivity_days: dict = {}
        key = getattr(credentials, "username", "") if credentials is not None else ""
        if key:
            session.auth = PlanetApiKeyAuth(key)

    # -- identity ---------------------------------------------------------------------------
    def check(self) -> str:
        page = self.session.get(self._url("orders/"), params={"limit": 1})
        count = page.get("count", "?") if isinstance(page, dict) else "?"
        return f"Connected to {self.connection.name}: Planet accepted the API key ({count} orders)."

    # -- catalogue --------------------------------------------------------------------------
    def products(self) -> list:
        return [
            Product(id=kind.id, title=kind.title, provider_name="Planet", collection="skysat-tasking",
                    collection_title="SkySat tasking", description=kind.description,
                    geometry_types=(kind.geometry_type,), needs_feasibility=False, needs_quotation=False,
                    extra={"order_kind": kind.id, "order_type": kind.order_type})
            for kind in ORDER_KINDS.values()
        ]

    def order_schema(self, product: Product) -> dict:
        kind = self._kind(product.id if isinstance(product, Product) else str(product))
        return load_order_schema(kind.id)

    # -- ordering ---------------------------------------------------------------------------
    def estimate(self, draft: OrderDraft) -> Estimate:
        kind = self._kind(draft.product_id)
        per_aoi: list = [None] * len(draft.aois)
        errors: dict = {}
        problem = self._params_problem(kind, draft.params)
        if problem:
            return Estimate(total=0.0, unit=ESTIMATE_UNIT, per_aoi=per_aoi,
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
            answer = self.session.json("POST", self._url("pricing/"), json=jobs[index], idempotent=True)
            return _quota_cost(answer)

        for index, result in self._run_parallel(price, list(jobs)):
            if isinstance(result, RequestRejected):
                errors[index] = describe_refusal(result).replace("refused the order", "refused to price the order")
            elif isinstance(result, ProviderError):
                errors[index] = str(result)
            elif result is None:
                errors[index] = "Planet answered the price request without a quota cost."
            else:
                per_aoi[index] = result
        total = round(sum(cost for cost in per_aoi if cost is not None), 2)
        return Estimate(total=total, unit=ESTIMATE_UNIT, per_aoi=per_aoi, errors=errors)

    def place(self, draft: OrderDraft, only: Optional[Iterable[int]] = None,
              progress: Optional[PlacementProgressCallback] = None) -> list:
        kind = self._kind(draft.product_id)
        indexes = placement_indexes(draft, only)
        outcomes = {i: PlacementOutcome(aoi_index=i) for i in indexes}
        steps = PlacementProgress(progress, len(indexes))
        problem = self._params_problem(kind, draft.params)
        if problem:
            for outcome in outcomes.values():
                outcome.error = problem
            steps.finish()
            return [outcomes[i] for i in indexes]

        # Orders an earlier attempt created (its answer lost or its outcome not saved) are not placed again.
        existing = self._orders_named_with(draft)
        to_post = []
        for index in indexes:
            found = existing.get(unique_order_name(draft, index))
            if found is not None:
                outcomes[index].order = found
                continue
            geometry_problem = self._geometry_problem(kind, index, draft.aois[index])
            if geometry_problem:
                outcomes[index].error = geometry_problem
            else:
                to_post.append(index)
        steps.advance(len(indexes) - len(to_post))

        for index, result in self._run_parallel(lambda i: self._place_one(draft, i, kind), to_post,
                                                on_result=lambda _index, _result: steps.advance()):
            if isinstance(result, Order):
                outcomes[index].order = result
            else:
                outcomes[index].error = str(result)
        steps.finish()
        return [outcomes[i] for i in indexes]

    def _place_one(self, draft: OrderDraft, index: int, kind: OrderKind):
        """An ``Order``, or a sentence saying why AOI ``index`` has none."""
        name = unique_order_name(draft, index)
        body = self._order_body(draft, index, kind)
        label = self._aoi_label(draft, index)
        try:
            answer = self.session.post(self._url("orders/"), json=body)
        except RequestRejected as error:
            return f"{label}: {describe_refusal(error)}"
        except RequestCancelled:
            # A POST is never retried, so a cancelled one was never sent: nothing was created.
            return f"{label}: not placed: cancelled before the order was sent to {self.connection.name}."
        except (ProviderTimeout, ProviderUnreachable, ProviderUnavailable, UnreadableResponse) as error:
            # No clear answer: the order may exist. Look before saying anything.
            logger.info("Placing %s gave no clear answer (%s); looking the order up", label,
                        type(error).__name__)
            try:
                found = self._find_order_named(name)
            except ProviderError as lookup_error:
                return (f"{label}: Planet gave no clear answer ({error}), and whether the order was created "
                        f"could not be checked ({lookup_error}). Retrying checks again first, so it never "
                        f"creates a second order.")
            if found is not None:
                logger.info("%s: the order exists after all (%s)", label, found.id)
                return found
            return (f"{label}: Planet did not confirm the order ({error}) and shows none with its name, so it "
                    f"was most likely not created. Retry to place it: the retry looks for it first, so it is "
                    f"never ordered twice.")
        except ProviderError as error:
            return f"{label}: {error}"
        if not isinstance(answer, dict) or not answer.get("id"):
            try:
                found = self._find_order_named(name)
            except ProviderError as lookup_error:
                found = None
                logger.info("Look-up after an empty answer failed: %s", type(lookup_error).__name__)
            if found is not None:
                return found
            return f"{label}: Planet answered without an order; retry to check and place it."
        return self._order_from(answer)

    def _order_body(self, draft: OrderDraft, index: int, kind: OrderKind) -> dict:
        body = {key: value for key, value in draft.params.items() if value is not None and key != "geometry"}
        for key in ("start_time", "end_time"):
            if key in body:
                body[key] = format_time(body[key])
        body["name"] = unique_order_name(draft, index)
        body["geometry"] = self._aoi_geometry(draft.aois[index])
        body["order_type"] = kind.order_type
        return body

    def _params_problem(self, kind: OrderKind, params: dict) -> Optional[str]:
        """The first problem of the order parameters against the shipped schema (geometry aside)."""
        schema = dict(self.order_schema(kind.id))
        schema["required"] = [name for name in schema.get("required", []) if name != "geometry"]
        values = {key: (format_time(value) if isinstance(value, datetime) else value)
                  for key, value in (params or {}).items() if value is not None}
        error = best_match(Draft7Validator(schema).iter_errors(values))
        if error is None:
            return None
        where = ".".join(str(part) for part in error.absolute_path)
        return f"The order parameters are not valid for a Planet {kind.id} order: " \
               f"{where + ': ' if where else ''}{error.message}"

    def _geometry_problem(self, kind: OrderKind, index: int, aoi) -> Optional[str]:
        geometry = self._aoi_geometry(aoi)
        geometry_type = geometry.get("type") if isinstance(geometry, dict) else None
        if geometry_type != kind.geometry_type:
            return (f"AOI {index + 1}: a Planet {kind.id} order needs a {kind.geometry_type}, "
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

    def _find_order_named(self, name: str) -> Optional[Order]:
        for raw in self._pages("orders/", {"name__icontains": name, "ordering": "-created_time"}):
            if raw.get("name") == name:
                return self._order_from(raw)
        return None

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
                order = self._order_from(raw, text)
                if since is not None and order.updated_at is not None and order.updated_at <= since:
                    if page:
                        yield page
                    return
                page.append(order)
            if page:
                yield page

    def order(self, order_id: str) -> Order:
        return self._order_from(self.session.get(self._url(f"orders/{order_id}/")))

    def captures(self, order_ids: Iterable[str], since: Optional[datetime] = None, *,
                 exclusivity_days: Optional[Mapping[str, int]] = None) -> list:
        """Captures of those orders, newest change first per request batch.

        ``exclusivity_days`` (order id -> days) gives what the orders said; orders read through
        this provider are remembered, and an order still unknown is read once, only when one of
        its captures was acquired (the exclusivity end needs the acquisition time).
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
        """One page iterator per request batch of order ids (as many ids as fit in an address): each
        follows its own ``next`` links, so they can be read side by side. Nothing is read before a stream
        is iterated."""
        ids = list(dict.fromkeys(str(i) for i in order_ids if i))
        days = dict(self._exclusivity_days)
        days.update(exclusivity_days or {})
        return [self._capture_pages_of(chunk, since, days) for chunk in self._chunks_for_url(ids)]

    def _capture_pages_of(self, chunk: list, since: Optional[datetime], days: dict) -> Iterator[list]:
        seen = set()  # offset paging may show a capture again when the list shifts under it
        for raws in self._page_lists("captures/", {"order_id": chunk, "ordering": "-updated_time"}):
            page = []
            older = False
            for raw, text in raws:
                capture = self._capture_from(raw, text)
                if since is not None and capture.updated_at is not None and capture.updated_at <= since:
                    older = True
                    break
                if capture.id not in seen:
                    seen.add(capture.id)
                    page.append(capture)
            if page:
                yield self._with_exclusivity(page, days)
            if older:
                break

    def _with_exclusivity(self, captures: list, days: dict) -> list:
        for capture in captures:
            if capture.order_id not in days and capture.acquired_at is not None:
                try:
                    days[capture.order_id] = self.order(capture.order_id).raw.get("exclusivity_days")
                except ProviderError as error:
                    logger.info("Exclusivity of order %s unknown: %s", capture.order_id, type(error).__name__)
                    days[capture.order_id] = None
            capture.exclusivity_days = days.get(capture.order_id)
        return captures

    def _chunks_for_url(self, ids: list) -> Iterator[list]:
        fixed = len(self._url("captures/")) + len("?ordering=-updated_time&limit=1000&offset=100000")
        chunk: list = []
        length = fixed
        for order_id in ids:
            extra = len(urlencode({"order_id": order_id})) + 1
            if chunk and length + extra > MAX_CAPTURE_URL_CHARS:
                yield chunk
                chunk, length = [], fixed
            chunk.append(order_id)
            length += extra
        if chunk:
            yield chunk

    # -- changing ---------------------------------------------------------------------------
    def can_cancel(self, order: Order) -> bool:
        return (order.status.raw.upper() in CANCELLABLE_STATUSES
                and order.raw.get("is_cancellable", True) is not False)

    def cancel(self, order: Order) -> Order:
        if not self.can_cancel(order):
            raise NotSupported(self.connection.name, f"Planet cannot cancel order {order.name}: it is "
                                                     f"{order.status.raw}, and only RECEIVED, REQUESTED, PENDING "
                                                     f"or IN_PROGRESS orders can be cancelled.")
        response = self.session.request("DELETE", self._url(f"orders/{order.id}/"))
        body = None
        if response.status_code not in (204, 205) and response.content.strip():
            body = response.json()
        if isinstance(body, dict) and body.get("id") and body.get("status"):
            return self._order_from(body)
        return self.order(order.id)

    def editable_fields(self, order: Order) -> frozenset:
        status = order.status.raw.upper()
        if status not in EDITABLE_STATUSES:
            return frozenset()
        if status in START_EDITABLE_STATUSES:
            return EDITABLE_FIELDS | {"start_time"}
        return EDITABLE_FIELDS

    def edit(self, order: Order, fields: dict) -> Order:
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
        body = {"name": fields.get("name", order.name)}
        rank = fields.get("rank", order.raw.get("rank"))
        if rank is not None:
            body["rank"] = rank
        for key in ("start_time", "end_time"):
            if key not in allowed:
                continue
            value = fields.get(key, order.raw.get(key))
            if value is not None:
                body[key] = format_time(value)
        return self._order_from(self.session.json("PUT", self._url(f"orders/{order.id}/"), json=body))

    # -- mapping ----------------------------------------------------------------------------
    def _order_from(self, raw, raw_json: str = "") -> Order:
        if not isinstance(raw, dict) or not raw.get("id"):
            raise UnreadableResponse(self.connection.name,
                                     f"{self.connection.name} answered an order without an id.")
        order_id = str(raw["id"])
        if raw.get("exclusivity_days") is not None:
            self._exclusivity_days[order_id] = raw["exclusivity_days"]
        return Order(
            id=order_id,
            connection_id=self.connection.id,
            name=str(raw.get("name") or ""),
            status=normalise_status(raw.get("status")),
            product_id=_kind_of(raw),
            geometry=raw.get("geometry") or raw.get("original_geometry"),
            created_at=parse_time(raw.get("created_time")),
            updated_at=parse_time(raw.get("updated_time")) or parse_time(raw.get("created_time")),
            acquisition_start=parse_time(raw.get("start_time")),
            acquisition_end=parse_time(raw.get("end_time")),
            params={key: raw[key] for key in PARAM_FIELDS if raw.get(key) is not None},
            raw=raw,
            raw_json=raw_json,
        )

    def _capture_from(self, raw, raw_json: str = "") -> Capture:
        if not isinstance(raw, dict) or not raw.get("id"):
            raise UnreadableResponse(self.connection.name,
                                     f"{self.connection.name} answered a capture without an id.")
        order_id = str(raw.get("order_id") or "")
        cloud = raw.get("cloud_cover")
        return Capture(
            id=str(raw["id"]),
            order_id=order_id,
            status=str(raw.get("status") or ""),
            assessment=raw.get("assessment"),
            cloud_cover=float(cloud) if isinstance(cloud, (int, float)) else None,
            footprint=raw.get("captured_area"),
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
            if not next_url:
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


def _kind_of(raw: dict) -> str:
    if str(raw.get("order_type") or "").upper() == "STEREO":
        return "stereo"
    geometry = raw.get("original_geometry") or raw.get("geometry") or {}
    geometry_type = geometry.get("type") if isinstance(geometry, dict) else None
    if not isinstance(geometry_type, str):
        return "area"  # a garbled type (a list is not even hashable)
    return {"Point": "point", "LineString": "strip"}.get(geometry_type, "area")


def _quota_cost(answer) -> Optional[float]:
    if not isinstance(answer, dict):
        return None
    for key in ("estimated_quota_cost", "quota_cost", "price", "cost"):
        value = answer.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
