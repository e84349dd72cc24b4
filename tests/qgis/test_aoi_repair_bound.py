"""Repairing an intricate self-intersecting outline keeps the GUI thread waiting a bounded time, then says why."""
import math
import time

from qgis.core import QgsGeometry, QgsPointXY
from qgis_harness import memory_layer

from satellite_tasking.plugin import aoi as aoi_module
from satellite_tasking.plugin.aoi import AoiRules, aois_from_layers


def looping_outline(vertices: int) -> QgsGeometry:
    """A ring that winds seven times round with a wobbling radius: thousands of crossings, seconds to repair."""
    points = []
    for i in range(vertices):
        angle = 2 * math.pi * i / vertices
        radius = 1 + 0.3 * math.sin(angle * vertices / 3)
        points.append(QgsPointXY(10 + radius * math.cos(angle * 7.0001), 50 + radius * math.sin(angle * 7.0001) / 2))
    points.append(points[0])
    return QgsGeometry.fromPolygonXY([points])


def test_an_outline_too_slow_to_repair_is_refused_within_the_bound(qgis_app, monkeypatch):
    monkeypatch.setattr(aoi_module, "REPAIR_WAIT_SECONDS", 0.2)
    slow = looping_outline(3000)  # about 4 s to repair on this machine
    simple = QgsGeometry.fromWkt("Polygon((1 1, 1.1 1, 1.1 1.1, 1 1.1, 1 1))")
    bowtie = QgsGeometry.fromWkt("Polygon((2 2, 2.1 2.1, 2.1 2, 2 2.1, 2 2))")  # repaired at once
    layer = memory_layer("Polygon", [slow, simple, bowtie], crs="EPSG:4326", name="fields", select=True, add=False)
    started = time.monotonic()
    result = aois_from_layers([layer], AoiRules(max_vertices=100_000))
    waited = time.monotonic() - started
    assert waited < 2.0, waited
    assert len(result.refusals) == 1, result.refusals
    assert "Fix geometries" in result.refusals[0].reason and "longer than the 0.2 s" in result.refusals[0].reason
    assert {a.feature_id for a in result.aois} == {
        f.id() for f in layer.getFeatures() if f.id() != result.refusals[0].feature_id}
