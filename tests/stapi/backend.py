"""An in-memory backend for the STAPI reference server (stapi-fastapi 0.8.0), for tests only.

Runs in its own venv (.venv-stapi: pydantic 2, FastAPI), never in the plugin's. Three products:
two with different order-parameter schemas of which the optical one offers opportunities (synchronous
search, paged), and ``optical-async``, the same sky offered only through asynchronous searches (a search
record that is received, then in progress, then completed on successive reads, with an ``opportunities``
link to its collection once completed). Orders keep a status history; seeded orders have lived through
a whole life already.
Everything is deterministic: opportunities are computed from the search alone.
"""
from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from typing import Literal, Optional

from cql2 import Expr
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from returns.maybe import Nothing, Some
from returns.result import Failure, ResultE, Success
from stapi_fastapi import RootRouter
from stapi_fastapi.conformance import API as API_CONFORMANCE
from stapi_fastapi.errors import QueryablesError
from stapi_fastapi.models.product import Product
from stapi_pydantic import (
    Link,
    Opportunity,
    OpportunityCollection,
    OpportunityPayload,
    OpportunityProperties,
    OpportunitySearchRecord,
    OpportunitySearchStatus,
    OpportunitySearchStatusCode,
    Order,
    OrderParameters,
    OrderPayload,
    OrderProperties,
    OrderSearchParameters,
    OrderStatus,
    OrderStatusCode,
    Provider,
    ProviderRole,
    Queryables,
)

SATELLITES = ("OPT-1", "OPT-2", "OPT-3")


# ---- product models ------------------------------------------------------------------------------
class OpticalParameters(OrderParameters):
    max_cloud_cover: int = Field(20, ge=0, le=100, title="Maximum cloud cover (%)")
    priority: Literal["standard", "rush"] = Field("standard", title="Priority")


class SarParameters(OrderParameters):
    polarization: Literal["HH", "VV", "HV"] = Field(title="Polarization")
    resolution_m: float = Field(1.0, ge=0.5, le=5.0, title="Resolution (m)")
    looks: Optional[int] = Field(None, ge=1, le=8, title="Looks")


class OpticalQueryables(Queryables):
    off_nadir: float = Field(title="Off-nadir angle (°)", ge=0, le=45)
    sun_elevation: float = Field(title="Sun elevation (°)", ge=0, le=90)
    satellite: Literal["OPT-1", "OPT-2", "OPT-3"] = Field(title="Satellite")


class OpticalOpportunityProperties(OpportunityProperties):
    off_nadir: float
    sun_elevation: float
    satellite: str


class SarQueryables(Queryables):
    incidence_angle: float = Field(title="Incidence angle (°)", ge=15, le=50)


class Store:
    """Orders and their histories, kept in memory for the life of the server."""

    def __init__(self):
        self.orders: dict = {}
        self.statuses: dict = {}

    def add(self, order: Order, history: list) -> None:
        self.orders[order.id] = order
        self.statuses[order.id] = history


STORE = Store()


def _order_id(*parts) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24]


def _bbox(geometry) -> tuple:
    points = []

    def walk(coords):
        if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
            points.append((float(coords[0]), float(coords[1])))
        else:
            for part in coords or []:
                walk(part)

    walk(geometry.get("coordinates"))
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def sky(geometry: dict, start: datetime, end: datetime) -> list:
    """Passes over the geometry's centre in [start, end]: deterministic from place and day."""
    x1, y1, x2, y2 = _bbox(geometry)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    passes = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(120):
        if day > end:
            break
        for satellite in SATELLITES:
            rng = random.Random(f"{satellite}|{round(cx, 2)}|{round(cy, 2)}|{day.date()}")
            if rng.random() < 0.45:
                continue
            moment = day + timedelta(seconds=rng.randint(8 * 3600, 14 * 3600))
            if not start <= moment <= end:
                continue
            off_nadir = round(rng.uniform(0, 45), 1)
            half = 0.05 + off_nadir / 900
            shift = off_nadir / 1500
            footprint = {"type": "Polygon", "coordinates": [[
                [cx - half + shift, cy - half], [cx + half + shift, cy - half], [cx + half + shift, cy + half],
                [cx - half + shift, cy + half], [cx - half + shift, cy - half]]]}
            passes.append({"satellite": satellite, "time": moment, "off_nadir": off_nadir,
                           "sun_elevation": round(max(5.0, 60 - abs(cy) * 0.6 + rng.uniform(-5, 5)), 1),
                           "footprint": footprint})
        day += timedelta(days=1)
    passes.sort(key=lambda p: (p["time"], p["satellite"]))
    return passes


