"""Selected features → AOIs (plugin/aoi.py), on real memory layers in several CRSs."""
import math

import numpy as np
import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCsException,
    QgsDistanceArea,
    QgsGeometry,
    QgsLineString,
    QgsPoint,
    QgsPolygon,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis_harness import memory_layer

from satellite_tasking.plugin import aoi as aoi_module
from satellite_tasking.plugin.aoi import AoiRules, aois_from_features, aois_from_layers

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
POLYGONS = AoiRules()
POLYGONS_OR_MULTI = AoiRules(geometry_types=frozenset({"Polygon", "MultiPolygon"}))

# Areas of lon/lat boxes on WGS84 (edges along meridians and parallels), from pyproj's Geod with the
# parallels densified to 2,000 points: independent of the code under test.
CELL_EQUATOR_KM2 = 12308.46389  # 0..1°E, 0..1°N
CELL_60N_KM2 = 6123.14088  # 10..11°E, 60..61°N
BOX_10DEG_KM2 = 1224832.2947  # 0..10°E, 0..10°N


def make_layer(geometries, crs="EPSG:4326", kind="Polygon", name="fields", select=True):
    """A memory layer of the geometries (WKT or QgsGeometry), not added to the project."""
    return memory_layer(kind, geometries, crs=crs, name=name, select=select, add=False)


def lonlat_box(west, south, east, north):
    return f"Polygon(({west} {south},{east} {south},{east} {north},{west} {north},{west} {south}))"


def to_crs(geometry_wkt, crs):
    geometry = QgsGeometry.fromWkt(geometry_wkt)
    geometry.transform(QgsCoordinateTransform(WGS84, QgsCoordinateReferenceSystem(crs), QgsProject.instance()))
    return geometry


def only(result):
    assert result.message is None, result.message
    assert not result.refusals, result.refusals
    assert len(result.aois) == 1, result.aois
    return result.aois[0]


def exterior(aoi):
    return np.array(aoi.geometry["coordinates"][0])


def planar_signed_area(ring):
    x, y = ring[:, 0], ring[:, 1]
    return float((x[:-1] * y[1:] - x[1:] * y[:-1]).sum() / 2)


def assert_geojson_polygon_ok(aoi):
    geometry = aoi.geometry
    assert geometry["type"] == "Polygon"
    rings = [np.array(r) for r in geometry["coordinates"]]
    for index, ring in enumerate(rings):
        assert ring.shape[1] == 2, "2D positions only"
        assert (ring[0] == ring[-1]).all(), "rings are closed"
        assert np.all(np.abs(ring[:, 0]) <= 180) and np.all(np.abs(ring[:, 1]) <= 90)
        assert np.allclose(ring, np.round(ring, 7), rtol=0, atol=1e-12), "rounded to 1e-7°"
        # RFC 7946: exterior counterclockwise, holes clockwise
        assert (planar_signed_area(ring) > 0) == (index == 0)
    assert aoi.vertex_count == sum(len(r) for r in rings)
    rebuilt = QgsGeometry.fromWkt(
        "Polygon(" + ",".join("(" + ",".join(f"{float(x)!r} {float(y)!r}" for x, y in r) + ")" for r in rings) + ")"
    )
    assert rebuilt.isGeosValid(), rebuilt.asWkt()


# --- CRSs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crs", "lon", "lat"),
    [
        ("EPSG:4326", 10.0, 50.0),
        ("EPSG:3857", 10.0, 50.0),
        ("EPSG:32633", 15.0, 45.0),  # UTM 33N
        ("EPSG:2263", -73.95, 40.75),  # NAD83 / New York Long Island, US feet
    ],
)
def test_polygon_in_any_crs_comes_back_in_lonlat_with_ellipsoidal_area(qgis_app, crs, lon, lat):
    box = lonlat_box(lon, lat, lon + 0.1, lat + 0.1)
    layer = make_layer([to_crs(box, crs)], crs=crs)

    aoi = only(aois_from_layers([layer], POLYGONS))

    assert_geojson_polygon_ok(aoi)
    ring = exterior(aoi)
    expected = np.array([[lon, lat], [lon + 0.1, lat], [lon + 0.1, lat + 0.1], [lon, lat + 0.1], [lon, lat]])
    assert np.allclose(ring, expected, atol=2e-7), ring
    assert aoi.feature_id == 1 and aoi.part_index == 0 and aoi.source_layer_name == "fields"
    assert aoi.warnings == []
    measure = QgsDistanceArea()
    measure.setSourceCrs(WGS84, QgsProject.instance().transformContext())
    measure.setEllipsoid("WGS84")
    qgis_km2 = measure.measureArea(QgsGeometry.fromWkt(box)) / 1e6
    assert aoi.area_km2 == pytest.approx(qgis_km2, rel=1e-4)


