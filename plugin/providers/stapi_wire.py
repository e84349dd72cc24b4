"""What the STAPI client may put on the wire: every request field, query parameter and header value the evidence
page (``/work/shared/api/stapi.md``) documents, each with the source the page gives for it.

``StapiProvider`` sends nothing else; ``tests/unit/test_provider_stapi_wire.py`` walks every code path with a
recording session and checks each request here. The sandbox keeps its own copy (it imports nothing from
``plugin/``); a test checks the two agree. Keys are ``(method, path template)`` relative to the connection's
base URL; ``{…}`` is one path segment. ``order_parameters`` is the product's own form (its order-parameters
schema) and ``filter`` a CQL2-JSON expression over its queryables: both are checked against those, not here.
"""
from __future__ import annotations

import re
from typing import Optional

_REF = "stapi-fastapi 0.8.0"
_PYD = "stapi-pydantic 0.1.0"
_PAGING = {"next": f"{_REF} METADATA (README): opaque next token; routers/root_router.py",
           "limit": f"{_REF} METADATA (README): limit, default 10, max 100"}
_SEARCH = {
    "datetime": f"{_PYD} opportunity.py OpportunityPayload; spec docs/spec/opportunity/README.md",
    "geometry": f"{_PYD} opportunity.py OpportunityPayload; spec docs/spec/opportunity/README.md",
    "filter": f"{_PYD} opportunity.py OpportunityPayload (CQL2-JSON)",
    "next": f"{_PYD} opportunity.py OpportunityPayload (token)",
    "limit": f"{_PYD} opportunity.py OpportunityPayload (default 10)",
}
_ORDER = {
    "datetime": f"spec docs/spec/order/README.md; {_PYD} order.py OrderPayload",
    "geometry": f"spec docs/spec/order/README.md; {_PYD} order.py OrderPayload",
    "filter": f"spec docs/spec/order/README.md; {_PYD} order.py OrderPayload (optional)",
    "order_parameters": f"{_PYD} order.py OrderPayload (required by the reference server)",
}
#: The ``Prefer`` values a client may send (any other answers 400 on the reference server).
PREFER_VALUES = {"wait": f"spec docs/spec/opportunity/README.md; {_REF} routers/product_router.py get_prefer",
                 "respond-async": f"spec docs/spec/opportunity/README.md; {_REF} routers/product_router.py"}


def _get(source: str, query: Optional[dict] = None) -> dict:
    return {"source": source, "query": dict(query or {}), "body": {}, "headers": {}}


ENDPOINTS: dict = {
    ("GET", "/"): _get(f"{_REF} routers/root_router.py (landing)"),
    ("GET", "/conformance"): _get(f"{_REF} routers/root_router.py"),
    ("GET", "/products"): _get(f"{_REF} routers/root_router.py", _PAGING),
    ("GET", "/products/{productId}"): _get(f"{_REF} routers/product_router.py"),
    ("GET", "/products/{productId}/conformance"): _get(f"{_REF} routers/product_router.py; spec "
                                                       "docs/spec/product/README.md"),
    ("GET", "/products/{productId}/queryables"): _get(f"{_REF} routers/product_router.py"),
    ("GET", "/products/{productId}/order-parameters"): _get(f"{_REF} routers/product_router.py"),
    ("POST", "/products/{productId}/orders"): {"source": f"{_REF} routers/product_router.py", "query": {},
                                               "body": dict(_ORDER), "headers": {}},
    ("POST", "/products/{productId}/opportunities"): {
        "source": f"{_REF} routers/product_router.py", "query": {}, "body": dict(_SEARCH),
        "headers": {"Prefer": PREFER_VALUES}},
    ("GET", "/products/{productId}/opportunities/{opportunityCollectionId}"): _get(
        f"{_REF} routers/product_router.py (async results)"),
    ("GET", "/orders"): _get(f"{_REF} routers/root_router.py", _PAGING),
    ("GET", "/orders/{orderId}"): _get(f"{_REF} routers/root_router.py"),
    ("GET", "/orders/{orderId}/statuses"): _get(f"{_REF} routers/root_router.py; spec docs/conformances/"
                                                "extensions/order-statuses/README.md", _PAGING),
    ("GET", "/searches/opportunities"): _get(f"{_REF} routers/root_router.py", _PAGING),
    ("GET", "/searches/opportunities/{searchRecordId}"): _get(f"{_REF} routers/root_router.py"),
    ("GET", "/searches/opportunities/{searchRecordId}/statuses"): _get(f"{_REF} routers/root_router.py"),
}

_PATTERNS = [(method, template, re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"))
             for method, template in ENDPOINTS]


def endpoint_of(method: str, path: str) -> Optional[tuple]:
    """The (method, template) a request to ``path`` (relative to the base URL) falls under, or None."""
    method = method.upper()
    path = path if path == "/" else path.rstrip("/")
    if (method, path) in ENDPOINTS:
        return method, path
    for known_method, template, pattern in _PATTERNS:
        if known_method == method and pattern.match(path):
            return known_method, template
    return None


def undocumented(method: str, path: str, query_names, body, headers: Optional[dict] = None) -> list:
    """Sentences naming whatever of one request the page does not document (empty: all documented)."""
    key = endpoint_of(method, path)
    if key is None:
        return [f"{method} {path} is not a documented endpoint"]
    allowed = ENDPOINTS[key]
    problems = [f"query parameter {name!r} of {method} {key[1]}" for name in query_names
                if name not in allowed["query"]]
    if isinstance(body, dict):
        problems += [f"body field {name!r} of {method} {key[1]}" for name in body if name not in allowed["body"]]
        problems += [f"body field {name!r} of {method} {key[1]} is null (leave it out)" for name, value in body.items()
                     if value is None and name in allowed["body"]]
    elif body is not None:
        problems.append(f"{method} {key[1]} sent a body that is not a JSON object")
    for name, value in (headers or {}).items():
        if name.lower() == "prefer":
            if "Prefer" not in allowed["headers"]:
                problems.append(f"header Prefer on {method} {key[1]}")
            elif value not in allowed["headers"]["Prefer"]:
                problems.append(f"Prefer: {value!r} on {method} {key[1]}")
    return problems
