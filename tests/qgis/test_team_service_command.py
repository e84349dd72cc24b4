"""`python3 -m satellite_tasking.service` for real: a QGIS profile's team connection synced into PostGIS by the
command, once; a second run while a desktop syncs that connection leaves it alone without asking the provider."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytest.importorskip("psycopg2")

ROOT = Path(__file__).resolve().parents[2]
QUIET = {"planet_max_active_orders": 50, "planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
         "planet_reassessment_rate": 0.0, "up42_failure_rate": 0.0}
# Saved where QGIS started on that profile keeps it: <profile folder>/QGIS/QGIS3.ini (settings named QGIS/QGIS3).
SAVE_CONNECTION = """
import sys
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, QSettings
from satellite_tasking.plugin.model import Connection, ConnectionKind
from satellite_tasking.plugin.settings import ConnectionSettings
QCoreApplication.setOrganizationName("QGIS")
QCoreApplication.setApplicationName("QGIS3")
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
app = QgsApplication([], False, sys.argv[1])
app.initQgis()
# After QGIS starts: QGIS 3.40 and later open the default profile whatever folder they are given.
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
ConnectionSettings().save(Connection(id="team-sandbox", name="Team sandbox", kind=ConnectionKind.SANDBOX))
app.exitQgis()
"""


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(seed=3, speed=0, settings=QUIET)


def provider_requests(server) -> int:
    log = requests.get(server.base_url + "/_sandbox/requests", timeout=30).json()["requests"]
    return sum(1 for entry in log if not entry["path"].startswith("/_sandbox"))


def test_the_command_syncs_a_profiles_team_connection_once_and_respects_the_sync_lock(
        sandbox, postgis_conninfo, tmp_path):
    from satellite_tasking.plugin.store_postgis import PostgisStore

    requests.post(sandbox.base_url + "/_sandbox/planet/seed_orders", json={"count": 12, "captures_per_order": 2},
                  timeout=30).raise_for_status()
    (tmp_path / "satellite_tasking").symlink_to(ROOT)  # as installed: a folder named after the plugin
    profile = tmp_path / "profile"
    profile.mkdir()
    environment = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
                   "QT_QPA_PLATFORM": "offscreen"}
    environment.pop("PYTHONPATH", None)
    subprocess.run([sys.executable, "-c", SAVE_CONNECTION, str(profile)], cwd=tmp_path, env=environment,
                   check=True, capture_output=True, timeout=120)
    command = [sys.executable, "-m", "satellite_tasking.service", "--store", postgis_conninfo, "--once",
               "--profile", str(profile), "--sandbox-url", sandbox.base_url, "--connection", "team-sandbox"]

    done = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (profile / "QGIS" / "QGIS3.ini").is_file()
    store = PostgisStore(postgis_conninfo)
    assert store.counts("team-sandbox")["tasking_orders"] == 12
    assert "team-sandbox: 12 new" in done.stderr

    asked = provider_requests(sandbox)
    with store.sync_lock("team-sandbox") as held:  # a desktop syncing it right now
        assert held
        second = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True,
                                timeout=180)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "synced elsewhere" in second.stderr and provider_requests(sandbox) == asked
