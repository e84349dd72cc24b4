"""STAPI dialect of the sandbox (prefix ``/stapi``): stapi-spec 0.1.0 as stapi-fastapi 0.8.0 serves it.

The same products as the UP42 dialect (``up42_schemas.PRODUCTS``, ids are the UP42 product names), their
order forms without what STAPI keeps outside ``order_parameters`` (name, window, geometry). Choices:

- **The sky.** Each collection has a small constellation; whether a satellite passes over a place on a day,
  when, and at which off-nadir angle and sun elevation is drawn from ``world.random("sky", satellite, lon,
  lat, day)`` (place rounded to 0.1°). So the sky depends on the seed alone, never on request order, and
  the passes an opportunity search shows are the ones an order's life uses. The optical products (Pléiades
  Neo, BlackSky) offer opportunity searches; the SAR product does not (its product has no opportunities
  link or conformance class).
- **An order's life** is fixed when it is created, from ``world.random("stapi", order_id, ...)`` and the
  sky: received → accepted (1-5 min) → scheduled (10-60 min) → tasked (6 h before the first pass in its
  window that passes its filter) → processing (at the pass) → completed 2-8 h later, or failed with
  probability ``stapi_failure_rate`` (default 0.05). No pass in the window: accepted → expired at its end.
  A window already over: rejected. ``GET /orders/{id}/statuses`` shows the steps whose time has come on
  the simulated clock; the newest is the order's status.
- **Filters** are CQL2-JSON over the product's queryables: ``and or not = <> < <= > >= between in
  isNull``; an unknown property or operator answers 422, as the reference server does.
- **Auth**: none needed; ``Authorization: Bearer wrong`` or ``X-API-Key: wrong`` answer 401.
- **Paging**: ``limit`` and an opaque ``next`` token in ``rel: next`` links (POST body for opportunities).
- Test hook ``POST /_sandbox/stapi/seed_orders {"count", "product_id"}``: orders whose life is over.
"""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Dict, List, Optional
from urllib.parse import quote, urlencode

from . import stapi_wire as wire
from . import up42_schemas as schemas
from .core import HttpError, Request, Response, World, iso, json_response, parse_time
from .up42 import check_geometry, footprint

STAPI_VERSION = "0.1.0"
GEOJSON = "https://geojson.org/schema/{}.json"
CONFORMANCE_CORE = f"https://stapi.example.com/v{STAPI_VERSION}/core"
CONFORMANCE_STATUSES = f"https://stapi.example.com/v{STAPI_VERSION}/order-statuses"
CONFORMANCE_OPPORTUNITIES = f"https://stapi.example.com/v{STAPI_VERSION}/opportunities"
CONFORMANCE_OPPORTUNITIES_ASYNC = f"https://stapi.example.com/v{STAPI_VERSION}/opportunities-async"
CONFORMANCE_SEARCHES = f"https://stapi.example.com/v{STAPI_VERSION}/searches-opportunity"
FIELDS_OUTSIDE_PARAMETERS = ("displayName", "acquisitionStart", "acquisitionEnd", "geometry")
CONSTELLATIONS = {
    "pneo-tasking": ("PNEO3", "PNEO4"),
    "blacksky-tasking": ("GLOBAL-16", "GLOBAL-17", "GLOBAL-18"),
    "capella-tasking": ("CAPELLA-11", "CAPELLA-13", "CAPELLA-14"),
}
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_WINDOW_DAYS = 400
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def _err(status: int, detail: str, instance: str = "") -> HttpError:
    """FastAPI's error body, as the reference server answers: ``{"detail": "<text>"}``."""
    return HttpError(status, {"detail": detail})


def _json(request: Request):
    if not request.body:
        raise _err(422, "The request body is empty; a JSON body is required.")
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _err(422, f"The request body is not valid JSON: {exc}") from exc


def product_id_of(uuid: str) -> str:
    return schemas.PRODUCTS[uuid]["name"]


PRODUCT_UUIDS = {product_id_of(uuid): uuid for uuid in schemas.PRODUCTS}


def _offers_opportunities(uuid: str) -> bool:
    return schemas.collection_of(uuid)["metadata"]["productType"] == "OPTICAL"


