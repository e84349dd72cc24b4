"""AOIs from extreme input: a huge feature is refused at once with a sentence; an invalid CRS is refused.

Before issue 15 a polygon of 1,000,000 vertices took 16-20 s on the GUI thread, and a layer without a
valid CRS was silently read as longitude/latitude.
"""
import math
import struct
import time

from qgis.core import QgsCoordinateReferenceSystem, QgsFeature, QgsGeometry, QgsVectorLayer

from satellite_tasking.plugin.aoi import AoiRules, aois_from_features, aois_from_layers

from .test_aoi import lonlat_box, make_layer

MAX_FEATURE_VERTICES = 100_000  # documented in plugin/aoi.py


def smooth_circle(vertices):
    """A simple (valid) polygon of ``vertices`` positions around Berlin, built as WKB in one go."""
    ring = []
    for i in range(vertices - 1):
        angle = 2 * math.pi * i / (vertices - 1)
        radius = 0.1 * (1 + 0.001 * math.sin(40 * angle))
        ring += [13 + radius * math.cos(angle), 52 + radius * math.sin(angle)]
    ring += ring[:2]
    wkb = struct.pack("<BIII", 1, 3, 1, vertices) + struct.pack(f"<{len(ring)}d", *ring)
    geometry = QgsGeometry()
    geometry.fromWkb(wkb)
    return geometry


def feature(geometry, fid=1):
    made = QgsFeature()
    made.setId(fid)
    made.setGeometry(geometry)
    return made


def test_a_million_vertices_are_refused_at_once_with_a_sentence(qgis_app):
    huge = feature(smooth_circle(1_000_001))
    started = time.perf_counter()
    result = aois_from_features([huge], QgsCoordinateReferenceSystem("EPSG:4326"), AoiRules(), "fields")
    seconds = time.perf_counter() - started
    assert seconds < 1.0, seconds
    assert not result.aois
    assert "1,000,001 vertices" in result.refusals[0].reason
    assert f"{MAX_FEATURE_VERTICES:,}" in result.refusals[0].reason and "simplify" in result.refusals[0].reason


def test_a_feature_at_the_limit_is_still_simplified_to_the_products_limit(qgis_app):
    result = aois_from_features([feature(smooth_circle(MAX_FEATURE_VERTICES))],
                                QgsCoordinateReferenceSystem("EPSG:4326"), AoiRules(), "fields")
    assert len(result.aois) == 1 and not result.refusals
    assert any("Simplified from" in w for w in result.aois[0].warnings)


def test_an_invalid_crs_is_refused_not_read_as_lonlat(qgis_app):
    result = aois_from_features([feature(QgsGeometry.fromWkt(lonlat_box(13, 52, 13.1, 52.1)))],
                                QgsCoordinateReferenceSystem(), AoiRules(), "fields")
    assert not result.aois
    assert "no valid coordinate reference system" in result.message and "'fields'" in result.message


def test_a_layer_without_a_valid_crs_is_named_and_the_others_still_used(qgis_app):
    no_crs = QgsVectorLayer("Polygon", "drawn", "memory")
    no_crs.setCrs(QgsCoordinateReferenceSystem())  # as a layer whose file names an unknown CRS
    added = QgsFeature()
    added.setGeometry(QgsGeometry.fromWkt(lonlat_box(13, 52, 13.1, 52.1)))
    no_crs.dataProvider().addFeatures([added])
    no_crs.selectAll()
    assert not no_crs.crs().isValid()
    alone = aois_from_layers([no_crs], AoiRules())
    assert not alone.aois and "Layer 'drawn' has no valid coordinate reference system" in alone.message
    good = make_layer([lonlat_box(2, 48, 2.1, 48.1)])
    both = aois_from_layers([no_crs, good], AoiRules())
    assert len(both.aois) == 1 and any("'drawn'" in note for note in both.notes)
