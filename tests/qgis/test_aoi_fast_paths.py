"""The AOI lane's fast paths (plugin/fast) agree with the plain references beside them, and with QGIS."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qgis.core import QgsGeometry
from qgis.PyQt.QtGui import QPolygonF

from satellite_tasking.plugin.fast.polygon_memory import (
    POINTS_ARE_TWO_DOUBLES,
    copy_point_bytes,
    read_points,
    read_points_one_by_one,
    write_points,
    write_points_one_by_one,
)
from satellite_tasking.plugin.fast.wkb_arrays import read_wkb, read_wkb_by_points, write_wkb, write_wkb_by_points

_COORDINATE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)
_POSITION = st.tuples(_COORDINATE, _COORDINATE)
_RING = st.lists(_POSITION, min_size=3, max_size=12).map(lambda points: points + points[:1])
_LINE = st.lists(_POSITION, min_size=2, max_size=12)
_POLYGON = st.lists(_RING, min_size=1, max_size=3)
_GEOMETRIES = st.one_of(
    st.tuples(st.just("Point"), _POSITION.map(list)),
    st.tuples(st.just("LineString"), _LINE),
    st.tuples(st.just("Polygon"), _POLYGON),
    st.tuples(st.just("MultiPoint"), st.lists(_POSITION.map(list), min_size=1, max_size=4)),
    st.tuples(st.just("MultiLineString"), st.lists(_LINE, min_size=1, max_size=3)),
    st.tuples(st.just("MultiPolygon"), st.lists(_POLYGON, min_size=1, max_size=3)),
)
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _as_lists(coords):
    if isinstance(coords, np.ndarray):
        return coords.tolist()
    if isinstance(coords, (list, tuple)):
        return [_as_lists(c) for c in coords]
    return coords


def _wkt(kind, coords) -> str:
    def seq(points):
        return "(" + ", ".join(f"{x!r} {y!r}" for x, y in points) + ")"

    body = {
        "Point": lambda c: f"({c[0]!r} {c[1]!r})",
        "LineString": seq,
        "Polygon": lambda c: "(" + ", ".join(seq(r) for r in c) + ")",
        "MultiPoint": lambda c: "(" + ", ".join(f"({x!r} {y!r})" for x, y in c) + ")",
        "MultiLineString": lambda c: "(" + ", ".join(seq(line) for line in c) + ")",
        "MultiPolygon": lambda c: "(" + ", ".join("(" + ", ".join(seq(r) for r in p) + ")" for p in c) + ")",
    }[kind](coords)
    return f"{kind} {body}"


@_SETTINGS
@given(geometry=_GEOMETRIES)
def test_wkb_written_from_arrays_is_what_the_plain_writer_and_qgis_write(qgis_app, geometry):
    kind, coords = geometry
    as_arrays = coords if kind in ("Point", "MultiPoint") else _as_arrays(kind, coords)
    fast = write_wkb(kind, as_arrays)
    assert fast == write_wkb_by_points(kind, coords)
    assert fast == bytes(QgsGeometry.fromWkt(_wkt(kind, coords)).asWkb())


@_SETTINGS
@given(geometry=_GEOMETRIES, big_endian=st.booleans())
def test_wkb_read_into_arrays_is_what_the_plain_reader_reads(qgis_app, geometry, big_endian):
    kind, coords = geometry
    wkb = bytes(QgsGeometry.fromWkt(_wkt(kind, coords)).asWkb())
    if big_endian:
        wkb = _big_endian(wkb)
    fast_kind, fast = read_wkb(wkb)
    plain_kind, plain = read_wkb_by_points(wkb)
    assert fast_kind == plain_kind == kind
    assert _as_lists(fast) == plain == _as_lists(coords)


def _as_arrays(kind, coords):
    if kind == "LineString":
        return np.array(coords, dtype=float)
    if kind == "Polygon":
        return [np.array(r, dtype=float) for r in coords]
    return [_as_arrays(kind[len("Multi"):], c) for c in coords]


def _big_endian(wkb: bytes) -> bytes:
    """The same geometry in big-endian WKB (the plain reader reads little-endian, then it is written back)."""
    kind, coords = read_wkb_by_points(wkb)
    out = bytearray()

    def write(kind, coords):
        import struct

        out.extend(struct.pack(">BI", 0, {"Point": 1, "LineString": 2, "Polygon": 3, "MultiPoint": 4,
                                          "MultiLineString": 5, "MultiPolygon": 6}[kind]))
        if kind == "Point":
            out.extend(struct.pack(">dd", *coords))
        elif kind == "LineString":
            out.extend(struct.pack(">I", len(coords)))
            for x, y in coords:
                out.extend(struct.pack(">dd", x, y))
        elif kind == "Polygon":
            out.extend(struct.pack(">I", len(coords)))
            for ring in coords:
                out.extend(struct.pack(">I", len(ring)))
                for x, y in ring:
                    out.extend(struct.pack(">dd", x, y))
        else:
            out.extend(struct.pack(">I", len(coords)))
            for part in coords:
                write(kind[len("Multi"):], part)

    write(kind, coords)
    return bytes(out)


@pytest.mark.skipif(not POINTS_ARE_TWO_DOUBLES, reason="Qt built with float qreal: the fast lane is not used")
@_SETTINGS
@given(points=st.lists(_POSITION, min_size=0, max_size=40), decimals=st.sampled_from([None, 0, 3, 7]))
def test_polygon_points_through_memory_are_the_points_one_by_one(qgis_app, points, decimals):
    xy = np.array(points, dtype=float).reshape(-1, 2)
    fast_written, plain_written = QPolygonF(len(xy)), QPolygonF(len(xy))
    write_points(fast_written, xy)
    write_points_one_by_one(plain_written, xy)
    assert fast_written == plain_written
    assert read_points_one_by_one(fast_written).tolist() == xy.tolist()
    out = np.empty_like(xy)
    read_points(plain_written, out, decimals)
    expected = read_points_one_by_one(plain_written)
    assert out.tolist() == (expected if decimals is None else np.round(expected, decimals)).tolist()
    buffer = memoryview(bytearray(16 * len(xy) + 8))
    assert copy_point_bytes(plain_written, buffer, 8) == 8 + 16 * len(xy)
    assert bytes(buffer[8:]) == expected.astype("<f8").tobytes()


def test_polygon_memory_refuses_sizes_that_do_not_match(qgis_app):
    polygon = QPolygonF(3)
    with pytest.raises(ValueError):
        write_points(polygon, np.zeros((4, 2)))
    with pytest.raises(ValueError):
        read_points(polygon, np.zeros((2, 2)))
    with pytest.raises(IndexError):
        copy_point_bytes(polygon, memoryview(bytearray(40)), 0)


# -- rings measured many at a time agree with the ring-by-ring quadrature and with GEOS ----------------------------

_RING_SHAPES = st.lists(
    st.tuples(st.floats(0.2, 1.0), st.floats(-170, 170), st.floats(-80, 80), st.floats(0.001, 0.9),
              st.integers(3, 40), st.booleans(), st.floats(0, 0.9)),
    min_size=1, max_size=12)


def _ring(radius_share, lon, lat, size, vertices, clockwise, wobble):
    """A closed ring of ``vertices`` positions round (lon, lat), ``size`` degrees across; a large ``wobble`` can
    make it fold over itself."""
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    if clockwise:
        angles = angles[::-1]
    radii = size / 2 * (radius_share + wobble * np.sin(7 * angles) * (1 - radius_share))
    ring = np.column_stack([lon + radii * np.cos(angles), lat + radii * np.sin(angles)])
    return np.vstack([ring, ring[:1]])


@_SETTINGS
@given(shapes=_RING_SHAPES)
def test_rings_measured_in_a_batch_agree_with_the_quadrature_and_geos(qgis_app, shapes):
    from satellite_tasking.plugin.fast.ring_batch_measures import ring_signed_area_m2, simple_ring_areas

    rings = [_ring(*shape) for shape in shapes]
    counts = np.array([len(r) for r in rings], dtype=np.intp)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
    ok, star, signed = simple_ring_areas(np.vstack(rings), starts, counts)
    for i, ring in enumerate(rings):
        assert ok[i]  # closed, finite, inside the world and under 2° tall
        geometry = QgsGeometry()
        geometry.fromWkb(write_wkb("Polygon", [ring]))
        if star[i]:
            assert geometry.isSimple(), ring.tolist()
        if geometry.isSimple():
            exact = ring_signed_area_m2(ring)
            assert signed[i] == pytest.approx(exact, rel=1e-6, abs=1e-3)