def _standard_choices(node):
    """UP42's older ``enum`` of ``{id, label}`` as plain JSON Schema (``anyOf`` of ``const``/``title``)."""
    if isinstance(node, list):
        return [_standard_choices(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _standard_choices(value) for key, value in node.items()}
    values = node.get("enum")
    if isinstance(values, list) and values and all(isinstance(v, dict) and "id" in v for v in values):
        del out["enum"]
        out["anyOf"] = [{"const": v["id"], "title": v.get("label", v["id"])} for v in values]
    return out


def order_parameters_schema(uuid: str) -> dict:
    schema = _standard_choices(copy.deepcopy(schemas.PRODUCTS[uuid]["schema"]))
    for name in FIELDS_OUTSIDE_PARAMETERS:
        schema["properties"].pop(name, None)
    schema["required"] = [n for n in schema["required"] if n not in FIELDS_OUTSIDE_PARAMETERS]
    schema["title"] = f"Order parameters of {schema.get('title', uuid)}"
    return schema


def default_parameters(uuid: str) -> dict:
    """Order parameters made of the schema's defaults (required ones, after its if/then/else blocks)."""
    schema = schemas.PRODUCTS[uuid]["schema"]
    values: dict = {}
    for _ in range(4):
        definitions, required = schemas.resolve(schema, values)
        # An "if" holds while its property is absent: a default chosen before the property had its own may
        # no longer be wanted.
        values = {name: value for name, value in values.items() if name in required}
        for name in required:
            if name in FIELDS_OUTSIDE_PARAMETERS or name in values:
                continue
            spec = schema["properties"][name]
            if "default" in spec:
                values[name] = spec["default"]
                continue
            ref = (spec.get("allOf") or [{}])[0].get("$ref", "")
            definition = definitions.get(ref.rsplit("/", 1)[-1], {})
            if "default" in definition:
                values[name] = definition["default"]
    return values


def queryables_schema(uuid: str) -> dict:
    satellites = list(CONSTELLATIONS[schemas.PRODUCTS[uuid]["collection"]])
    properties = {
        "off_nadir": {"title": "Off-nadir angle (°)", "type": "number", "minimum": 0, "maximum": 45},
        "satellite": {"title": "Satellite", "type": "string", "enum": satellites},
    }
    if schemas.collection_of(uuid)["metadata"]["productType"] == "OPTICAL":
        properties["sun_elevation"] = {"title": "Sun elevation (°)", "type": "number", "minimum": 0, "maximum": 90}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Opportunity queryables",
            "type": "object", "properties": properties, "additionalProperties": True}


# ---- CQL2-JSON ------------------------------------------------------------------------------------
_COMPARISONS = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def check_filter(node, allowed, path: str = "") -> None:
    """Raise 422 unless ``node`` is CQL2-JSON this sandbox evaluates, over ``allowed`` properties."""
    if node is None:
        return
    if not isinstance(node, dict) or not isinstance(node.get("op"), str) or not isinstance(node.get("args"), list):
        raise _err(422, "The filter must be CQL2-JSON: {\"op\": ..., \"args\": [...]}", path)
    op, args = node["op"], node["args"]
    if op in ("and", "or"):
        for arg in args:
            check_filter(arg, allowed, path)
        return
    if op == "not":
        if len(args) != 1:
            raise _err(422, "not takes one argument", path)
        check_filter(args[0], allowed, path)
        return
    if op not in _COMPARISONS and op not in ("between", "in", "isNull"):
        raise _err(422, f"Unsupported CQL2 operator {op!r}", path)
    for arg in args:
        if isinstance(arg, dict) and "property" in arg and arg["property"] not in allowed:
            raise _err(422, f"{arg['property']!r} is not a queryable of this product; use one of "
                            f"{sorted(allowed)}", path)


def _operand(arg, properties: dict):
    if isinstance(arg, dict) and "property" in arg:
        return properties.get(arg["property"])
    return arg


def matches(node, properties: dict) -> bool:
    if node is None:
        return True
    op, args = node["op"], node["args"]
    if op == "and":
        return all(matches(a, properties) for a in args)
    if op == "or":
        return any(matches(a, properties) for a in args)
    if op == "not":
        return not matches(args[0], properties)
    values = [_operand(a, properties) for a in args]
    if op == "isNull":
        return values[0] is None
    if values[0] is None:
        return False
    try:
        if op == "between":
            return values[1] <= values[0] <= values[2]
        if op == "in":
            return values[0] in (values[1] or [])
        return _COMPARISONS[op](values[0], values[1])
    except TypeError:
        return False