def test_one_degree_cells_have_the_known_ellipsoidal_areas(qgis_app):
    layer = make_layer([lonlat_box(0, 0, 1, 1), lonlat_box(10, 60, 11, 61), lonlat_box(0, 0, 10, 10)])

    result = aois_from_layers([layer], POLYGONS)

    areas = {aoi.feature_id: aoi.area_km2 for aoi in result.aois}
    assert areas[1] == pytest.approx(CELL_EQUATOR_KM2, rel=1e-6)
    assert areas[2] == pytest.approx(CELL_60N_KM2, rel=1e-6)
    assert areas[3] == pytest.approx(BOX_10DEG_KM2, rel=1e-6)


def test_utm_square_is_measured_on_the_ellipsoid_not_in_the_plane(qgis_app):
    # 10 km × 10 km in UTM 33N on the central meridian: the scale factor 0.9996 makes the ground
    # area 100 / 0.9996² ≈ 100.08 km², not the 100 km² of the map plane
    square = "Polygon((495000 5000000,505000 5000000,505000 5010000,495000 5010000,495000 5000000))"
    layer = make_layer([square], crs="EPSG:32633")

    aoi = only(aois_from_layers([layer], POLYGONS))

    assert aoi.area_km2 == pytest.approx(100 / 0.9996**2, rel=2e-4)
    assert aoi.area_km2 > 100.05


def test_feet_crs_square_is_converted_from_feet(qgis_app):
    # 10,000 ft × 10,000 ft in EPSG:2263 ≈ 9.29 km² (3048 m squared), within the CRS's scale error
    x, y = 1_000_000, 200_000
    square = f"Polygon(({x} {y},{x + 10000} {y},{x + 10000} {y + 10000},{x} {y + 10000},{x} {y}))"
    layer = make_layer([square], crs="EPSG:2263")

    aoi = only(aois_from_layers([layer], POLYGONS))

    assert aoi.area_km2 == pytest.approx(3.048**2, rel=1e-3)
    assert -75 < exterior(aoi)[0][0] < -73 and 40 < exterior(aoi)[0][1] < 41.5


def test_fast_lane_and_general_path_agree(qgis_app):
    """The vectorised lane and the per-feature GEOS path give the same AOI for the same polygon."""
    rng = np.random.default_rng(7)
    geometries = []
    for _ in range(40):
        cx, cy = rng.uniform(-170, 170), rng.uniform(-70, 70)
        radius = rng.uniform(0.001, 0.8)
        angles = np.linspace(0, 2 * math.pi, 30, endpoint=False) + rng.uniform(0, 0.1, 30)
        radii = radius * rng.uniform(0.8, 1.0, 30)
        xs = list(cx + radii * np.cos(angles))
        ys = list(cy + radii * np.sin(angles))
        geometries.append(QgsGeometry(QgsPolygon(QgsLineString(xs + xs[:1], ys + ys[:1]))))
    layer = make_layer(geometries)

    fast = aois_from_layers([layer], POLYGONS)
    job = aoi_module._Job(WGS84, POLYGONS, "fields", QgsProject.instance().transformContext())
    job.run(layer.getFeatures())

    assert job.fast == 40, "these star-shaped polygons all take the fast lane"
    for feature, aoi in zip(layer.getFeatures(), sorted(fast.aois, key=lambda a: a.feature_id)):
        (general,) = job.prepare_feature(feature.id(), feature.geometry())
        assert general.geometry == aoi.geometry
        assert general.vertex_count == aoi.vertex_count
        assert general.area_km2 == pytest.approx(aoi.area_km2, rel=1e-6)


