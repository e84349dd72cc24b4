"""Rings measured many at a time: the vectorised core of the AOI fast lane.

``simple_ring_areas`` is the fast path: for thousands of closed lon/lat rings stored end to end it says, with a few
numpy passes over all of them, which are fit for the lane, which are provably simple (star-shaped about their
bounding box's centre) and their signed area on the WGS84 ellipsoid (a second-order expansion about the centroid's
latitude). Its plain references are ``ring_signed_area_m2`` (one ring at a time, an exact quadrature of each edge)
for the area and GEOS (``QgsGeometry.isSimple``) for simplicity. ``tests/qgis/test_aoi_fast_paths.py`` shows that
they agree.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

# WGS84 ellipsoid
_A = 6378137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)
_E = math.sqrt(_E2)


class RingWorkArrays:
    """Work arrays for ``simple_ring_areas`` over up to ``points`` positions, reused from batch to batch.

    Large arrays allocated afresh often come as memory the kernel has yet to hand over, a page fault
    per 4 KiB (slow in a virtual machine): with a new array for every step of every batch that cost
    more than the arithmetic.
    """

    def __init__(self, points: int):
        self.points = points
        self.x = np.empty(points)
        self.y = np.empty(points)
        self.shift = np.empty(points)
        self.cross = np.empty(points)
        self.pair = np.empty(points)
        self.weighted = np.empty(points)
        self.ring_of = np.empty(points, dtype=np.intp)
        self.north = np.empty(points, dtype=bool)
        self.changes = np.empty(points, dtype=bool)


def authalic_integral(sin_lat):
    """∫ area per radian of longitude from the equator to latitude φ on WGS84 (m²)."""
    es = _E * sin_lat
    return _A * _A * (1 - _E2) / 2 * (sin_lat / (1 - es * es) + np.arctanh(es) / _E)


# Gauss–Legendre nodes and weights on [0, 1]: exact for the smooth F(φ) along any edge we meet
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(6)
_GL_NODES = (_GL_NODES + 1) / 2
_GL_WEIGHTS = _GL_WEIGHTS / 2


def ring_signed_area_m2(ring) -> float:
    """Area of a ring whose edges are straight in lon/lat (as GeoJSON's are), counterclockwise > 0.

    ∮ F(φ) dλ with F the area from the equator per radian of longitude; along an edge φ is linear
    in λ, so each edge's integral is a one-dimensional quadrature.
    """
    ring = np.asarray(ring, dtype=float)
    if len(ring) < 3:
        return 0.0
    if np.any(ring[0] != ring[-1]):
        ring = np.vstack([ring, ring[:1]])
    lam = np.radians(ring[:, 0])
    phi = np.radians(ring[:, 1])
    d_lam = lam[1:] - lam[:-1]
    d_phi = phi[1:] - phi[:-1]
    nodes = phi[:-1, None] + d_phi[:, None] * _GL_NODES[None, :]
    mean_f = authalic_integral(np.sin(nodes)) @ _GL_WEIGHTS
    # subtracting F at the first vertex keeps the large terms from swamping a small area
    reference = authalic_integral(np.sin(phi[0]))
    return float(-(d_lam * (mean_f - reference)).sum())


def wgs84_area_density(phi):
    """dA/(dλ dφ) on WGS84 at latitude φ (m² per rad²)."""
    s = np.sin(phi)
    return _A * _A * (1 - _E2) * np.cos(phi) / (1 - _E2 * s * s) ** 2


def simple_ring_areas(xy, starts, counts, scratch: Optional[RingWorkArrays] = None):
    """For closed rings stored end to end in ``xy`` (lon/lat): (fit, proved simple, signed area in m²).

    Fit: finite, closed, inside ±180°/±90°, at most 2° tall (for the area's accuracy).

    Simple: the ring is star-shaped around its bounding box's centre. Each edge turns the same way around
    that centre by less than half a turn (cross products of one sign) and the ring goes round
    exactly once (two sign changes of y - centre): the edges then sweep disjoint wedges and cannot
    meet except at shared vertices. False only means "not proven": such rings go to GEOS.

    Area: ∫∫ F'(φ) dλ dφ over the ring with F' the ellipsoid's area density, expanded to second
    order around the centroid latitude (the first-order term vanishes there); the moments come from
    the same cross products. Rings taller than 2° of latitude are left to the exact general path,
    which keeps the error of the expansion below about 1e-6.

    ``scratch`` holds the work arrays (``RingWorkArrays``, new ones when it is missing or too small). Each ring's
    results depend on its own positions only, not on the rings batched with it.
    """
    size = len(xy)
    if scratch is None or scratch.points < size:
        scratch = RingWorkArrays(size)
    # per-edge arrays hold the edge from position i to i + 1 at index i; at each ring's last
    # position (no edge starts there) they hold a neutral value, so that every ring sums the same
    # terms wherever it sits in the batch, and a neighbour's NaN or infinity never reaches it
    ends = starts + counts - 1
    lon, lat = xy[:, 0], xy[:, 1]
    xmin = np.minimum.reduceat(lon, starts)  # NaN propagates, and fails every comparison below
    xmax = np.maximum.reduceat(lon, starts)
    ymin = np.minimum.reduceat(lat, starts)
    ymax = np.maximum.reduceat(lat, starts)
    ok = (xmin >= -180) & (xmax <= 180) & (xmax - xmin <= 180)
    ok &= (ymin > -90) & (ymax < 90) & (ymax - ymin <= 2.0)
    ok &= (lon[starts] == lon[ends]) & (lat[starts] == lat[ends]) & (counts >= 4)
    cy = (ymin + ymax) / 2
    # positions about their ring's bounding-box centre, one contiguous column each (in the scratch
    # arrays): every pass below is a plain vector loop
    ring_of = scratch.ring_of[:size]
    ring_of.fill(0)
    ring_of[starts[1:]] = 1
    np.cumsum(ring_of, out=ring_of)
    shift = scratch.shift[:size]
    rx = np.subtract(lon, np.take((xmin + xmax) / 2, ring_of, out=shift), out=scratch.x[:size])
    ry = np.subtract(lat, np.take(cy, ring_of, out=shift), out=scratch.y[:size])
    cross = scratch.cross[:size]
    np.multiply(rx[:-1], ry[1:], out=cross[:-1])
    cross[:-1] -= np.multiply(ry[:-1], rx[1:], out=shift[:-1])
    cross[ends] = np.nan  # fmin/fmax skip it
    cmin = np.fmin.reduceat(cross, starts)
    cmax = np.fmax.reduceat(cross, starts)
    cross[ends] = 0.0
    span = np.maximum(xmax - xmin, ymax - ymin)
    threshold = 1e-12 * span * span
    star = (cmin > threshold) | (cmax < -threshold)
    north = np.greater_equal(ry, 0, out=scratch.north[:size])
    changes = scratch.changes[:size]
    np.not_equal(north[1:], north[:-1], out=changes[:-1])
    changes[ends] = False
    star &= np.add.reduceat(changes, starts, dtype=np.int64) == 2
    # planar moments (degrees, about the bbox centre) from the shoelace terms
    twice_area = np.add.reduceat(cross, starts)
    pair = scratch.pair[:size]
    np.add(ry[:-1], ry[1:], out=pair[:-1])
    pair[ends] = 0.0
    product = shift
    np.multiply(ry[:-1], ry[1:], out=product[:-1])
    product[ends] = 0.0
    first = np.add.reduceat(np.multiply(pair, cross, out=scratch.weighted[:size]), starts)  # 6 · ∫∫ y dA
    pair *= pair
    pair -= product  # y_i² + y_i·y_j + y_j²
    pair *= cross
    second = np.add.reduceat(pair, starts)  # 12 · ∫∫ y² dA
    with np.errstate(invalid="ignore", divide="ignore"):
        planar = twice_area / 2
        dy = first / (6 * planar)  # centroid latitude − centre, degrees
        about_centroid = second / 12 - planar * dy * dy  # ∫∫ (y − y_c)² dA, degrees⁴
        to_rad = math.pi / 180
        phi = (cy + dy) * to_rad
        h = 1e-3
        below, density, above = wgs84_area_density(np.stack([phi - h, phi, phi + h]))
        curvature = (above - 2 * density + below) / (h * h)
        signed = density * planar * to_rad**2 + curvature / 2 * about_centroid * to_rad**4
    ok &= np.isfinite(signed)
    return ok, star, signed