# ---- the sky --------------------------------------------------------------------------------------
def _centre(geometry: dict) -> tuple:
    west, south, east, north = footprint(geometry, 1.0)
    return (west + east) / 2, (south + north) / 2


def sky_passes(world: World, uuid: str, geometry: dict, start: datetime, end: datetime) -> List[dict]:
    """Passes of the product's constellation over the geometry in [start, end], in time order."""
    collection = schemas.PRODUCTS[uuid]["collection"]
    lon, lat = _centre(geometry)
    cell = (round(lon, 1), round(lat, 1))
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    last = min(end, start + timedelta(days=MAX_WINDOW_DAYS))
    passes = []
    while day <= last:
        for satellite in CONSTELLATIONS[collection]:
            rnd = world.random("sky", satellite, cell[0], cell[1], day.date().isoformat())
            if rnd.random() < 0.55:
                continue
            moment = day + timedelta(seconds=rnd.randint(9 * 3600, 13 * 3600))
            off_nadir = round(rnd.uniform(0, 45), 1)
            sun = round(max(3.0, 65 - abs(lat) * 0.7 + rnd.uniform(-6, 6)), 1)
            if start <= moment <= end:
                passes.append({"satellite": satellite, "time": moment, "off_nadir": off_nadir,
                               "sun_elevation": sun})
        day += timedelta(days=1)
    passes.sort(key=lambda p: (p["time"], p["satellite"]))
    return passes


def pass_properties(uuid: str, sky_pass: dict) -> dict:
    properties = {"off_nadir": sky_pass["off_nadir"], "satellite": sky_pass["satellite"]}
    if _offers_opportunities(uuid):
        properties["sun_elevation"] = sky_pass["sun_elevation"]
    return properties


def pass_footprint(uuid: str, geometry: dict, sky_pass: dict) -> dict:
    product = schemas.PRODUCTS[uuid]
    west, south, east, north = footprint(geometry, product.get("scene_km", 6.0))
    grow = 0.02 + sky_pass["off_nadir"] / 1500
    shift = sky_pass["off_nadir"] / 2000
    box = [west - grow + shift, south - grow, east + grow + shift, north + grow]
    box = [round(v, 6) for v in box]
    return {"type": "Polygon", "coordinates": [[[box[0], box[1]], [box[2], box[1]], [box[2], box[3]],
                                                [box[0], box[3]], [box[0], box[1]]]]}


def _window(sky_pass: dict) -> str:
    return f"{iso(sky_pass['time'] - 5 * MINUTE)}/{iso(sky_pass['time'] + 5 * MINUTE)}"