# --- the fast lane's batches: many rings reprojected with one QGIS call ------------------------


def star_polygons_in_web_mercator(count, seed):
    rng = np.random.default_rng(seed)
    geometries = []
    for _ in range(count):
        vertices = int(rng.integers(4, 40))
        cx, cy = rng.uniform(-1.5e7, 1.5e7), rng.uniform(-7e6, 7e6)
        angles = np.linspace(0, 2 * math.pi, vertices, endpoint=False)
        radii = rng.uniform(1e3, 5e4) * rng.uniform(0.7, 1.0, vertices)
        xs = list(cx + radii * np.cos(angles))
        ys = list(cy + radii * np.sin(angles))
        geometries.append(QgsGeometry(QgsPolygon(QgsLineString(xs + xs[:1], ys + ys[:1]))))
    return make_layer(geometries, crs="EPSG:3857")


def fast_lane_run(layer, transform=None):
    job = aoi_module._Job(layer.crs(), POLYGONS, "fields", QgsProject.instance().transformContext())
    if transform is not None:
        job.transform = transform
    job.run(layer.getFeatures())
    return job, [(a.feature_id, a.part_index, a.geometry, a.area_km2, a.warnings) for a in job.aois]


def test_fast_lane_batches_of_any_size_give_the_same_aois(qgis_app, monkeypatch):
    layer = star_polygons_in_web_mercator(60, seed=11)
    default_job, reference = fast_lane_run(layer)
    general = []
    for feature in layer.getFeatures():
        (aoi,) = default_job.prepare_feature(feature.id(), feature.geometry())
        general.append((aoi.feature_id, aoi.geometry, aoi.vertex_count))

    # batches smaller than one ring (the batch grows to hold it), of a few rings, and of many rings;
    # reprojected in pieces that cut rings anywhere
    for points, piece in ((8, 3), (50, 7), (333, 64), (100_000, 1000), (100_000, 100_000)):
        monkeypatch.setattr(aoi_module, "_FAST_BATCH_POINTS", points)
        monkeypatch.setattr(aoi_module, "_TRANSFORM_PIECE_POINTS", piece)
        job, aois = fast_lane_run(layer)
        assert job.fast == 60, (points, piece)
        assert aois == reference, (points, piece)
    assert [(a.feature_id, a.geometry, a.vertex_count) for a in default_job.aois] == general


class _TransformThatFellBack(QgsCoordinateTransform):
    """Stands in for a PROJ fallback (an operation other than the chosen one, used for every point of
    the call when a single point fails): its batch results are wrong, and it says it fell back."""

    def transformPolygon(self, polygon, *args):  # noqa: N802 (QGIS's name)
        pass  # leaves the layer-CRS coordinates: unusable as lon/lat

    def fallbackOperationOccurred(self):  # noqa: N802
        return True


class _TransformThatThrows(QgsCoordinateTransform):
    def transformPolygon(self, polygon, *args):  # noqa: N802
        raise QgsCsException("forward transform of\n(0, 0)\nError: simulated")


@pytest.mark.parametrize("stand_in", [_TransformThatFellBack, _TransformThatThrows])
def test_fast_lane_batch_redone_ring_by_ring_when_qgis_falls_back_or_fails(qgis_app, stand_in):
    layer = star_polygons_in_web_mercator(30, seed=12)
    _, reference = fast_lane_run(layer)
    transform = stand_in(layer.crs(), WGS84, QgsProject.instance().transformContext())

    job, aois = fast_lane_run(layer, transform)

    # ring by ring with QgsGeometry.transform, as the general path does: same AOIs, still fast
    assert job.fast == 30
    assert aois == reference


