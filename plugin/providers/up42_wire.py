"""What the UP42 client may put on the wire: every request field and query parameter the evidence page
(``/work/shared/api/up42.md``) documents, each with the source the page gives for it.

``Up42Provider`` sends nothing else; ``tests/unit/test_provider_up42_wire.py`` walks every code path of the
provider with a recording session and checks each request against these tables. The sandbox keeps its own
copy (it imports nothing from ``plugin/``); a test checks the two agree.

Keys are ``(method, path template)``; ``{…}`` is one path segment. ``TOKEN`` and ``USERINFO`` stand for the
addresses on the authentication host. Body entries are top-level JSON member names (the token request is a
form); ``FEATURE_FIELDS`` lists the members of each feature of a ``featureCollection``. ``params`` of an order
is the product's own order form (``GET /orders/schema/{id}``) and is checked against that schema instead.
"""
from __future__ import annotations

import re
from typing import Optional

TOKEN = "TOKEN"  # nosec B105  # the token endpoint's name in these tables, not a token
USERINFO = "USERINFO"

_SDK = "up42-py 4.3.0"
_PAGING = "docs.up42.com developers/api-orders/monitor; docs.up42.com developers/api-tasking/activate (Spring paging)"
_PAGE = {"page": _PAGING, "size": _PAGING, "sort": _PAGING}
_ORDER_BODY = {
    "dataProduct": "developer.sa.up42.com reference createv2orderunderworkspace",
    "displayName": "developer.sa.up42.com reference createv2orderunderworkspace",
    "params": "developer.sa.up42.com reference createv2orderunderworkspace",
    "featureCollection": "developer.sa.up42.com reference createv2orderunderworkspace",
    "tags": "developer.sa.up42.com reference createv2orderunderworkspace",
    "budgetId": f"{_SDK} up42/order_template.py",
}
#: Members of each feature in ``featureCollection.features`` (a GeoJSON Feature, as the SDK's geojson builds it).
FEATURE_FIELDS = {
    "type": "developer.sa.up42.com reference createv2orderunderworkspace (GeoJSON FeatureCollection)",
    "geometry": "developer.sa.up42.com reference createv2orderunderworkspace; up42-py 4.3.0 up42/order_template.py",
    "properties": "RFC 7946 §3.2 (a Feature has a properties member); up42-py 4.3.0 geojson.Feature",
}
_DECISION_QUERY = {
    "id": "docs.up42.com developers/api-tasking/feasibility; up42-py 4.3.0 up42/tasking.py",
    "workspaceId": "docs.up42.com developers/api-tasking/feasibility; up42-py 4.3.0 up42/tasking.py",
    "orderId": "docs.up42.com developers/api-tasking/feasibility; up42-py 4.3.0 up42/tasking.py",
    "decision": "docs.up42.com developers/api-tasking/activate; up42-py 4.3.0 up42/tasking.py",
    **_PAGE,
}

#: The rule for each order's ``tags`` (POST /v2/orders body, PATCH /v2/orders/{id}, the ``tags`` filter of
#: GET /v2/orders): at most 30 tags of letters, digits, spaces and ``. - _ / :``
#: [developer.sa.up42.com reference createv2orderunderworkspace]. "Letters" is read as ASCII letters (the
#: conservative reading: a wider alphabet is not shown by any source). No length limit per tag is documented.
MAX_TAGS = 30
TAG_PATTERN = re.compile(r"[A-Za-z0-9 ._/:-]+")
TAGS_SOURCE = "developer.sa.up42.com reference createv2orderunderworkspace"


def is_tag(value) -> bool:
    """Whether ``value`` may be one of an order's UP42 tags."""
    return isinstance(value, str) and TAG_PATTERN.fullmatch(value) is not None


