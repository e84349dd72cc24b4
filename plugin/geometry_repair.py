"""Repairing invalid outlines, through one path that is safe on every supported QGIS.

QGIS 3.40.6's own ``QgsGeometry.makeValid()`` (and ``buffer(0)``) crash the whole process on some invalid
polygons, e.g. a polygon whose inner ring folds back onto itself (issue 18); a crash loses the user's unsaved
project. OGR's ``MakeValid`` runs the same GEOS algorithm (the "linework" method, QGIS's default) through GDAL's
own conversion and handles those cases, so every repair of the plugin goes through here, on every version.

GEOS itself crashes too, on every version seen, on rings that bound no area: GEOS 3.15 (Debian sid, QGIS 3.44)
takes the process down in ``MakeValid`` on a polygon with an empty ring. Rings that cannot bound an area add
nothing to what a polygon covers (a hole of no area removes nothing; an outline of no area covers nothing), so they
are dropped before any repair: rings of fewer than four positions or of fewer than three distinct points.

The geometries cross as WKB: no QGIS object is shared with OGR.

A repair's time grows with the crossings of the outline, not only with its vertices (a ring of 5,000 vertices
looping over itself took 20 s here). AOIs are prepared on the GUI thread, so ``make_valid_wkb`` can run the repair
in a thread of its own and wait a bounded time (GDAL releases Python's lock while it works): past it the caller
gets ``RepairTooSlow`` (a sentence), and the abandoned repair ends on its own, its result unused.
"""
import logging
import threading
from typing import Optional

logger = logging.getLogger(__name__)


class RepairUnavailable(Exception):
    """GDAL's Python bindings (osgeo) are missing, so an invalid outline cannot be repaired safely."""


def _ogr():
    try:
        from osgeo import ogr
    except ImportError as missing:
        raise RepairUnavailable(
            "GDAL's Python bindings (osgeo) are not installed, so invalid outlines cannot be repaired here; "
            "fix the geometry first (Processing ▸ Fix geometries) or install GDAL's Python package."
        ) from missing
    return ogr


class RepairTooSlow(RepairUnavailable):
    """The repair did not end within the time the caller could wait (see the module's note)."""


# Abandoned repairs still running, at most: past it a repair that needs waiting for is refused at once, so a
# selection of many intricate outlines cannot pile up threads.
MAX_REPAIRS_RUNNING = 2
_REPAIR_SLOTS = threading.BoundedSemaphore(MAX_REPAIRS_RUNNING)


def make_valid_wkb(wkb: bytes, wait_seconds: Optional[float] = None) -> Optional[bytes]:
    """The valid form of a geometry given as WKB, as ISO WKB; None when OGR cannot read or repair it.

    With ``wait_seconds`` the repair runs in a thread of its own and ``RepairTooSlow`` is raised when it has not
    ended by then (or when ``MAX_REPAIRS_RUNNING`` abandoned ones are still running)."""
    if wait_seconds is None:
        return _make_valid_now(wkb)
    _ogr()  # missing bindings are said at once, not from the thread
    too_slow = (f"Repairing it takes longer than the {wait_seconds:g} s it may take while AOIs are prepared; fix "
                f"it first (Processing ▸ Fix geometries) and select the result.")
    if not _REPAIR_SLOTS.acquire(blocking=False):
        raise RepairTooSlow(too_slow)
    outcome: dict = {}
    ended = threading.Event()
    data = bytes(wkb)

    def repair() -> None:
        try:
            outcome["wkb"] = _make_valid_now(data)
        except BaseException as error:  # noqa: BLE001 - handed to the caller, if it still waits
            outcome["error"] = error
        finally:
            _REPAIR_SLOTS.release()
            ended.set()

    threading.Thread(target=repair, name="tasking-geometry-repair", daemon=True).start()
    if not ended.wait(wait_seconds):
        logger.info("A geometry repair took longer than %g s; left to end on its own", wait_seconds)
        raise RepairTooSlow(too_slow)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["wkb"]


def _make_valid_now(wkb: bytes) -> Optional[bytes]:
    ogr = _ogr()
    manager = getattr(ogr, "ExceptionMgr", None)
    if manager is None:  # GDAL < 3.7: errors come back as None, which is what is wanted here
        return _make_valid_with(ogr, wkb)
    # GDAL >= 3.7: errors as exceptions inside this call only, whatever the process-wide choice is
    try:
        with manager(useExceptions=True):
            return _make_valid_with(ogr, wkb)
    except RuntimeError as error:
        logger.debug("OGR could not repair a geometry: %s", error)
        return None


def _make_valid_with(ogr, wkb: bytes) -> Optional[bytes]:
    geometry = ogr.CreateGeometryFromWkb(bytes(wkb))
    if geometry is None:
        return None
    geometry = _without_arealess_rings(ogr, geometry)
    if geometry is None or geometry.IsEmpty():
        return None
    valid = geometry.MakeValid()
    if valid is None or valid.IsEmpty():
        return None
    return bytes(valid.ExportToIsoWkb())


def ring_bounds_an_area(points) -> bool:
    """Whether a closed ring of (x, y[, ...]) positions can bound any area at all: four positions or more, three
    of them distinct. (A signed area of zero is no test: a bow-tie's two halves cancel out.)"""
    return len(points) >= 4 and len({(p[0], p[1]) for p in points}) >= 3


def _without_arealess_rings(ogr, geometry):
    """The geometry with every ring that bounds no area left out (see the module's note); None if nothing is left."""
    kind = ogr.GT_Flatten(geometry.GetGeometryType())
    if kind == ogr.wkbPolygon:
        rings = [geometry.GetGeometryRef(i) for i in range(geometry.GetGeometryCount())]
        if not rings or not ring_bounds_an_area(rings[0].GetPoints() or []):
            return None
        kept = ogr.Geometry(ogr.wkbPolygon)
        for ring in rings:
            points = ring.GetPoints() or []
            if ring_bounds_an_area(points):
                copy = ogr.Geometry(ogr.wkbLinearRing)
                for point in points:
                    copy.AddPoint_2D(point[0], point[1])
                kept.AddGeometry(copy)
        return kept
    if kind in (ogr.wkbMultiPolygon, ogr.wkbGeometryCollection):
        kept = ogr.Geometry(kind)
        for i in range(geometry.GetGeometryCount()):
            part = _without_arealess_rings(ogr, geometry.GetGeometryRef(i))
            if part is not None and not part.IsEmpty():
                kept.AddGeometry(part)
        return kept if kept.GetGeometryCount() else None
    return geometry
