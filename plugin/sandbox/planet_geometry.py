"""Small spherical-earth geometry for the Planet sandbox dialect: validation, point buffers, strips, areas.

Accuracy is that of a local equirectangular projection around the shape (well under 1 % for shapes of a few
hundred kilometres), which is all a simulator needs. Standard library only.
"""
from __future__ import annotations

import functools
import math
from typing import List, Optional, Sequence, Tuple

KM_PER_DEGREE = math.pi / 180.0 * 6371.0088
POINT_BUFFER_KM = 2.0
POINT_BUFFER_SEGMENTS = 32
STRIP_WIDTH_KM = 5.0
STRIP_MAX_LENGTH_KM = 100.0
COORDINATE_DIGITS = 6

Position = Tuple[float, float]


class GeometryError(ValueError):
    """A geometry the service refuses; the message is shown to the user under the ``geometry`` field."""


def _position(value) -> Position:
    if (
        not isinstance(value, (list, tuple))
        or len(value) < 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value[:2])
    ):
        raise GeometryError("Each position must be an array of numbers [longitude, latitude].")
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise GeometryError(f"Position [{value[0]}, {value[1]}] is outside longitude -180..180 / latitude -90..90.")
    return lon, lat


def _ring(value) -> List[Position]:
    if not isinstance(value, list) or len(value) < 4:
        raise GeometryError("A polygon ring needs at least 4 positions.")
    ring = [_position(p) for p in value]
    if ring[0] != ring[-1]:
        raise GeometryError("A polygon ring must be closed: its first and last positions must be equal.")
    if len(set(ring)) < 3:
        raise GeometryError("A polygon ring needs at least 3 distinct positions.")
    return ring


def parse_geometry(value) -> dict:
    """Check a GeoJSON Point, LineString or Polygon; return it with float coordinates. Raise GeometryError."""
    if not isinstance(value, dict):
        raise GeometryError("Expected a GeoJSON geometry object.")
    kind = value.get("type")
    coordinates = value.get("coordinates")
    if kind not in ("Point", "LineString", "Polygon"):
        raise GeometryError(f"Unsupported geometry type {kind!r}: use Point, LineString or Polygon.")
    if coordinates is None:
        raise GeometryError("The geometry has no coordinates.")
    if kind == "Point":
        return {"type": "Point", "coordinates": list(_position(coordinates))}
    if kind == "LineString":
        if not isinstance(coordinates, list) or len(coordinates) < 2:
            raise GeometryError("A LineString needs at least 2 positions.")
        line = [_position(p) for p in coordinates]
        if len(set(line)) < 2:
            raise GeometryError("A LineString needs at least 2 distinct positions.")
        return {"type": "LineString", "coordinates": [list(p) for p in line]}
    if not isinstance(coordinates, list) or not coordinates:
        raise GeometryError("A Polygon needs at least one ring.")
    rings = [_ring(r) for r in coordinates]
    if polygon_area_sqkm(rings) <= 0.0:
        raise GeometryError("The polygon has no area.")
    return {"type": "Polygon", "coordinates": [[list(p) for p in r] for r in rings]}


def _projector(positions: Sequence[Position]):
    lon0 = sum(p[0] for p in positions) / len(positions)
    lat0 = sum(p[1] for p in positions) / len(positions)
    kx = KM_PER_DEGREE * max(math.cos(math.radians(lat0)), 1e-6)

    def forward(p: Position) -> Tuple[float, float]:
        return (p[0] - lon0) * kx, (p[1] - lat0) * KM_PER_DEGREE

    def backward(x: float, y: float) -> List[float]:
        lon = max(-180.0, min(180.0, lon0 + x / kx))
        lat = max(-90.0, min(90.0, lat0 + y / KM_PER_DEGREE))
        return [round(lon, COORDINATE_DIGITS), round(lat, COORDINATE_DIGITS)]

    return forward, backward


def _ring_area(points: Sequence[Tuple[float, float]]) -> float:
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        total += x1 * y2 - x2 * y1
    return total / 2.0


def polygon_area_sqkm(rings: Sequence[Sequence[Sequence[float]]]) -> float:
    """Area of a polygon (outer ring minus holes) in square kilometres."""
    outer = [tuple(p[:2]) for p in rings[0]]
    forward, _ = _projector(outer)
    area = abs(_ring_area([forward(p) for p in outer]))
    for hole in rings[1:]:
        area -= abs(_ring_area([forward(tuple(p[:2])) for p in hole]))
    return max(area, 0.0)


def geometry_area_sqkm(geometry: dict) -> float:
    if geometry["type"] != "Polygon":
        return 0.0
    return polygon_area_sqkm(geometry["coordinates"])


