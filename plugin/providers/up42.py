"""UP42 tasking: the API surface of the up42-py 4.3.0 SDK, spoken with ``requests`` alone.

One client for UP42 (eu and sa regions) and the sandbox: every address comes from the
connection (``base_url`` for the API, ``auth_url`` or a derived host for the token).

Choices worth knowing (see also the status table below):

* **Tokens.** Password grant (client ``up42-sdk``, scope ``openid``); a token is renewed
  shortly before ``expires_in`` runs out, and once more when an API call answers 401. The
  workspace id is the ``sub`` of the user info.
* **Placement never duplicates an order** (the one placement path, ``placement.PlacementPath``).
  Every placement sends one batch POST (one feature per AOI) whose ``tags`` start with
  ``draft.client_reference`` — UP42's documented place for it (≤ 30 tags of letters, digits, spaces and
  ``. - _ / :``; ``up42_wire.TAG_PATTERN``), so ``displayName`` stays the name the user typed.
  A POST that creates orders is never retried by the HTTP layer. Before each placement, and after
  any answer that does not say clearly what happened (timeout, dropped connection, 5xx, unreadable
  body), the orders tagged with the client reference are read back and matched to AOI indexes **by geometry**: UP42
  keeps the geometry of each order in ``orderDetails.geometry``, but neither keeps per-feature
  properties nor lets one batch carry per-feature tags, and its per-feature name suffixes
  depend on the position inside the batch rather than on the AOI index. AOIs with identical
  geometries are matched in index order. So ``place(draft)`` twice, or ``place(draft, only=…)``
  after an unclear failure, sends only the AOIs that truly have no order.
* **Names.** A batch of several AOIs is sent with ``draft.name`` (UP42 numbers the orders);
  a batch of one AOI is sent with ``draft.order_name(index)``, so "retry AOI 3" of a
  3-AOI draft is named ``<name> 3``.
* **Edit** follows the SDK (``Order.update``): only ``tags``, as a JSON merge patch. Keep
  ``draft.client_reference`` among the tags, or a later retry of that draft cannot find it.
* **Cancel** follows the server: the SDK only cancels CREATED/PLACEMENT_FAILED orders, but
  UP42 (and the sandbox) accept a cancellation until credits are charged, so ``can_cancel``
  says yes up to an accepted quotation and ``cancel`` reports the server's refusal.
* **Captures**: UP42 has none; ``deliveries`` gives the delivered footprint (coverage) and
  the assets, and ``download`` streams an asset from a freshly signed URL.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import datetime, timezone
from typing import Iterable, Iterator, Optional
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from ..http import (
    AccessForbidden,
    CredentialsRejected,
    NotFoundError,
    ProviderError,
    RequestRejected,
    TaskingSession,
    UnreadableResponse,
    follow_link,
)
from ..model import (
    DEFAULT_BASE_URLS,
    Asset,
    Connection,
    ConnectionKind,
    Decision,
    Estimate,
    FeasibilityOption,
    FeasibilityStudy,
    Order,
    OrderDraft,
    OrderStatus,
    Product,
    Quotation,
    Status,
)
from ..records import isolated
from ..utc import parse_instant
from . import up42_wire as wire
from .aoi_matching import aoi_geometry, match_orders_to_aois
from .base import Delivery, NotSupported, TaskingProvider
from .placement import PlacementClaims, PlacementPath, PlacementProgressCallback, Unclear, one_batch

logger = logging.getLogger(__name__)

UP42_CLIENT_ID = "up42-sdk"
_UP42_TOKEN_PATH = "/realms/public/protocol/openid-connect/token"  # nosec B105  # an endpoint path, not a token
_UP42_USERINFO_PATH = "/realms/public/protocol/openid-connect/userinfo"

#: A token is renewed this long before it expires (a tenth of its life for short-lived ones).
TOKEN_REFRESH_MARGIN_SECONDS = 30.0
DEFAULT_PAGE_SIZE = 100
#: Paging stops here whatever totalPages says: a bound on every loop.
MAX_PAGES = 10_000

_ORDER_DETAIL_KEYS_NOT_PARAMS = frozenset({"geometry", "subStatus", "deliveredGeometry"})

# Raw status -> normalised status (up42.md "Statuses": the docs' list and SDK 4.3.0's, which adds CANCELED).
# Terminal are only FULFILLED, FAILED_PERMANENTLY and CANCELED (the SDK's Order.track); any other value, known or
# not, is kept raw and never terminal.
_STATUS_CODES = {
    "CREATED": OrderStatus.RECEIVED,
    "BEING_PLACED": OrderStatus.RECEIVED,
    # "Error while placing; wait for resolution": UP42 works on it (not the user), the order is not over.
    "PLACEMENT_FAILED": OrderStatus.RECEIVED,
    "PLACED": OrderStatus.ACCEPTED,
    "BEING_FULFILLED": OrderStatus.TASKED,
    # Delivery problems UP42 works on itself: the acquisition happened, the data is on its way.
    "DELIVERY_INITIALIZATION_FAILED": OrderStatus.PROCESSING,
    "DOWNLOAD_FAILED": OrderStatus.PROCESSING,
    "DOWNLOADED": OrderStatus.PROCESSING,
    "FULFILLED": OrderStatus.COMPLETED,
    "FAILED_PERMANENTLY": OrderStatus.FAILED,
    "CANCELED": OrderStatus.CANCELLED,
}
# Sub-statuses (``orderDetails.subStatus``) appear while the status is CREATED (docs example and SDK fixtures);
# they are read whatever the status, as the page describes each one.
_SUB_CODES = {
    # The provider is still studying the order or pricing it.
    "FEASIBILITY_WAITING_UPLOAD": OrderStatus.RECEIVED,
    "QUOTATION_WAITING_UPLOAD": OrderStatus.RECEIVED,
    # Waiting for the user.
    "FEASIBILITY_WAITING_RESPONSE": OrderStatus.HELD,
    "QUOTATION_WAITING_RESPONSE": OrderStatus.HELD,
    # "Order activated".
    "QUOTATION_ACCEPTED": OrderStatus.ACCEPTED,
}
_DECISIONS = {
    "FEASIBILITY_WAITING_RESPONSE": Decision.FEASIBILITY,
    "QUOTATION_WAITING_RESPONSE": Decision.QUOTATION,
}
# The SDK refuses to cancel in any other status (up42-py 4.3.0 Order.cancel); the server's rule is not documented.
_CANCELABLE_STATUSES = frozenset({"CREATED", "PLACEMENT_FAILED"})
#: While a price waits for the user, the order is ended by rejecting its quotation (which charges nothing).
QUOTATION_WAITING = "QUOTATION_WAITING_RESPONSE"
#: The order form's budget choice, sent as the order's ``budgetId`` (up42-py 4.3.0 up42/order_template.py).
BUDGET_FIELD = "up42:budgetId"
#: Where UP42 grants collection access and takes the licence (EULA): its console (up42.md "Step 1").
UP42_CONSOLE_URL = "https://console.up42.com"
# A per-feature refusal in these words is about access approval or the licence (UP42 gives no code for it).
_ACCESS_WORDS = re.compile(r"\b(eula|licen[cs]e|access|approv|restricted)", re.IGNORECASE)


def up42_auth_urls(connection: Connection) -> tuple:
    """(token URL, user info URL) of a UP42 connection.

    UP42 authenticates on a sibling host (api.up42.com → auth.up42.com, api.sa.up42.com →
    auth.sa.up42.com); any other base URL (the sandbox, a proxy in front of UP42) serves both
    under the base URL itself unless the connection names an auth URL of its own.
    """
    if connection.auth_url:
        base = connection.auth_url.rstrip("/")
        return base + _UP42_TOKEN_PATH, base + _UP42_USERINFO_PATH
    base_url = (connection.base_url or DEFAULT_BASE_URLS[ConnectionKind.UP42]).rstrip("/")
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host.startswith("api.") and host.endswith("up42.com"):
        auth_root = urlunsplit((parts.scheme, "auth." + host[len("api."):], "", "", ""))
        return auth_root + _UP42_TOKEN_PATH, auth_root + _UP42_USERINFO_PATH
    return base_url + "/oauth/token", base_url + "/userinfo"


def up42_status(raw: Optional[str], raw_sub: Optional[str] = None) -> Status:
    """The normalised status of a UP42 status and sub-status, keeping both raw values."""
    # A garbled answer may carry any JSON here (a list is not even hashable): keep it as text.
    raw = _text(raw) or "UNKNOWN"
    raw_sub = _text(raw_sub)
    if raw == "FAILED_PERMANENTLY" and raw_sub == "QUOTATION_REJECTED":
        code = OrderStatus.CANCELLED  # the user declined the price; nothing failed
    elif raw in ("CREATED", "PLACED") and raw_sub in _SUB_CODES:
        code = _SUB_CODES[raw_sub]
    else:
        code = _STATUS_CODES.get(raw)
        if code is None:
            logger.warning("Unknown UP42 order status %r; kept as it is, not final", raw)
            code = OrderStatus.RECEIVED
    return Status(code, raw, raw_sub)


def _text(value) -> Optional[str]:
    """A JSON value as text (None stays None): a server's wrong type must not break a lookup or a label."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _list(value) -> list:
    """A JSON array, or an empty list for anything else a garbled answer put there."""
    return value if isinstance(value, list) else []