#: (method, path template) -> {"query": {name: source}, "body": {name: source}, "source": source of the endpoint}
ENDPOINTS: dict = {
    ("POST", TOKEN): {
        "source": f"{_SDK} up42/host.py, up42/http/oauth.py",
        "query": {},
        "body": {name: f"{_SDK} up42/http/oauth.py" for name in
                 ("grant_type", "username", "password", "client_id", "scope")},
    },
    ("GET", USERINFO): {"source": f"{_SDK} up42/host.py, up42/base.py", "query": {}, "body": {}},
    ("GET", "/v2/collections"): {
        "source": "developer.sa.up42.com openapi: listCollectionsV2",
        "query": {"integrations": "developer.sa.up42.com openapi: listCollectionsV2",
                  "type": "developer.sa.up42.com openapi: listCollectionsV2", **_PAGE},
        "body": {},
    },
    ("GET", "/v2/collections/{name}"): {"source": "developer.sa.up42.com openapi: getCollectionV2",
                                        "query": {}, "body": {}},
    ("GET", "/orders/schema/{dataProductId}"): {"source": f"{_SDK} up42/glossary.py DataProduct.schema",
                                                "query": {}, "body": {}},
    ("POST", "/v2/orders/estimate"): {"source": f"{_SDK} up42/order_template.py", "query": {},
                                      "body": dict(_ORDER_BODY)},
    ("POST", "/v2/orders"): {
        "source": "developer.sa.up42.com reference createv2orderunderworkspace",
        "query": {"workspaceId": "developer.sa.up42.com reference createv2orderunderworkspace; "
                                 f"{_SDK} up42/order_template.py"},
        "body": dict(_ORDER_BODY),
    },
    ("GET", "/v2/orders"): {
        "source": "docs.up42.com developers/api-orders/monitor",
        "query": {**{name: "docs.up42.com developers/api-orders/monitor"
                     for name in ("workspaceId", "type", "status", "displayName", "tags")},
                  **{name: f"{_SDK} up42/order.py Order.all" for name in ("subStatus", "budgetIds", "orderIds")},
                  **_PAGE},
        "body": {},
    },
    ("GET", "/v2/orders/{id}"): {"source": f"{_SDK} up42/order.py", "query": {}, "body": {}},
    ("PATCH", "/v2/orders/{id}"): {"source": f"{_SDK} up42/order.py Order.update", "query": {},
                                   "body": {"tags": f"{_SDK} up42/order.py Order.update",
                                            "budgetId": f"{_SDK} up42/order.py Order.update"}},
    ("POST", "/v2/orders/{id}/cancellation"): {"source": f"{_SDK} up42/order.py Order.cancel", "query": {},
                                               "body": {}},
    ("GET", "/v2/tasking/feasibility-studies"): {"source": f"{_SDK} up42/tasking.py", "query": dict(_DECISION_QUERY),
                                                 "body": {}},
    ("GET", "/v2/tasking/feasibility"): {
        "source": "docs.up42.com developers/api-tasking/feasibility (the docs' path; read only when "
                  "/v2/tasking/feasibility-studies answers 404, the page's conservative reading)",
        "query": dict(_DECISION_QUERY), "body": {}},
    ("PATCH", "/v2/tasking/feasibility-studies/{id}"): {
        "source": f"{_SDK} up42/tasking.py", "query": {},
        "body": {"acceptedOptionId": f"{_SDK} up42/tasking.py FeasibilityStudy.save"}},
    ("GET", "/v2/tasking/quotation"): {"source": "docs.up42.com developers/api-tasking/activate",
                                       "query": dict(_DECISION_QUERY), "body": {}},
    ("PATCH", "/v2/tasking/quotation/{id}"): {
        "source": f"{_SDK} up42/tasking.py", "query": {},
        "body": {"decision": f"{_SDK} up42/tasking.py Quotation.save"}},
    ("GET", "/v2/coverage/orders/{id}"): {"source": f"{_SDK} up42/tasking.py OrderCoverage", "query": {},
                                          "body": {}},
    ("GET", "/v2/assets/stac"): {"source": "docs.up42.com developers/api-assets/stac-catalog", "query": {},
                                 "body": {}},
    ("GET", "/v2/assets/stac/collections"): {
        "source": "docs.up42.com developers/api-assets/stac-collections",
        "query": {name: "docs.up42.com developers/api-assets/stac-collections"
                  for name in ("workspace_id", "limit", "token")},
        "body": {},
    },
    ("GET", "/v2/assets/stac/collections/{collectionId}/items"): {
        # The workspace's collections and their items, matched on up42-order:id, when the search fails.
        "source": "docs.up42.com developers/api-assets/stac-collections; up42-py 4.3.0 up42/stac.py "
                  "BulkDeletion (collection items)",
        "query": {}, "body": {}},
    ("POST", "/v2/assets/stac/search"): {
        "source": "docs.up42.com developers/api-assets/stac-catalog; …/stac-items-search",
        "query": {},
        "body": {"filter": "docs.up42.com developers/api-assets/stac-items-search (CQL2 filter on order_id)",
                 "filter-lang": "up42.md conservative reading of the STAC search body (cql2-json)"},
    },
    ("POST", "/v2/assets/{assetId}/download-url"): {"source": f"{_SDK} up42/stac.py FileProvider", "query": {},
                                                    "body": {}},
    ("GET", "/v2/assets/{assetId}"): {"source": "docs.up42.com developers/api-assets/download", "query": {},
                                      "body": {}},
    ("GET", "/v2/assets"): {
        "source": "docs.up42.com developers/api-assets/manage (legacy listing)",
        "query": {**{name: "docs.up42.com developers/api-assets/manage"
                     for name in ("createdAfter", "createdBefore", "workspaceId", "collectionNames", "producerNames",
                                  "tags", "sources", "search")}, **_PAGE},
        "body": {},
    },
    ("GET", "/v2/budgets"): {
        "source": f"{_SDK} up42/budgets.py",
        "query": {"status": f"{_SDK} up42/budgets.py", "includeUsage": f"{_SDK} up42/budgets.py", **_PAGE},
        "body": {},
    },
    ("GET", "/v2/budgets/settings"): {"source": f"{_SDK} up42/budgets.py", "query": {}, "body": {}},
    ("GET", "/v2/budgets/{id}"): {"source": f"{_SDK} up42/budgets.py",
                                  "query": {"includeUsage": f"{_SDK} up42/budgets.py"}, "body": {}},
    ("GET", "/v2/budgets/{id}/usage"): {"source": f"{_SDK} up42/budgets.py", "query": {}, "body": {}},
}


