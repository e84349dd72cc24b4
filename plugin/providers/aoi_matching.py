"""Which existing order belongs to which AOI of a draft, by geometry.

Providers that cannot label each order with its AOI (a UP42 batch carries one tag for all
its features; STAPI orders have no name) recognise their orders by what they cover: the
rounded coordinates first, then the geometry type and bounding box, which survive a server
re-ordering rings or vertices. Among AOIs with the same geometry, the oldest order goes to
the lowest index (callers pass orders oldest first).
"""
from __future__ import annotations

from typing import Iterator


def aoi_geometry(aoi) -> dict:
    """The GeoJSON geometry of an AOI (a model.Aoi, a saved-draft dict, or a bare geometry)."""
    if hasattr(aoi, "geometry"):
        return aoi.geometry
    if isinstance(aoi, dict) and "geometry" in aoi and "type" not in aoi:
        return aoi["geometry"]
    return aoi


def _rounded(value, digits: int = 7):
    if isinstance(value, (list, tuple)):
        return tuple(_rounded(v, digits) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(float(value), digits)
    return value


def _positions(coordinates) -> Iterator[tuple]:
    if isinstance(coordinates, (list, tuple)) and coordinates and isinstance(coordinates[0], (int, float)):
        yield tuple(coordinates[:2])
        return
    if not isinstance(coordinates, (list, tuple)):
        return  # a garbled geometry has no positions
    for part in coordinates:
        yield from _positions(part)


def geometry_keys(geometry) -> tuple:
    """(exact key, loose key) identifying a geometry: its rounded coordinates, and its type plus
    rounded bounding box."""
    if not isinstance(geometry, dict):
        return None, None
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    exact = (kind, _rounded(coordinates))
    points = list(_positions(coordinates))
    if not points:
        return exact, None
    xs = [p[0] for p in points if isinstance(p[0], (int, float))]
    ys = [p[1] for p in points if len(p) > 1 and isinstance(p[1], (int, float))]
    if not xs or not ys:
        return exact, None
    loose = (kind, _rounded((min(xs), min(ys), max(xs), max(ys)), 6))
    return exact, loose


def match_orders_to_aois(orders, aois) -> tuple:
    """({AOI index: order}, [orders matching no AOI]) for ``orders`` given oldest first."""
    keys = [geometry_keys(aoi_geometry(aoi)) for aoi in aois]
    matched: dict = {}
    inexact = []
    for order in orders:
        exact, _ = geometry_keys(order.geometry)
        index = next((i for i, key in enumerate(keys) if key[0] == exact and i not in matched), None)
        if index is None:
            inexact.append(order)
        else:
            matched[index] = order
    unmatched = []
    for order in inexact:
        _, loose = geometry_keys(order.geometry)
        index = next((i for i, key in enumerate(keys)
                      if loose is not None and key[1] == loose and i not in matched), None)
        if index is None:
            unmatched.append(order)
        else:
            matched[index] = order
    return matched, unmatched
