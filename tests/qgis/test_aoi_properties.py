"""Property tests for the AOI pipeline: random, degenerate and invalid geometries.

Every feature ends as a correct AOI or as a refusal with a reason naming it; never an exception.
Cases: empty, zero-area, self-intersecting (bow-tie), spikes, duplicate vertices, holes anywhere,
overlapping parts, coordinates far outside the CRS, NaN and infinities, in five CRSs.
"""
import collections
import functools
import math
import re

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsLineString,
    QgsMultiPolygon,
    QgsPointXY,
    QgsPolygon,
    QgsProject,
    QgsVectorLayer,
)

from satellite_tasking.plugin import aoi as aoi_module
from satellite_tasking.plugin.aoi import AoiRules, aois_from_layers

CRSS = ["EPSG:4326", "EPSG:3857", "EPSG:32633", "EPSG:2263", "EPSG:3832"]
# a place inside each CRS's area of use, and a typical feature size in its units
HOME = {
    "EPSG:4326": ((10.0, 50.0), 0.05),
    "EPSG:3857": ((10.0, 50.0), 5000.0),
    "EPSG:32633": ((15.0, 45.0), 5000.0),
    "EPSG:2263": ((-73.9, 40.7), 15000.0),
    "EPSG:3832": ((179.9, -17.0), 5000.0),  # Pacific Mercator, next to the antimeridian
}
SPECIAL = [float("nan"), float("inf"), -float("inf"), 1e12, -1e12, 1e300]
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CASES = {"pipeline": 0, "lanes": 0, "aois": 0, "refusals": 0, "fast": 0}
REASONS = collections.Counter()


@functools.cache
def home_point(crs):
    (lon, lat), size = HOME[crs]
    point = QgsGeometry.fromPointXY(QgsPointXY(lon, lat))
    point.transform(
        QgsCoordinateTransform(
            QgsCoordinateReferenceSystem("EPSG:4326"), QgsCoordinateReferenceSystem(crs), QgsProject.instance()
        )
    )
    return point.asPoint().x(), point.asPoint().y(), size


unit = st.floats(-1.5, 1.5, allow_nan=False)


@st.composite
def rings(draw, kind=None):
    """A ring in unit coordinates: ordinary, bow-tie, spike, duplicates, collinear, tiny or open."""
    kind = kind or draw(st.sampled_from(["random", "star", "bowtie", "spike", "duplicates", "collinear",
                                         "tiny", "open", "special"]))
    if kind == "bowtie":
        points = [(0, 0), (1, 1), (1, 0), (0, 1)]
    elif kind == "spike":
        points = [(0, 0), (1, 0), (1, 0.5), (draw(st.floats(1.5, 5)), 0.5), (1, 0.5), (1, 1), (0, 1)]
    elif kind == "collinear":
        points = [(0, 0), (0.5, 0.5), (1, 1), (0.25, 0.25)]
    elif kind == "star":
        n = draw(st.integers(3, 60))
        radii = draw(st.lists(st.floats(0.2, 1.0), min_size=n, max_size=n))
        points = [(r * math.cos(2 * math.pi * k / n), r * math.sin(2 * math.pi * k / n)) for k, r in enumerate(radii)]
    else:
        points = draw(st.lists(st.tuples(unit, unit), min_size=0 if kind == "random" else 3, max_size=12))
    if kind == "duplicates" and points:
        index = draw(st.integers(0, len(points) - 1))
        points = points[: index + 1] + [points[index]] * draw(st.integers(1, 3)) + points[index + 1:]
    if kind == "tiny":
        points = [(x * 1e-9, y * 1e-9) for x, y in points]
    if kind == "special" and points:
        index = draw(st.integers(0, len(points) - 1))
        value = draw(st.sampled_from(SPECIAL))
        x, y = points[index]
        points[index] = (value, y) if draw(st.booleans()) else (x, value)
    if kind != "open" and points:
        points = points + [points[0]]
    return points


@st.composite
def geometries(draw, crs):
    cx, cy, size = home_point(crs)
    scale = size * draw(st.sampled_from([1.0, 1.0, 0.01, 100.0, 1e4]))

    def ring(points):
        return QgsLineString([cx + x * scale for x, _ in points], [cy + y * scale for _, y in points])

    shape = draw(st.sampled_from(["polygon", "polygon", "with_holes", "multi", "empty"]))
    if shape == "empty":
        return QgsGeometry()
    polygon = QgsPolygon()
    polygon.setExteriorRing(ring(draw(rings())))
    if shape == "with_holes":
        for points in draw(st.lists(rings("random"), min_size=1, max_size=2)):
            polygon.addInteriorRing(ring([(x * 0.4, y * 0.4) for x, y in points]))
    if shape != "multi":
        return QgsGeometry(polygon)
    multi = QgsMultiPolygon()
    multi.addGeometry(polygon)
    other = QgsPolygon()
    shift = draw(st.sampled_from([0.5, 3.0]))  # overlapping or apart
    other.setExteriorRing(ring([(x + shift, y) for x, y in draw(rings("star"))]))
    multi.addGeometry(other)
    return QgsGeometry(multi)


rules_strategy = st.builds(
    AoiRules,
    geometry_types=st.sampled_from([frozenset({"Polygon"}), frozenset({"Polygon", "MultiPolygon"})]),
    holes_allowed=st.booleans(),
    max_vertices=st.sampled_from([5, 8, 20, 1000]),
    min_area_km2=st.sampled_from([None, None, 0.5]),
    max_area_km2=st.sampled_from([None, None, 2000.0]),
    antimeridian=st.sampled_from(["split", "refuse"]),
)