def test_ring_that_fails_to_transform_is_refused_and_its_batch_neighbours_stay_fast(qgis_app):
    # orthographic: points beyond the visible disk (radius 6,378,137 m) have no longitude/latitude
    globe = QgsCoordinateReferenceSystem.fromProj("+proj=ortho +lat_0=0 +lon_0=0 +datum=WGS84 +units=m +no_defs")
    squares = [f"Polygon(({x} 0,{x + 10000} 0,{x + 10000} 10000,{x} 10000,{x} 0))" for x in (0, 6_370_000, 20_000)]
    layer = make_layer(squares, name="globe")
    layer.setCrs(globe)

    job, _aois = fast_lane_run(layer)
    result = aois_from_layers([layer], POLYGONS)

    assert job.fast == 2
    assert sorted(a.feature_id for a in result.aois) == [1, 3]
    assert all(a.area_km2 == pytest.approx(100.0, rel=1e-3) for a in result.aois)
    (refusal,) = result.refusals
    assert refusal.feature_id == 2
    assert "Feature 2 of layer 'globe' could not be transformed" in refusal.reason


# --- antimeridian -----------------------------------------------------------------------------


def test_polygon_across_antimeridian_in_pacific_mercator_is_split(qgis_app):
    # EPSG:3832 is centred on 150°E, so 179°E…179°W is one ordinary polygon there
    pacific = to_crs("Polygon((179 -17,181 -17,181 -16,179 -16,179 -17))", "EPSG:3832")
    layer = make_layer([pacific], crs="EPSG:3832", name="fiji")

    result = aois_from_layers([layer], POLYGONS)

    assert not result.refusals
    assert [a.part_index for a in result.aois] == [0, 1]
    west, east = sorted(result.aois, key=lambda a: exterior(a)[:, 0].min(), reverse=True)
    assert np.allclose(sorted(set(exterior(west)[:, 0])), [179, 180], atol=1e-6)
    assert np.allclose(sorted(set(exterior(east)[:, 0])), [-180, -179], atol=1e-6)
    for part in result.aois:
        assert_geojson_polygon_ok(part)
        assert any("antimeridian" in w for w in part.warnings)
    # the two halves are mirror images: same area, together the whole 2° × 1° box
    assert west.area_km2 == pytest.approx(east.area_km2, rel=1e-6)


def test_polygon_past_180_in_lonlat_is_split_or_kept_as_multipolygon(qgis_app):
    layer = make_layer([lonlat_box(179, 0, 181, 1)])

    split = aois_from_layers([layer], POLYGONS)
    kept = aois_from_layers([layer], POLYGONS_OR_MULTI)

    assert len(split.aois) == 2
    assert sum(a.area_km2 for a in split.aois) == pytest.approx(2 * CELL_EQUATOR_KM2, rel=1e-6)
    multi = only(kept)
    assert multi.geometry["type"] == "MultiPolygon" and len(multi.geometry["coordinates"]) == 2
    assert multi.area_km2 == pytest.approx(2 * CELL_EQUATOR_KM2, rel=1e-6)
    for polygon in multi.geometry["coordinates"]:
        assert all(-180 <= x <= 180 for x, _y in polygon[0])


def test_antimeridian_refused_when_product_says_so(qgis_app):
    layer = make_layer([lonlat_box(179, 0, 181, 1)], name="pacific")

    result = aois_from_layers([layer], AoiRules(antimeridian="refuse"))

    assert result.aois == []
    (refusal,) = result.refusals
    assert "antimeridian" in refusal.reason and "Feature 1" in refusal.reason and "'pacific'" in refusal.reason
    assert result.message and "antimeridian" in result.message


def test_lonlat_polygon_wider_than_half_the_world_is_taken_the_short_way(qgis_app):
    # 179°E → 179°W drawn in EPSG:4326: nobody tasks a 358°-wide strip; it is the 2° crossing
    layer = make_layer(["Polygon((179 0,-179 0,-179 1,179 1,179 0))"])

    result = aois_from_layers([layer], POLYGONS)

    assert sum(a.area_km2 for a in result.aois) == pytest.approx(2 * CELL_EQUATOR_KM2, rel=1e-6)


def test_polygon_entirely_past_180_is_shifted_back(qgis_app):
    layer = make_layer([lonlat_box(181, 0, 182, 1)])

    aoi = only(aois_from_layers([layer], POLYGONS))

    assert np.allclose(sorted(set(exterior(aoi)[:, 0])), [-179, -178])


