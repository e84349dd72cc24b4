"""STAPI (Sensor Tasking API, stapi-spec 0.1.0): any provider that speaks the open standard.

Wire facts: /work/shared/api/stapi.md. Tested against the reference server (stapi-fastapi 0.8.0)
and the sandbox's ``/stapi`` dialect. Decisions this module makes:

* **Authentication** comes from the connection's QGIS auth config; ``credentials.username`` holds
  the secret (the password is not used):

  - empty (or no auth config): no authentication header;
  - ``apikey:<KEY>``: the header ``X-API-Key: <KEY>``;
  - ``bearer:<TOKEN>`` or any other value: ``Authorization: Bearer <TOKEN>``.

  The header is added per request by a ``requests`` auth object, and only to requests for the
  connection's own host and port: a ``next`` link to another host never receives the secret.
* **The order form** is the product's ``order-parameters`` schema plus three fields STAPI keeps
  outside ``order_parameters``: ``stapi:start`` / ``stapi:end`` (the ``datetime`` interval,
  required) and ``stapi:filter`` (an optional CQL2-JSON filter on opportunity properties).
  ``place`` takes them back out: ``{"datetime": "start/end", "geometry", "filter",
  "order_parameters"}``.
* **Placement never duplicates an order** (the one placement path). STAPI orders have no name or tag, and the
  ``order_parameters`` a server accepts are limited by its schema, so nothing of the draft's
  ``client_reference`` can travel. Orders are recognised by their content instead: same product,
  same geometry (rounded coordinates, else type and bounding box), same datetime interval (as
  instants) and every order parameter sent found with an equal value (servers add defaults). Before
  posting, and after any answer that does not say what happened (timeout, dropped connection, 5xx,
  unreadable body), the order list is read and matched; AOIs with identical geometry are matched
  oldest order first. A consequence worth knowing: an identical request placed earlier by another
  draft counts as already placed — for tasking, an identical second order is a double charge
  rather than an intention.
* **Statuses**: STAPI codes ARE the plugin's vocabulary; ``reserved`` ("action needed by the customer before
  acceptance") is held for the customer, not scheduled; ``user_cancelled``/``user_canceled`` and ``canceled`` are
  cancelled; an unknown code stays raw and is never final.
* **Paging** only follows ``rel: "next"`` links — their method, headers and body (opportunity
  searches page with a POST body) — never builds a token.
* **Opportunities**: ``Prefer: wait`` when the product lists the synchronous conformance class (the reference
  server lists it for asynchronous-only products too), ``Prefer: respond-async`` when it lists only the
  asynchronous one (``opportunities-async`` or the spec's ``async-opportunities`` spelling). Either answer is
  understood: 200 with the opportunities, or 201 with a search record, which is polled (its ``Location``, else
  its ``self`` link, else ``/searches/opportunities/{id}``) until ``completed``, ``failed`` or ``cancelled``; the
  results come from its ``opportunities`` link, else ``/products/{id}/opportunities/{record id}``.
* **Spec vs reference server**: orders are read from ``features`` or the spec's ``orders``; order fields from
  ``properties`` or the top level; a search record's request from ``opportunity_request`` or ``request``;
  ``datetime`` as a ``start/end`` string or a two-item array; status lists as ``{"statuses": […]}`` or a bare list.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Iterator, Optional
from urllib.parse import quote, urljoin, urlsplit

import requests

from ..http import (
    ProviderError,
    ProviderTimeout,
    RequestCancelled,
    TaskingSession,
    UnreadableResponse,
    cancellation_requested,
    follow_link,
)
from ..model import Connection, Order, OrderDraft, OrderStatus, Product, Status
from ..records import isolated, record_id_text
from ..utc import format_instant, parse_instant
from .aoi_matching import aoi_geometry, match_orders_to_aois
from .base import NotSupported, TaskingProvider
from .placement import PlacementClaims, PlacementPath, PlacementProgressCallback, SendResult, Unclear, one_by_one

logger = logging.getLogger(__name__)

API = "stapi"
DEFAULT_PAGE_SIZE = 100
#: Bound on the pages followed by one listing or search.
MAX_PAGES = 1000
#: An opportunity search stops after this many opportunities (a window of months can hold thousands).
MAX_OPPORTUNITIES = 500

GEOJSON_SCHEMA_PREFIX = "https://geojson.org/schema/"
OPPORTUNITIES_CONFORMANCE_SUFFIX = "/opportunities"
ASYNC_CONFORMANCE_SUFFIXES = ("/opportunities-async", "/async-opportunities")
#: An asynchronous search is polled at most this many times, this far apart (seconds).
SEARCH_POLLS = 120
SEARCH_POLL_SECONDS = 2.0
SEARCH_DONE = ("completed", "failed", "cancelled", "canceled")

#: Form fields for what STAPI keeps beside ``order_parameters``.
START_FIELD = "stapi:start"
END_FIELD = "stapi:end"
FILTER_FIELD = "stapi:filter"
RESERVED_FIELDS = (START_FIELD, END_FIELD, FILTER_FIELD)

API_KEY_PREFIX = "apikey:"  # pragma: allowlist secret  # the prefix typed before a key, not a key
BEARER_PREFIX = "bearer:"
API_KEY_HEADER = "X-API-Key"  # pragma: allowlist secret  # a header name, not a key

STATUS_CODES = {
    "received": OrderStatus.RECEIVED,
    "accepted": OrderStatus.ACCEPTED,
    "rejected": OrderStatus.REJECTED,
    "completed": OrderStatus.COMPLETED,
    "cancelled": OrderStatus.CANCELLED,
    "canceled": OrderStatus.CANCELLED,
    "user_cancelled": OrderStatus.CANCELLED,
    "user_canceled": OrderStatus.CANCELLED,
    "scheduled": OrderStatus.SCHEDULED,
    # "Action needed by the customer before acceptance, such as payment" (spec): waiting for you, not scheduled.
    "reserved": OrderStatus.HELD,
    "held": OrderStatus.HELD,
    "processing": OrderStatus.PROCESSING,
    "tasked": OrderStatus.TASKED,
    "expired": OrderStatus.EXPIRED,
    "failed": OrderStatus.FAILED,
}



# ---------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------

def auth_header(secret: str) -> Optional[tuple]:
    """(header name, value) for the secret held in the auth config's username; None for no auth."""
    secret = (secret or "").strip()
    if not secret:
        return None
    if secret.lower().startswith(API_KEY_PREFIX):
        return API_KEY_HEADER, secret[len(API_KEY_PREFIX):].strip()
    if secret.lower().startswith(BEARER_PREFIX):
        secret = secret[len(BEARER_PREFIX):].strip()
    return "Authorization", f"Bearer {secret}"


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class StapiAuth(requests.auth.AuthBase):
    """The STAPI header on requests to the connection's own origin only."""

    def __init__(self, base_url: str, header: tuple):
        self._origin = _origin(base_url)
        self._header = header

    def __call__(self, request):
        if _origin(request.url) == self._origin:
            request.headers[self._header[0]] = self._header[1]
        return request

    def __repr__(self) -> str:
        return f"StapiAuth({self._header[0]}: <hidden>)"