#: UP42's timestamps are read by the one UTC reader (``plugin/utc.py``); the name stays for its callers.
parse_up42_time = parse_instant


def is_up42_tag(value) -> bool:
    """Whether ``value`` fits UP42's rule for a tag (``up42_wire.TAG_PATTERN``)."""
    return wire.is_tag(value)


def order_tags(draft: OrderDraft) -> list:
    """The ``tags`` of the draft's orders: its reference first (what finds them again), then the draft's own
    tags that fit UP42's rule, once each, at most ``up42_wire.MAX_TAGS`` in all. A tag that does not fit is
    left out with a log line rather than failing the whole order."""
    tags = [draft.client_reference]
    for tag in draft.tags:
        if tag in tags:
            continue
        if not is_up42_tag(tag):
            logger.info("Tag %r does not fit UP42's rule (letters, digits, spaces, . - _ / :); not sent", tag)
        elif len(tags) < wire.MAX_TAGS:
            tags.append(tag)
        else:
            logger.info("UP42 takes at most %d tags; %r is not sent", wire.MAX_TAGS, tag)
    return tags


def schema_geometry_types(schema) -> tuple:
    """GeoJSON geometry types the ``geometry`` property of a UP42 order schema accepts."""
    if not isinstance(schema, dict):
        return ()
    definitions = schema.get("definitions") or schema.get("$defs") or {}
    found: list = []

    def visit(node, depth: int) -> None:
        if not isinstance(node, dict) or depth > 8:
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            visit(definitions.get(ref.rsplit("/", 1)[-1]), depth + 1)
        for key in ("allOf", "anyOf", "oneOf"):
            for part in node.get(key) or []:
                visit(part, depth + 1)
        kind = (node.get("properties") or {}).get("type")
        if isinstance(kind, dict):
            names = kind.get("enum") or ([kind["const"]] if "const" in kind else [])
            found.extend(n for n in names if isinstance(n, str) and n not in found)

    visit((schema.get("properties") or {}).get("geometry"), 0)
    return tuple(found)


