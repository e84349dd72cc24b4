"""`qgis_process run satellitetasking:<algorithm>` as a subprocess, with the plugin in a profile of its own."""
import importlib.util
import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from qgis.core import QgsVectorLayer

from satellite_tasking.plugin.model import Connection, ConnectionKind
from satellite_tasking.plugin.providers.registry import create_provider
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.sessions import SessionFactory

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "resources" / "sample" / "berlin_aois.geojson"
# Debian's /usr/bin/qgis_process wrapper adds --noversioncheck, which qgis_process 3.22 refuses: call the binary.
QGIS_PROCESS = shutil.which("qgis_process.bin") or shutil.which("qgis_process")
TIMEOUT = 120

pytestmark = pytest.mark.skipif(QGIS_PROCESS is None, reason="qgis_process is not installed")


def load_profile_builder():
    spec = importlib.util.spec_from_file_location("qgis_profile", REPO_ROOT / "scripts" / "qgis_profile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """A profiles folder whose default profile has the plugin (a symlink to this checkout) enabled."""
    from satellite_tasking.plugin.plugin import TaskingPlugin

    # qgis_process loads a plugin through classFactory(None).initProcessing(), never initGui().
    assert hasattr(TaskingPlugin, "initProcessing"), "TaskingPlugin needs initProcessing() for qgis_process"
    folder = tmp_path_factory.mktemp("qgis-process-profiles")
    load_profile_builder().build_profile(folder, REPO_ROOT)
    return folder


def qgis_process(profiles, *args, sandbox_url=None):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_CUSTOM_CONFIG_PATH": str(profiles)}
    env.pop("SATELLITE_TASKING_SANDBOX_URL", None)
    if sandbox_url:
        env["SATELLITE_TASKING_SANDBOX_URL"] = sandbox_url
    done = subprocess.run([QGIS_PROCESS, "--json", *args], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    start = done.stdout.find("{")
    answer = json.loads(done.stdout[start:]) if start >= 0 and done.returncode == 0 else None
    return done, answer


def test_place_orders_from_the_command_line_twice_places_once(profiles, tmp_path):
    with SandboxServer(port=0, seed=3, speed=0) as sandbox:
        arguments = ["run", "satellitetasking:placeorders", "--", "CONNECTION=Sandbox", "PRODUCT=planet:area",
                     f"INPUT={SAMPLE}", "NAME=CLI fields", "PARAMS={\"sat_elevation_angle_min\": 70}",
                     "START=2026-01-10T00:00:00Z", "END=2026-01-30T00:00:00Z", "CLIENT_REFERENCE=cli-run-1"]
        first, answer = qgis_process(profiles, *arguments, f"OUTPUT={tmp_path / 'first.gpkg'}",
                                     sandbox_url=sandbox.base_url)
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
        results = answer["results"]
        assert results["PLACED"] == 6 and results["FAILED"] == 0  # 5 features, one of two parts
        assert results["CLIENT_REFERENCE"] == "cli-run-1"
        layer = QgsVectorLayer(results["OUTPUT"], "placed", "ogr")
        assert layer.isValid() and layer.crs().authid() == "EPSG:4326"
        first_ids = sorted(f["order_id"] for f in layer.getFeatures())
        assert len(set(first_ids)) == 6 and all(first_ids)

        again, answer = qgis_process(profiles, *arguments, f"OUTPUT={tmp_path / 'again.gpkg'}",
                                     sandbox_url=sandbox.base_url)
        assert again.returncode == 0, again.stderr[-2000:]
        assert sorted(f["order_id"] for f in QgsVectorLayer(answer["results"]["OUTPUT"], "again", "ogr")
                      .getFeatures()) == first_ids

        connection = Connection(id="sandbox", name="Sandbox", kind=ConnectionKind.SANDBOX)
        provider = create_provider(connection, None, SessionFactory(agent="test"), sandbox_url=sandbox.base_url)
        ours = sorted(o.id for o in provider.orders() if "[cli-run-1]" in o.name)
        assert ours == first_ids


def test_bad_parameters_fail_with_a_sentence(profiles, tmp_path):
    with SandboxServer(port=0, seed=3, speed=0) as sandbox:
        done, _ = qgis_process(profiles, "run", "satellitetasking:estimateorders", "--", "CONNECTION=Sandbox",
                               "PRODUCT=planet:area", f"INPUT={SAMPLE}", "PARAMS={\"sat_elevation_angle_min\": 95}",
                               f"OUTPUT={tmp_path / 'x.gpkg'}", sandbox_url=sandbox.base_url)
    assert done.returncode != 0
    assert "do not fit “Area order”" in done.stdout + done.stderr
    assert "sat_elevation_angle_min" in done.stdout + done.stderr


def test_headless_sandbox_starts_inside_qgis_process_and_keeps_its_orders(profiles, tmp_path):
    """No URL given: the plugin's own sandbox starts in qgis_process, its state in the profile folder."""
    # The plugin's sandbox lives in the real present: the window starts tomorrow.
    start = datetime.now(timezone.utc) + timedelta(days=1)
    placed, answer = qgis_process(profiles, "run", "satellitetasking:placeorders", "--", "CONNECTION=sandbox",
                                  "PRODUCT=Area order", f"INPUT={SAMPLE}", "NAME=Headless",
                                  f"START={start:%Y-%m-%dT00:00:00Z}",
                                  f"END={start + timedelta(days=19):%Y-%m-%dT00:00:00Z}",
                                  f"OUTPUT={tmp_path / 'placed.gpkg'}")
    assert placed.returncode == 0, placed.stdout[-2000:] + placed.stderr[-2000:]
    assert answer["results"]["PLACED"] == 6
    assert (profiles / "profiles" / "default" / "satellite_tasking" / "sandbox-state.json").is_file()
    # A second process, a second sandbox start: the orders of the first are there.
    synced, answer = qgis_process(profiles, "run", "satellitetasking:syncorders", "--", "CONNECTION=Sandbox",
                                  f"GEOPACKAGE={tmp_path / 'tasking.gpkg'}")
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert answer["results"]["ORDER_COUNT"] >= 6
    names = [f["name"] for f in QgsVectorLayer(answer["results"]["ORDERS"], "orders", "ogr").getFeatures()]
    assert sum(name.startswith("Headless") for name in names) == 6