# ---------------------------------------------------------------------------------------------
# Plain helpers
# ---------------------------------------------------------------------------------------------

def stapi_status(raw) -> Status:
    raw = str(raw or "")
    code = STATUS_CODES.get(raw.lower())
    if code is None:
        logger.warning("Unknown STAPI order status %r; shown as received", raw)
        code = OrderStatus.RECEIVED
    return Status(code, raw)


def parse_interval(value) -> tuple:
    """(start, end) aware datetimes of a STAPI ``datetime`` interval "start/end" (None where open)."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return parse_instant(value[0]), parse_instant(value[1])
    if not isinstance(value, str) or "/" not in value:
        return None, None
    start, _, end = value.partition("/")
    return parse_instant(start), parse_instant(end)


def geometry_types_of(conforms_to) -> tuple:
    """GeoJSON geometry type names from a product's ``conformsTo`` (".../Point.json" → "Point")."""
    found = []
    for uri in conforms_to or []:
        if isinstance(uri, str) and uri.startswith(GEOJSON_SCHEMA_PREFIX) and uri.endswith(".json"):
            name = uri[len(GEOJSON_SCHEMA_PREFIX):-len(".json")]
            if name and name not in found:
                found.append(name)
    return tuple(found)


def search_status(record: dict) -> str:
    """The status code of an opportunity search record (``status`` an object, or a bare code)."""
    status = record.get("status")
    code = status.get("status_code") if isinstance(status, dict) else status
    return str(code or "").lower()


