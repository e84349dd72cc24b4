"""UP42 dialect of the sandbox: the API surface up42-py 4.3.0 uses for tasking, as /work/shared/api/up42.md
documents it.

Choices (documented for the plugin and its tests):
- Strict: any query parameter or body field the page does not document for an endpoint gets a 400 naming it
  (``up42_wire.py``). Errors are UP42's ``{code, message, details}``; the token endpoint answers as Keycloak does
  (``{error, error_description}``).
- Credentials: any non-empty username/password, except the password ``wrong`` (401). Each username is its own
  account with one workspace; ``sub`` of /userinfo is that workspace id.
- Tokens live ``world.settings["up42_token_lifetime"]`` seconds of REAL (wall-clock) time: the SDK counts
  expiry in real time; advancing the simulated clock by days must not invalidate a client's token.
- Sub-statuses live under CREATED (docs example, SDK fixtures): CREATED/FEASIBILITY_WAITING_UPLOAD →
  …_RESPONSE → QUOTATION_WAITING_UPLOAD → …_RESPONSE → QUOTATION_ACCEPTED, then BEING_PLACED → PLACED →
  BEING_FULFILLED → FULFILLED. A rejected quotation ends the order: FAILED_PERMANENTLY / QUOTATION_REJECTED.
- Cancellation only in CREATED and PLACEMENT_FAILED (the SDK's rule; the server's is not documented), else 409.
  The former guess, "until credits are charged", is the setting ``up42_cancel_until_charged`` (off).
- Deliveries: one STAC collection per delivered order with one item per asset (``/v2/assets/stac…``; search
  with a CQL2-JSON ``=`` on ``order_id``); ``POST /v2/assets/{id}/download-url`` signs a URL that lives
  ``up42_download_url_seconds`` (30) seconds of real time. The legacy ``GET /v2/assets`` has no ``orderId``
  filter (``search`` matches name, title or order id).
- Budgets exist only once seeded (control action ``seed_budgets``); ``budgetId`` must name an active one.
- Orders fail permanently during fulfilment with probability ``up42_failure_rate`` (seeded per order).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import math
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Optional
from urllib.parse import parse_qs

from . import up42_schemas as schemas
from . import up42_wire as wire
from .core import HttpError, Request, Response, World, iso, json_response, parse_time
from .geotiff import make_geotiff

API_PATHS = ("/v2/", "/orders/schema/")
TOKEN_PATHS = ("/oauth/token", "/realms/public/protocol/openid-connect/token")
USERINFO_PATHS = ("/userinfo", "/realms/public/protocol/openid-connect/userinfo")
STATUSES = (
    "CREATED",
    "BEING_PLACED",
    "PLACED",
    "PLACEMENT_FAILED",
    "BEING_FULFILLED",
    "DELIVERY_INITIALIZATION_FAILED",
    "DOWNLOAD_FAILED",
    "DOWNLOADED",
    "FULFILLED",
    "FAILED_PERMANENTLY",
    "CANCELED",
)
CANCELABLE_SUB = (
    None,
    "FEASIBILITY_WAITING_UPLOAD",
    "FEASIBILITY_WAITING_RESPONSE",
    "QUOTATION_WAITING_UPLOAD",
    "QUOTATION_WAITING_RESPONSE",
)
ORDER_SORT_FIELDS = ("createdAt", "updatedAt", "type", "status", "displayName")
DEFAULT_USERNAME = "demo@example.com"
HOUR = 3600.0
DAY = 86400.0


# An order's tags: at most 30, each of letters, digits, spaces and ". - _ / :" [developer.sa.up42.com reference
# createv2orderunderworkspace]; "letters" read as ASCII letters (the conservative reading; the client follows the
# same rule in plugin/providers/up42_wire.py, and a test checks the two agree).
MAX_TAGS = 30
TAG_PATTERN = re.compile(r"[A-Za-z0-9 ._/:-]+")


def _tags_problem(tags) -> Optional[str]:
    """Why ``tags`` cannot be an order's tags (None: they can)."""
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return "tags must be a list of strings"
    if len(tags) > MAX_TAGS:
        return f"tags: at most {MAX_TAGS} tags, not {len(tags)}"
    bad = [t for t in tags if not TAG_PATTERN.fullmatch(t)]
    if bad:
        return f"tags: {bad[0]!r} holds characters other than letters, digits, spaces and . - _ / :"
    return None


def _err(status: int, message: str, instance: str = "", title: Optional[str] = None,
         details=None) -> HttpError:
    """UP42's error body, ``{code, message, details}`` (developer.sa.up42.com openapi BasicErrorResponse)."""
    return HttpError(status, {"code": status, "message": message, "details": details})


def _json(request: Request):
    if not request.body:
        raise _err(400, "The request body is empty; a JSON body is required.")
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _err(400, f"The request body is not valid JSON: {exc}") from exc


def _values(request: Request, name: str) -> List[str]:
    """Repeatable query parameter, also accepting comma-separated values (Spring binds both)."""
    out: List[str] = []
    for raw in request.query.get(name, []):
        out.extend(v for v in raw.split(",") if v)
    return out


def _int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise _err(400, f"Query parameter {name} must be an integer", request.full_path) from exc
    if not low <= value <= high:
        raise _err(400, f"Query parameter {name} must be between {low} and {high}", request.full_path)
    return value


def spring_page(request: Request, items: list, sort_fields, default_sort: str) -> dict:
    page = _int_arg(request, "page", 0, 0, 10_000_000)
    size = _int_arg(request, "size", 10, 1, 2000)
    sort_raw = request.arg("sort") or default_sort
    field, _, direction = sort_raw.partition(",")
    direction = (direction or "asc").lower()
    if field not in sort_fields or direction not in ("asc", "desc"):
        raise _err(
            400,
            f"Unsupported sort {sort_raw!r}; fields: {', '.join(sort_fields)}; asc or desc",
            request.full_path,
        )
    ordered = sorted(
        items, key=lambda it: (it.get(field) or "", it.get("id", "")), reverse=direction == "desc"
    )
    total = len(ordered)
    total_pages = math.ceil(total / size) if total else 0
    content = ordered[page * size : (page + 1) * size]
    sort_info = {"sorted": True, "unsorted": False, "empty": False}
    return {
        "content": content,
        "pageable": {
            "pageNumber": page,
            "pageSize": size,
            "offset": page * size,
            "paged": True,
            "unpaged": False,
            "sort": sort_info,
        },
        "totalPages": total_pages,
        "totalElements": total,
        "last": page >= total_pages - 1,
        "first": page == 0,
        "number": page,
        "size": size,
        "numberOfElements": len(content),
        "sort": sort_info,
        "empty": not content,
    }