def _pattern(template: str):
    if template in (TOKEN, USERINFO):
        return None
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


_PATTERNS = [(method, template, _pattern(template)) for method, template in ENDPOINTS]


def endpoint_of(method: str, path: str) -> Optional[tuple]:
    """The (method, template) key a request to ``path`` (relative to the API base) falls under, or None.
    Literal templates win over templated ones (``/v2/budgets/settings`` before ``/v2/budgets/{id}``)."""
    method = method.upper()
    path = path.rstrip("/") or path  # "/v2/assets/stac/" is how pystac-client (up42-py's stac_client) opens it
    if (method, path) in ENDPOINTS:
        return method, path
    for known_method, template, pattern in _PATTERNS:
        if known_method == method and pattern is not None and pattern.match(path):
            return known_method, template
    return None


def undocumented(method: str, path: str, query_names, body) -> list:
    """Sentences naming whatever of one request the page does not document (empty: all documented)."""
    key = endpoint_of(method, path)
    if key is None:
        return [f"{method} {path} is not a documented endpoint"]
    allowed = ENDPOINTS[key]
    problems = [f"query parameter {name!r} of {method} {key[1]}" for name in query_names
                if name not in allowed["query"]]
    if isinstance(body, dict):
        problems += [f"body field {name!r} of {method} {key[1]}" for name in body if name not in allowed["body"]]
        collection = body.get("featureCollection")
        if isinstance(collection, dict):
            problems += [f"featureCollection member {name!r}" for name in collection
                         if name not in ("type", "features")]
            for feature in collection.get("features") or []:
                problems += [f"feature member {name!r}" for name in feature if name not in FEATURE_FIELDS]
    elif body is not None:
        problems.append(f"{method} {key[1]} sent a body that is not a JSON object or form")
    return problems