# --- parts, holes, dimensions, curves ---------------------------------------------------------


MULTI = "MultiPolygon(((0 0,1 0,1 1,0 1,0 0)),((5 5,6 5,6 6,5 6,5 5)))"


def test_multipart_split_into_one_aoi_per_part(qgis_app):
    layer = make_layer([MULTI], kind="MultiPolygon")

    result = aois_from_layers([layer], POLYGONS)

    assert [(a.feature_id, a.part_index, a.geometry_type) for a in result.aois] == [
        (1, 0, "Polygon"),
        (1, 1, "Polygon"),
    ]
    assert all("split" in " ".join(a.warnings) for a in result.aois)
    assert result.multipart_policy == POLYGONS.multipart_policy() == "Multipart features are split: one AOI per part."


def test_multipart_kept_whole_when_product_accepts_multipolygon(qgis_app):
    layer = make_layer([MULTI], kind="MultiPolygon")

    result = aois_from_layers([layer], POLYGONS_OR_MULTI)

    aoi = only(result)
    assert aoi.geometry_type == "MultiPolygon" and len(aoi.geometry["coordinates"]) == 2
    assert aoi.vertex_count == 10
    assert result.multipart_policy == POLYGONS_OR_MULTI.multipart_policy() == (
        "Multipart features are kept whole (this product accepts MultiPolygon)."
    )


def test_single_part_multipolygon_becomes_a_polygon(qgis_app):
    layer = make_layer(["MultiPolygon(((0 0,1 0,1 1,0 1,0 0)))"], kind="MultiPolygon")

    aoi = only(aois_from_layers([layer], POLYGONS_OR_MULTI))

    assert aoi.geometry_type == "Polygon" and aoi.warnings == []


WITH_HOLE = "Polygon((0 0,10 0,10 10,0 10,0 0),(2 2,2 4,4 4,4 2,2 2))"


def test_holes_kept_when_allowed(qgis_app):
    aoi = only(aois_from_layers([make_layer([WITH_HOLE])], POLYGONS))

    assert len(aoi.geometry["coordinates"]) == 2
    assert_geojson_polygon_ok(aoi)
    assert aoi.area_km2 < BOX_10DEG_KM2 * 0.97


def test_holes_filled_with_a_warning_when_not_allowed(qgis_app):
    aoi = only(aois_from_layers([make_layer([WITH_HOLE])], AoiRules(holes_allowed=False)))

    assert len(aoi.geometry["coordinates"]) == 1
    assert any("hole" in w for w in aoi.warnings)
    assert aoi.area_km2 == pytest.approx(BOX_10DEG_KM2, rel=1e-6)


def test_z_and_m_dropped(qgis_app):
    layer = make_layer(["PolygonZM((0 0 100 1,1 0 100 2,1 1 100 3,0 1 100 4,0 0 100 1))"], kind="PolygonZM")

    aoi = only(aois_from_layers([layer], POLYGONS))

    assert all(len(position) == 2 for position in aoi.geometry["coordinates"][0])
    assert any("Z/M" in w for w in aoi.warnings)
    assert aoi.area_km2 == pytest.approx(CELL_EQUATOR_KM2, rel=1e-6)


def test_triangle_becomes_a_polygon(qgis_app):
    layer = make_layer(["Triangle((0 0,1 0,1 1,0 0))"])

    aoi = only(aois_from_layers([layer], POLYGONS))

    assert_geojson_polygon_ok(aoi)
    assert aoi.vertex_count == 4
    assert aoi.area_km2 == pytest.approx(CELL_EQUATOR_KM2 / 2, rel=1e-3)


def test_curve_polygon_is_segmentised(qgis_app):
    circle = "CurvePolygon(CircularString(10 50, 10.2 50.2, 10.4 50, 10.2 49.8, 10 50))"
    layer = make_layer([circle], kind="CurvePolygon")

    aoi = only(aois_from_layers([layer], POLYGONS))

    assert aoi.geometry_type == "Polygon" and aoi.vertex_count > 50
    assert any("Curves" in w for w in aoi.warnings)
    ring = exterior(aoi)
    centre = np.array([10.2, 50.0])
    assert np.allclose(np.hypot(*(ring - centre).T), 0.2, atol=1e-6)  # vertices lie on the circle