# ---- the dialect ----------------------------------------------------------------------------------
class StapiDialect:
    name = "stapi"
    prefix = "/stapi"

    def __init__(self, world: World):
        self.world = world
        self.orders: Dict[str, dict] = {}
        self.searches: Dict[str, dict] = {}

    # ---- protocol --------------------------------------------------------------------------------
    def tick(self, now: datetime) -> None:
        # An order's life is fixed at creation; reads show the steps whose time has come.
        return None

    def next_event_at(self) -> Optional[datetime]:
        """The next step still to come in any order's fixed timeline (the sandbox clock's "jump to next event")."""
        now = self.world.clock.now()
        upcoming = [moment for order in self.orders.values() for step in order.get("timeline", [])
                    for moment in [parse_time(step[0])] if moment > now]
        return min(upcoming) if upcoming else None

    def to_state(self) -> dict:
        return {"orders": self.orders, "searches": self.searches}

    def load_state(self, state: dict) -> None:
        self.orders = state.get("orders", {})
        self.searches = state.get("searches", {})

    def _modes(self) -> tuple:
        """(synchronous search offered, asynchronous search offered) by the searchable products."""
        mode = str(self.world.settings.get("stapi_opportunity_search", "sync"))
        return mode in ("sync", "both"), mode in ("async", "both")

    def _check_documented(self, request: Request, key: tuple) -> None:
        """400 naming what the evidence page does not document (ignored with the setting
        ``stapi_ignore_undocumented``, off)."""
        if self.world.settings.get("stapi_ignore_undocumented"):
            return
        body = _json(request) if request.method == "POST" else None
        text = wire.first_undocumented(key, list(request.query), body, request.headers.get("prefer"))
        if text:
            raise _err(400, text, request.full_path)

    def handle(self, request: Request) -> Response:
        self._authenticate(request)
        method = request.method
        key = wire.endpoint_of(method, request.path or "/")
        if key is None:
            raise _err(404 if method in ("GET", "POST") else 405, f"No route for {method} {request.full_path}",
                       request.full_path)
        self._check_documented(request, key)
        parts = [p for p in request.path.split("/") if p]
        template = key[1]
        if template == "/":
            return json_response(200, self._landing(request))
        if template == "/conformance":
            conforms = [CONFORMANCE_CORE, CONFORMANCE_STATUSES] + ([CONFORMANCE_SEARCHES] if self._modes()[1] else [])
            return json_response(200, {"conformsTo": conforms})
        if template == "/products":
            return json_response(200, self._products(request))
        if template.startswith("/products/{productId}"):
            uuid = PRODUCT_UUIDS.get(parts[1])
            if uuid is None:
                raise _err(404, f"Product {parts[1]} not found", request.full_path)
            if template == "/products/{productId}":
                return json_response(200, self._product(request, uuid))
            if template.endswith("/conformance"):
                return json_response(200, {"conformsTo": self._conforms_to(uuid)})
            if template.endswith("/queryables"):
                return json_response(200, queryables_schema(uuid))
            if template.endswith("/order-parameters"):
                return json_response(200, order_parameters_schema(uuid))
            if template.endswith("/opportunities") and _offers_opportunities(uuid):
                return self._search(request, uuid)
            if template.endswith("/{opportunityCollectionId}") and _offers_opportunities(uuid) and self._modes()[1]:
                return json_response(200, self._opportunity_collection(request, uuid, parts[3]),
                                     {"Content-Type": "application/geo+json"})
            if template.endswith("/orders"):
                order = self._create_order(request, uuid)
                location = self._order_url(request, order["id"])
                return json_response(201, self._public(request, order),
                                     {"Location": location, "Content-Type": "application/geo+json"})
            raise _err(404, f"No route for {method} {request.full_path}", request.full_path)
        if template == "/orders":
            return json_response(200, self._list_orders(request), {"Content-Type": "application/geo+json"})
        if template.startswith("/orders/{orderId}"):
            order = self.orders.get(parts[1])
            if order is None:
                raise _err(404, "Order not found", request.full_path)
            if template == "/orders/{orderId}":
                return json_response(200, self._public(request, order), {"Content-Type": "application/geo+json"})
            return json_response(200, self._statuses(request, order))
        if not self._modes()[1]:
            raise _err(404, f"No route for {method} {request.full_path}", request.full_path)
        if template == "/searches/opportunities":
            records = [self._public_record(request, r) for r in self.searches.values()]
            return json_response(200, {"search_records": records, "links": []})
        record = self.searches.get(parts[2])
        if record is None:
            raise _err(404, "Opportunity Search Record not found", request.full_path)
        if template.endswith("/statuses"):
            return json_response(200, record["_history"])  # a bare list, as the reference server answers
        self._advance_search(record)
        return json_response(200, self._public_record(request, record))

    # ---- asynchronous opportunity searches -------------------------------------------------------
    def _search(self, request: Request, uuid: str) -> Response:
        """The reference server's choice: synchronous when async is not offered, or when ``Prefer: wait`` and
        sync is; otherwise asynchronous (also with no ``Prefer`` at all)."""
        sync, asynchronous = self._modes()
        prefer = request.headers.get("prefer")
        if not asynchronous or (prefer == "wait" and sync):
            headers = {"Content-Type": "application/geo+json"}
            if prefer == "wait" and asynchronous:
                headers["Preference-Applied"] = "wait"
            return json_response(200, self._opportunities(request, uuid), headers)
        body = _json(request)
        search = self._read_search(request, uuid, body, with_parameters=False)
        now = self.world.clock.now()
        record_id = self.world.new_id("stapi", "search", len(self.searches))
        request_body = {k: body[k] for k in ("datetime", "geometry", "filter", "limit") if body.get(k) is not None}
        record = {"id": record_id, "product_id": product_id_of(uuid), "opportunity_request": request_body,
                  "status": {"timestamp": iso(now), "status_code": "received", "links": []}, "_uuid": uuid,
                  "_reads": 0, "_history": [{"timestamp": iso(now), "status_code": "received", "links": []}],
                  "_search": {"datetime": search["datetime"], "geometry": search["geometry"],
                              "filter": search["filter"]}}
        self.searches[record_id] = record
        headers = {"Location": f"{self._root(request)}/searches/opportunities/{record_id}"}
        if prefer:
            headers["Preference-Applied"] = "respond-async"
        return json_response(201, self._public_record(request, record), headers)

    def _advance_search(self, record: dict) -> None:
        """received → in_progress → completed, one step per read after ``stapi_search_reads`` reads: no clock
        needed, so a client must poll."""
        record["_reads"] += 1
        needed = int(self.world.settings.get("stapi_search_reads", 2))
        code = record["status"]["status_code"]
        step = {"received": "in_progress", "in_progress": "completed"}.get(code)
        if step and record["_reads"] >= (needed if step == "completed" else 1):
            now = iso(self.world.clock.now())
            record["status"] = {"timestamp": now, "status_code": step, "links": []}
            record["_history"].append(dict(record["status"]))

    def _public_record(self, request: Request, record: dict) -> dict:
        root = self._root(request)
        links = [self._link("self", f"{root}/searches/opportunities/{record['id']}"),
                 self._link("monitor", f"{root}/searches/opportunities/{record['id']}/statuses")]
        if record["status"]["status_code"] == "completed":
            links.append(self._link("opportunities", f"{root}/products/{record['product_id']}/opportunities/"
                                                     f"{record['id']}", "application/geo+json"))
        public = {**{k: v for k, v in record.items() if not k.startswith("_")}, "links": links}
        if self._spec_shapes():
            public["request"] = public.pop("opportunity_request")
        return public

    def _opportunity_collection(self, request: Request, uuid: str, record_id: str) -> dict:
        record = self.searches.get(record_id)
        if record is None or record["_uuid"] != uuid or record["status"]["status_code"] != "completed":
            raise _err(404, "Opportunity Collection not found", request.full_path)
        features, links = self._features(request, uuid, record["_search"])
        return {"type": "FeatureCollection", "id": record_id, "features": features[:MAX_LIMIT], "links": links}

    @staticmethod
    def _authenticate(request: Request) -> None:
        if request.headers.get("authorization", "").strip() == "Bearer wrong" or \
                request.headers.get("x-api-key", "").strip() == "wrong":
            raise _err(401, "Not authenticated", request.full_path)

    # ---- links -----------------------------------------------------------------------------------
    @staticmethod
    def _root(request: Request) -> str:
        return f"{request.base_url}{request.prefix}"

    def _order_url(self, request: Request, order_id: str) -> str:
        return f"{self._root(request)}/orders/{quote(order_id, safe='')}"

    @staticmethod
    def _link(rel: str, href: str, kind: str = "application/json", **extra) -> dict:
        return {"rel": rel, "href": href, "type": kind, **extra}

    @staticmethod
    def _limit(request: Request, value=None) -> int:
        raw = request.arg("limit") if value is None else value
        if raw in (None, ""):
            return DEFAULT_LIMIT
        try:
            limit = int(raw)
        except (TypeError, ValueError):
            raise _err(422, "limit must be an integer", request.full_path) from None
        if limit < 1:
            raise _err(422, "limit must be at least 1", request.full_path)
        return min(limit, MAX_LIMIT)

    # ---- catalogue -------------------------------------------------------------------------------
    def _landing(self, request: Request) -> dict:
        root = self._root(request)
        return {"id": "sandbox-stapi", "title": "Sandbox STAPI", "description": "The offline simulator's STAPI.",
                "conformsTo": [CONFORMANCE_CORE, CONFORMANCE_STATUSES],
                "links": [self._link("self", f"{root}/"), self._link("conformance", f"{root}/conformance"),
                          self._link("products", f"{root}/products"),
                          self._link("orders", f"{root}/orders", "application/geo+json")]
                + ([self._link("opportunity-search-records", f"{root}/searches/opportunities")]
                   if self._modes()[1] else [])}

    def _conforms_to(self, uuid: str) -> list:
        out = [GEOJSON.format(schemas.PRODUCTS[uuid]["geometry"])]
        if _offers_opportunities(uuid):
            # As the reference server does: an asynchronous product lists both classes.
            out.append(CONFORMANCE_OPPORTUNITIES)
            if self._modes()[1]:
                out.append(CONFORMANCE_OPPORTUNITIES_ASYNC)
        return out

    def _product(self, request: Request, uuid: str) -> dict:
        product = schemas.PRODUCTS[uuid]
        collection = schemas.collection_of(uuid)
        pid = product["name"]
        base = f"{self._root(request)}/products/{pid}"
        links = [self._link("self", base), self._link("conformance", f"{base}/conformance"),
                 self._link("queryables", f"{base}/queryables"),
                 self._link("order-parameters", f"{base}/order-parameters"),
                 self._link("create-order", f"{base}/orders", method="POST")]
        if _offers_opportunities(uuid):
            links.append(self._link("opportunities", f"{base}/opportunities"))
        providers = [{"name": p["title"], "description": p.get("description"),
                      "roles": [r.lower() for r in p["roles"]], "url": f"https://example.com/{p['name']}"}
                     for p in collection["providers"]]
        return {"type": "Collection", "stapi_type": "Product", "stapi_version": STAPI_VERSION,
                "conformsTo": self._conforms_to(uuid), "id": pid,
                "title": f"{collection['title']} — {product['title']}", "description": product["description"],
                "keywords": [collection["metadata"]["productType"].lower(), "tasking"],
                "license": "proprietary", "providers": providers, "links": links}

    def _products(self, request: Request) -> dict:
        ids = list(PRODUCT_UUIDS)
        limit = self._limit(request)
        token = request.arg("next")
        if token is not None and token not in ids:
            raise _err(404, "Error finding pagination token for products", request.full_path)
        start = ids.index(token) if token else 0
        page = ids[start:start + limit]
        root = self._root(request)
        links = [self._link("self", f"{root}/products")]
        if start + limit < len(ids):
            query = urlencode({"next": ids[start + limit], "limit": limit})
            links.append(self._link("next", f"{root}/products?{query}"))
        return {"type": "ProductCollection", "links": links,
                "products": [self._product(request, PRODUCT_UUIDS[pid]) for pid in page]}

    # ---- opportunities ---------------------------------------------------------------------------
    def _read_search(self, request: Request, uuid: str, body, with_parameters: bool) -> dict:
        path = request.full_path
        if not isinstance(body, dict):
            raise _err(422, "The body must be a JSON object", path)
        interval = body.get("datetime")
        if not isinstance(interval, str) or interval.count("/") != 1:
            raise _err(422, "datetime must be an interval \"start/end\" of RFC 3339 timestamps", path)
        try:
            start, end = (parse_time(part) for part in interval.split("/"))
        except ValueError:
            raise _err(422, f"datetime {interval!r} is not an interval of RFC 3339 timestamps", path) from None
        if end < start:
            raise _err(422, "datetime: end before start", path)
        geometry = body.get("geometry")
        reason = check_geometry(geometry, schemas.PRODUCTS[uuid]["geometry"])
        if reason:
            raise _err(422, f"geometry: {reason}", path)
        cql2 = body.get("filter")
        check_filter(cql2, set(queryables_schema(uuid)["properties"]), path)
        out = {"start": start, "end": end, "datetime": interval, "geometry": geometry, "filter": cql2}
        if with_parameters:
            parameters = body.get("order_parameters")
            if not isinstance(parameters, dict):
                raise _err(422, "order_parameters must be an object", path)
            errors = schemas.validate_params(uuid, parameters, skip=FIELDS_OUTSIDE_PARAMETERS)
            if errors:
                raise _err(422, "Invalid order parameters: " + "; ".join(errors), path)
            out["order_parameters"] = parameters
        return out

    def _features(self, request: Request, uuid: str, search: dict) -> tuple:
        """(every opportunity of a search, the collection's create-order link)."""
        base = f"{self._root(request)}/products/{product_id_of(uuid)}"
        search_body = {k: search[k] for k in ("datetime", "geometry", "filter") if search.get(k) is not None}
        start, end = (parse_time(part) for part in search["datetime"].split("/"))
        features = []
        for sky_pass in sky_passes(self.world, uuid, search["geometry"], start, end):
            properties = pass_properties(uuid, sky_pass)
            if not matches(search["filter"], properties):
                continue
            window = _window(sky_pass)
            features.append({
                "type": "Feature", "id": f"{sky_pass['satellite']}-{sky_pass['time']:%Y%m%dT%H%M%SZ}",
                "geometry": pass_footprint(uuid, search["geometry"], sky_pass),
                "properties": {"datetime": window, "product_id": product_id_of(uuid), **properties},
                "links": [self._link("create-order", f"{base}/orders", method="POST",
                                     body={**search_body, "datetime": window})]})
        return features, [self._link("create-order", f"{base}/orders", method="POST", body=search_body)]

    def _opportunities(self, request: Request, uuid: str) -> dict:
        body = _json(request)
        search = self._read_search(request, uuid, body, with_parameters=False)
        limit = self._limit(request, body.get("limit"))
        token = body.get("next")
        offset = 0
        if token is not None:
            if not (isinstance(token, str) and token.startswith("o") and token[1:].isdigit()):
                raise _err(404, "Error finding pagination token", request.full_path)
            offset = int(token[1:])
        base = f"{self._root(request)}/products/{product_id_of(uuid)}"
        features, links = self._features(request, uuid, search)
        page = features[offset:offset + limit]
        search_body = links[0]["body"]
        if offset + limit < len(features):
            links.append(self._link("next", f"{base}/opportunities", method="POST",
                                    body={**search_body, "limit": limit, "next": f"o{offset + limit}"}))
        return {"type": "FeatureCollection", "features": page, "links": links}

    # ---- orders ----------------------------------------------------------------------------------
    def _create_order(self, request: Request, uuid: str) -> dict:
        search = self._read_search(request, uuid, _json(request), with_parameters=True)
        now = self.world.clock.now()
        return self._new_order(uuid, search, now)

    def _new_order(self, uuid: str, search: dict, now: datetime) -> dict:
        order_id = self.world.new_id("stapi", "order")
        order = {"id": order_id, "product": uuid, "created": iso(now), "geometry": search["geometry"],
                 "datetime": search["datetime"], "filter": search["filter"],
                 "order_parameters": search["order_parameters"], "timeline": [], "opportunity": {}}
        self._plan_life(order, uuid, search, now)
        self.orders[order_id] = order
        return order

    def _plan_life(self, order: dict, uuid: str, search: dict, now: datetime) -> None:
        rnd = self.world.random("stapi", order["id"], "life")
        steps: List[tuple] = []

        def step(moment: datetime, code: str, reason_code: Optional[str] = None, reason: Optional[str] = None):
            if steps:
                moment = max(moment, parse_time(steps[-1][0]) + timedelta(seconds=1))
            steps.append((iso(moment), code, reason_code, reason))
            return moment

        step(now, "received")
        if search["end"] <= now:
            step(now + MINUTE, "rejected", "window_past", "The acquisition window has already ended.")
        else:
            accepted = step(now + timedelta(seconds=rnd.randint(60, 300)), "accepted")
            first = max(search["start"], accepted + HOUR)
            chosen = next((p for p in sky_passes(self.world, uuid, search["geometry"], first, search["end"])
                           if matches(search["filter"], pass_properties(uuid, p))), None)
            if chosen is None:
                step(max(search["end"], accepted), "expired", "no_opportunity",
                     "No pass in the window satisfies the order.")
            else:
                order["opportunity"] = {"datetime": _window(chosen), **pass_properties(uuid, chosen)}
                scheduled = step(min(accepted + timedelta(seconds=rnd.randint(600, 3600)), chosen["time"] - HOUR),
                                 "scheduled")
                step(max(scheduled, chosen["time"] - 6 * HOUR), "tasked")
                acquired = step(chosen["time"], "processing")
                rate = float(self.world.settings.get("stapi_failure_rate", 0.05))
                if rnd.random() < rate:
                    step(acquired + timedelta(seconds=rnd.randint(3600, 4 * 3600)), "failed", "processing_failed",
                         "The acquisition could not be processed.")
                else:
                    step(acquired + timedelta(seconds=rnd.randint(2 * 3600, 8 * 3600)), "completed")
        order["timeline"] = steps

    def _history(self, order: dict) -> List[dict]:
        now = self.world.clock.now()
        shown = [s for s in order["timeline"] if parse_time(s[0]) <= now] or order["timeline"][:1]
        return [{"timestamp": t, "status_code": code, "reason_code": reason_code, "reason_text": reason,
                 "links": []} for t, code, reason_code, reason in shown]

    def _public(self, request: Request, order: dict) -> dict:
        history = self._history(order)
        shown_opportunity = order["opportunity"] if history[-1]["status_code"] not in (
            "received", "accepted", "rejected", "expired") else {}
        url = self._order_url(request, order["id"])
        if self._spec_shapes():
            # The spec prose's order: fields at the top level, the search as "request", datetime as a two-item
            # array (stapi-spec docs/spec/order/README.md; spec/openapi.yaml).
            return {
                "id": order["id"], "user": "sandbox-user", "created": order["created"], "status": history[-1],
                "product_id": product_id_of(order["product"]),
                "request": {"datetime": order["datetime"].split("/", 1), "geometry": order["geometry"],
                            "filter": order["filter"], "order_parameters": order["order_parameters"]},
                "links": [self._link("self", url), self._link("monitor", f"{url}/statuses")],
            }
        return {
            "id": order["id"], "type": "Feature", "stapi_type": "Order", "stapi_version": STAPI_VERSION,
            "geometry": order["geometry"],
            "properties": {
                "product_id": product_id_of(order["product"]), "created": order["created"], "status": history[-1],
                "search_parameters": {"datetime": order["datetime"], "geometry": order["geometry"],
                                      "filter": order["filter"]},
                "opportunity_properties": shown_opportunity, "order_parameters": order["order_parameters"]},
            "links": [self._link("self", url, "application/geo+json"), self._link("monitor", f"{url}/statuses")],
        }

    def _list_orders(self, request: Request) -> dict:
        ordered = sorted(self.orders.values(), key=lambda o: (o["created"], o["id"]))
        ids = [o["id"] for o in ordered]
        limit = self._limit(request)
        token = request.arg("next")
        if token is not None and token not in self.orders:
            raise _err(404, "Error finding pagination token", request.full_path)
        start = ids.index(token) if token else 0
        page = ordered[start:start + limit]
        links = []
        if start + limit < len(ids):
            query = urlencode({"next": ids[start + limit], "limit": limit})
            links.append(self._link("next", f"{self._root(request)}/orders?{query}"))
        if self._spec_shapes():
            return {"orders": [self._public(request, o) for o in page], "links": links}
        return {"type": "FeatureCollection", "features": [self._public(request, o) for o in page], "links": links,
                "numberMatched": len(ids)}

    def _spec_shapes(self) -> bool:
        """Answer as the spec prose writes orders and search records rather than as the reference server does
        (setting ``stapi_shapes`` = ``"spec"``; ``"reference"`` by default)."""
        return self.world.settings.get("stapi_shapes", "reference") == "spec"

    def _statuses(self, request: Request, order: dict) -> dict:
        history = self._history(order)
        limit = self._limit(request)
        token = request.arg("next")
        offset = 0
        if token is not None:
            if not (token.startswith("s") and token[1:].isdigit()):
                raise _err(404, "Error finding pagination token", request.full_path)
            offset = int(token[1:])
        url = f"{self._order_url(request, order['id'])}/statuses"
        links = [self._link("self", url)]
        if offset + limit < len(history):
            links.append(self._link("next", f"{url}?{urlencode({'next': f's{offset + limit}', 'limit': limit})}"))
        return {"statuses": history[offset:offset + limit], "links": links}

    # ---- test hooks ------------------------------------------------------------------------------
    def control(self, action: str, payload: dict) -> dict:
        if action != "seed_orders":
            raise _err(404, f"Unknown stapi control action {action!r}")
        count = int(payload.get("count", 10))
        if not 0 < count <= 10_000:
            raise _err(400, "count must be 1..10000")
        pid = payload.get("product_id", "blacksky-tasking-standard")
        uuid = PRODUCT_UUIDS.get(pid)
        if uuid is None:
            raise _err(404, f"Product {pid} not found")
        now = self.world.clock.now()
        rnd = self.world.random("stapi", "seed_orders", iso(now), count)
        ids = []
        for n in range(count):
            lon, lat = round(rnd.uniform(-170, 170), 4), round(rnd.uniform(-60, 60), 4)
            if schemas.PRODUCTS[uuid]["geometry"] == "Point":
                geometry = {"type": "Point", "coordinates": [lon, lat]}
            else:
                geometry = {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 0.1, lat], [lon + 0.1, lat + 0.1],
                                                                [lon, lat + 0.1], [lon, lat]]]}
            created = now - timedelta(days=40) + timedelta(seconds=n)
            start, end = created + timedelta(days=1), created + timedelta(days=30)
            parameters = default_parameters(uuid)
            search = {"start": start, "end": end, "datetime": f"{iso(start)}/{iso(end)}", "geometry": geometry,
                      "filter": None, "order_parameters": parameters}
            ids.append(self._new_order(uuid, search, created)["id"])
        return {"count": count, "ids": ids}