def _check_filter(cql2, allowed: set):
    if not cql2:
        return None
    names = set()

    def walk(node):
        if isinstance(node, dict):
            if "property" in node:
                names.add(node["property"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(cql2)
    unknown = names - allowed
    if unknown:
        raise QueryablesError(f"Unknown queryables in the filter: {sorted(unknown)}")
    return Expr(cql2)


# ---- backend callables ---------------------------------------------------------------------------
async def search_optical(router, search: OpportunityPayload, next: Optional[str], limit: int, request: Request):
    try:
        expr = _check_filter(search.filter, set(OpticalQueryables.model_fields))
    except QueryablesError as error:
        return Failure(error)
    # the synchronous search names its opportunities without the product and echoes ``filter`` even when null
    found = _opportunities(router.product.id, search, expr, str(request.url_for("root:optical-30:create-order")),
                           id_names_product=False, echo_null_filter=True)
    offset = int(next) if next and next.isdigit() else 0
    if next and not next.isdigit():
        return Failure(ValueError("bad token"))
    page = found[offset:offset + limit]
    token = Some(str(offset + limit)) if offset + limit < len(found) else Nothing
    return Success((page, token))


def _opportunities(product_id: str, search: OpportunityPayload, expr, create_href: str,
                   id_names_product: bool = True, echo_null_filter: bool = False) -> list:
    geometry = search.geometry.model_dump(mode="json")
    start, end = search.datetime
    found = []
    for sky_pass in sky(geometry, start, end):
        props = {"off_nadir": sky_pass["off_nadir"], "sun_elevation": sky_pass["sun_elevation"],
                 "satellite": sky_pass["satellite"]}
        if expr is not None and not expr.matches({"properties": props}):
            continue
        window = (sky_pass["time"] - timedelta(minutes=5), sky_pass["time"] + timedelta(minutes=5))
        body = {"datetime": f"{window[0].isoformat()}/{window[1].isoformat()}", "geometry": geometry}
        if search.filter or echo_null_filter:
            body["filter"] = search.filter
        id_scope = ("opp", product_id) if id_names_product else ("opp",)
        found.append(Opportunity(
            id=_order_id(*id_scope, sky_pass["satellite"], sky_pass["time"].isoformat()),
            geometry=sky_pass["footprint"],
            properties=OpticalOpportunityProperties(datetime=window, product_id=product_id, **props),
            links=[Link(href=create_href, rel="create-order", type="application/json", method="POST", body=body)]))
    return found


SEARCHES: dict = {}  # search record id -> [record, opportunities, reads]


async def search_async(router, search: OpportunityPayload, request: Request):
    try:
        expr = _check_filter(search.filter, set(OpticalQueryables.model_fields))
    except QueryablesError as error:
        return Failure(error)
    record_id = _order_id("search", len(SEARCHES), search.model_dump_json())
    found = _opportunities(router.product.id, search, expr,
                           str(request.url_for(f"root:{router.product.id}:create-order")))
    record = OpportunitySearchRecord(
        id=record_id, product_id=router.product.id, opportunity_request=search,
        status=OpportunitySearchStatus(timestamp=datetime.now(timezone.utc),
                                       status_code=OpportunitySearchStatusCode.received), links=[])
    SEARCHES[record_id] = [record, found, 0]
    return Success(record)


async def get_search_record(search_record_id: str, request: Request):
    entry = SEARCHES.get(search_record_id)
    if entry is None:
        return Success(Nothing)
    record, _, reads = entry
    entry[2] = reads + 1
    steps = [OpportunitySearchStatusCode.received, OpportunitySearchStatusCode.in_progress,
             OpportunitySearchStatusCode.completed]
    code = steps[min(reads + 1, 2)]
    links = []
    if code is OpportunitySearchStatusCode.completed:
        href = str(request.base_url).rstrip("/") + f"/products/{record.product_id}/opportunities/{record.id}"
        links.append(Link(href=href, rel="opportunities", type="application/geo+json"))
    record = record.model_copy(update={
        "status": OpportunitySearchStatus(timestamp=datetime.now(timezone.utc), status_code=code), "links": links})
    return Success(Some(record))


async def get_search_records(next: Optional[str], limit: int, request: Request):
    return Success(([entry[0] for entry in SEARCHES.values()][:limit], Nothing))


async def get_opportunity_collection(router, opportunity_collection_id: str, request: Request):
    entry = SEARCHES.get(opportunity_collection_id)
    if entry is None or entry[2] < 2:
        return Success(Nothing)
    return Success(Some(OpportunityCollection(features=entry[1], id=opportunity_collection_id, links=[])))


def _new_order(product_id: str, payload: OrderPayload, created: datetime, codes: list,
               step: timedelta = timedelta(minutes=7)) -> Order:
    history = [OrderStatus(timestamp=created + step * n, status_code=code)
               for n, code in enumerate(codes)]
    geometry = payload.geometry
    order = Order(
        id=_order_id("order", len(STORE.orders), product_id, created.isoformat()),
        geometry=geometry,
        properties=OrderProperties(
            product_id=product_id, created=created, status=history[-1],
            search_parameters=OrderSearchParameters(datetime=payload.datetime, geometry=geometry,
                                                    filter=payload.filter),
            opportunity_properties={}, order_parameters=payload.order_parameters.model_dump(mode="json")),
        links=[])
    STORE.add(order, history)
    return order


def _create(product_id: str, allowed: set):
    async def create_order(router, payload: OrderPayload, request: Request) -> ResultE[Order]:
        try:
            _check_filter(payload.filter, allowed)
        except QueryablesError as error:
            return Failure(error)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        return Success(_new_order(product_id, payload, now, [OrderStatusCode.received, OrderStatusCode.accepted],
                                  step=timedelta(0)))

    return create_order


async def get_orders(next: Optional[str], limit: int, request: Request):
    ids = list(STORE.orders)
    if next is not None and next not in ids:
        return Failure(ValueError("unknown token"))
    start = ids.index(next) if next else 0
    page = [STORE.orders[i].model_copy(deep=True) for i in ids[start:start + limit]]
    token = Some(ids[start + limit]) if start + limit < len(ids) else Nothing
    return Success((page, token, Some(len(ids))))


async def get_order(order_id: str, request: Request):
    order = STORE.orders.get(order_id)
    return Success(Some(order.model_copy(deep=True)) if order else Nothing)


async def get_order_statuses(order_id: str, next: Optional[str], limit: int, request: Request):
    history = STORE.statuses.get(order_id)
    if history is None:
        return Success(Nothing)
    offset = int(next) if next and next.isdigit() else 0
    page = history[offset:offset + limit]
    token = Some(str(offset + limit)) if offset + limit < len(history) else Nothing
    return Success(Some((page, token)))


PROVIDER = Provider(name="Reference Space", description="An in-memory STAPI backend",
                    roles=[ProviderRole.producer], url="https://example.com")

OPTICAL = Product(
    id="optical-30", title="Optical 30 cm", description="Very high resolution optical tasking.",
    license="proprietary", keywords=["optical"], providers=[PROVIDER],
    conformsTo=["https://geojson.org/schema/Polygon.json", "https://geojson.org/schema/Point.json"],
    create_order=_create("optical-30", set(OpticalQueryables.model_fields)), search_opportunities=search_optical,
    queryables=OpticalQueryables, opportunity_properties=OpticalOpportunityProperties,
    order_parameters=OpticalParameters)

SAR = Product(
    id="sar-strip", title="SAR stripmap", description="X-band SAR, day and night.",
    license="proprietary", keywords=["sar"], providers=[PROVIDER],
    conformsTo=["https://geojson.org/schema/Polygon.json", "https://geojson.org/schema/MultiPolygon.json"],
    create_order=_create("sar-strip", set(SarQueryables.model_fields)), queryables=SarQueryables,
    opportunity_properties=OpportunityProperties, order_parameters=SarParameters)


OPTICAL_ASYNC = Product(
    id="optical-async", title="Optical 30 cm (asynchronous search)",
    description="The same tasking; opportunities only through asynchronous searches.",
    license="proprietary", keywords=["optical"], providers=[PROVIDER],
    conformsTo=["https://geojson.org/schema/Polygon.json", "https://geojson.org/schema/Point.json"],
    create_order=_create("optical-async", set(OpticalQueryables.model_fields)),
    search_opportunities_async=search_async, get_opportunity_collection=get_opportunity_collection,
    queryables=OpticalQueryables, opportunity_properties=OpticalOpportunityProperties,
    order_parameters=OpticalParameters)


def seed_orders(count: int) -> None:
    """Orders whose life is over already (for listing and paging tests)."""
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    lives = [
        ["received", "accepted", "scheduled", "tasked", "processing", "completed"],
        ["received", "rejected"],
        ["received", "accepted", "scheduled", "tasked", "failed"],
        ["received", "accepted", "user_cancelled"],
    ]
    for n in range(count):
        lon, lat = 10 + n * 0.1, 50 + (n % 5) * 0.1
        ring = [[lon, lat], [lon + 0.05, lat], [lon + 0.05, lat + 0.05], [lon, lat + 0.05], [lon, lat]]
        product, params = (OPTICAL, OpticalParameters(max_cloud_cover=10 + n % 50)) if n % 2 == 0 else \
            (SAR, SarParameters(polarization="VV"))
        payload = OrderPayload[type(params)](
            datetime=(base + timedelta(days=n), base + timedelta(days=n + 10)),
            geometry={"type": "Polygon", "coordinates": [ring]}, order_parameters=params)
        _new_order(product.id, payload, base + timedelta(hours=n),
                   [OrderStatusCode(code) for code in lives[n % len(lives)]])


def create_app(token: str = "", api_key: str = "", seed: int = 0) -> FastAPI:
    """The reference server with this backend; with ``token``/``api_key`` every request must carry
    ``Authorization: Bearer <token>`` or ``X-API-Key: <api_key>``."""
    STORE.orders.clear()
    STORE.statuses.clear()
    SEARCHES.clear()
    seed_orders(seed)
    root = RootRouter(get_orders=get_orders, get_order=get_order, get_order_statuses=get_order_statuses,
                      get_opportunity_search_records=get_search_records,
                      get_opportunity_search_record=get_search_record,
                      conformances=[API_CONFORMANCE.core])
    root.add_product(OPTICAL)
    root.add_product(SAR)
    root.add_product(OPTICAL_ASYNC)
    app = FastAPI()

    @app.middleware("http")
    async def authenticate(request: Request, call_next):
        if token or api_key:
            given_token = request.headers.get("authorization", "")
            given_key = request.headers.get("x-api-key", "")
            if not ((token and given_token == f"Bearer {token}") or (api_key and given_key == api_key)):
                return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        return await call_next(request)

    app.include_router(root, prefix="")
    return app