# --- validity, vertex limit, area limits ------------------------------------------------------


def test_bow_tie_repaired_into_two_triangles_with_a_warning(qgis_app):
    layer = make_layer(["Polygon((0 0,2 2,2 0,0 2,0 0))"])

    result = aois_from_layers([layer], POLYGONS)

    assert len(result.aois) == 2
    for part in result.aois:
        assert_geojson_polygon_ok(part)
        assert any("invalid" in w and "Self-intersection" in w for w in part.warnings)
    assert result.aois[0].area_km2 == pytest.approx(result.aois[1].area_km2, rel=1e-3)


# QGIS 3.40.6's own makeValid() and buffer(0) crash the process on this polygon (its inner ring folds back
# onto itself); 3.22 and 3.44 survive it. The AOI code repairs through OGR instead, on every version.
POLYGON_THAT_CRASHES_QGIS_3_40_MAKEVALID = (
    "Polygon ((10 50, 4.613901 48.169918, 16.737365 50, 10 50),"
    "(10 48.849627, 10 50, 11.622957 50, 10 50, 10 48.849627))"
)


def test_polygon_that_crashes_qgis_makevalid_is_repaired_without_it(qgis_app):
    layer = make_layer([POLYGON_THAT_CRASHES_QGIS_3_40_MAKEVALID], name="parcels")

    result = aois_from_layers([layer], POLYGONS)

    assert not result.refusals, [r.reason for r in result.refusals]
    (aoi,) = result.aois
    assert_geojson_polygon_ok(aoi)
    assert any("invalid" in w and "repaired" in w for w in aoi.warnings)
    assert aoi.area_km2 > 1000  # the outer triangle is kept


@pytest.mark.parametrize("wkt", [
    "Polygon((0 0,2 2,2 0,0 2,0 0))",
    POLYGON_THAT_CRASHES_QGIS_3_40_MAKEVALID,
])
def test_repairs_never_call_the_qgis_methods_that_crash_some_versions(qgis_app, monkeypatch, wkt):
    def crashes_on_qgis_3_40(*_args, **_kwargs):
        raise AssertionError("QgsGeometry.makeValid/buffer crash QGIS 3.40.6 on some polygons")

    monkeypatch.setattr(QgsGeometry, "makeValid", crashes_on_qgis_3_40)
    monkeypatch.setattr(QgsGeometry, "buffer", crashes_on_qgis_3_40)
    layer = make_layer([wkt])

    result = aois_from_layers([layer], POLYGONS)

    assert result.aois and not result.refusals


def test_without_gdal_python_an_invalid_outline_is_refused_with_a_sentence(qgis_app, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_osgeo(name, *args, **kwargs):
        if name == "osgeo" or name.startswith("osgeo."):
            raise ImportError("No module named 'osgeo'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_osgeo)
    layer = make_layer(["Polygon((0 0,2 2,2 0,0 2,0 0))", lonlat_box(10, 50, 11, 51)], name="parcels")

    result = aois_from_layers([layer], POLYGONS)

    (refusal,) = result.refusals
    assert "invalid" in refusal.reason and "Fix geometries" in refusal.reason
    assert len(result.aois) == 1  # the valid feature is not held back by its neighbour


def test_collapsed_polygon_refused_with_the_reason(qgis_app):
    layer = make_layer(["Polygon((0 0,1 0,2 0,0 0))"], name="parcels")

    result = aois_from_layers([layer], POLYGONS)

    (refusal,) = result.refusals
    assert "Feature 1 of layer 'parcels'" in refusal.reason and "invalid" in refusal.reason
    assert result.message


def test_detailed_outline_simplified_to_the_vertex_limit_and_reported(qgis_app):
    angles = np.linspace(0, 2 * math.pi, 3000, endpoint=False)
    xs = list(20 + 0.3 * np.cos(angles) * (1 + 0.01 * np.sin(40 * angles)))
    ys = list(-30 + 0.3 * np.sin(angles) * (1 + 0.01 * np.sin(40 * angles)))
    layer = make_layer([QgsGeometry(QgsPolygon(QgsLineString(xs + xs[:1], ys + ys[:1])))])
    before = only(aois_from_layers([layer], AoiRules(max_vertices=5000)))

    aoi = only(aois_from_layers([layer], AoiRules(max_vertices=400)))

    assert before.vertex_count == 3001 and before.warnings == []
    assert 100 < aoi.vertex_count <= 400
    (note,) = aoi.warnings
    assert f"from 3001 to {aoi.vertex_count} vertices" in note and "limit 400" in note and "area changed" in note
    assert_geojson_polygon_ok(aoi)
    assert aoi.area_km2 == pytest.approx(before.area_km2, rel=5e-3)


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        (AoiRules(max_area_km2=1000), "more than this product's maximum of 1,000.0 km²"),
        (AoiRules(min_area_km2=20000), "less than this product's minimum of 20,000.000 km²"),
    ],
)
def test_area_limits_refuse_with_the_reason(qgis_app, rules, words):
    layer = make_layer([lonlat_box(0, 0, 1, 1)], name="cells")

    result = aois_from_layers([layer], rules)

    (refusal,) = result.refusals
    assert words in refusal.reason
    assert "Feature 1 of layer 'cells' covers 12,308" in refusal.reason
    assert result.message and "None of the selected features" in result.message