def _decoded(response):
    try:
        return response.json()
    except ValueError:
        return None


def find_link(links, rel: str) -> Optional[dict]:
    return next((link for link in links or [] if isinstance(link, dict) and link.get("rel") == rel
                 and isinstance(link.get("href"), str)), None)


def _same_value(sent, kept) -> bool:
    if isinstance(sent, bool) or isinstance(kept, bool):
        return sent is kept if isinstance(sent, bool) and isinstance(kept, bool) else False
    if isinstance(sent, (int, float)) and isinstance(kept, (int, float)):
        return abs(float(sent) - float(kept)) <= 1e-9 * max(1.0, abs(float(sent)))
    if isinstance(sent, dict) and isinstance(kept, dict):
        return set(sent) == set(kept) and all(_same_value(v, kept[k]) for k, v in sent.items())
    if isinstance(sent, (list, tuple)) and isinstance(kept, (list, tuple)):
        return len(sent) == len(kept) and all(_same_value(a, b) for a, b in zip(sent, kept))
    if isinstance(sent, str) and isinstance(kept, str) and sent != kept:
        # Timestamps come back in another spelling ("Z" vs "+00:00").
        a, b = parse_instant(sent), parse_instant(kept)
        return a is not None and a == b
    return sent == kept


def split_params(params: dict) -> tuple:
    """(order_parameters, start, end, filter) from the order form's values."""
    params = dict(params or {})
    start, end, cql2 = params.pop(START_FIELD, None), params.pop(END_FIELD, None), params.pop(FILTER_FIELD, None)
    order_parameters = {k: v for k, v in params.items() if v is not None and k != "geometry"}
    return order_parameters, start, end, (cql2 or None)


@dataclass
class Opportunity:
    """One chance to acquire the AOI: a footprint, a time window, the provider's properties, and
    the body of the order that would take it."""

    id: str
    product_id: str
    geometry: Optional[dict]
    start: Optional[datetime]
    end: Optional[datetime]
    datetime: str
    properties: dict = field(default_factory=dict)
    order_body: dict = field(default_factory=dict)
    order_url: str = ""
    raw: dict = field(default_factory=dict)

    def form_values(self) -> dict:
        """The order form's STAPI fields that order exactly this opportunity."""
        start, end = parse_interval(self.order_body.get("datetime")) if self.order_body else (None, None)
        start, end = start or self.start, end or self.end
        values = {START_FIELD: format_instant(start), END_FIELD: format_instant(end)}
        cql2 = self.order_body.get("filter") if self.order_body else None
        if cql2:
            values[FILTER_FIELD] = cql2
        return values


@dataclass
class StatusEntry:
    """One step of an order's status history."""

    timestamp: Optional[datetime]
    status: Status
    reason_code: Optional[str] = None
    reason_text: Optional[str] = None
    raw: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# The provider
# ---------------------------------------------------------------------------------------------