def choice_lists_as_any_of(node, depth: int = 0):
    """UP42's older choice lists, ``enum: [{"id", "label"}, …]`` (up42-py tests/mock_data/
    data_product_schema_tasking.json), as ``anyOf: [{"const": id, "title": label}, …]``: the id is what the
    order sends, the label what the form shows. Everything else is left as it is."""
    if depth > 64:
        return node
    if isinstance(node, list):
        return [choice_lists_as_any_of(item, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: choice_lists_as_any_of(value, depth + 1) for key, value in node.items()}
    values = node.get("enum")
    if isinstance(values, list) and values and all(isinstance(v, dict) and "id" in v for v in values):
        del out["enum"]
        out["anyOf"] = [{"const": v["id"], "title": _text(v.get("label")) or _text(v["id"])} for v in values]
    return out


class _Token:
    def __init__(self, access_token: str, renew_at: float):
        self.access_token = access_token
        self.renew_at = renew_at

    def __repr__(self) -> str:
        return "_Token(<hidden>)"


class Up42Provider(TaskingProvider):
    api_name = "UP42"

    def __init__(self, connection: Connection, credentials, session: TaskingSession,
                 page_size: int = DEFAULT_PAGE_SIZE):
        super().__init__(connection, credentials, session)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.page_size = page_size
        # The token and the password go to UP42's API and authentication origins only.
        session.bind_credentials(self.api_base, *up42_auth_urls(connection))
        self._token: Optional[_Token] = None
        self._token_lock = threading.Lock()
        self._workspace_id: Optional[str] = None
        self._schemas: dict = {}
        self._budgets: Optional[list] = None
        self._feasibility_path_missing = False

    # -- addresses and authentication -------------------------------------------------------
    @property
    def api_base(self) -> str:
        return (self.connection.base_url or DEFAULT_BASE_URLS[ConnectionKind.UP42]).rstrip("/")

    def _url(self, path: str) -> str:
        return self.api_base + path

    @property
    def _name(self) -> str:
        return self.connection.name

    def _access_token(self, renew: bool = False) -> str:
        with self._token_lock:
            token = self._token
            if renew or token is None or time.monotonic() >= token.renew_at:
                token = self._token = self._new_token()
            return token.access_token

    def _new_token(self) -> _Token:
        username = getattr(self.credentials, "username", "") if self.credentials is not None else ""
        password = getattr(self.credentials, "password", "") if self.credentials is not None else ""
        if not username or not password:
            raise CredentialsRejected(self._name, f"The UP42 connection “{self._name}” has no username and "
                                                  "password yet: enter them and save the connection.")
        token_url, _ = up42_auth_urls(self.connection)
        form = {"grant_type": "password", "username": username, "password": password,
                "client_id": UP42_CLIENT_ID, "scope": "openid"}
        rejected = (f"UP42 rejected the username or password of the connection “{self._name}”: check them "
                    "in the connection settings.")
        try:
            # Asking for a token twice is harmless, so a lost answer may be retried.
            body = self.session.json("POST", token_url, idempotent=True, data=form)
        except CredentialsRejected as exc:
            raise CredentialsRejected(self._name, rejected, exc.status) from None
        except RequestRejected as exc:
            if "invalid_grant" in exc.provider_message or "credentials" in exc.provider_message.lower():
                raise CredentialsRejected(self._name, rejected, exc.status) from None
            raise
        access_token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(access_token, str) or not access_token:
            raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                 "its token endpoint gave no access token")
        try:
            lifetime = float(body.get("expires_in", 300))
        except (TypeError, ValueError):
            lifetime = 300.0
        margin = min(TOKEN_REFRESH_MARGIN_SECONDS, lifetime / 10)
        logger.debug("New UP42 access token for %s, valid %.0f s", self._name, lifetime)
        return _Token(access_token, time.monotonic() + lifetime - margin)

    def _call(self, method: str, url: str, **kwargs):
        """An authenticated request; a 401 renews the token once and repeats the request
        (a 401 is a clear answer: nothing was done, so repeating cannot duplicate anything)."""
        extra_headers = kwargs.pop("headers", None) or {}
        for attempt in (1, 2):
            headers = {"Authorization": "Bearer " + self._access_token(renew=attempt == 2), **extra_headers}
            try:
                return self.session.json(method, url, headers=headers, **kwargs)
            except CredentialsRejected:
                if attempt == 2:
                    raise
                logger.info("UP42 refused the access token of %s; authenticating again", self._name)
        raise AssertionError("unreachable")

    def _api(self, method: str, path: str, **kwargs):
        return self._call(method, self._url(path), **kwargs)

    def _object(self, body, what: str) -> dict:
        if not isinstance(body, dict):
            raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                 f"{what} is not a JSON object")
        return body

    def workspace_id(self) -> str:
        if self._workspace_id is None:
            _, userinfo_url = up42_auth_urls(self.connection)
            info = self._object(self._call("GET", userinfo_url), "the user info")
            sub = info.get("sub")
            if not isinstance(sub, str) or not sub:
                raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                     "the user info has no workspace id (sub)")
            self._workspace_id = sub
        return self._workspace_id

    def _pages(self, path: str, params: dict, size: Optional[int] = None) -> Iterator[list]:
        """Spring pages of ``path`` until ``page >= totalPages`` (the SDK's rule), one list per page."""
        size = size or self.page_size
        for page in range(MAX_PAGES):
            body = self._object(self._api("GET", path, params={**params, "page": page, "size": size}),
                                f"page {page} of {path}")
            content = body.get("content")
            if not isinstance(content, list):
                raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                     f"page {page} of {path} has no content list")
            yield content
            total_pages = body.get("totalPages")
            if not isinstance(total_pages, int) or page + 1 >= total_pages or not content:
                return
        logger.warning("Stopped reading %s after %d pages", path, MAX_PAGES)

    def _items(self, path: str, params: dict, size: Optional[int] = None) -> Iterator[dict]:
        for content in self._pages(path, params, size):
            yield from (item for item in content if isinstance(item, dict))

    # -- identity ---------------------------------------------------------------------------
    def check(self) -> str:
        self._access_token(renew=True)
        self._workspace_id = None
        self._budgets = None
        workspace = self.workspace_id()
        return f"Connected to {self._name}: UP42 accepted the credentials (workspace {workspace})."

    # -- catalogue --------------------------------------------------------------------------
    def products(self) -> list:
        """Tasking data products, with geometry types read from each product's order schema."""
        products = []
        for collection in self._items("/v2/collections", {}):
            if collection.get("type") != "TASKING":
                continue
            integrations = [i for i in _list(collection.get("integrations")) if isinstance(i, str)]
            providers = [p for p in _list(collection.get("providers")) if isinstance(p, dict)]
            producer = next((p for p in providers if "PRODUCER" in (p.get("roles") or [])),
                            providers[0] if providers else {})
            for data_product in _list(collection.get("dataProducts")):
                if not isinstance(data_product, dict) or not data_product.get("id"):
                    continue
                product_id = data_product["id"]
                products.append(Product(
                    id=product_id,
                    title=data_product.get("title") or data_product.get("name") or product_id,
                    provider_name=producer.get("title") or producer.get("name") or "",
                    collection=collection.get("name", ""),
                    collection_title=collection.get("title") or collection.get("name", ""),
                    description=data_product.get("description") or collection.get("description") or "",
                    geometry_types=self._geometry_types(product_id),
                    needs_feasibility=bool({"FEASIBILITY_STUDY_REQUIRED", "FEASIBILITY_STUDY_MAY_BE_REQUIRED"}
                                           & set(integrations)),
                    needs_quotation="QUOTATION_REQUIRED" in integrations,
                    extra={"integrations": integrations, "name": data_product.get("name", ""),
                           "eulaId": data_product.get("eulaId"), "providers": providers,
                           "feasibility": "required" if "FEASIBILITY_STUDY_REQUIRED" in integrations
                           else "may be required" if "FEASIBILITY_STUDY_MAY_BE_REQUIRED" in integrations
                           else "not required",
                           "metadata": collection.get("metadata") or {}},
                ))
        return products

    def _geometry_types(self, product_id: str) -> tuple:
        try:
            types = schema_geometry_types(self._schema(product_id))
        except (NotFoundError, AccessForbidden) as exc:
            logger.info("No order schema for UP42 product %s (%s)", product_id, type(exc).__name__)
            types = ()
        return types or ("Polygon",)

    def _schema(self, product_id: str) -> dict:
        if product_id not in self._schemas:
            schema = self._api("GET", "/orders/schema/" + quote(product_id, safe=""))
            self._schemas[product_id] = self._object(schema, "the order schema")
        return self._schemas[product_id]

    def order_schema(self, product) -> dict:
        """The product's draft-07 schema of order ``params`` (a copy: callers may change it), its older
        ``enum`` of ``{id, label}`` choice lists read as ``anyOf`` of ``{const: id, title: label}``; when the
        workspace has active budgets, an optional ``up42:budgetId`` choice among them (sent as ``budgetId``)."""
        product_id = product.id if isinstance(product, Product) else str(product)
        schema = choice_lists_as_any_of(json.loads(json.dumps(self._schema(product_id))))
        budgets = self.budgets()
        if budgets and isinstance(schema.get("properties"), dict):
            schema["properties"][BUDGET_FIELD] = {
                "title": "Budget", "type": "string",
                "description": "The budget the credits of this order are counted against (optional).",
                "anyOf": [{"const": b["id"], "title": b["name"]} for b in budgets]}
        return schema

    def budgets(self) -> list:
        """The workspace's active budgets, ``[{"id", "name"}]``; none for accounts without budgets (they are an
        Enterprise feature, closed to the Viewer role: any refusal means none)."""
        if self._budgets is None:
            try:
                items = list(self._items("/v2/budgets", {"status": "ACTIVE"}))
            except (AccessForbidden, NotFoundError, RequestRejected) as exc:
                logger.info("No UP42 budgets for %s (%s)", self._name, type(exc).__name__)
                items = []
            self._budgets = [{"id": item["id"], "name": _text(item.get("name")) or item["id"]} for item in items
                             if isinstance(item.get("id"), str) and item.get("status", "ACTIVE") == "ACTIVE"]
        return list(self._budgets)

    # -- ordering ---------------------------------------------------------------------------
    def _order_body(self, draft: OrderDraft, indexes: list) -> dict:
        params = {k: v for k, v in (draft.params or {}).items()
                  if k not in ("geometry", "displayName", BUDGET_FIELD)}
        budget = (draft.params or {}).get(BUDGET_FIELD)
        tags = order_tags(draft)
        name = draft.order_name(indexes[0]) if len(indexes) == 1 else draft.name
        body = {
            "dataProduct": draft.product_id,
            "displayName": name,
            "params": params,
            "tags": tags,
            "featureCollection": {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "geometry": aoi_geometry(draft.aois[i]), "properties": {}}
                             for i in indexes],
            },
        }
        if budget:
            body["budgetId"] = budget
        return body

    @staticmethod
    def _batch_errors(answer: dict, indexes: list) -> dict:
        """AOI index -> message from a batch answer's ``errors`` (indexes are positions in the batch)."""
        out = {}
        for error in _list(answer.get("errors")):
            if not isinstance(error, dict) or not isinstance(error.get("index"), int):
                continue
            if not 0 <= error["index"] < len(indexes):
                continue
            message = _text(error.get("message")) or "Rejected"
            details = error.get("details")
            text = f"{message}: {_text(details)}" if details not in (None, "", [], {}) else message
            out[indexes[error["index"]]] = Up42Provider._access_message(text) if _ACCESS_WORDS.search(text) else text
        return out

    @staticmethod
    def _access_message(said: str) -> str:
        return (f"UP42 refused the order: this collection may need access approval, or its licence (EULA) "
                f"accepted, or a role that may order. Access and licences are granted in the UP42 console "
                f"({UP42_CONSOLE_URL}). UP42 says: {said}")

    def estimate(self, draft: OrderDraft) -> Estimate:
        """Credits per AOI (``per_aoi[i]``, None where UP42 refused the AOI, with the reason in
        ``errors[i]``) and in total. A refusal of the whole draft (bad parameters) lands in
        ``errors`` for every AOI rather than failing."""
        indexes = list(range(len(draft.aois)))
        if not indexes:
            return Estimate(total=0.0, unit="credits")
        try:
            # UP42's POSTs are not retried (the SDK does not either).
            answer = self._object(self._api("POST", "/v2/orders/estimate", json=self._order_body(draft, indexes),
                                            idempotent=False), "the estimate")
        except RequestRejected as exc:
            return Estimate(total=0.0, unit="credits", per_aoi=[None] * len(indexes),
                            errors={i: exc.provider_message or exc.user_message for i in indexes})
        per_aoi: list = [None] * len(indexes)
        for result in _list(answer.get("results")):
            if isinstance(result, dict) and isinstance(result.get("index"), int) and 0 <= result["index"] < len(
                    indexes):
                per_aoi[result["index"]] = _number(result.get("credits") or 0)
        errors = self._batch_errors(answer, indexes)
        for i in indexes:
            if per_aoi[i] is None and i not in errors:
                errors[i] = "UP42 gave no price for this area."
        summary = answer.get("summary") if isinstance(answer.get("summary"), dict) else {}
        total = summary.get("totalCredits")
        total = _number(total)
        total = total if total is not None else sum(p for p in per_aoi if p is not None)
        return Estimate(total=total, unit="credits", per_aoi=per_aoi, errors=errors)

    def place(self, draft: OrderDraft, only: Optional[Iterable[int]] = None,
              progress: Optional[PlacementProgressCallback] = None,
              claims: Optional[PlacementClaims] = None) -> list:
        """The one placement path (``placement.PlacementPath``) with UP42's steps: the orders tagged with the
        draft's reference are looked up, and the rest goes in one batch POST."""
        path = PlacementPath(who="UP42", lookup=self.orders_of_draft, send=one_batch(self._send_batch),
                             refuse=self._refuse_placement)
        return path.place(draft, only=only, progress=progress, claims=claims)

    def _refuse_placement(self, draft: OrderDraft, indexes: list) -> dict:
        """Nothing can be sent when the draft's reference cannot be a UP42 tag: its orders could not be found
        again, so an unclear answer could not be reconciled."""
        if is_up42_tag(draft.client_reference):
            return {}
        message = (f"The draft's reference {draft.client_reference!r} cannot be a UP42 tag (letters, digits, "
                   "spaces and . - _ / : only), so its orders could not be found again: nothing was sent.")
        return {i: message for i in indexes}

    def _send_batch(self, draft: OrderDraft, indexes: list) -> dict:
        """AOI index -> the created Order, a refusal, or ``Unclear`` — for one batch POST of ``indexes``."""
        body = self._order_body(draft, indexes)
        try:
            workspace = self.workspace_id()
            answer = self._api("POST", "/v2/orders", params={"workspaceId": workspace}, json=body,
                               idempotent=False)
        except AccessForbidden as exc:
            # UP42 does not document how it refuses an order for want of access or licence: a 403 may be either
            # (or the role), so it is shown as such, with UP42's own words and where to grant them.
            return {i: self._access_message(exc.user_message) for i in indexes}
        if not isinstance(answer, dict):
            cause = UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable to "
                                                   "the placement")
            return {i: Unclear(cause) for i in indexes}
        created = {}
        for result in _list(answer.get("results")):
            if isinstance(result, dict) and isinstance(result.get("index"), int) and isinstance(
                    result.get("id"), str) and 0 <= result["index"] < len(indexes):
                created[indexes[result["index"]]] = result["id"]
        results: dict = {i: message for i, message in self._batch_errors(answer, indexes).items()
                         if i not in created}
        if created:
            results.update(self._created_orders(draft, created))
        # An AOI the answer does not mention is unclear: the path reads the orders back once.
        return results

    def _created_orders(self, draft: OrderDraft, created: dict) -> dict:
        """Full records of the orders a placement created (one listing), or minimal ones if it fails."""
        try:
            by_id = {o.id: o for o in self._orders_tagged(draft.client_reference)}
        except ProviderError as exc:
            logger.info("Could not read back the new UP42 orders (%s)", type(exc).__name__)
            by_id = {}
        orders = {}
        for index, order_id in created.items():
            orders[index] = by_id.get(order_id) or Order(
                id=order_id, connection_id=self.connection.id, name=draft.order_name(index),
                status=up42_status("CREATED"), product_id=draft.product_id,
                geometry=aoi_geometry(draft.aois[index]), params=dict(draft.params))
        return orders

    def placed_orders(self, draft: OrderDraft) -> dict:
        return self.orders_of_draft(draft)

    def _orders_tagged(self, tag: str) -> list:
        params = {"workspaceId": self.workspace_id(), "tags": tag, "sort": "createdAt,asc"}
        return [self._order_from(item) for item in self._items("/v2/orders", params)]

    def orders_of_draft(self, draft: OrderDraft) -> dict:
        """AOI index -> the existing order of that AOI, for orders tagged with the draft's reference.

        Orders are matched by geometry (exact coordinates first, then type and bounding box);
        among AOIs with the same geometry, the oldest order goes to the lowest index.
        """
        orders = self._orders_tagged(draft.client_reference)
        orders = [o for o in orders if o.product_id in ("", draft.product_id)]
        matched, unmatched = match_orders_to_aois(orders, draft.aois)
        for order in unmatched:
            logger.warning("UP42 order %s carries the tag of %s but matches none of its AOIs",
                           order.id, draft.client_reference)
        return matched

    # -- reading ----------------------------------------------------------------------------
    def _order_from(self, data) -> Order:
        data = self._object(data, "an order")
        details = data.get("orderDetails") if isinstance(data.get("orderDetails"), dict) else {}
        raw_status = _text(data.get("status"))
        sub = _text(details.get("subStatus"))
        decision = _DECISIONS.get(sub, Decision.NONE) if raw_status in ("CREATED", "PLACED") else Decision.NONE
        order_id = data.get("id")
        if not isinstance(order_id, str) or not order_id:
            raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                 "an order without an id")
        return Order(
            id=order_id,
            connection_id=self.connection.id,
            name=_text(data.get("displayName")) or order_id,
            status=up42_status(raw_status, sub),
            product_id=_text(data.get("dataProductId")) or "",
            geometry=details.get("geometry") or details.get("aoi"),
            created_at=parse_up42_time(data.get("createdAt")),
            updated_at=parse_up42_time(data.get("updatedAt")),
            acquisition_start=parse_up42_time(details.get("acquisitionStart")),
            acquisition_end=parse_up42_time(details.get("acquisitionEnd")),
            decision=decision,
            params={k: v for k, v in details.items() if k not in _ORDER_DETAIL_KEYS_NOT_PARAMS},
            raw=data,
        )

    def orders(self, since: Optional[datetime] = None) -> list:
        """Tasking orders of the workspace, last changed first; with ``since``, only those changed
        at or after it, reading pages only until the first older order."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        params = {"workspaceId": self.workspace_id(), "type": "TASKING", "sort": "updatedAt,desc"}
        out = []
        for content in self._pages("/v2/orders", params):
            for item in content:
                order = isolated("order", item, self._order_from, item)
                if order is None:
                    continue  # unreadable: skipped and named by the sync
                if since is not None and order.updated_at is not None and order.updated_at < since:
                    return out
                out.append(order)
        return out

    def order(self, order_id: str) -> Order:
        return self._order_from(self._api("GET", "/v2/orders/" + quote(order_id, safe="")))

    # -- changing ---------------------------------------------------------------------------
    def can_cancel(self, order: Order) -> bool:
        """The SDK's rule (CREATED, PLACEMENT_FAILED), except while a price waits for the user: such an order
        is ended by rejecting its quotation (see ``cancel``)."""
        return order.status.raw in _CANCELABLE_STATUSES and order.status.raw_sub != QUOTATION_WAITING

    def cancel(self, order: Order) -> Order:
        if order.status.raw_sub == QUOTATION_WAITING and order.status.raw in _CANCELABLE_STATUSES:
            raise NotSupported(self._name, f"“{order.name}” waits for your decision on its price: to end it, reject "
                                           "its quotation (Decide…). Rejecting charges nothing.")
        if not self.can_cancel(order):
            raise NotSupported(self._name, f"UP42 ({self._name}) cancels only orders that are CREATED or "
                                           f"PLACEMENT_FAILED; “{order.name}” is {order.status.describe()}.")
        path = f"/v2/orders/{quote(order.id, safe='')}/cancellation"
        try:
            # A write: never repeated blindly (up42.md). Whatever happened, the order is read again.
            self._api("POST", path, idempotent=False)
        except RequestRejected as exc:
            current = self.order(order.id)
            if current.status.raw == "CANCELED":
                return current
            raise NotSupported(self._name, f"UP42 ({self._name}) refused to cancel “{order.name}” "
                                           f"({current.status.describe()}). UP42 says: "
                                           f"{exc.provider_message or 'no reason given'}", exc.status) from None
        return self.order(order.id)

    def editable_fields(self, order: Order) -> frozenset:
        return frozenset({"tags"})

    def edit(self, order: Order, fields: dict) -> Order:
        unknown = set(fields) - {"tags"}
        if unknown:
            raise NotSupported(self._name, f"UP42 ({self._name}) lets you change only the tags of an order, "
                                           f"not {', '.join(sorted(unknown))}.")
        tags = fields.get("tags")
        if tags is not None and (isinstance(tags, str) or not all(isinstance(t, str) for t in tags)):
            raise ValueError("tags must be a list of strings")
        if tags is not None:
            bad = [t for t in tags if not is_up42_tag(t)]
            if bad or len(tags) > wire.MAX_TAGS:
                raise NotSupported(self._name, f"UP42 takes at most {wire.MAX_TAGS} tags of letters, digits, spaces "
                                               "and . - _ / : only" + (f"; “{bad[0]}” is not one." if bad else "."))
        body = {"tags": list(tags) if tags is not None else []}
        self._api("PATCH", "/v2/orders/" + quote(order.id, safe=""), json=body, idempotent=False,
                  headers={"Content-Type": "application/merge-patch+json"})
        # Any 2xx is a success; what the order now is, the order itself says.
        return self.order(order.id)

    # -- decisions --------------------------------------------------------------------------
    def _latest(self, path: str, params: dict) -> Optional[dict]:
        params = {"workspaceId": self.workspace_id(), "sort": "createdAt,desc", **params}
        for content in self._pages(path, params, size=10):
            return next((item for item in content if isinstance(item, dict)), None)
        return None

    def _latest_study(self, params: dict) -> Optional[dict]:
        """The newest study matching ``params``: from ``/v2/tasking/feasibility-studies`` (what the SDK calls), or,
        where that path is unknown (404), from ``/v2/tasking/feasibility`` (what one docs page shows)."""
        if not self._feasibility_path_missing:
            try:
                return self._latest("/v2/tasking/feasibility-studies", params)
            except NotFoundError:
                logger.info("UP42 %s has no /v2/tasking/feasibility-studies; reading /v2/tasking/feasibility",
                            self._name)
                self._feasibility_path_missing = True
        return self._latest("/v2/tasking/feasibility", params)

    def _study_from(self, data) -> FeasibilityStudy:
        data = self._object(data, "a feasibility study")
        options = []
        for option in _list(data.get("options")):
            if isinstance(option, dict) and option.get("id"):
                details = {k: v for k, v in option.items() if k not in ("id", "description")}
                options.append(FeasibilityOption(option["id"], option.get("description") or "", details))
        chosen = data.get("decisionOption") if isinstance(data.get("decisionOption"), dict) else {}
        return FeasibilityStudy(id=data.get("id", ""), order_id=data.get("orderId", ""), options=options,
                                decision=data.get("decision") or "NOT_DECIDED", chosen_option_id=chosen.get("id"))

    def _quotation_from(self, data) -> Quotation:
        data = self._object(data, "a quotation")
        price = data.get("creditsPrice")
        return Quotation(id=data.get("id", ""), order_id=data.get("orderId", ""),
                         price=float(price) if isinstance(price, (int, float)) else 0.0, unit="credits",
                         decision=data.get("decision") or "NOT_DECIDED")

    def feasibility(self, order: Order) -> Optional[FeasibilityStudy]:
        item = self._latest_study({"orderId": order.id})
        return self._study_from(item) if item else None

    def choose_option(self, study: FeasibilityStudy, option: FeasibilityOption) -> FeasibilityStudy:
        path = "/v2/tasking/feasibility-studies/" + quote(study.id, safe="")
        try:
            self._api("PATCH", path, json={"acceptedOptionId": option.id}, idempotent=False)
        except RequestRejected as exc:
            current = self._latest_study({"id": study.id})
            current = self._study_from(current) if current else None
            if current is not None and current.chosen_option_id == option.id:
                return current
            raise NotSupported(self._name, f"UP42 ({self._name}) refused this feasibility choice: "
                                           f"{exc.provider_message or 'it was decided already'}", exc.status) from None
        current = self._latest_study({"id": study.id})
        if current is None:
            raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: the "
                                                 "feasibility study just decided is not listed")
        return self._study_from(current)

    def quotation(self, order: Order) -> Optional[Quotation]:
        item = self._latest("/v2/tasking/quotation", {"orderId": order.id})
        return self._quotation_from(item) if item else None

    def decide(self, quotation: Quotation, accept: bool) -> Quotation:
        decision = "ACCEPTED" if accept else "REJECTED"
        path = "/v2/tasking/quotation/" + quote(quotation.id, safe="")
        try:
            self._api("PATCH", path, json={"decision": decision}, idempotent=False)
        except RequestRejected as exc:
            current = self._latest("/v2/tasking/quotation", {"id": quotation.id})
            current = self._quotation_from(current) if current else None
            if current is not None and current.decision == decision:
                return current
            raise NotSupported(self._name, f"UP42 ({self._name}) refused the decision on the quotation: "
                                           f"{exc.provider_message or 'it was decided already'}", exc.status) from None
        current = self._latest("/v2/tasking/quotation", {"id": quotation.id})
        if current is None:
            raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: the "
                                                 "quotation just decided is not listed")
        return self._quotation_from(current)

    # -- delivery ---------------------------------------------------------------------------
    def deliveries(self, order: Order) -> list:
        """One ``Delivery`` (covered footprint, what remains, assets) once anything was delivered.

        Files are found through UP42's STAC assets API (items whose ``order_id`` is the order's); the coverage
        is asked for only in the states where UP42 documents it."""
        covered, remainder = {}, {}
        if order.status.raw in _COVERAGE_STATUSES:
            try:
                coverage = self._object(self._api("GET", "/v2/coverage/orders/" + quote(order.id, safe="")),
                                        "the coverage")
            except (NotFoundError, RequestRejected):
                coverage = {}  # "no coverage yet" (up42.md, Step 5)
            covered = coverage.get("covered") if isinstance(coverage.get("covered"), dict) else {}
            remainder = coverage.get("remainder") if isinstance(coverage.get("remainder"), dict) else {}
        assets = [asset for item in self.stac_items(order.id) for asset in self._assets_of(item, order.id)]
        footprint = _non_empty(covered.get("geometry"))
        if not assets and footprint is None:
            return []
        return [Delivery(order.id, footprint, assets, remaining=_non_empty(remainder.get("geometry")),
                         covered_km2=_number(covered.get("sqKmArea")),
                         covered_percent=_number(covered.get("percentage")))]

    def stac_items(self, order_id: str) -> list:
        """The STAC items of one order: a CQL2 search on ``order_id``; if the search is refused, the workspace's
        collections are read and their items matched on ``up42-order:id`` (up42.md, "Preferred path")."""
        body = {"filter": {"op": "=", "args": [{"property": "order_id"}, order_id]}, "filter-lang": "cql2-json"}
        try:
            items = list(self._stac_pages("POST", self._url("/v2/assets/stac/search"), body=body))
        except (RequestRejected, NotFoundError) as exc:
            logger.info("UP42 STAC search refused (%s); reading the workspace's collections", type(exc).__name__)
            items = []
            collections = self._stac_pages("GET", self._url("/v2/assets/stac/collections"), key="collections",
                                           params={"workspace_id": self.workspace_id()})
            for collection in collections:
                link = _link(collection.get("links"), "items")
                url = urljoin(self._url("/v2/assets/stac/"), link["href"]) if link else self._url(
                    f"/v2/assets/stac/collections/{quote(str(collection.get('id', '')), safe='')}/items")
                items.extend(self._stac_pages("GET", url))
        mine = []
        for item in items:
            properties = item.get("properties") if isinstance(item.get("properties"), dict) else {}
            if properties.get("up42-order:id", order_id) == order_id:
                mine.append(item)
        return mine

    def _stac_pages(self, method: str, url: str, key: str = "features", params: Optional[dict] = None,
                    body: Optional[dict] = None) -> Iterator[dict]:
        """Items under ``key`` of every page, following ``rel: next`` links as given (method, body)."""
        seen = set()
        for _page in range(MAX_PAGES):
            page = self._object(self._call(method, url, params=params, json=body, idempotent=method == "GET"),
                                f"a page of {url}")
            items = page.get(key)
            if not isinstance(items, list):
                raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                     f"a STAC page without {key}")
            yield from (item for item in items if isinstance(item, dict))
            link = _link(page.get("links"), "next")
            if link is None or not items:
                return
            method = str(link.get("method") or "GET").upper()
            url = follow_link(url, link["href"], self._name, f"the next page of {key}")
            body = link.get("body") if method != "GET" and isinstance(link.get("body"), dict) else None
            params = None
            marker = (method, url, json.dumps(body, sort_keys=True))
            if marker in seen:
                return
            seen.add(marker)

    def _assets_of(self, item: dict, order_id: str) -> list:
        properties = item.get("properties") if isinstance(item.get("properties"), dict) else {}
        assets = item.get("assets") if isinstance(item.get("assets"), dict) else {}
        out = []
        for key, data in assets.items():
            if not isinstance(data, dict) or not isinstance(data.get("href"), str):
                continue
            href = data["href"]
            asset_id = _asset_id(href) or str(properties.get("up42-system:asset_id") or key)
            size = data.get("file:size")
            out.append(Asset(id=asset_id, order_id=_text(properties.get("up42-order:id")) or order_id,
                             title=_text(data.get("title")) or _text(properties.get("up42-user:title")) or str(key),
                             url=href, size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                             media_type=_text(data.get("type")) or "",
                             extra={"item": item.get("id"), "collection": item.get("collection"), "key": key,
                                    "geometry": item.get("geometry")}))
        return out

    def asset_download_url(self, asset: Asset) -> str:
        """A fresh pre-signed URL, asked for right before each download (it lives 30 s to 5 minutes)."""
        href = asset.url or self._url(f"/v2/assets/{quote(asset.id, safe='')}")
        if not href.startswith(self.api_base + "/"):
            # The SDK offers no file for hrefs outside its API host; neither does the plugin.
            raise NotSupported(self._name, f"UP42 ({self._name}) gives no download for “{asset.title}”: its "
                                           "address is not on the UP42 API.")
        url = href if href.endswith("/download-url") else href.rstrip("/") + "/download-url"
        answer = self._object(self._call("POST", url, idempotent=False), "the download URL")
        signed = answer.get("url")
        if not isinstance(signed, str) or not signed:
            raise UnreadableResponse(self._name, f"the provider {self._name} answered something unreadable: "
                                                 "no download URL")
        return signed

    def download(self, asset: Asset, folder, progress=None, cancelled=None):
        try:
            return super().download(asset, folder, progress=progress, cancelled=cancelled)
        except AccessForbidden:
            # The signed URL may have expired between asking and using it: ask for a new one, once.
            logger.info("The signed URL of UP42 asset %s was refused; asking for a new one", asset.id)
            return super().download(asset, folder, progress=progress, cancelled=cancelled)

    def download_headers(self, url: str) -> dict:
        # The signed URL is its own credential; the bearer token must not travel to the storage host.
        return {}


# Coverage is documented for these states, once any asset is delivered (up42.md, Step 5).
_COVERAGE_STATUSES = frozenset({"BEING_FULFILLED", "DOWNLOADED", "FULFILLED", "FAILED_PERMANENTLY",
                                "DOWNLOAD_FAILED"})


def _link(links, rel: str) -> Optional[dict]:
    return next((link for link in links if isinstance(link, dict) and link.get("rel") == rel
                 and isinstance(link.get("href"), str)), None) if isinstance(links, list) else None


def _asset_id(href: str) -> Optional[str]:
    """The asset id of a UP42 asset href ``…/v2/assets/{assetId}`` (None for any other address)."""
    path = urlsplit(href).path.rstrip("/")
    if path.endswith("/download-url"):
        path = path[: -len("/download-url")]
    head, _, tail = path.rpartition("/")
    return tail if head.endswith("/v2/assets") and tail else None


def _non_empty(geometry) -> Optional[dict]:
    if not isinstance(geometry, dict) or not geometry.get("coordinates"):
        return None
    return geometry


def _number(value) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
