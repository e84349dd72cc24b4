"""The request fields and query parameters the UP42 evidence page (``/work/shared/api/up42.md``) documents, per
endpoint: the UP42 dialect answers 400 naming anything else. Sources are given in the plugin's own copy,
``plugin/providers/up42_wire.py`` (the sandbox imports nothing from ``plugin/``); a test checks both agree.
"""
from __future__ import annotations

import re
from typing import Optional

TOKEN = "TOKEN"  # nosec B105  # the token endpoint's name in these tables, not a token
USERINFO = "USERINFO"

_PAGE = ("page", "size", "sort")
_ORDER_BODY = ("dataProduct", "displayName", "params", "featureCollection", "tags", "budgetId")
FEATURE_FIELDS = frozenset({"type", "geometry", "properties"})
_DECISION_QUERY = ("id", "workspaceId", "orderId", "decision") + _PAGE

#: (method, path template) -> (query parameter names, body member names)
ENDPOINTS = {
    ("POST", TOKEN): ((), ("grant_type", "username", "password", "client_id", "scope")),
    ("GET", USERINFO): ((), ()),
    ("GET", "/v2/collections"): (("integrations", "type") + _PAGE, ()),
    ("GET", "/v2/collections/{name}"): ((), ()),
    ("GET", "/orders/schema/{dataProductId}"): ((), ()),
    ("POST", "/v2/orders/estimate"): ((), _ORDER_BODY),
    ("POST", "/v2/orders"): (("workspaceId",), _ORDER_BODY),
    ("GET", "/v2/orders"): (("workspaceId", "type", "status", "displayName", "tags", "subStatus", "budgetIds",
                             "orderIds") + _PAGE, ()),
    ("GET", "/v2/orders/{id}"): ((), ()),
    ("PATCH", "/v2/orders/{id}"): ((), ("tags", "budgetId")),
    ("POST", "/v2/orders/{id}/cancellation"): ((), ()),
    ("GET", "/v2/tasking/feasibility-studies"): (_DECISION_QUERY, ()),
    ("GET", "/v2/tasking/feasibility"): (_DECISION_QUERY, ()),
    ("PATCH", "/v2/tasking/feasibility-studies/{id}"): ((), ("acceptedOptionId",)),
    ("GET", "/v2/tasking/quotation"): (_DECISION_QUERY, ()),
    ("PATCH", "/v2/tasking/quotation/{id}"): ((), ("decision",)),
    ("GET", "/v2/coverage/orders/{id}"): ((), ()),
    ("GET", "/v2/assets/stac"): ((), ()),
    ("GET", "/v2/assets/stac/collections"): (("workspace_id", "limit", "token"), ()),
    ("GET", "/v2/assets/stac/collections/{collectionId}/items"): ((), ()),
    ("POST", "/v2/assets/stac/search"): ((), ("filter", "filter-lang")),
    ("POST", "/v2/assets/{assetId}/download-url"): ((), ()),
    ("GET", "/v2/assets/{assetId}"): ((), ()),
    ("GET", "/v2/assets"): (("createdAfter", "createdBefore", "workspaceId", "collectionNames", "producerNames",
                             "tags", "sources", "search") + _PAGE, ()),
    ("GET", "/v2/budgets"): (("status", "includeUsage") + _PAGE, ()),
    ("GET", "/v2/budgets/settings"): ((), ()),
    ("GET", "/v2/budgets/{id}"): (("includeUsage",), ()),
    ("GET", "/v2/budgets/{id}/usage"): ((), ()),
}

_PATTERNS = [
    (method, template, re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"))
    for method, template in ENDPOINTS
    if template not in (TOKEN, USERINFO)
]


def endpoint_of(method: str, path: str) -> Optional[tuple]:
    path = path.rstrip("/") or path  # "/v2/assets/stac/" is how pystac-client (up42-py's stac_client) opens it
    if (method, path) in ENDPOINTS:
        return method, path
    for known_method, template, pattern in _PATTERNS:
        if known_method == method and pattern.match(path):
            return known_method, template
    return None


def first_undocumented(key: tuple, query_names, body) -> Optional[str]:
    """A sentence naming the first query parameter or body member of a request to ``key`` that the page does
    not document, or None."""
    query, members = ENDPOINTS[key]
    for name in query_names:
        if name not in query:
            return f"Unknown query parameter '{name}' for {key[0]} {key[1]}"
    if isinstance(body, dict):
        for name in body:
            if name not in members:
                return f"Unknown field '{name}' in the body of {key[0]} {key[1]}"
        collection = body.get("featureCollection")
        if isinstance(collection, dict):
            for name in collection:
                if name not in ("type", "features"):
                    return f"Unknown field 'featureCollection.{name}'"
            for feature in collection.get("features") or []:
                for name in feature if isinstance(feature, dict) else ():
                    if name not in FEATURE_FIELDS:
                        return f"Unknown field 'featureCollection.features[].{name}'"
    return None