def test_area_within_limits_passes(qgis_app):
    aoi = only(aois_from_layers([make_layer([lonlat_box(0, 0, 1, 1)])], AoiRules(min_area_km2=25, max_area_km2=20000)))
    assert aoi.area_km2 == pytest.approx(CELL_EQUATOR_KM2, rel=1e-6)


def test_coordinates_far_outside_the_crs_are_refused_naming_the_feature(qgis_app):
    layer = make_layer(["Polygon((0 0,1e10 0,1e10 1e10,0 1e10,0 0))", lonlat_box(0, 0, 1, 1)], crs="EPSG:3857")
    layer.selectByIds([1])

    result = aois_from_layers([layer], POLYGONS)

    (refusal,) = result.refusals
    assert refusal.feature_id == 1
    assert "Feature 1 of layer 'fields'" in refusal.reason
    assert "outside the area where EPSG:3857 is valid" in refusal.reason


# --- points and lines -------------------------------------------------------------------------


def test_point_layer_gives_point_aois_for_point_products(qgis_app):
    layer = make_layer(["MultiPoint((1 2),(3 4))", "MultiPoint((181 5))"], kind="MultiPoint", name="sites")

    result = aois_from_layers([layer], AoiRules(geometry_types=frozenset({"Point"})))

    geometries = sorted((a.feature_id, a.part_index, a.geometry["type"], tuple(a.geometry["coordinates"]))
                        for a in result.aois)
    assert geometries == [(1, 0, "Point", (1.0, 2.0)), (1, 1, "Point", (3.0, 4.0)), (2, 0, "Point", (-179.0, 5.0))]
    assert all(a.area_km2 == 0 and a.vertex_count == 1 for a in result.aois)


def test_point_in_utm_is_transformed(qgis_app):
    layer = make_layer(["Point(500000 0)"], crs="EPSG:32633", kind="Point")

    aoi = only(aois_from_layers([layer], AoiRules(geometry_types=frozenset({"Point"}))))

    assert aoi.geometry == {"type": "Point", "coordinates": [15.0, 0.0]}


def test_line_layer_gives_linestring_aois_for_strip_products(qgis_app):
    line = to_crs("LineString(10 50, 10.5 50.2, 11 50)", "EPSG:3857")
    layer = make_layer([line, "LineString(0 0, 0 0)"], crs="EPSG:3857", kind="LineString", name="strips")

    result = aois_from_layers([layer], AoiRules(geometry_types=frozenset({"LineString"})))

    (aoi,) = result.aois
    assert aoi.geometry["type"] == "LineString"
    assert np.allclose(aoi.geometry["coordinates"], [[10, 50], [10.5, 50.2], [11, 50]], atol=2e-7)
    (refusal,) = result.refusals
    assert "zero length" in refusal.reason or "no geometry" in refusal.reason


