"""2D WKB read into numpy arrays and written from them, without a QGIS call per geometry.

``read_wkb``/``write_wkb`` are the fast path: one numpy view per ring, whatever its length. ``read_wkb_by_points``
and ``write_wkb_by_points`` are their plain references, a ``struct`` call per position. ``tests/qgis/
test_aoi_fast_paths.py`` shows that both agree, and that what they write is the WKB QGIS itself writes.

Coordinates are GeoJSON-shaped: a point is an array of 2; a line or a ring an (n, 2) array; polygons and
multi-geometries nest lists of those. Only 2D geometries (callers check): Z and M values would be read as
positions.
"""
from __future__ import annotations

import struct
from typing import Any, Tuple

import numpy as np

WKB_NAMES = {1: "Point", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
             6: "MultiPolygon", 7: "GeometryCollection"}
_WKB_CODES = {name: code for code, name in WKB_NAMES.items()}
_WKB_TRIANGLE = 17  # read as the polygon it is: its WKB is a polygon's, one ring of four positions


def read_wkb(buffer) -> Tuple[str, Any]:
    """(GeoJSON type, coordinates with numpy arrays as leaves) of 2D WKB (either byte order)."""
    kind, coords, _pos = _read_wkb_at(buffer, 0)
    return kind, coords


def _kind_at(buffer, pos) -> Tuple[str, str]:
    order = "<" if buffer[pos] == 1 else ">"
    code = struct.unpack_from(order + "I", buffer, pos + 1)[0] % 1000
    kind = WKB_NAMES.get(code, "Polygon" if code == _WKB_TRIANGLE else None)
    if kind is None:
        raise ValueError(f"unsupported WKB type {code}")
    return kind, order


def _read_wkb_at(buffer, pos):
    kind, order = _kind_at(buffer, pos)
    pos += 5
    double = np.dtype(order + "f8")
    if kind == "Point":
        return kind, np.frombuffer(buffer, dtype=double, count=2, offset=pos).astype(float), pos + 16
    if kind == "LineString":
        n = struct.unpack_from(order + "I", buffer, pos)[0]
        arr = np.frombuffer(buffer, dtype=double, count=2 * n, offset=pos + 4).astype(float).reshape(n, 2)
        return kind, arr, pos + 4 + 16 * n
    if kind == "Polygon":
        rings_count = struct.unpack_from(order + "I", buffer, pos)[0]
        pos += 4
        rings = []
        for _ in range(rings_count):
            n = struct.unpack_from(order + "I", buffer, pos)[0]
            rings.append(
                np.frombuffer(buffer, dtype=double, count=2 * n, offset=pos + 4).astype(float).reshape(n, 2)
            )
            pos += 4 + 16 * n
        return kind, rings, pos
    count = struct.unpack_from(order + "I", buffer, pos)[0]
    pos += 4
    parts = []
    for _ in range(count):
        part_kind, coords, pos = _read_wkb_at(buffer, pos)
        parts.append(coords if kind != "GeometryCollection" else (part_kind, coords))
    return kind, parts, pos


def write_wkb(kind: str, coords) -> bytes:
    """Little-endian 2D WKB of a GeoJSON type and its coordinates (numpy arrays or nested lists as leaves)."""
    head = struct.pack("<BI", 1, _WKB_CODES[kind])
    if kind == "Point":
        return head + np.asarray(coords, dtype="<f8").tobytes()
    if kind == "LineString":
        return head + struct.pack("<I", len(coords)) + np.asarray(coords, dtype="<f8").tobytes()
    if kind == "Polygon":
        return head + struct.pack("<I", len(coords)) + b"".join(
            struct.pack("<I", len(r)) + np.asarray(r, dtype="<f8").tobytes() for r in coords
        )
    base = kind[len("Multi"):]
    return head + struct.pack("<I", len(coords)) + b"".join(write_wkb(base, c) for c in coords)


def read_wkb_by_points(buffer) -> Tuple[str, Any]:
    """The plain reference of ``read_wkb``: one ``struct`` call per position, nested lists as leaves."""
    kind, coords, _pos = _read_by_points_at(buffer, 0)
    return kind, coords


def _read_by_points_at(buffer, pos):
    kind, order = _kind_at(buffer, pos)
    pos += 5

    def position(at):
        return list(struct.unpack_from(order + "dd", buffer, at))

    def sequence(at):
        n = struct.unpack_from(order + "I", buffer, at)[0]
        return [position(at + 4 + 16 * i) for i in range(n)], at + 4 + 16 * n

    if kind == "Point":
        return kind, position(pos), pos + 16
    if kind == "LineString":
        line, pos = sequence(pos)
        return kind, line, pos
    count = struct.unpack_from(order + "I", buffer, pos)[0]
    pos += 4
    parts = []
    for _ in range(count):
        if kind == "Polygon":
            ring, pos = sequence(pos)
            parts.append(ring)
        else:
            part_kind, part, pos = _read_by_points_at(buffer, pos)
            parts.append(part if kind != "GeometryCollection" else (part_kind, part))
    return kind, parts, pos


def write_wkb_by_points(kind: str, coords) -> bytes:
    """The plain reference of ``write_wkb``: one ``struct`` call per position."""
    out = [struct.pack("<BI", 1, _WKB_CODES[kind])]

    def sequence(points):
        out.append(struct.pack("<I", len(points)))
        for x, y in points:
            out.append(struct.pack("<dd", float(x), float(y)))

    if kind == "Point":
        out.append(struct.pack("<dd", float(coords[0]), float(coords[1])))
    elif kind == "LineString":
        sequence(coords)
    elif kind == "Polygon":
        out.append(struct.pack("<I", len(coords)))
        for ring in coords:
            sequence(ring)
    else:
        out.append(struct.pack("<I", len(coords)))
        for part in coords:
            out.append(write_wkb_by_points(kind[len("Multi"):], part))
    return b"".join(out)
