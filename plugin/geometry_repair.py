"""Repairing invalid outlines, through one path that is safe on every supported QGIS.

QGIS 3.40.6's own ``QgsGeometry.makeValid()`` (and ``buffer(0)``) crash the whole process on some invalid
polygons, e.g. a polygon whose inner ring folds back onto itself (issue 18); a crash loses the user's unsaved
project. OGR's ``MakeValid`` runs the same GEOS algorithm (the "linework" method, QGIS's default) through GDAL's
own conversion and handles those cases, so every repair of the plugin goes through here, on every version.

The geometries cross as WKB: no QGIS object is shared with OGR.
"""
import logging
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


def make_valid_wkb(wkb: bytes) -> Optional[bytes]:
    """The valid form of a geometry given as WKB, as ISO WKB; None when OGR cannot read or repair it."""
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
    valid = geometry.MakeValid()
    if valid is None or valid.IsEmpty():
        return None
    return bytes(valid.ExportToIsoWkb())
