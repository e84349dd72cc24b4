"""`make demo` end to end: the script runs headless and offline and leaves a GeoPackage and a rendered map."""
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from qgis.PyQt.QtGui import QImage

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_demo_writes_the_store_and_renders_a_map(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("SATELLITE_TASKING_SANDBOX_URL", None)
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "demo.py"), "--output", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Orders placed: 8 (0 AOIs without an order)" in done.stdout
    assert "2 feasibility options chosen, 2 quotes accepted" in done.stdout

    with sqlite3.connect(tmp_path / "tasking.gpkg") as db:
        orders = db.execute("SELECT api, status, decision, geom IS NOT NULL FROM tasking_orders").fetchall()
        captures = db.execute("SELECT assessment, outcome, geom IS NOT NULL FROM tasking_captures").fetchall()
    assert len(orders) == 8
    assert {api for api, *_ in orders} == {"planet", "up42"}
    assert all(has_geometry for *_, has_geometry in orders)
    assert sum(status == "completed" for _, status, _, _ in orders) >= 4
    assert all(decision == "none" for _, _, decision, _ in orders)  # every decision was made
    assert {"success", "invalid"} <= {outcome for _, outcome, _ in captures}
    assert all(has_geometry for *_, has_geometry in captures)

    image = QImage(str(tmp_path / "map.png"))
    assert (image.width(), image.height()) == (1400, 1000)
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 20, "the map is (nearly) one colour"
