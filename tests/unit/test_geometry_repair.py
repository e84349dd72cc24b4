"""Repairs of invalid outlines never take the process down, on any GEOS (plugin/geometry_repair.py).

Each repair runs in a child process here, so that a crash of GEOS shows as a failed test with its signal
instead of ending the whole test run (the plugin itself calls the repair in QGIS's process).
"""
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("geometry_repair", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from osgeo import ogr
wkb = bytes.fromhex(sys.stdin.read())
repaired = module.make_valid_wkb(wkb)
if repaired is None:
    print(json.dumps(None))
else:
    geometry = ogr.CreateGeometryFromWkb(repaired)
    print(json.dumps({"valid": geometry.IsValid(), "area": geometry.GetArea(), "wkt": geometry.ExportToWkt()}))
"""


def polygon_wkb(*rings):
    """2D polygon WKB (little endian) with exactly the rings given, empty ones included."""
    body = struct.pack("<BII", 1, 3, len(rings))
    for ring in rings:
        body += struct.pack("<I", len(ring)) + b"".join(struct.pack("<dd", x, y) for x, y in ring)
    return body


def repaired_in_a_child(wkb: bytes):
    pytest.importorskip("osgeo.ogr")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT / "plugin" / "geometry_repair.py")],
        input=wkb.hex(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, f"the repair crashed (exit {result.returncode}): {result.stderr[-2000:]}"
    return json.loads(result.stdout)


OUTLINE = [(10.0, 45.4728757), (14.0049213, 49.9998238), (5.0997228, 50.0), (10.0, 50.0), (7.3924429, 45.4728757),
           (14.9407341, 51.4219607), (10.0, 50.0), (3.2626354, 51.970585), (10.0000449, 50.0), (5.0592659, 50.0),
           (10.0, 45.4728757)]


def test_a_polygon_with_an_empty_ring_is_repaired_without_crashing_geos():
    # GEOS 3.15 (Debian sid, QGIS 3.44) segfaults in MakeValid on this shape, found by the AOI property test
    wkb = polygon_wkb(OUTLINE, [(10.000018, 50.4151999), (10.000018, 50.4151999)], [])

    repaired = repaired_in_a_child(wkb)

    assert repaired["valid"] and repaired["area"] > 1


def test_the_polygon_that_crashes_qgis_3_40_makevalid_is_repaired():
    wkb = polygon_wkb([(10, 50), (4.613901, 48.169918), (16.737365, 50), (10, 50)],
                      [(10, 48.849627), (10, 50), (11.622957, 50), (10, 50), (10, 48.849627)])

    repaired = repaired_in_a_child(wkb)

    assert repaired["valid"] and repaired["area"] > 1


def test_a_bow_tie_keeps_both_halves():
    repaired = repaired_in_a_child(polygon_wkb([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)]))

    assert repaired["valid"] and repaired["area"] == pytest.approx(2.0)


def test_an_outline_without_area_leaves_nothing():
    assert repaired_in_a_child(polygon_wkb([(0, 0), (1, 1), (0, 0), (0, 0)])) is None
    assert repaired_in_a_child(polygon_wkb([])) is None