def test_line_across_antimeridian_is_split(qgis_app):
    layer = make_layer(["LineString(179 0, 181 1)"], kind="LineString")

    result = aois_from_layers([layer], AoiRules(geometry_types=frozenset({"LineString"})))

    assert [a.geometry["type"] for a in result.aois] == ["LineString", "LineString"]
    assert all(-180 <= x <= 180 for a in result.aois for x, _y in a.geometry["coordinates"])


# --- nothing usable: a clear message, no dialog full of nothing ---------------------------------


def test_no_selection_gives_a_message(qgis_app):
    layer = make_layer([lonlat_box(0, 0, 1, 1)], select=False, name="fields")

    result = aois_from_layers([layer], POLYGONS)

    assert result.aois == [] and result.refusals == []
    assert result.message == "Select at least one polygon feature: nothing is selected on 'fields'."


def test_no_layers_gives_a_message(qgis_app):
    result = aois_from_layers([], POLYGONS)

    assert result.aois == [] and "Select a polygon layer" in result.message


def test_raster_layer_gives_a_message(qgis_app):
    raster = QgsRasterLayer("", "dem")

    result = aois_from_layers([raster], POLYGONS)

    assert result.aois == []
    assert "'dem' is not a vector layer" in result.message


def test_point_layer_with_a_polygon_product_gives_a_message(qgis_app):
    layer = make_layer(["Point(1 2)"], kind="Point", name="wells")

    result = aois_from_layers([layer], POLYGONS)

    assert result.aois == []
    assert "'wells' holds points; this product accepts polygons only" in result.message


def test_table_without_geometry_gives_a_message(qgis_app):
    table = QgsVectorLayer("None", "attributes", "memory")

    result = aois_from_layers([table], POLYGONS)

    assert "'attributes' has no geometries" in result.message


def test_unusable_layers_are_noted_beside_usable_ones(qgis_app):
    fields = make_layer([lonlat_box(0, 0, 1, 1)], name="fields")

    result = aois_from_layers([QgsRasterLayer("", "dem"), fields], POLYGONS)

    assert result.message is None and len(result.aois) == 1
    assert result.notes == ["Layer 'dem' is not a vector layer."]


def test_several_layers_in_different_crs(qgis_app):
    a = make_layer([lonlat_box(0, 0, 1, 1)], name="a")
    b = make_layer([to_crs(lonlat_box(10, 60, 11, 61), "EPSG:3857")], crs="EPSG:3857", name="b")

    result = aois_from_layers([a, b], POLYGONS)

    assert {(x.source_layer_name, round(x.area_km2, 2)) for x in result.aois} == {
        ("a", round(CELL_EQUATOR_KM2, 2)),
        ("b", round(CELL_60N_KM2, 2)),
    }


def test_features_without_geometry_are_refused(qgis_app):
    layer = make_layer([QgsGeometry(), lonlat_box(0, 0, 1, 1)])

    result = aois_from_layers([layer], POLYGONS)

    assert len(result.aois) == 1
    (refusal,) = result.refusals
    assert refusal.reason == "Feature 1 of layer 'fields' has no geometry."


def test_aois_from_features_with_explicit_crs_and_context(qgis_app):
    layer = make_layer([to_crs(lonlat_box(0, 0, 1, 1), "EPSG:3857")], crs="EPSG:3857")

    result = aois_from_features(
        layer.getFeatures(), layer.crs(), POLYGONS, "given name", QgsProject.instance().transformContext()
    )

    aoi = only(result)
    assert aoi.source_layer_name == "given name"
    assert aoi.area_km2 == pytest.approx(CELL_EQUATOR_KM2, rel=1e-6)


def test_nan_coordinates_refused(qgis_app):
    ring = QgsLineString([QgsPoint(0, 0), QgsPoint(1, 0), QgsPoint(float("nan"), 1), QgsPoint(0, 1), QgsPoint(0, 0)])
    layer = make_layer([QgsGeometry(QgsPolygon(ring))])

    result = aois_from_layers([layer], POLYGONS)

    (refusal,) = result.refusals
    assert "not numbers" in refusal.reason