# ---- geometry helpers ----------------------------------------------------------------------------
def _check_position(pos) -> Optional[str]:
    if not isinstance(pos, (list, tuple)) or len(pos) < 2:
        return "a position must be [longitude, latitude]"
    lon, lat = pos[0], pos[1]
    if not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lon, lat)
    ):
        return "coordinates must be finite numbers"
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return f"position {list(pos[:2])} is outside longitude -180..180 / latitude -90..90"
    return None


def ring_area_sqkm(ring) -> float:
    """Area of a lon/lat ring in km² (equirectangular about its mean latitude)."""
    mean_lat = math.radians(sum(p[1] for p in ring) / len(ring))
    kx = 111.320 * math.cos(mean_lat)
    ky = 110.574
    total = 0.0
    for (x1, y1), (x2, y2) in zip(((p[0], p[1]) for p in ring), ((p[0], p[1]) for p in ring[1:])):
        total += (x1 * kx) * (y2 * ky) - (x2 * kx) * (y1 * ky)
    return abs(total) / 2.0


def check_geometry(geometry, expected: str) -> Optional[str]:
    """Why ``geometry`` is not acceptable for a product taking ``expected``, or None."""
    if not isinstance(geometry, dict) or "type" not in geometry or "coordinates" not in geometry:
        return "geometry must be a GeoJSON object with type and coordinates"
    if geometry["type"] != expected:
        return f"this data product takes a {expected}, not a {geometry['type']}"
    coords = geometry["coordinates"]
    if expected == "Point":
        return _check_position(coords)
    if not isinstance(coords, list) or not coords:
        return "a Polygon needs at least one ring"
    for ring in coords:
        if not isinstance(ring, list) or len(ring) < 4:
            return "a Polygon ring needs at least 4 positions"
        for pos in ring:
            problem_text = _check_position(pos)
            if problem_text:
                return problem_text
        if list(ring[0][:2]) != list(ring[-1][:2]):
            return "a Polygon ring must be closed (first position equals last)"
    area = ring_area_sqkm(coords[0])
    if area <= 0.0:
        return "the Polygon has no area"
    if area > 20000:
        return f"the area of {area:.1f} sq km exceeds the maximum of 20000 sq km"
    return None


def footprint(geometry: dict, scene_km: float = 6.0) -> List[float]:
    """bbox [min_lon, min_lat, max_lon, max_lat] of what gets delivered."""
    if geometry["type"] == "Point":
        lon, lat = geometry["coordinates"][:2]
        half_lat = scene_km / 2 / 110.574
        half_lon = scene_km / 2 / (111.320 * max(0.05, math.cos(math.radians(lat))))
        return [lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat]
    xs = [p[0] for p in geometry["coordinates"][0]]
    ys = [p[1] for p in geometry["coordinates"][0]]
    return [min(xs), min(ys), max(xs), max(ys)]