@st.composite
def scenarios(draw):
    crs = draw(st.sampled_from(CRSS))
    return crs, draw(st.lists(geometries(crs), min_size=1, max_size=4)), draw(rules_strategy)


def make_layer(crs, geometries):
    layer = QgsVectorLayer(f"MultiPolygon?crs={crs}", "random", "memory")
    features = []
    for geometry in geometries:
        feature = QgsFeature()
        feature.setGeometry(geometry)
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    layer.selectAll()
    return layer


def positions(geometry):
    coordinates = geometry["coordinates"]
    polygons = coordinates if geometry["type"] == "MultiPolygon" else [coordinates]
    return [ring for polygon in polygons for ring in polygon], polygons


def check_aoi(aoi, rules):
    geometry = aoi.geometry
    assert geometry["type"] in rules.geometry_types
    rings, polygons = positions(geometry)
    assert aoi.vertex_count == sum(len(r) for r in rings) <= rules.max_vertices
    for ring in rings:
        ring = np.asarray(ring, dtype=float)
        assert ring.ndim == 2 and ring.shape[1] == 2 and len(ring) >= 4
        assert np.isfinite(ring).all()
        assert (np.abs(ring[:, 0]) <= 180).all() and (np.abs(ring[:, 1]) <= 90).all()
        assert (ring[0] == ring[-1]).all()
        assert np.array_equal(ring, np.round(ring, 7))
    if not rules.holes_allowed:
        assert all(len(polygon) == 1 for polygon in polygons)
    wkt = "MultiPolygon(" + ",".join(
        "(" + ",".join("(" + ",".join(f"{float(x)!r} {float(y)!r}" for x, y in r) + ")" for r in polygon) + ")"
        for polygon in polygons
    ) + ")"
    rebuilt = QgsGeometry.fromWkt(wkt)
    assert not rebuilt.isNull(), wkt
    for part in rebuilt.asGeometryCollection():
        assert part.isGeosValid(), (part.asWkt(), aoi.warnings)
    assert math.isfinite(aoi.area_km2) and aoi.area_km2 > 0
    if rules.min_area_km2 is not None:
        assert aoi.area_km2 >= rules.min_area_km2
    if rules.max_area_km2 is not None:
        assert aoi.area_km2 <= rules.max_area_km2
    assert all(isinstance(w, str) and w for w in aoi.warnings)


@SETTINGS
@given(scenario=scenarios())
def test_every_feature_ends_as_a_valid_aoi_or_a_reason(qgis_app, scenario):
    crs, geometries, rules = scenario
    CASES["pipeline"] += 1
    layer = make_layer(crs, geometries)

    result = aois_from_layers([layer], rules)  # must not raise, whatever the geometry

    CASES["aois"] += len(result.aois)
    CASES["refusals"] += len(result.refusals)
    fids = {feature.id() for feature in layer.getFeatures()}
    accounted = {a.feature_id for a in result.aois} | {r.feature_id for r in result.refusals}
    assert accounted == fids
    for aoi in result.aois:
        check_aoi(aoi, rules)
        assert aoi.source_layer_name == "random"
    for refusal in result.refusals:
        assert f"Feature {refusal.feature_id} of layer 'random'" in refusal.reason
        REASONS[re.sub(r"-?\d[\d.,e+-]*", "#", refusal.reason.split("'random'", 1)[1])[:70]] += 1
    if not result.aois:
        assert result.message
    else:
        assert result.message is None


@SETTINGS
@given(
    crs=st.sampled_from(CRSS),
    shapes=st.lists(st.one_of(rings("star"), rings("random"), rings("bowtie"), rings("duplicates")),
                    min_size=1, max_size=6),
    scale=st.sampled_from([1.0, 0.01, 10.0]),
)
def test_fast_lane_matches_the_general_path(qgis_app, crs, shapes, scale):
    """Whatever the vectorised lane accepts (star-shaped, or simple per GEOS), the general path
    turns into the same AOI."""
    CASES["lanes"] += 1
    cx, cy, size = home_point(crs)
    geometries = [
        QgsGeometry(QgsPolygon(QgsLineString([cx + x * size * scale for x, _ in points],
                                             [cy + y * size * scale for _, y in points])))
        for points in shapes
    ]
    layer = make_layer(crs, geometries)
    rules = AoiRules()
    job = aoi_module._Job(layer.crs(), rules, "random", QgsProject.instance().transformContext())
    job.run(layer.getFeatures())
    CASES["fast"] += job.fast
    general = {}
    for feature in layer.getFeatures():
        try:
            general[feature.id()] = job.prepare_feature(feature.id(), feature.geometry())
        except aoi_module._Refused as refusal:
            general[feature.id()] = str(refusal)

    for aoi in job.aois:
        if aoi.warnings:
            continue  # came from the general path itself
        (same,) = general[aoi.feature_id]
        assert same.geometry == aoi.geometry
        assert same.vertex_count == aoi.vertex_count
        assert abs(same.area_km2 - aoi.area_km2) <= 1e-6 * aoi.area_km2
    assert len(job.aois) + len(job.refusals) >= len(shapes)


def test_report_cases_tried(capsys):
    with capsys.disabled():
        print(f"\nAOI property tests: {CASES['pipeline']} pipeline cases tried ({CASES['aois']} AOIs, "
              f"{CASES['refusals']} refusals), {CASES['lanes']} fast-lane cases tried "
              f"({CASES['fast']} AOIs from the fast lane checked against the general path)")
        for reason, count in REASONS.most_common(12):
            print(f"  {count:4d} refused: …{reason}")
    assert CASES["pipeline"] == 0 or CASES["pipeline"] >= 100
