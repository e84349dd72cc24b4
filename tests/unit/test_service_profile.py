"""The sync service's command reads the team's connections from the QGIS profile it is given (``--profile``).

A program of its own making a QgsApplication gets only the authentication database from its profile folder: its
settings would come from ~/.config/Unknown Organization.conf, and the service would sync no connection at all.
"""
import subprocess
import sys
from pathlib import Path

from satellite_tasking.plugin.settings import CONNECTIONS_GROUP, SANDBOX_CONNECTION_ID
from satellite_tasking.plugin.store_postgis import PostgisStore

ROOT = Path(__file__).resolve().parents[2]


def write_profile(folder: Path, values: dict) -> Path:
    """A QGIS profile folder whose QGIS/QGIS3.ini holds ``values``, as QGIS writes it."""
    from qgis.PyQt.QtCore import QSettings

    (folder / "QGIS").mkdir(parents=True)
    settings = QSettings(str(folder / "QGIS" / "QGIS3.ini"), QSettings.Format.IniFormat)
    for key, value in values.items():
        settings.setValue(key, value)
    settings.sync()
    return folder


def run_service(tmp_path, postgis_conninfo, sandbox, *connection_ids) -> subprocess.CompletedProcess:
    """The service command, once, on a profile holding the Sandbox connection, syncing ``connection_ids``."""
    profile = write_profile(tmp_path / "profiles" / "service", {
        f"{CONNECTIONS_GROUP}/{SANDBOX_CONNECTION_ID}/name": "Sandbox",
        f"{CONNECTIONS_GROUP}/{SANDBOX_CONNECTION_ID}/kind": "sandbox"})
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "satellite_tasking").symlink_to(ROOT)  # as installed: a folder named after the plugin
    home = tmp_path / "home"  # nothing of the user's own settings may stand in for the profile's
    home.mkdir()
    wanted = [argument for connection_id in connection_ids for argument in ("--connection", connection_id)]
    return subprocess.run(
        [sys.executable, "-m", "satellite_tasking.service", "--store", postgis_conninfo, "--once", "--profile",
         str(profile), *wanted, "--sandbox-url", sandbox.base_url],
        capture_output=True, text=True, timeout=180, cwd=plugins,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
             "XDG_RUNTIME_DIR": str(tmp_path), "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"})


def test_the_service_syncs_the_connections_of_the_profile_it_is_given(tmp_path, postgis_conninfo, start_sandbox):
    done = run_service(tmp_path, postgis_conninfo, start_sandbox(), SANDBOX_CONNECTION_ID)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sandbox:" in done.stderr, done.stderr[-3000:]  # one line per connection and round
    assert [s[0] for s in PostgisStore(postgis_conninfo).syncers(SANDBOX_CONNECTION_ID)] == ["service"]


def test_a_connection_id_the_profile_does_not_have_is_said_not_passed_over(tmp_path, postgis_conninfo, start_sandbox):
    done = run_service(tmp_path, postgis_conninfo, start_sandbox(), "sandbx", SANDBOX_CONNECTION_ID)
    assert "No connection 'sandbx' in this profile, so it is not synced" in done.stderr, done.stderr[-3000:]
    assert f"Its connections: '{SANDBOX_CONNECTION_ID}'" in done.stderr
    assert "sandbox:" in done.stderr  # the connection that exists is synced all the same
