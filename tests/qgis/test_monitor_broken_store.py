"""Start-up with a store that cannot be used: the plugin loads and the dock says why, in a sentence."""
import os
import sqlite3

import pytest

from satellite_tasking.plugin import store as store_module
from satellite_tasking.plugin.store import TaskingStore


@pytest.fixture
def start_with(load_plugin):
    """Loads the plugin on a project whose store is ``path`` (syncing every 0.2 s)."""
    return lambda path: load_plugin(seed=5, sync_interval=0.2, store_path=path)


def dock_error(plugin):
    return plugin.monitor_dock.errorLabel.text()


def test_a_damaged_store_is_a_sentence_in_the_dock_not_a_traceback(start_with, tmp_path):
    path = tmp_path / "orders.gpkg"
    path.write_bytes(b"this is not a GeoPackage\n" * 40)
    plugin = start_with(path)
    assert plugin.monitor.store is None
    assert "not a GeoPackage" in dock_error(plugin) and str(path) in dock_error(plugin)
    assert plugin.monitor.sync_all() == []  # nothing synced into a file that is not the store
    assert path.read_bytes() == b"this is not a GeoPackage\n" * 40


def test_another_applications_file_named_by_a_project_is_left_alone(start_with, tmp_path):
    path = tmp_path / "their.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()
    before = path.read_bytes()
    plugin = start_with(path)
    assert "another application" in dock_error(plugin)
    assert path.read_bytes() == before


def test_a_read_only_store_is_shown_with_syncing_off(start_with, tmp_path, monkeypatch):
    path = tmp_path / "orders.gpkg"
    TaskingStore(path)
    real_access = os.access
    monkeypatch.setattr(store_module.os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    plugin = start_with(path)
    assert plugin.monitor.store is not None and plugin.monitor.store.read_only
    assert "syncing is off" in dock_error(plugin)
    assert plugin.monitor.sync_all() == []