def bbox_polygon(bbox) -> dict:
    x1, y1, x2, y2 = bbox
    return {"type": "Polygon", "coordinates": [[[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]]}


# ---- the dialect ---------------------------------------------------------------------------------
class UP42Dialect:
    name = "up42"
    prefix = ""

    def __init__(self, world: World):
        self.world = world
        self.orders: Dict[str, dict] = {}
        self.studies: Dict[str, dict] = {}
        self.quotations: Dict[str, dict] = {}
        self.assets: Dict[str, dict] = {}
        self.tokens: Dict[str, dict] = {}
        self.budgets: Dict[str, dict] = {}
        self._heap: list = []  # (due timestamp, sequence, order id); stale entries are skipped
        self._seq = 0
        self._tiffs: Dict[str, bytes] = {}

    # ---- identity --------------------------------------------------------------------------------
    def _user_ids(self, username: str) -> dict:
        rng = self.world.random("up42", "user", username)

        def uid():
            return (
                f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
                f"{0x8000 | rng.getrandbits(14):04x}-{rng.getrandbits(48):012x}"
            )

        return {"username": username, "workspaceId": uid(), "accountId": uid(), "userId": uid()}

    def _authenticate(self, request: Request) -> dict:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise _err(401, "Missing bearer token", request.full_path)
        token = header[7:].strip()
        entry = self.tokens.get(token)
        if entry is None:
            raise _err(401, "Unknown access token", request.full_path)
        if entry["expiresAt"] <= time.time():
            raise _err(401, "The access token has expired", request.full_path)
        return self._user_ids(entry["username"])

    def _issue_token(self, request: Request) -> Response:
        if request.method != "POST":
            raise _err(405, "Use POST", request.full_path)
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "password":
            raise HttpError(400, {"error": "unsupported_grant_type",
                                  "error_description": "Only grant_type=password is supported"})
        username, password = form.get("username", ""), form.get("password", "")
        if not username or not password or password == "wrong":  # nosec B105  # pragma: allowlist secret  # the simulator's cue to refuse a login
            raise HttpError(401, {"error": "invalid_grant", "error_description": "Invalid user credentials"})
        lifetime = int(self.world.settings.get("up42_token_lifetime", 300))
        token = "sbx." + self.world.new_id("up42", "token", username).replace("-", "")
        now = time.time()
        self.tokens = {t: e for t, e in self.tokens.items() if e["expiresAt"] > now}
        self.tokens[token] = {"username": username, "expiresAt": now + lifetime}
        return json_response(
            200,
            {
                "access_token": token,
                "expires_in": lifetime,
                "refresh_expires_in": 0,
                "token_type": "Bearer",  # nosec B105  # the OAuth token type, not a token
                "not-before-policy": 0,
                "scope": "openid email profile",
            },
        )

    # ---- protocol --------------------------------------------------------------------------------
    def _check_documented(self, request: Request, key: tuple) -> None:
        """400 naming the first query parameter or body field the evidence page does not document. Whether UP42
        itself refuses or ignores them is not documented: ignoring them is the setting ``up42_ignore_undocumented``
        (off), so no client test passes by sending what the page does not list."""
        if self.world.settings.get("up42_ignore_undocumented"):
            return
        body = None
        if key[1] == wire.TOKEN:
            body = {k: v for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        elif request.body and request.method in ("POST", "PATCH"):
            body = _json(request)
        problem_text = wire.first_undocumented(key, list(request.query), body)
        if problem_text:
            raise _err(400, problem_text, details={"field": problem_text.split("'")[1]})

    def handle(self, request: Request) -> Response:
        path = request.path
        method = request.method
        if path.startswith("/signed/assets/"):
            return self._serve_download(request)
        if path in TOKEN_PATHS:
            key = (method, wire.TOKEN)
        elif path in USERINFO_PATHS:
            key = (method, wire.USERINFO)
        else:
            key = wire.endpoint_of(method, path)
        if key is None or key not in wire.ENDPOINTS:
            raise _err(404, f"No route for {method} {path}", path)
        if path in TOKEN_PATHS:
            self._check_documented(request, key)
            return self._issue_token(request)
        user = self._authenticate(request)
        self._check_documented(request, key)
        if path in USERINFO_PATHS:
            return json_response(
                200,
                {
                    "sub": user["workspaceId"],
                    "email": user["username"],
                    "email_verified": True,
                    "preferred_username": user["username"],
                },
            )
        parts = [p for p in path.split("/") if p]
        template = key[1]
        if template == "/orders/schema/{dataProductId}":
            product = schemas.PRODUCTS.get(parts[2])
            if product is None:
                raise _err(404, f"Data product {parts[2]} not found", path)
            return json_response(200, self._hostile(product["schema"]))
        parts = parts[1:]  # drop "v2"
        if template == "/v2/collections":
            return json_response(
                200,
                spring_page(request, self._hostile(schemas.collections()), ("name", "title", "type"), "name,asc"),
            )
        if template == "/v2/collections/{name}":
            found = [c for c in schemas.collections() if c["name"] == parts[1]]
            if not found:
                raise _err(404, f"Collection with name {parts[1]} not found", path)
            return json_response(200, self._hostile(found[0]))
        if template == "/v2/orders/estimate":
            return json_response(200, self._estimate(request))
        if key == ("POST", "/v2/orders"):
            return json_response(200, self._place(request, user))
        if key == ("GET", "/v2/orders"):
            return json_response(200, self._list_orders(request, user))
        if template.startswith("/v2/orders/{id}"):
            order = self._order_for(parts[1], user, path)
            if key == ("GET", "/v2/orders/{id}"):
                return json_response(200, self._public_order(order))
            if key == ("PATCH", "/v2/orders/{id}"):
                return json_response(200, self._patch_order(order, request))
            return json_response(200, self._cancel(order, path))
        if template in ("/v2/tasking/feasibility-studies", "/v2/tasking/feasibility"):
            # Which of the two documented paths lists studies is a setting (the SDK's by default).
            served = self.world.settings.get("up42_feasibility_path", "/v2/tasking/feasibility-studies")
            if template != served:
                raise _err(404, f"No route for {method} {path}", path)
            return json_response(200, self._list_decisions(request, user, self.studies))
        if template == "/v2/tasking/feasibility-studies/{id}":
            return json_response(200, self._decide_study(parts[2], request, user))
        if template == "/v2/tasking/quotation":
            return json_response(200, self._list_decisions(request, user, self.quotations))
        if template == "/v2/tasking/quotation/{id}":
            return json_response(200, self._decide_quotation(parts[2], request, user))
        if template == "/v2/coverage/orders/{id}":
            return json_response(200, self._coverage(self._order_for(parts[2], user, path)))
        if template.startswith("/v2/assets/stac"):
            return self._stac(request, key, parts, user)
        if template == "/v2/assets":
            return json_response(200, self._list_assets(request, user))
        if template.startswith("/v2/assets/{assetId}"):
            asset = self.assets.get(parts[1])
            if asset is None or asset["accountId"] != user["accountId"]:
                raise _err(404, "Asset not found", path)
            if key == ("GET", "/v2/assets/{assetId}"):
                return self._file_response(asset)
            return json_response(200, {"url": self._signed_url(asset, request)})
        if template.startswith("/v2/budgets"):
            return self._budgets(request, key, parts, user)
        raise _err(404, f"No route for {method} {path}", path)

    # ---- orders ----------------------------------------------------------------------------------
    def _order_for(self, order_id: str, user: dict, path: str) -> dict:
        order = self.orders.get(order_id)
        if order is None or order["accountId"] != user["accountId"]:
            raise _err(404, f"Order {order_id} not found", path)
        return order

    def _read_batch(self, request: Request) -> dict:
        body = _json(request)
        path = request.full_path
        if not isinstance(body, dict):
            raise _err(400, "The body must be a JSON object", path)
        product_id = body.get("dataProduct")
        if product_id not in schemas.PRODUCTS:
            raise _err(
                404 if isinstance(product_id, str) else 400, f"Data product {product_id!r} not found", path
            )
        name = body.get("displayName")
        params = body.get("params")
        if not isinstance(params, dict):
            raise _err(400, "params must be an object", path)
        tags = body.get("tags", [])
        problem = _tags_problem(tags)
        if problem:
            raise _err(400, problem, path)
        budget_id = body.get("budgetId")
        if budget_id is not None and (budget_id not in self.budgets or self.budgets[budget_id]["status"] != "ACTIVE"):
            raise _err(400, f"budgetId {budget_id!r} is not an active budget of this account", path)
        instance = dict(params)
        instance["displayName"] = name
        if "geometry" in params:
            raise _err(400, "params must not contain the geometry: use featureCollection", path)
        errors = schemas.validate_params(product_id, instance)
        if isinstance(name, str) is False:
            errors.append("displayName: is a required string")
        if errors:
            raise _err(400, "Invalid order parameters: " + "; ".join(errors), path)
        collection = body.get("featureCollection")
        if (
            not isinstance(collection, dict)
            or collection.get("type") != "FeatureCollection"
            or not isinstance(collection.get("features"), list)
            or not collection["features"]
        ):
            raise _err(400, "featureCollection must be a FeatureCollection with at least one feature", path)
        start, end = parse_time(params["acquisitionStart"]), parse_time(params["acquisitionEnd"])
        if end <= start:
            raise _err(400, "acquisitionEnd must be after acquisitionStart", path)
        product = schemas.PRODUCTS[product_id]
        items = []
        for index, feature in enumerate(collection["features"]):
            geometry = feature.get("geometry") if isinstance(feature, dict) else None
            reason = check_geometry(geometry, product["geometry"])
            items.append((index, geometry, reason))
        return {
            "product_id": product_id,
            "product": product,
            "name": name,
            "params": params,
            "tags": tags,
            "budget_id": budget_id,
            "items": items,
        }

    def _cost(self, product: dict, geometry: dict):
        if product["unit"] == "SCENE":
            return float(product["credits_per_scene"]), 1.0
        size = round(max(ring_area_sqkm(geometry["coordinates"][0]), product["min_sqkm"]), 2)
        return float(round(size * product["credits_per_sqkm"] / 100)), size

    def _estimate(self, request: Request) -> dict:
        batch = self._read_batch(request)
        results, errors = [], []
        unit = batch["product"]["unit"]
        for index, geometry, reason in batch["items"]:
            if reason:
                errors.append({"index": index, "message": "Invalid geometry", "details": reason})
                continue
            credits, size = self._cost(batch["product"], geometry)
            results.append({"index": index, "credits": credits, "size": size, "unit": unit})
        return {
            "summary": {
                "totalCredits": sum(r["credits"] for r in results),
                "totalSize": round(sum(r["size"] for r in results), 2),
                "unit": unit,
            },
            "results": results,
            "errors": errors,
        }

    def _place(self, request: Request, user: dict) -> dict:
        workspace = request.arg("workspaceId")
        if workspace is None:
            raise _err(400, "Query parameter workspaceId is required", request.full_path)
        if workspace != user["workspaceId"]:
            raise _err(403, "You have no access to this workspace", request.full_path)
        batch = self._read_batch(request)
        # UP42 documents neither the status nor the body of these refusals; 403 is the page's conservative
        # reading. Both are off unless a test names the collections.
        collection = batch["product"]["collection"]
        if collection in self.world.settings.get("up42_access_not_approved", ()):
            raise _err(403, f"Access to the collection {collection} has not been approved for this account",
                       request.full_path, details={"collection": collection, "reason": "ACCESS_APPROVAL_REQUIRED"})
        if collection in self.world.settings.get("up42_eula_not_accepted", ()):
            raise _err(403, f"The EULA of the collection {collection} has not been accepted", request.full_path,
                       details={"collection": collection, "eulaId": batch["product"].get("eulaId")})
        results, errors = [], []
        now = self.world.clock.now()
        several = len(batch["items"]) > 1
        for index, geometry, reason in batch["items"]:
            if reason:
                errors.append({"index": index, "message": "Invalid geometry", "details": reason})
                continue
            # As UP42 does: one order per feature, names suffixed "<name> 1", "<name> 2", ...
            name = f"{batch['name']} {index + 1}" if several else batch["name"]
            order = self._create_order(
                user, batch["product_id"], name, batch["params"], geometry, batch["tags"], now
            )
            order["budgetId"] = batch["budget_id"]
            results.append({"index": index, "id": order["id"]})
        return {"results": results, "errors": errors}

    def _create_order(self, user, product_id, name, params, geometry, tags, now: datetime) -> dict:
        order_id = self.world.new_id("up42", "order")
        details = {k: v for k, v in params.items()}
        details["geometry"] = geometry
        details["subStatus"] = None
        credits, _ = self._cost(schemas.PRODUCTS[product_id], geometry)
        order = {
            "id": order_id,
            "displayName": name,
            "status": "CREATED",
            "workspaceId": user["workspaceId"],
            "accountId": user["accountId"],
            "type": "TASKING",
            "dataProductId": product_id,
            "tags": list(tags),
            "budgetId": None,
            "createdAt": iso(now),
            "updatedAt": iso(now),
            "createdBy": {"id": user["userId"], "type": "USER"},
            "updatedBy": {"id": user["userId"], "type": "USER"},
            "orderDetails": details,
            "_credits": credits,
            "_due": None,
        }
        self.orders[order_id] = order
        self._schedule(order, now, 60.0)
        return order

    def _public_order(self, order: dict) -> dict:
        public = {k: v for k, v in order.items() if not k.startswith("_")}
        if self._hostile_text():
            public["displayName"] = schemas.hostile(public["displayName"])
        return public

    # ---- hostile text (see up42_schemas.hostile) -------------------------------------------------
    def _hostile_text(self) -> bool:
        return bool(self.world.settings.get("hostile_text"))

    def _hostile(self, value):
        return schemas.with_hostile_text(value) if self._hostile_text() else value

    def _list_orders(self, request: Request, user: dict) -> dict:
        workspace = request.arg("workspaceId")
        kind = request.arg("type")
        statuses = set(_values(request, "status"))
        unknown = statuses - set(STATUSES)
        if unknown:
            raise _err(400, f"Unknown status {sorted(unknown)}", request.full_path)
        sub_statuses = set(_values(request, "subStatus"))
        name = (request.arg("displayName") or "").lower()
        tags = set(_values(request, "tags"))
        ids = set(_values(request, "orderIds"))
        selected = []
        for order in self.orders.values():
            if order["accountId"] != user["accountId"]:
                continue
            if workspace and order["workspaceId"] != workspace:
                continue
            if kind and order["type"] != kind:
                continue
            if statuses and order["status"] not in statuses:
                continue
            if sub_statuses and order["orderDetails"].get("subStatus") not in sub_statuses:
                continue
            if name and name not in order["displayName"].lower():
                continue
            if tags and not tags.intersection(order["tags"]):
                continue
            if ids and order["id"] not in ids:
                continue
            selected.append(order)
        page = spring_page(request, selected, ORDER_SORT_FIELDS, "createdAt,desc")
        page["content"] = [self._public_order(o) for o in page["content"]]
        return page

    def _patch_order(self, order: dict, request: Request) -> dict:
        body = _json(request)
        if not isinstance(body, dict):
            raise _err(400, "The body must be a JSON merge patch object", request.full_path)
        unknown = set(body) - {"tags", "budgetId"}
        if unknown:
            raise _err(
                400, f"Only tags and budgetId can be changed, not {sorted(unknown)}", request.full_path
            )
        if "tags" in body:
            tags = body["tags"]
            problem = _tags_problem(tags) if tags is not None else None
            if problem:
                raise _err(400, problem, request.full_path)
            order["tags"] = list(tags or [])
        if "budgetId" in body:
            order["budgetId"] = body["budgetId"]
        order["updatedAt"] = iso(self.world.clock.now())
        return self._public_order(order)

    def _cancel(self, order: dict, path: str) -> dict:
        status, sub = order["status"], order["orderDetails"].get("subStatus")
        # The SDK's rule (the server's is not documented); the old guess, "until credits are charged", is a setting.
        cancelable = status in ("CREATED", "PLACEMENT_FAILED")
        if self.world.settings.get("up42_cancel_until_charged"):
            cancelable = cancelable or status == "BEING_PLACED" or (status == "PLACED" and sub in CANCELABLE_SUB)
        if not cancelable:
            raise _err(409, f"Order {order['id']} cannot be canceled in its current status {status}", path)
        now = self.world.clock.now()
        self._set(order, now, "CANCELED", sub)
        order["_due"] = None
        return {"orderId": order["id"], "status": "CANCELED"}

    # ---- life cycle ------------------------------------------------------------------------------
    def _schedule(self, order: dict, at: datetime, seconds: float) -> None:
        due = at + timedelta(seconds=seconds)
        due = due.replace(microsecond=due.microsecond // 1000 * 1000)  # whole ms, as iso() writes it
        order["_due"] = iso(due)
        self._seq += 1
        heapq.heappush(self._heap, (due.timestamp(), self._seq, order["id"], order["_due"]))

    def _rng(self, order: dict, step: str):
        return self.world.random("up42", order["id"], step)

    def _set(self, order: dict, at: datetime, status: str, sub: Optional[str]) -> None:
        order["status"] = status
        order["orderDetails"]["subStatus"] = sub
        order["updatedAt"] = iso(at)

    def next_event_at(self) -> Optional[datetime]:
        """When an order's next scheduled step happens (the sandbox clock's "jump to next event")."""
        due = [at for at, _, order_id, marker in self._heap
               if order_id in self.orders and self.orders[order_id]["_due"] == marker]
        return datetime.fromtimestamp(min(due), tz=timezone.utc) if due else None

    def tick(self, now: datetime) -> None:
        limit = now.timestamp()
        while self._heap and self._heap[0][0] <= limit:
            _, _, order_id, due = heapq.heappop(self._heap)
            order = self.orders.get(order_id)
            if order is None or order["_due"] != due:  # cancelled, decided or rescheduled since
                continue
            order["_due"] = None
            self._step(order, parse_time(due))

    def _step(self, order: dict, at: datetime) -> None:
        """Sub-statuses live under CREATED (docs example, SDK fixtures): a study and a price come before UP42
        places the order with the provider."""
        status, sub = order["status"], order["orderDetails"].get("subStatus")
        flags = schemas.integrations(order["dataProductId"])
        if status == "CREATED" and sub is None:
            if "FEASIBILITY_STUDY_REQUIRED" in flags:
                self._set(order, at, "CREATED", "FEASIBILITY_WAITING_UPLOAD")
                self._schedule(order, at, self._rng(order, "feasibility").uniform(1, 3) * DAY)
            elif "QUOTATION_REQUIRED" in flags:
                self._set(order, at, "CREATED", "QUOTATION_WAITING_UPLOAD")
                self._schedule(order, at, self._rng(order, "quotation").uniform(4, 24) * HOUR)
            else:
                self._set(order, at, "BEING_PLACED", None)
                self._schedule(order, at, self._rng(order, "placing").uniform(10, 30) * 60)
        elif status == "CREATED" and sub == "FEASIBILITY_WAITING_UPLOAD":
            self._create_study(order, at)
            self._set(order, at, "CREATED", "FEASIBILITY_WAITING_RESPONSE")
        elif status == "CREATED" and sub == "QUOTATION_WAITING_UPLOAD":
            self._create_quotation(order, at)
            self._set(order, at, "CREATED", "QUOTATION_WAITING_RESPONSE")
        elif status == "CREATED" and sub == "QUOTATION_ACCEPTED":
            self._set(order, at, "BEING_PLACED", sub)
            self._schedule(order, at, self._rng(order, "placing").uniform(10, 30) * 60)
        elif status == "BEING_PLACED":
            self._set(order, at, "PLACED", sub)
            self._schedule(order, at, self._rng(order, "start").uniform(1, 6) * HOUR)
        elif status == "PLACED":
            self._set(order, at, "BEING_FULFILLED", sub)
            self._schedule(order, at, self._rng(order, "acquisition").uniform(1, 5) * DAY)
        elif status == "BEING_FULFILLED":
            rate = float(self.world.settings.get("up42_failure_rate", 0.0))
            if self._rng(order, "failure").random() < rate:
                self._set(order, at, "FAILED_PERMANENTLY", sub)
            else:
                self._deliver(order, at)
                self._set(order, at, "FULFILLED", sub)

    def _create_study(self, order: dict, at: datetime) -> None:
        rng = self._rng(order, "study")
        start = parse_time(order["orderDetails"]["acquisitionStart"])
        end = parse_time(order["orderDetails"]["acquisitionEnd"])
        options = []
        for n in range(rng.randint(1, 3)):
            window_end = end + timedelta(days=7 * n)
            angle = rng.randint(15, 45)
            options.append(
                {
                    "id": self.world.new_id("up42", "option", order["id"], n),
                    "description": f"Acquisition between {start.date()} and {window_end.date()} with "
                    f"incidence angle up to {angle} degrees",
                    "acquisitionStart": iso(start),
                    "acquisitionEnd": iso(window_end),
                    "maxIncidenceAngle": angle,
                }
            )
        study_id = self.world.new_id("up42", "study", order["id"])
        self.studies[study_id] = {
            "id": study_id,
            "createdAt": iso(at),
            "updatedAt": iso(at),
            "accountId": order["accountId"],
            "workspaceId": order["workspaceId"],
            "orderId": order["id"],
            "type": "TASKING",
            "options": options,
            "decision": "NOT_DECIDED",
            "decisionAt": None,
            "decisionOption": None,
        }

    def _create_quotation(self, order: dict, at: datetime) -> None:
        rng = self._rng(order, "price")
        quotation_id = self.world.new_id("up42", "quotation", order["id"])
        self.quotations[quotation_id] = {
            "id": quotation_id,
            "createdAt": iso(at),
            "updatedAt": iso(at),
            "decisionAt": None,
            "accountId": order["accountId"],
            "workspaceId": order["workspaceId"],
            "orderId": order["id"],
            "creditsPrice": int(order["_credits"] * rng.uniform(0.9, 1.3)),
            "decision": "NOT_DECIDED",
            "decisionById": None,
            "decisionByType": None,
        }

    def _list_decisions(self, request: Request, user: dict, store: Dict[str, dict]) -> dict:
        ids = set(_values(request, "id"))
        order_ids = set(_values(request, "orderId"))
        workspace = request.arg("workspaceId")
        decisions = set(_values(request, "decision"))
        selected = [
            item
            for item in store.values()
            if item["accountId"] == user["accountId"]
            and (not ids or item["id"] in ids)
            and (not order_ids or item["orderId"] in order_ids)
            and (not workspace or item["workspaceId"] == workspace)
            and (not decisions or item["decision"] in decisions)
        ]
        fields = ("createdAt", "updatedAt", "decisionAt", "creditsPrice")
        if store is self.studies:
            selected = [self._hostile_study(item) for item in selected]
        return spring_page(request, selected, fields, "createdAt,desc")

    def _hostile_study(self, study: dict) -> dict:
        if not self._hostile_text():
            return study
        return {**study, "options": [{**o, "description": schemas.hostile(o["description"])}
                                     for o in study["options"]]}

    def _decide_study(self, study_id: str, request: Request, user: dict) -> dict:
        study = self.studies.get(study_id)
        path = request.full_path
        if study is None or study["accountId"] != user["accountId"]:
            raise _err(404, f"Feasibility study {study_id} not found", path)
        body = _json(request)
        option_id = body.get("acceptedOptionId") if isinstance(body, dict) else None
        if not isinstance(option_id, str):
            raise _err(400, "acceptedOptionId is required", path)
        if study["decision"] != "NOT_DECIDED":
            raise _err(409, "The feasibility study has already been decided", path, "Conflict")
        option = next((o for o in study["options"] if o["id"] == option_id), None)
        if option is None:
            raise _err(400, f"Option {option_id} is not one of this study's options", path)
        order = self.orders[study["orderId"]]
        if (
            order["status"] != "CREATED"
            or order["orderDetails"]["subStatus"] != "FEASIBILITY_WAITING_RESPONSE"
        ):
            raise _err(
                409, f"Order {order['id']} is not waiting for a feasibility decision", path, "Conflict"
            )
        now = self.world.clock.now()
        study.update(
            decision="ACCEPTED",
            decisionAt=iso(now),
            updatedAt=iso(now),
            decisionOption={"id": option["id"], "description": option["description"]},
        )
        order["orderDetails"]["acquisitionEnd"] = option["acquisitionEnd"]
        if "QUOTATION_REQUIRED" in schemas.integrations(order["dataProductId"]):
            self._set(order, now, "CREATED", "QUOTATION_WAITING_UPLOAD")
            self._schedule(order, now, self._rng(order, "quotation").uniform(4, 24) * HOUR)
        else:
            self._set(order, now, "BEING_PLACED", None)
            self._schedule(order, now, self._rng(order, "placing").uniform(10, 30) * 60)
        return self._hostile_study(study)

    def _decide_quotation(self, quotation_id: str, request: Request, user: dict) -> dict:
        quotation = self.quotations.get(quotation_id)
        path = request.full_path
        if quotation is None or quotation["accountId"] != user["accountId"]:
            raise _err(404, f"Quotation {quotation_id} not found", path)
        body = _json(request)
        decision = body.get("decision") if isinstance(body, dict) else None
        if decision not in ("ACCEPTED", "REJECTED"):
            raise _err(400, "decision must be ACCEPTED or REJECTED", path)
        if quotation["decision"] != "NOT_DECIDED":
            raise _err(
                409, f"The quotation has already been {quotation['decision'].lower()}", path, "Conflict"
            )
        order = self.orders[quotation["orderId"]]
        if order["status"] != "CREATED" or order["orderDetails"].get("subStatus") != "QUOTATION_WAITING_RESPONSE":
            raise _err(409, f"Order {order['id']} is not waiting for a decision on its price", path, "Conflict")
        now = self.world.clock.now()
        quotation.update(decision=decision, decisionAt=iso(now), updatedAt=iso(now),
                         decisionById=order["createdBy"]["id"], decisionByType="USER")
        if decision == "ACCEPTED":
            self._set(order, now, "CREATED", "QUOTATION_ACCEPTED")
            self._schedule(order, now, self._rng(order, "start").uniform(1, 6) * HOUR)
        else:
            self._set(order, now, "FAILED_PERMANENTLY", "QUOTATION_REJECTED")
        return quotation

    # ---- delivery --------------------------------------------------------------------------------
    def _deliver(self, order: dict, at: datetime) -> None:
        product = schemas.PRODUCTS[order["dataProductId"]]
        details = order["orderDetails"]
        bbox = footprint(details["geometry"], product.get("scene_km", 6.0))
        limit = (
            details.get("maxCloudCover", 0)
            if schemas.collection_of(order["dataProductId"])["metadata"]["productType"] == "OPTICAL"
            else 0
        )
        cloud = round(self._rng(order, "cloud").uniform(0, limit), 1) if limit else 0.0
        asset_id = self.world.new_id("up42", "asset", order["id"])
        safe_name = (
            "".join(c if c.isalnum() or c in "-_" else "_" for c in order["displayName"])[:60] or "order"
        )
        asset = {
            "id": asset_id,
            "accountId": order["accountId"],
            "workspaceId": order["workspaceId"],
            "orderId": order["id"],
            "name": f"{safe_name}_{asset_id[:8]}.tif",
            "title": order["displayName"],
            "contentType": "image/tiff; application=geotiff",
            "source": "TASKING",
            "collectionName": product["collection"],
            "producerName": schemas.collection_of(order["dataProductId"])["providers"][0]["name"],
            "tags": list(order["tags"]),
            "createdAt": iso(at),
            "updatedAt": iso(at),
            "bbox": bbox,
            "geometry": bbox_polygon(bbox),
            "cloudCoverage": cloud,
            "acquisitionTime": iso(at - timedelta(hours=2)),
        }
        asset["size"] = len(self._tiff(asset))
        # One STAC collection per delivery, one item per asset (UP42's STAC assets API).
        asset["stacCollectionId"] = self.world.new_id("up42", "stac-collection", order["id"])
        asset["stacItemId"] = self.world.new_id("up42", "stac-item", asset_id)
        self.assets[asset_id] = asset
        order["orderDetails"]["deliveredGeometry"] = asset["geometry"]

    def _tiff(self, asset: dict) -> bytes:
        data = self._tiffs.get(asset["id"])
        if data is None:
            seed = int.from_bytes(
                hashlib.sha256(f"{self.world.seed}:{asset['id']}".encode()).digest()[:8], "big"
            )
            data = make_geotiff(asset["bbox"], 64, seed, asset["cloudCoverage"])
            self._tiffs[asset["id"]] = data
        return data

    def _list_assets(self, request: Request, user: dict) -> dict:
        """The legacy listing: there is no ``orderId`` filter; ``search`` matches name, title or order id as a
        substring (docs.up42.com developers/api-assets/manage)."""
        workspace = request.arg("workspaceId")
        search = (request.arg("search") or "").lower()
        selected = [
            {k: v for k, v in a.items() if not k.startswith("stac")}
            for a in self.assets.values()
            if a["accountId"] == user["accountId"]
            and (not workspace or a["workspaceId"] == workspace)
            and (not search or any(search in str(a[f]).lower() for f in ("name", "title", "orderId")))
        ]
        return spring_page(request, selected, ("createdAt", "updatedAt", "name", "size"), "createdAt,desc")

    # ---- STAC assets API -------------------------------------------------------------------------
    def _stac_item(self, asset: dict, base_url: str) -> dict:
        order = self.orders.get(asset["orderId"], {})
        collection = schemas.collection_of(order["dataProductId"]) if order else {}
        stac = f"{base_url}/v2/assets/stac"
        return {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": asset["stacItemId"],
            "collection": asset["stacCollectionId"],
            "geometry": asset["geometry"],
            "bbox": asset["bbox"],
            "properties": {
                "datetime": asset["acquisitionTime"],
                "eo:cloud_cover": asset["cloudCoverage"],
                "up42-order:id": asset["orderId"],
                "up42-system:asset_id": asset["id"],
                "up42-system:account_id": asset["accountId"],
                "up42-system:workspace_id": asset["workspaceId"],
                "up42-product:product_id": order.get("dataProductId"),
                "up42-product:collection_name": asset["collectionName"],
                "up42-product:modality": (collection.get("metadata") or {}).get("productType"),
                "up42-user:title": asset["title"],
                "up42-user:tags": list(asset["tags"]),
            },
            "assets": {
                "image": {
                    "href": f"{base_url}/v2/assets/{asset['id']}",
                    "title": asset["name"],
                    "type": asset["contentType"],
                    "roles": ["data"],
                    "file:size": asset["size"],
                }
            },
            "links": [
                {"rel": "self", "href": f"{stac}/collections/{asset['stacCollectionId']}/items/{asset['stacItemId']}"},
                {"rel": "collection", "href": f"{stac}/collections/{asset['stacCollectionId']}"},
            ],
        }

    def _stac_collections(self, user: dict, base_url: str) -> list:
        out = {}
        for asset in self.assets.values():
            if asset["accountId"] != user["accountId"]:
                continue
            cid = asset["stacCollectionId"]
            if cid not in out:
                href = f"{base_url}/v2/assets/stac/collections/{cid}"
                out[cid] = {
                    "type": "Collection", "stac_version": "1.0.0", "id": cid, "title": asset["title"],
                    "description": f"Delivery of order {asset['orderId']}", "license": "proprietary",
                    "up42-order:id": asset["orderId"], "up42-system:workspace_id": asset["workspaceId"],
                    "extent": {"spatial": {"bbox": [asset["bbox"]]}, "temporal": {"interval": [[None, None]]}},
                    "links": [{"rel": "self", "href": href}, {"rel": "items", "href": href + "/items"}],
                }
        return sorted(out.values(), key=lambda c: c["id"])

    _QUERYABLES = {"order_id": "orderId", "asset_id": "id", "workspace_id": "workspaceId",
                   "collection_name": "collectionName"}

    def _stac_filter(self, body: dict):
        """A predicate for the CQL2-JSON ``filter`` of a search: ``=`` on a queryable, and ``and`` of those."""
        node = body.get("filter")
        lang = body.get("filter-lang", "cql2-json")
        if lang != "cql2-json":
            raise _err(400, f"Unsupported filter-lang {lang!r}; use cql2-json")
        if node is None:
            return lambda asset: True

        def build(part):
            if not isinstance(part, dict) or part.get("op") not in ("=", "and"):
                raise _err(400, "Unsupported CQL2 filter: use '=' on a queryable, or 'and' of those",
                           details={"filter": part})
            args = part.get("args")
            if part["op"] == "and" and isinstance(args, list):
                tests = [build(a) for a in args]
                return lambda asset: all(t(asset) for t in tests)
            if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], dict)):
                raise _err(400, "A CQL2 '=' takes a property and a value", details={"filter": part})
            name = args[0].get("property")
            if name not in self._QUERYABLES:
                raise _err(400, f"Unknown queryable {name!r}", details={"queryables": sorted(self._QUERYABLES)})
            field, value = self._QUERYABLES[name], args[1]
            return lambda asset: asset.get(field) == value

        return build(node)

    def _stac(self, request: Request, key: tuple, parts: list, user: dict) -> Response:
        base = request.base_url
        template = key[1]
        mine = [a for a in self.assets.values() if a["accountId"] == user["accountId"]]
        if template == "/v2/assets/stac":
            return json_response(200, {
                "type": "Catalog", "id": "up42-storage", "stac_version": "1.0.0", "description": "UP42 storage",
                "conformsTo": ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search",
                               "https://api.stacspec.org/v1.0.0/item-search#filter",
                               "https://api.stacspec.org/v1.0.0/item-search#sort",
                               "https://api.stacspec.org/v1.0.0/collections/extensions/transaction"],
                "links": [{"rel": "self", "href": f"{base}/v2/assets/stac"},
                          {"rel": "data", "href": f"{base}/v2/assets/stac/collections"},
                          {"rel": "search", "href": f"{base}/v2/assets/stac/search", "method": "POST",
                           "type": "application/geo+json"}],
            })
        if template == "/v2/assets/stac/search":
            test = self._stac_filter(_json(request))
            features = [self._stac_item(a, base) for a in sorted(mine, key=lambda a: a["createdAt"]) if test(a)]
            return json_response(200, {"type": "FeatureCollection", "features": features, "links": []},
                                 {"Content-Type": "application/geo+json"})
        if template == "/v2/assets/stac/collections":
            workspace = request.arg("workspace_id")
            collections = [c for c in self._stac_collections(user, base)
                           if not workspace or c["up42-system:workspace_id"] == workspace]
            limit = _int_arg(request, "limit", 10, 1, 10_000)
            token = request.arg("token") or ""
            start = 0
            if token.startswith("next:"):
                start = next((i + 1 for i, c in enumerate(collections) if c["id"] == token[5:]), len(collections))
            elif token:
                raise _err(400, f"Invalid token {token!r}")
            page = collections[start:start + limit]
            links = [{"rel": "self", "href": f"{base}/v2/assets/stac/collections"}]
            if start + limit < len(collections) and page:
                query = f"limit={limit}&token=next:{page[-1]['id']}"
                query += f"&workspace_id={workspace}" if workspace else ""
                links.append({"rel": "next", "href": f"{base}/v2/assets/stac/collections?{query}", "method": "GET"})
            return json_response(200, {"collections": page, "links": links})
        # one collection's items
        features = [self._stac_item(a, base) for a in mine if a["stacCollectionId"] == parts[3]]
        if not features:
            raise _err(404, f"Collection {parts[3]} not found")
        return json_response(200, {"type": "FeatureCollection", "features": features, "links": []},
                             {"Content-Type": "application/geo+json"})

    # ---- files -----------------------------------------------------------------------------------
    def _file_response(self, asset: dict) -> Response:
        return Response(
            200,
            self._tiff(asset),
            {"Content-Type": "image/tiff", "Content-Disposition": f'attachment; filename="{asset["name"]}"'},
        )

    def _signature(self, asset_id: str, expires: str) -> str:
        key = f"up42-sandbox-{self.world.seed}".encode()
        return hmac.new(key, f"{asset_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def _signed_url(self, asset: dict, request: Request) -> str:
        # The shortest documented life (30 s, docs.up42.com …/download), counted in real time like tokens: a
        # client must ask for the URL right before it downloads.
        lifetime = float(self.world.settings.get("up42_download_url_seconds", 30))
        expires = str(int(time.time() + lifetime))
        return (
            f"{request.base_url}/signed/assets/{asset['id']}/{asset['name']}"
            f"?expires={expires}&signature={self._signature(asset['id'], expires)}"
            f"&response-content-disposition=attachment%3B%20filename%3D{asset['name']}"
        )

    def _serve_download(self, request: Request) -> Response:
        parts = request.path.split("/")
        asset = self.assets.get(parts[3]) if len(parts) >= 5 else None
        expires, signature = request.arg("expires", ""), request.arg("signature", "")
        if asset is None or not hmac.compare_digest(signature, self._signature(asset["id"], expires)):
            raise _err(403, "Invalid download signature", request.full_path, "Forbidden")
        if not expires.isdigit() or int(expires) < time.time():
            raise _err(403, "The download URL has expired", request.full_path, "Forbidden")
        return self._file_response(asset)

    # ---- budgets (Enterprise) --------------------------------------------------------------------
    def _budgets(self, request: Request, key: tuple, parts: list, user: dict) -> Response:
        mine = [b for b in self.budgets.values() if b["_accountId"] == user["accountId"]]
        usage = (request.arg("includeUsage") or "").lower() == "true"

        def public(budget):
            out = {k: v for k, v in budget.items() if not k.startswith("_")}
            if not usage:
                for name in ("consumedCredits", "remainingCredits", "usagePercentage"):
                    out.pop(name, None)
            return out

        if key[1] == "/v2/budgets":
            statuses = set(_values(request, "status"))
            selected = [public(b) for b in mine if not statuses or b["status"] in statuses]
            return json_response(200, spring_page(request, selected, ("updatedAt", "createdAt", "name"),
                                                  "updatedAt,desc"))
        if key[1] == "/v2/budgets/settings":
            return json_response(200, {"enforcementEnabled": bool(mine), "budgetSettingId": user["accountId"]})
        budget = next((b for b in mine if b["id"] == parts[1]), None)
        if budget is None:
            raise _err(404, f"Budget {parts[1]} not found")
        if key[1] == "/v2/budgets/{id}/usage":
            return json_response(200, {"budgetId": budget["id"], "consumedCredits": budget["consumedCredits"]})
        return json_response(200, public(budget))

    def _coverage(self, order: dict) -> dict:
        geometry = order["orderDetails"]["geometry"]
        product = schemas.PRODUCTS[order["dataProductId"]]
        aoi = (
            geometry
            if geometry["type"] == "Polygon"
            else bbox_polygon(footprint(geometry, product.get("scene_km", 6.0)))
        )
        area = round(ring_area_sqkm(aoi["coordinates"][0]), 2)
        empty = {"type": "MultiPolygon", "coordinates": []}
        done = order["status"] == "FULFILLED"
        covered = {
            "sqKmArea": area if done else 0.0,
            "percentage": 100.0 if done else 0.0,
            "geometry": aoi if done else empty,
        }
        remainder = {
            "sqKmArea": 0.0 if done else area,
            "percentage": 0.0 if done else 100.0,
            "geometry": empty if done else aoi,
        }
        return {"covered": covered, "remainder": remainder}

    # ---- state and test hooks --------------------------------------------------------------------
    def to_state(self) -> dict:
        return {
            "orders": self.orders,
            "studies": self.studies,
            "quotations": self.quotations,
            "assets": self.assets,
            "tokens": self.tokens,
            "budgets": self.budgets,
            "seq": self._seq,
        }

    def load_state(self, state: dict) -> None:
        self.orders = state.get("orders", {})
        self.studies = state.get("studies", {})
        self.quotations = state.get("quotations", {})
        self.assets = state.get("assets", {})
        self.tokens = state.get("tokens", {})
        self.budgets = state.get("budgets", {})
        self._seq = state.get("seq", 0)
        self._heap = []
        for order in self.orders.values():
            if order.get("_due"):
                self._seq += 1
                self._heap.append(
                    (parse_time(order["_due"]).timestamp(), self._seq, order["id"], order["_due"])
                )
        heapq.heapify(self._heap)

    def control(self, action: str, payload: dict) -> dict:
        now = self.world.clock.now()
        user = self._user_ids(payload.get("username", DEFAULT_USERNAME))
        if action == "seed_orders":
            return self._seed_orders(user, payload, now)
        if action == "touch":
            ids = payload.get("ids")
            mine = [o for o in self.orders.values() if o["accountId"] == user["accountId"]]
            if ids is None:
                count = int(payload.get("count", 1))
                rng = self.world.random("up42", "touch", iso(now), count)
                ids = [o["id"] for o in rng.sample(mine, min(count, len(mine)))]
            for order_id in ids:
                order = self.orders[order_id]
                order["updatedAt"] = iso(now)
                if "tags" in payload:
                    order["tags"] = list(payload["tags"])
            return {"ids": list(ids), "updatedAt": iso(now)}
        if action == "set_status":
            order = self.orders[payload["id"]]
            self._set(order, now, payload["status"], payload.get("subStatus"))
            order["_due"] = None
            return self._public_order(order)
        if action == "user":
            return user
        if action == "seed_budgets":
            out = []
            for n, name in enumerate(payload.get("names", ["Team budget"])):
                budget_id = self.world.new_id("up42", "budget", user["accountId"], name, n)
                self.budgets[budget_id] = {
                    "id": budget_id, "name": name, "description": "", "externalId": None,
                    # up42-py 4.3.0 budgets.py reads createdBy as a string.
                    "status": payload.get("status", "ACTIVE"), "createdBy": user["userId"],
                    "createdAt": iso(now), "updatedAt": iso(now), "spendLimit": payload.get("spendLimit", 10000),
                    "validityPeriod": {"startDate": iso(now), "endDate": iso(now + timedelta(days=365))},
                    "consumedCredits": 0, "remainingCredits": payload.get("spendLimit", 10000),
                    "usagePercentage": 0.0, "_accountId": user["accountId"],
                }
                out.append(budget_id)
            return {"ids": out}
        raise _err(404, f"Unknown up42 control action {action!r}")

    def _seed_orders(self, user: dict, payload: dict, now: datetime) -> dict:
        count = int(payload.get("count", 10))
        if not 0 < count <= 100_000:
            raise _err(400, "count must be 1..100000")
        product_id = payload.get("dataProductId", "c0d3f8b2-7e5a-4d9c-9b43-2a8e4f6d9c33")
        status = payload.get("status")
        prefix = payload.get("displayName", "Seeded order")
        rng = self.world.random("up42", "seed_orders", iso(now), count)
        ids = []
        base = now - timedelta(seconds=count)
        product = schemas.PRODUCTS[product_id]
        for n in range(count):
            lon, lat = round(rng.uniform(-170, 170), 5), round(rng.uniform(-60, 60), 5)
            if product["geometry"] == "Point":
                geometry = {"type": "Point", "coordinates": [lon, lat]}
            else:
                geometry = bbox_polygon([lon, lat, round(lon + 0.1, 5), round(lat + 0.1, 5)])
            created = base + timedelta(seconds=n)
            params = {"acquisitionStart": iso(now), "acquisitionEnd": iso(now + timedelta(days=30))}
            order = self._create_order(
                user,
                product_id,
                f"{prefix} {n + 1}",
                params,
                geometry,
                list(payload.get("tags", [])),
                created,
            )
            if status:
                self._set(order, created, status, payload.get("subStatus"))
                order["_due"] = None
            else:  # history is back-dated for sorting; the life cycle starts now
                self._schedule(order, now, 60.0)
            ids.append(order["id"])
        return {"count": count, "ids": ids, "workspaceId": user["workspaceId"]}
