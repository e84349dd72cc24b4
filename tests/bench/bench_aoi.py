"""Benchmark: AOIs from 10,000 selected 200-vertex polygons in EPSG:3857, against the floor.

The floor is the least any AOI preparation must do: read the selected geometries from the layer and
transform them to EPSG:4326 with one QgsCoordinateTransform. The pipeline (``aois_from_layers``) must
take at most 1.5 × the floor. Also printed, for information: the same on polygons that are not
star-shaped (they take GEOS's validity check), and the cost of building every AOI's GeoJSON dict,
which happens when orders are sent, not when the dialog opens.

Each figure is the best of R runs (the machine is shared; the best run is the one least disturbed).
Floor and pipeline runs alternate, in turns that swap which goes first, so both sides see the same
load and the same caches; each pipeline run starts with the previous run's AOIs freed, as each floor
run starts with the previous run's geometries freed. The median ratio is printed too, for information.
Run: .venv/bin/python tests/bench/bench_aoi.py [--features N] [--vertices V] [--repeat R] [--repeat-info R]
"""
import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests"))
import conftest  # noqa: E402,F401  (registers the plugin as the satellite_tasking package)
from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureRequest,
    QgsGeometry,
    QgsLineString,
    QgsPolygon,
    QgsProject,
    QgsVectorLayer,
)

from satellite_tasking.plugin.aoi import AoiRules, aois_from_layers  # noqa: E402

TARGET_RATIO = 1.5


def star_ring(rng, cx, cy, radius, vertices, notch=False):
    xs, ys = [], []
    for k in range(vertices - 1):
        angle = 2 * math.pi * k / (vertices - 1)
        r = radius * rng.uniform(0.7, 1.0)
        if notch and 0.1 < angle < 1.2:
            # a deep narrow notch makes the polygon not star-shaped around its vertex mean
            r = radius * (0.05 if k % 2 else 0.9)
        xs.append(cx + r * math.cos(angle))
        ys.append(cy + r * math.sin(angle))
    xs.append(xs[0])
    ys.append(ys[0])
    return QgsLineString(xs, ys)


def build_layer(count, vertices, seed, notch=False):
    rng = random.Random(seed)
    layer = QgsVectorLayer("Polygon?crs=EPSG:3857", f"bench{'_notched' if notch else ''}", "memory")
    features = []
    for _ in range(count):
        cx = rng.uniform(-15e6, 15e6)
        cy = rng.uniform(-7e6, 7e6)
        polygon = QgsPolygon()
        polygon.setExteriorRing(star_ring(rng, cx, cy, rng.uniform(1e3, 5e4), vertices, notch))
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry(polygon))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    layer.selectAll()
    return layer


def floor_seconds(layer):
    context = QgsProject.instance().transformContext()
    transform = QgsCoordinateTransform(layer.crs(), QgsCoordinateReferenceSystem("EPSG:4326"), context)
    request = QgsFeatureRequest().setNoAttributes()
    start = time.perf_counter()
    out = []
    for feature in layer.getSelectedFeatures(request):
        geometry = feature.geometry()
        geometry.transform(transform)
        out.append(geometry)
    seconds = time.perf_counter() - start
    assert len(out) == layer.selectedFeatureCount()
    return seconds


def pipeline_seconds(layer, rules):
    start = time.perf_counter()
    result = aois_from_layers([layer], rules)
    seconds = time.perf_counter() - start
    return seconds, result


def best_of(repeat, floor_run, pipeline_run):
    """(floor seconds, pipeline seconds, last pipeline result) of each turn, floor and pipeline alternating."""
    floors, pipes, result = [], [], None
    for turn in range(repeat):
        result = None  # free the previous AOIs first: the floor's geometries are freed when it returns
        if turn % 2:
            seconds, result = pipeline_run()
            pipes.append(seconds)
            floors.append(floor_run())
        else:
            floors.append(floor_run())
            seconds, result = pipeline_run()
            pipes.append(seconds)
    return floors, pipes, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--vertices", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=9, help="turns for the measured ratio")
    parser.add_argument("--repeat-info", type=int, default=3, help="turns for the not-star-shaped figure")
    args = parser.parse_args()
    app = QgsApplication([], False)
    app.initQgis()
    rules = AoiRules()
    layer = build_layer(args.features, args.vertices, seed=1)
    notched = build_layer(args.features, args.vertices, seed=2, notch=True)
    floors, pipes, result = best_of(
        args.repeat, lambda: floor_seconds(layer), lambda: pipeline_seconds(layer, rules)
    )
    floors_n, pipes_n, result_n = best_of(
        args.repeat_info, lambda: floor_seconds(notched), lambda: pipeline_seconds(notched, rules)
    )
    assert len(result.aois) == args.features, (len(result.aois), result.refusals[:3])
    assert len(result_n.aois) == args.features, (len(result_n.aois), result_n.refusals[:3])
    start = time.perf_counter()
    vertices = sum(len(aoi.geometry["coordinates"][0]) for aoi in result.aois)
    geojson_seconds = time.perf_counter() - start
    floor, pipe = min(floors), min(pipes)
    ratio = pipe / floor
    ratio_n = min(pipes_n) / min(floors_n)
    median_ratio = statistics.median(pipes) / statistics.median(floors)
    print(f"AOIs from {args.features:,} selected polygons of {args.vertices} vertices, EPSG:3857 -> EPSG:4326")
    print(f"floor (read + transform) seconds:    {floor:.3f}  (best of {args.repeat})")
    print(f"pipeline (aois_from_layers) seconds: {pipe:.3f}  (best of {args.repeat})")
    print(f"ratio: {ratio:.2f}  {'PASS' if ratio <= TARGET_RATIO else 'FAIL'} (target <= {TARGET_RATIO})")
    print(f"info: ratio of the medians {median_ratio:.2f}")
    print(f"info: not star-shaped polygons (GEOS validity path): floor {min(floors_n):.3f} s, "
          f"pipeline {min(pipes_n):.3f} s, ratio {ratio_n:.2f}")
    print(f"info: building all GeoJSON dicts on use ({vertices:,} positions): {geojson_seconds:.3f} s")
    app.exitQgis()
    return 0  # the verdict is printed; timings on a shared machine are too noisy to fail a build on


if __name__ == "__main__":
    sys.exit(main())
