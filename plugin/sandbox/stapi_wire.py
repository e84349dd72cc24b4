"""The request fields, query parameters and ``Prefer`` values the STAPI evidence page (``/work/shared/api/stapi.md``)
documents, per endpoint: the STAPI dialect answers 400 naming anything else. Sources are in the plugin's copy,
``plugin/providers/stapi_wire.py`` (the sandbox imports nothing from ``plugin/``); a test checks both agree.
"""
from __future__ import annotations

import re
from typing import Optional

_PAGING = ("next", "limit")
PREFER_VALUES = frozenset({"wait", "respond-async"})

#: (method, path template) -> (query parameter names, body member names, takes a Prefer header)
ENDPOINTS = {
    ("GET", "/"): ((), (), False),
    ("GET", "/conformance"): ((), (), False),
    ("GET", "/products"): (_PAGING, (), False),
    ("GET", "/products/{productId}"): ((), (), False),
    ("GET", "/products/{productId}/conformance"): ((), (), False),
    ("GET", "/products/{productId}/queryables"): ((), (), False),
    ("GET", "/products/{productId}/order-parameters"): ((), (), False),
    ("POST", "/products/{productId}/orders"): ((), ("datetime", "geometry", "filter", "order_parameters"), False),
    ("POST", "/products/{productId}/opportunities"): ((), ("datetime", "geometry", "filter", "next", "limit"), True),
    ("GET", "/products/{productId}/opportunities/{opportunityCollectionId}"): ((), (), False),
    ("GET", "/orders"): (_PAGING, (), False),
    ("GET", "/orders/{orderId}"): ((), (), False),
    ("GET", "/orders/{orderId}/statuses"): (_PAGING, (), False),
    ("GET", "/searches/opportunities"): (_PAGING, (), False),
    ("GET", "/searches/opportunities/{searchRecordId}"): ((), (), False),
    ("GET", "/searches/opportunities/{searchRecordId}/statuses"): ((), (), False),
}

_PATTERNS = [(method, template, re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"))
             for method, template in ENDPOINTS]


def endpoint_of(method: str, path: str) -> Optional[tuple]:
    path = path if path in ("", "/") else path.rstrip("/")
    path = path or "/"
    if (method, path) in ENDPOINTS:
        return method, path
    for known_method, template, pattern in _PATTERNS:
        if known_method == method and pattern.match(path):
            return known_method, template
    return None


def first_undocumented(key: tuple, query_names, body, prefer: Optional[str]) -> Optional[str]:
    query, members, takes_prefer = ENDPOINTS[key]
    for name in query_names:
        if name not in query:
            return f"Unknown query parameter '{name}' for {key[0]} {key[1]}"
    if isinstance(body, dict):
        for name in body:
            if name not in members:
                return f"Unknown field '{name}' in the body of {key[0]} {key[1]}"
    if prefer is not None and (not takes_prefer or prefer not in PREFER_VALUES):
        return f"Invalid Prefer header value: {prefer}"
    return None
