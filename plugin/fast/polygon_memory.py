"""A QPolygonF's points read and written as a numpy array through the polygon's own memory.

Reprojecting thousands of rings per call (``QgsCoordinateTransform.transformPolygon``) needs their points in a
QPolygonF and back; a QPointF a position costs more than the reprojection itself. A QPolygonF keeps its points
end to end as (x, y) doubles where Qt's ``qreal`` is a double (``POINTS_ARE_TWO_DOUBLES``, checked once; where it
is not, callers take the plain way). The fast functions below view that memory for the length of one copy and
never hand the view out, so no array outlives or outgrows the polygon it looked at.

``read_points_one_by_one``/``write_points_one_by_one`` are the plain references, a QPointF per position.
``tests/qgis/test_aoi_fast_paths.py`` shows that both agree.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from qgis.PyQt.QtCore import QPointF
from qgis.PyQt.QtGui import QPolygonF


def _view(polygon: QPolygonF) -> np.ndarray:
    pointer = polygon.data()
    pointer.setsize(16 * polygon.size())
    return np.frombuffer(pointer, dtype=np.float64).reshape(-1, 2)


def _points_are_two_doubles() -> bool:
    probe = QPolygonF([QPointF(1.5, -2.25), QPointF(3.0, 4.0)])
    try:
        return np.frombuffer(probe.data().asstring(32), dtype=np.float64).tolist() == [1.5, -2.25, 3.0, 4.0]
    except (TypeError, ValueError):
        return False


#: The fast functions may be used (Qt built with double ``qreal``, as on every platform QGIS ships for).
POINTS_ARE_TWO_DOUBLES = _points_are_two_doubles()


def read_points(polygon: QPolygonF, out: np.ndarray, decimals: Optional[int] = None) -> None:
    """Copy the polygon's points into ``out`` (an (n, 2) float array of its size), rounded to ``decimals``."""
    if len(out) != polygon.size():
        raise ValueError(f"{len(out)} places for {polygon.size()} points")
    if decimals is None:
        out[:] = _view(polygon)
    else:
        np.round(_view(polygon), decimals, out=out)


def write_points(polygon: QPolygonF, xy: np.ndarray) -> None:
    """Overwrite the polygon's points with ``xy`` (an (n, 2) array of its size)."""
    if len(xy) != polygon.size():
        raise ValueError(f"{len(xy)} positions for {polygon.size()} points")
    _view(polygon)[:] = xy


def copy_point_bytes(polygon: QPolygonF, buffer: memoryview, at: int) -> int:
    """Copy the polygon's points, as x y x y … doubles, into the bytes ``buffer`` from ``at``; returns where they
    end. ``buffer`` must have room (``IndexError`` otherwise, before anything is copied)."""
    size = 16 * polygon.size()
    if at < 0 or at + size > len(buffer):
        raise IndexError(f"no room for {size} bytes at {at} of {len(buffer)}")
    pointer = polygon.data()
    pointer.setsize(size)
    buffer[at : at + size] = pointer
    return at + size


def read_points_one_by_one(polygon: QPolygonF) -> np.ndarray:
    """The plain reference of ``read_points``: a QPointF per position."""
    return np.array([(point.x(), point.y()) for point in polygon], dtype=float).reshape(-1, 2)


def write_points_one_by_one(polygon: QPolygonF, xy) -> None:
    """The plain reference of ``write_points``."""
    for index, (x, y) in enumerate(xy):
        polygon.replace(index, QPointF(float(x), float(y)))
