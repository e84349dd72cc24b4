"""What a product accepts as AOIs, and AOI geometries read back from GeoJSON — beside the AOI code, for every
front end: the order dialog, the opportunities dialog and the Processing algorithm use the same rules and the
same reader, so they accept and draw the same areas.
"""
from __future__ import annotations

import json
from typing import Optional

from qgis.core import QgsFields, QgsGeometry, QgsJsonUtils, QgsWkbTypes

from .aoi import AoiRules
from .model import Product


def rules_for(product: Product) -> AoiRules:
    """What the product accepts, as AOI rules (limits the provider states, else the defaults)."""
    extra = product.extra or {}
    kwargs = {"geometry_types": frozenset(product.geometry_types or ("Polygon",))}
    for key in ("holes_allowed", "max_vertices", "min_area_km2", "max_area_km2"):
        if extra.get(key) is not None:
            kwargs[key] = extra[key]
    return AoiRules(**kwargs)


def geometry_from_geojson(geometry: Optional[dict]) -> Optional[QgsGeometry]:
    """A QgsGeometry from a GeoJSON geometry (QGIS 3.22 has no direct reader for a bare geometry), or None."""
    if not geometry:
        return None
    text = json.dumps({"type": "FeatureCollection",
                       "features": [{"type": "Feature", "properties": {}, "geometry": geometry}]})
    features = QgsJsonUtils.stringToFeatureList(text, QgsFields(), None)
    if not features or not features[0].hasGeometry():
        return None
    parsed = QgsGeometry(features[0].geometry())
    return None if parsed.type() == QgsWkbTypes.GeometryType.UnknownGeometry else parsed