class StapiProvider(TaskingProvider):
    api_name = "STAPI"

    def __init__(self, connection: Connection, credentials, session: TaskingSession,
                 page_size: int = DEFAULT_PAGE_SIZE):
        super().__init__(connection, credentials, session)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.page_size = page_size
        self.base_url = (connection.base_url or "").rstrip("/")
        if self.base_url:
            session.bind_credentials(self.base_url)  # the key or token goes to the STAPI server's origin only
        secret = getattr(credentials, "username", "") if credentials is not None else ""
        header = auth_header(secret)
        if header is not None and self.base_url:
            session.auth = StapiAuth(self.base_url, header)
        self._products: dict = {}
        self._schemas: dict = {}
        #: How the provider waits between polls of an asynchronous search (tests make it instant).
        self.poll_sleep = time.sleep

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def _name(self) -> str:
        return self.connection.name

    def _url(self, path: str) -> str:
        if not self.base_url:
            raise ProviderError(self._name, f"The STAPI connection “{self._name}” has no address yet: enter "
                                            "the URL of the STAPI server in the connection settings.")
        return self.base_url + path

    def _object(self, body, what: str) -> dict:
        if not isinstance(body, dict):
            raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                 f"{what} is not a JSON object")
        return body

    def _pages(self, method: str, url: str, key, *, params: Optional[dict] = None,
               body: Optional[dict] = None, headers: Optional[dict] = None) -> Iterator[dict]:
        """Items under ``key`` of every page, following ``rel: next`` links exactly as given."""
        seen = set()
        for _page in range(MAX_PAGES):
            kwargs = {"params": params, "headers": headers}
            if body is not None:
                kwargs["json"] = body
            # Listing and searching create nothing: a lost answer may be asked for again.
            page = self.session.json(method, url, idempotent=True, **kwargs)
            if isinstance(page, list):  # the reference server's bare list of statuses
                page = {key[0] if isinstance(key, tuple) else key: page}
            page = self._object(page, f"a page of {key}")
            keys = key if isinstance(key, tuple) else (key,)
            items = next((page[k] for k in keys if isinstance(page.get(k), list)), None)
            if not isinstance(items, list):
                raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                     f"a page without {keys[0]}")
            yield from (item for item in items if isinstance(item, dict))
            link = find_link(page.get("links"), "next")
            if link is None or not items:
                return
            method = str(link.get("method") or "GET").upper()
            url = follow_link(url, link["href"], self._name, f"the next page of {key}")
            body = link.get("body") if method != "GET" else None
            link_headers = link.get("headers") if isinstance(link.get("headers"), dict) else {}
            headers = {**(headers or {}), **{k: v for k, v in link_headers.items() if isinstance(v, str)}}
            params = None
            marker = (method, url, json.dumps(body, sort_keys=True))
            if marker in seen:
                logger.warning("STAPI paging of %s links back to a page already read; stopping", key)
                return
            seen.add(marker)
        logger.warning("Stopped reading %s after %d pages", key, MAX_PAGES)

    # -- identity ---------------------------------------------------------------------------
    def check(self) -> str:
        landing = self._object(self.session.get(self._url("/")), "the landing page")
        title = landing.get("title") or landing.get("id") or "STAPI"
        count = len(list(self._pages("GET", self._url("/products"), "products",
                                     params={"limit": self.page_size})))
        return f"Connected to {self._name}: {title} answers with {count} product(s)."

    # -- catalogue --------------------------------------------------------------------------
    def products(self) -> list:
        products = []
        for raw in self._pages("GET", self._url("/products"), "products", params={"limit": self.page_size}):
            product = self._product_from(raw)
            if product is not None:
                products.append(product)
                self._products[product.id] = product
        return products

    def _product_from(self, raw: dict) -> Optional[Product]:
        product_id = raw.get("id")
        if not isinstance(product_id, str) or not product_id:
            logger.warning("Skipping a STAPI product without an id")
            return None
        conforms_to = [c for c in raw.get("conformsTo") or [] if isinstance(c, str)]
        links = [link for link in raw.get("links") or [] if isinstance(link, dict)]
        providers = [p for p in raw.get("providers") or [] if isinstance(p, dict)]
        producer = next((p for p in providers if "producer" in (p.get("roles") or [])),
                        providers[0] if providers else {})
        sync = any(c.rstrip("/").endswith(OPPORTUNITIES_CONFORMANCE_SUFFIX) for c in conforms_to)
        asynchronous = any(c.rstrip("/").endswith(ASYNC_CONFORMANCE_SUFFIXES) for c in conforms_to)
        offers = find_link(links, "opportunities") is not None or sync or asynchronous
        return Product(
            id=product_id,
            title=raw.get("title") or product_id,
            provider_name=producer.get("name") or self._name,
            collection=self.connection.id,
            collection_title=producer.get("name") or self._name,
            description=raw.get("description") or "",
            geometry_types=geometry_types_of(conforms_to) or ("Polygon",),
            api=API,
            extra={"conformsTo": conforms_to, "links": links, "providers": providers,
                   "keywords": raw.get("keywords") or [], "license": raw.get("license") or "",
                   "opportunities": offers, "async_only": asynchronous and not sync},
        )

    def _product(self, product) -> Product:
        if isinstance(product, Product):
            return product
        product_id = str(product)
        if product_id not in self._products:
            self.products()
        if product_id not in self._products:
            raise NotSupported(self._name, f"{self._name} has no STAPI product {product_id!r}.")
        return self._products[product_id]

    def _product_url(self, product: Product, rel: str, suffix: str) -> str:
        link = find_link(product.extra.get("links"), rel)
        if link is not None:
            return urljoin(self._url("/"), link["href"])
        return self._url(f"/products/{quote(product.id, safe='')}{suffix}")

    def order_parameters_schema(self, product) -> dict:
        product = self._product(product)
        if product.id not in self._schemas:
            url = self._product_url(product, "order-parameters", "/order-parameters")
            self._schemas[product.id] = self._object(self.session.get(url), "the order parameters schema")
        return copy.deepcopy(self._schemas[product.id])

    def order_schema(self, product) -> dict:
        """The ``order-parameters`` schema with the interval and filter STAPI keeps beside them."""
        schema = self.order_parameters_schema(product)
        schema.setdefault("type", "object")
        properties = schema.setdefault("properties", {})
        properties[START_FIELD] = {"title": "Acquisition window start", "type": "string", "format": "date-time",
                                   "description": "Start of the STAPI datetime interval of the order."}
        properties[END_FIELD] = {"title": "Acquisition window end", "type": "string", "format": "date-time",
                                 "description": "End of the STAPI datetime interval of the order."}
        properties[FILTER_FIELD] = {"title": "Opportunity filter (CQL2-JSON)", "type": "object",
                                    "description": "Optional CQL2-JSON filter on opportunity properties; "
                                                   "filled when an opportunity is picked."}
        required = [name for name in schema.get("required") or [] if name not in RESERVED_FIELDS]
        schema["required"] = [START_FIELD, END_FIELD] + required
        return schema

    def offers_opportunities(self, product) -> bool:
        return bool(self._product(product).extra.get("opportunities"))

    def queryables(self, product) -> dict:
        """JSON Schema of the opportunity properties a CQL2 filter may use."""
        product = self._product(product)
        url = self._product_url(product, "queryables", "/queryables")
        return self._object(self.session.get(url), "the queryables")

    # -- opportunities ----------------------------------------------------------------------
    def opportunities(self, product, aoi_geometry: dict, start, end, filter: Optional[dict] = None,  # noqa: A002
                      limit: int = MAX_OPPORTUNITIES) -> list:
        product = self._product(product)
        if not product.extra.get("opportunities"):
            raise self._unsupported(f"opportunity searches for {product.title}")
        url = self._product_url(product, "opportunities", "/opportunities")
        body = {"datetime": f"{format_instant(start)}/{format_instant(end)}", "geometry": aoi_geometry,
                "limit": min(self.page_size, limit)}
        if filter:
            body["filter"] = filter
        prefer = "respond-async" if product.extra.get("async_only") else "wait"
        found = []
        search_link = None
        for page_url, page, search in self._opportunity_pages(url, body, prefer, product):
            search_link = find_link(page.get("links"), "create-order") or search_link
            for raw in page.get("features") or []:
                if isinstance(raw, dict):
                    found.append(self._opportunity_from(raw, product, search, search_link, page_url))
                if len(found) >= limit:
                    return found
        return found

    def _opportunity_pages(self, url: str, body: dict, prefer: str, product: Product) -> Iterator[tuple]:
        """(page URL, page, search body) of every page of opportunities, whichever way the server answers."""
        # A search creates nothing: a lost answer may be asked for again.
        response = self.session.request("POST", url, json=body, headers={"Prefer": prefer}, idempotent=True)
        page = self._object(_decoded(response), "the opportunities")
        if not isinstance(page.get("features"), list):
            if not isinstance(page.get("status"), (dict, str)) or "id" not in page:
                raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                     "opportunities without features")
            location = response.headers.get("Location")
            record_url = follow_link(url, location, self._name, "the search record") if location else None
            yield from self._async_results(page, record_url, product)
            return
        seen = set()
        for _page in range(MAX_PAGES):
            yield url, page, body
            link = find_link(page.get("links"), "next")
            if link is None or not page["features"]:
                return
            url = follow_link(url, link["href"], self._name, "the next page of opportunities")
            body = link.get("body") if isinstance(link.get("body"), dict) else body
            marker = (url, json.dumps(body, sort_keys=True))
            if marker in seen:
                return
            seen.add(marker)
            page = self._object(self.session.json("POST", url, json=body, headers={"Prefer": prefer},
                                                  idempotent=True), "the opportunities")
            if not isinstance(page.get("features"), list):
                raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                     "opportunities without features")

    def _async_results(self, record: dict, location: Optional[str], product: Product) -> Iterator[tuple]:
        """Poll an opportunity search record until it is done, then read its opportunities."""
        record_id = str(record.get("id"))
        self_link = find_link(record.get("links"), "self")
        record_url = location or (follow_link(self._url("/"), self_link["href"], self._name, "the search record")
                                  if self_link else self._url(f"/searches/opportunities/{quote(record_id, safe='')}"))
        for poll in range(SEARCH_POLLS):
            code = search_status(record)
            if code in SEARCH_DONE:
                break
            if cancellation_requested():
                raise RequestCancelled(self._name, f"The opportunity search on {self._name} was stopped.")
            if poll:
                self.poll_sleep(SEARCH_POLL_SECONDS)
            record = self._object(self.session.get(record_url), "the opportunity search record")
        else:
            raise ProviderTimeout(self._name, f"{self._name} is still searching for opportunities "
                                              f"(search {record_id}); try again later.")
        code = search_status(record)
        if code != "completed":
            status = record.get("status") if isinstance(record.get("status"), dict) else {}
            reason = status.get("reason_text") or status.get("reason_code") or "no reason given"
            raise ProviderError(self._name, f"The opportunity search on {self._name} ended {code}: {reason}")
        request = record.get("opportunity_request") or record.get("request") or {}
        request = request if isinstance(request, dict) else {}
        link = find_link(record.get("links"), "opportunities")
        if link is not None:
            url = follow_link(record_url, link["href"], self._name, "the opportunities of the search")
        else:
            logger.info("STAPI search record %s has no opportunities link; reading the product's collection",
                        record_id)
            url = self._product_url(product, "opportunities", "/opportunities") + "/" + quote(record_id, safe="")
        seen = set()
        for _page in range(MAX_PAGES):
            page = self._object(self.session.get(url), "the opportunities of the search")
            if not isinstance(page.get("features"), list):
                raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                     "opportunities without features")
            yield url, page, request
            next_link = find_link(page.get("links"), "next")
            if next_link is None or not page["features"] or str(next_link.get("method") or "GET").upper() != "GET":
                return
            url = follow_link(url, next_link["href"], self._name, "the next page of opportunities")
            if url in seen:
                return
            seen.add(url)

    def _opportunity_from(self, raw: dict, product: Product, search: dict, search_link, page_url) -> Opportunity:
        properties = raw.get("properties") if isinstance(raw.get("properties"), dict) else {}
        interval = properties.get("datetime")
        start, end = parse_interval(interval)
        own = find_link(raw.get("links"), "create-order")
        link = own or search_link
        if own is not None and isinstance(own.get("body"), dict):
            order_body = dict(own["body"])
        else:
            # The collection's create-order link carries the search; this opportunity's own window
            # narrows it to exactly this chance.
            order_body = dict(search_link["body"]) if search_link and isinstance(search_link.get("body"), dict) \
                else {k: search[k] for k in ("datetime", "geometry", "filter") if search.get(k) is not None}
            if isinstance(interval, str):
                order_body["datetime"] = interval
        opportunity_id = raw.get("id")
        if opportunity_id is None:
            opportunity_id = f"{interval}@{json.dumps(raw.get('geometry'), sort_keys=True)[:60]}"
        return Opportunity(
            id=str(opportunity_id), product_id=str(properties.get("product_id") or product.id),
            geometry=raw.get("geometry"), start=start, end=end,
            datetime=interval if isinstance(interval, str) else "",
            properties={k: v for k, v in properties.items() if k != "datetime"},
            order_body=order_body,
            order_url=urljoin(page_url, link["href"]) if link else "",
            raw=raw)

    # -- ordering ---------------------------------------------------------------------------
    def _order_body(self, draft: OrderDraft, index: int) -> dict:
        order_parameters, start, end, cql2 = split_params(draft.params)
        body = {"datetime": f"{format_instant(start)}/{format_instant(end)}",
                "geometry": aoi_geometry(draft.aois[index]), "order_parameters": order_parameters}
        if cql2:
            body["filter"] = cql2
        return body

    def place(self, draft: OrderDraft, only: Optional[Iterable[int]] = None,
              progress: Optional[PlacementProgressCallback] = None,
              claims: Optional[PlacementClaims] = None) -> list:
        """The one placement path (``placement.PlacementPath``) with STAPI's steps: orders with this draft's
        content are looked up (STAPI orders carry no reference, see the module docstring), and the rest are
        posted one after the other to the product's ``create-order`` link."""
        product = self._product(draft.product_id)
        path = PlacementPath(who=self._name, lookup=self.placed_orders,
                             send=one_by_one(lambda d, index: self._send_one(d, index, product)),
                             refuse=self._refuse_placement)
        return path.place(draft, only=only, progress=progress, claims=claims)

    @staticmethod
    def _refuse_placement(draft: OrderDraft, indexes: list) -> dict:
        _, start, end, _ = split_params(draft.params)
        if start and end:
            return {}
        return {i: "A STAPI order needs the start and end of its acquisition window." for i in indexes}

    def _send_one(self, draft: OrderDraft, index: int, product: Product) -> SendResult:
        url = self._product_url(product, "create-order", "/orders")
        response = self.session.request("POST", url, json=self._order_body(draft, index), idempotent=False)
        return self._placed_order(url, response)

    def _placed_order(self, url: str, response) -> SendResult:
        """The order a successful POST created, read again: from its ``Location`` (the spec's 201 answer), else
        from ``/orders/{id}`` of the body's id (the reference server's answer carries the order too)."""
        answer = _decoded(response) if response.content.strip() else None
        order_id = answer.get("id") if isinstance(answer, dict) else None
        location = response.headers.get("Location")
        try:
            if location:
                target = follow_link(url, location, self._name, "the new order")
            elif order_id not in (None, ""):
                target = self._url("/orders/" + quote(str(order_id), safe=""))
            else:
                raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                     "a new order without an id or Location")
            return self._order_from(self.session.get(target))
        except ProviderError as exc:
            if isinstance(answer, dict) and order_id not in (None, ""):
                logger.info("STAPI order %s could not be read again (%s); using the placement's answer",
                            order_id, type(exc).__name__)
                try:
                    return self._order_from(answer)
                except UnreadableResponse:
                    pass
            return Unclear(exc)

    def placed_orders(self, draft: OrderDraft) -> dict:
        """AOI index -> the existing order with this draft's content (see the module docstring)."""
        order_parameters, start, end, _ = split_params(draft.params)
        if not start or not end or not draft.aois:
            return {}
        window = (parse_instant(format_instant(start)), parse_instant(format_instant(end)))
        candidates = []
        for order in self.orders():
            if order.product_id != draft.product_id:
                continue
            if (order.acquisition_start, order.acquisition_end) != window:
                continue
            kept = order.params or {}
            if not all(name in kept and _same_value(value, kept[name]) for name, value in order_parameters.items()):
                continue
            candidates.append(order)
        candidates.sort(key=lambda o: (o.created_at or datetime.min.replace(tzinfo=timezone.utc), o.id))
        matched, _ = match_orders_to_aois(candidates, draft.aois)
        return matched

    # -- reading ----------------------------------------------------------------------------
    def _order_from(self, raw) -> Order:
        raw = self._object(raw, "an order")
        order_id = record_id_text(raw.get("id"))
        if order_id is None:
            raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                 "an order without an id")
        # The reference server keeps order fields under "properties"; the spec prose at the top level.
        properties = {**{k: v for k, v in raw.items() if k not in ("type", "geometry", "properties", "links")},
                      **(raw.get("properties") if isinstance(raw.get("properties"), dict) else {})}
        status = properties.get("status") if isinstance(properties.get("status"), dict) else {}
        search = next((properties[k] for k in ("search_parameters", "request") if isinstance(properties.get(k), dict)),
                      {})
        start, end = parse_interval(search.get("datetime"))
        product_id = str(properties.get("product_id") or "")
        created = parse_instant(properties.get("created"))
        name = properties.get("title") or properties.get("name")
        if not name:
            window = f" {start:%Y-%m-%d}–{end:%Y-%m-%d}" if start and end else ""
            name = f"{product_id}{window}".strip() or str(order_id)
        params = next((value for value in (properties.get("order_parameters"), search.get("order_parameters"))
                       if isinstance(value, dict)), {})
        return Order(
            id=str(order_id), connection_id=self.connection.id, name=str(name),
            status=stapi_status(status.get("status_code")), product_id=product_id,
            geometry=raw.get("geometry") or search.get("geometry"), created_at=created,
            updated_at=parse_instant(status.get("timestamp")) or created,
            acquisition_start=start, acquisition_end=end, params=dict(params), api=API, raw=raw)

    def orders(self, since: Optional[datetime] = None) -> list:
        """Every order (STAPI lists have no order or filter), newest change first; with ``since``,
        only those whose current status is at least that recent."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        # The reference server (and generated OpenAPI) list orders under "features", the spec prose under "orders".
        read = (isolated("order", raw, self._order_from, raw)
                for raw in self._pages("GET", self._url("/orders"), ("features", "orders"),
                                       params={"limit": self.page_size}))
        orders = [order for order in read if order is not None]  # unreadable ones: skipped, named by the sync
        if since is not None:
            orders = [o for o in orders if o.updated_at is None or o.updated_at >= since]
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        orders.sort(key=lambda o: (o.updated_at or epoch, o.id), reverse=True)
        return orders

    def order(self, order_id: str) -> Order:
        return self._order_from(self.session.get(self._url("/orders/" + quote(str(order_id), safe=""))))

    def status_history(self, order) -> list:
        """The order's statuses, oldest first (the newest is the current one)."""
        order_id = order.id if isinstance(order, Order) else str(order)
        monitor = find_link(order.raw.get("links"), "monitor") if isinstance(order, Order) else None
        url = urljoin(self._url("/"), monitor["href"]) if monitor else \
            self._url(f"/orders/{quote(order_id, safe='')}/statuses")
        entries = []
        for raw in self._pages("GET", url, "statuses", params={"limit": self.page_size}):
            entries.append(StatusEntry(timestamp=parse_instant(raw.get("timestamp")),
                                       status=stapi_status(raw.get("status_code")),
                                       reason_code=raw.get("reason_code"), reason_text=raw.get("reason_text"),
                                       raw=raw))
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        entries.sort(key=lambda e: e.timestamp or epoch)
        return entries