def line_length_km(line: Sequence[Sequence[float]]) -> float:
    forward, _ = _projector([tuple(p[:2]) for p in line])
    xy = [forward(tuple(p[:2])) for p in line]
    return sum(math.hypot(x2 - x1, y2 - y1) for (x1, y1), (x2, y2) in zip(xy, xy[1:]))


@functools.lru_cache(maxsize=8)
def _unit_circle(segments: int) -> tuple:
    return tuple((math.cos(2 * math.pi * i / segments), math.sin(2 * math.pi * i / segments))
                 for i in range(segments))


def point_buffer(position: Sequence[float], radius_km: float = POINT_BUFFER_KM,
                 segments: int = POINT_BUFFER_SEGMENTS) -> dict:
    """A counter-clockwise polygon approximating a circle of ``radius_km`` around the point."""
    lon0, lat0 = float(position[0]), float(position[1])
    dx = radius_km / (KM_PER_DEGREE * max(math.cos(math.radians(lat0)), 1e-6))
    dy = radius_km / KM_PER_DEGREE
    ring = [
        [round(max(-180.0, min(180.0, lon0 + dx * c)), COORDINATE_DIGITS),
         round(max(-90.0, min(90.0, lat0 + dy * s)), COORDINATE_DIGITS)]
        for c, s in _unit_circle(segments)
    ]
    ring.append(list(ring[0]))
    return {"type": "Polygon", "coordinates": [ring]}


def strip_polygon(line: Sequence[Sequence[float]], width_km: float = STRIP_WIDTH_KM,
                  max_length_km: float = STRIP_MAX_LENGTH_KM) -> dict:
    """The ``width_km`` wide strip along a line (mitred joints, flat ends). Raise GeometryError when too long."""
    length = line_length_km(line)
    if length > max_length_km:
        raise GeometryError(
            f"The strip is {length:.1f} km long; a strip order may be at most {max_length_km:.0f} km long."
        )
    positions = [tuple(p[:2]) for p in line]
    forward, backward = _projector(positions)
    xy = []
    for p in positions:
        q = forward(p)
        if not xy or q != xy[-1]:
            xy.append(q)
    half = width_km / 2.0
    units = []
    for (x1, y1), (x2, y2) in zip(xy, xy[1:]):
        d = math.hypot(x2 - x1, y2 - y1)
        units.append(((x2 - x1) / d, (y2 - y1) / d))
    left, right = [], []
    for i, (x, y) in enumerate(xy):
        before = units[i - 1] if i > 0 else units[0]
        after = units[i] if i < len(units) else units[-1]
        nx, ny = -(before[1] + after[1]), before[0] + after[0]
        norm = math.hypot(nx, ny)
        if norm < 1e-9:  # the line turns back on itself: fall back to the incoming segment's normal
            nx, ny, norm = -before[1], before[0], 1.0
        nx, ny = nx / norm, ny / norm
        # Mitre length grows as the turn sharpens; cap it so a hairpin does not shoot off to infinity.
        cos_half = max(nx * -before[1] + ny * before[0], 0.25)
        scale = half / cos_half
        left.append(backward(x + nx * scale, y + ny * scale))
        right.append(backward(x - nx * scale, y - ny * scale))
    ring = right + left[::-1]
    ring.append(list(ring[0]))
    return {"type": "Polygon", "coordinates": [ring]}


def bbox(geometry: dict) -> Tuple[float, float, float, float]:
    coords = geometry["coordinates"]
    if geometry["type"] == "Point":
        points = [coords]
    elif geometry["type"] == "LineString":
        points = coords
    else:
        points = [p for ring in coords for p in ring]
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return min(lons), min(lats), max(lons), max(lats)


def footprint(geometry: dict, shift_x: float, shift_y: float, grow: float,
              min_size_deg: Optional[float] = None) -> dict:
    """A rectangle around the geometry's bounding box, shifted by a fraction of its size and grown by ``grow``.

    Stands in for the area a satellite actually imaged: near the order's geometry but never exactly on it.
    """
    west, south, east, north = bbox(geometry)
    width, height = east - west, north - south
    if min_size_deg:
        width, height = max(width, min_size_deg), max(height, min_size_deg)
    cx = (west + east) / 2 + shift_x * width
    cy = (south + north) / 2 + shift_y * height
    hw, hh = width * (1 + grow) / 2, height * (1 + grow) / 2

    def clamp(lon: float, lat: float) -> List[float]:
        return [round(max(-180.0, min(180.0, lon)), COORDINATE_DIGITS),
                round(max(-90.0, min(90.0, lat)), COORDINATE_DIGITS)]

    ring = [clamp(cx - hw, cy - hh), clamp(cx + hw, cy - hh), clamp(cx + hw, cy + hh), clamp(cx - hw, cy + hh)]
    ring.append(list(ring[0]))
    return {"type": "Polygon", "coordinates": [ring]}
