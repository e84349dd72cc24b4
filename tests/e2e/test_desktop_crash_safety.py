"""Crash safety in the real QGIS desktop: SIGKILL in the middle of a placement and of a sync loses nothing.

A standalone sandbox (``python -m plugin.sandbox``) runs outside QGIS, so it outlives the kills; the
plugin's Sandbox connection is pointed at it. Three QGIS runs share one profile:

1. select two polygons, fill the order dialog, place: the placement request is held by the sandbox
   (a ``delay`` fault) and QGIS is killed right after the dialog saved ``placing`` and started the task.
   The sandbox still creates the orders after the kill: the answer was lost, the orders exist.
2. open the order dialog again: the draft is back, the interrupted placement is reconciled from
   ``provider.placed_orders`` (no second order for any AOI), the rest (none) is placed. Then a baseline
   sync into a store, the sandbox clock moves on, and a second sync is killed inside its write
   transaction (after the orders were written, before the commit).
3. the store opens, passes SQLite's integrity check and holds exactly the baseline; a new sync completes.
"""
import shutil
import socket
import subprocess
import sys
import time

import pytest
import qgis_desktop  # registered by conftest.py
import requests

ARTIFACTS = qgis_desktop.ARTIFACTS_DIR / "desktop_crash_safety"
PLACEMENT_DELAY_SECONDS = 3.0

COMMON = """
import json
import time

import qgis.utils
from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer
from qgis.PyQt.QtWidgets import QMessageBox

SANDBOX = {sandbox!r}
STORE = {store!r}
plugin = qgis.utils.plugins["satellite_tasking"]
# The Sandbox connection speaks to the standalone sandbox, which outlives QGIS.
plugin.sandbox.url = lambda: SANDBOX
QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes)


def store_snapshot():
    import sqlite3
    db = sqlite3.connect(STORE)
    try:
        return {{"integrity": db.execute("PRAGMA integrity_check").fetchone()[0],
                "orders": sorted(db.execute("SELECT order_id, raw_status, updated_at FROM tasking_orders").fetchall())}}
    finally:
        db.close()
"""

PLACE_AND_DIE = COMMON + """
def scenario(ctx):
    layer = ctx.fields_layer()
    dialog = plugin.open_order_dialog([layer])
    yield lambda: bool(dialog.products)
    from satellite_tasking.ui.order_dialog import PRODUCT_ROLE
    row = next(r for r in range(dialog.product_model.rowCount())
               if "SAR" in (dialog.product_model.item(r).text() or "")
               and dialog.product_model.item(r).data(PRODUCT_ROLE))
    dialog.productCombo.setCurrentIndex(row)
    yield lambda: dialog.form is not None and dialog.form_product is not None and "SAR" in dialog.product.title
    dialog.form.set_values({{**dialog.form.values(), "acquisitionStart": "2026-01-10T00:00:00Z",
                            "acquisitionEnd": "2026-01-30T00:00:00Z"}})
    dialog.nameEdit.setText("Crash test")
    yield lambda: dialog.placeButton.isEnabled()
    dialog.placeButton.click()  # the price is asked first, then the question (answered Yes), then the placement

    def request_in_flight():
        # The sandbox counts a request against the delay fault as soon as it arrives (then holds it).
        import urllib.request
        with urllib.request.urlopen(SANDBOX + "/_sandbox/faults", timeout=5) as answer:
            return any(rule["matched"] for rule in json.load(answer)["rules"])

    yield request_in_flight
    # what the draft on disk says while the request is held: the AOIs being placed were recorded before it left
    saved = json.loads(dialog.draft_store.current_path.read_text())
    ctx.event("placing", client_reference=dialog.draft.client_reference, aois=len(dialog.draft.aois),
              saved_placing=saved["placing"], busy=dialog.busy)
    yield 60  # the harness kills QGIS here
"""

RECONCILE_SYNC_AND_DIE = COMMON + """
def scenario(ctx):
    from satellite_tasking.plugin.store import ORDERS_TABLE, TaskingStore
    from satellite_tasking.plugin.sync import sync_connection
    import urllib.request

    draft = plugin.draft_store.load()
    ctx.report["restored"] = None if draft is None else {{"client_reference": draft.client_reference,
                                                          "aois": len(draft.aois), "placing": draft.placing,
                                                          "outcomes": draft.outcomes}}
    dialog = plugin.open_order_dialog([])
    yield lambda: not dialog.busy and not dialog.draft.placing
    ctx.report["reconciled"] = dict(dialog.draft.outcomes)
    yield lambda: dialog.form is not None
    if dialog.placeButton.isEnabled():
        dialog.placeButton.click()
        yield lambda: not dialog.busy
    ctx.report["outcomes"] = dict(dialog.draft.outcomes)
    dialog.close()

    provider = plugin.provider_factory.provider_for(plugin.provider_factory.settings.connection("sandbox"))
    baseline = sync_connection(provider, TaskingStore(STORE), "sandbox")
    ctx.report["baseline_error"] = baseline.error
    ctx.report["baseline"] = store_snapshot()
    request = urllib.request.Request(SANDBOX + "/_sandbox/clock", data=json.dumps({{"advance_seconds": 3 * 86400}})
                                     .encode(), headers={{"Content-Type": "application/json"}}, method="POST")
    urllib.request.urlopen(request, timeout=10).read()
    ctx._write_report()

    class DiesWhileWriting(TaskingStore):
        @staticmethod
        def _upsert(db, table, key, columns, rows):
            TaskingStore._upsert(db, table, key, columns, rows)
            if table == ORDERS_TABLE and rows:
                ctx.event("syncing", rows=len(rows))
                time.sleep(60)  # inside the transaction: the harness kills QGIS here

    sync_connection(provider, DiesWhileWriting(STORE), "sandbox")
    ctx.report["sync_was_not_interrupted"] = True
"""

CHECK_STORE = COMMON + """
def scenario(ctx):
    from satellite_tasking.plugin.store import TaskingStore
    from satellite_tasking.plugin.sync import sync_connection

    ctx.report["after_kill"] = store_snapshot()
    provider = plugin.provider_factory.provider_for(plugin.provider_factory.settings.connection("sandbox"))
    result = sync_connection(provider, TaskingStore(STORE), "sandbox")
    ctx.report["resync_error"] = result.error
    ctx.report["after_resync"] = store_snapshot()
    yield 0.1
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def standalone_sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sandbox")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "plugin.sandbox", "--port", str(port), "--speed", "0", "--seed", "31",
         "--state", str(folder / "state.json"), "--setting", "up42_failure_rate=0"],
        cwd=qgis_desktop.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(url + "/_sandbox/health", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the standalone sandbox did not start: " + (process.stderr.read()
                                                                                if process.poll() is not None
                                                                                else "timeout")) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def sandbox_orders(url: str, client_reference: str) -> list:
    token = requests.post(url + "/oauth/token", data={
        "grant_type": "password", "username": "sandbox-user", "password": "sandbox-password",
        "client_id": "up42-sdk"}, timeout=5).json()["access_token"]
    orders = requests.get(url + "/v2/orders", params={"size": 500, "tags": client_reference},
                          headers={"Authorization": f"Bearer {token}"}, timeout=5).json()["content"]
    return [o for o in orders if client_reference in o.get("tags", [])]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, standalone_sandbox):
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    profiles = tmp_path_factory.mktemp("qgis-profiles")
    store = profiles / "crash-store.gpkg"
    values = {"sandbox": standalone_sandbox, "store": str(store)}
    requests.post(standalone_sandbox + "/_sandbox/faults", json={
        "path": "^/v2/orders$", "method": "POST", "kind": "delay", "seconds": PLACEMENT_DELAY_SECONDS,
        "count": 1}, timeout=5).raise_for_status()
    first = qgis_desktop.run_qgis(profiles, PLACE_AND_DIE.format(**values), timeout=80, kill_on_event="placing",
                                  artifacts_dir=ARTIFACTS, artifact_prefix="1-")
    placing = next((e for e in first.report.get("events", []) if e.get("name") == "placing"), {})
    # The held request completes in the sandbox after QGIS is gone: the orders exist, nobody heard the answer.
    time.sleep(PLACEMENT_DELAY_SECONDS + 1)
    created_while_dead = sandbox_orders(standalone_sandbox, placing.get("client_reference", "-"))
    second = qgis_desktop.run_qgis(profiles, RECONCILE_SYNC_AND_DIE.format(**values), timeout=80,
                                   kill_on_event="syncing", artifacts_dir=ARTIFACTS, artifact_prefix="2-")
    third = qgis_desktop.run_qgis(profiles, CHECK_STORE.format(**values), timeout=80, artifacts_dir=ARTIFACTS,
                                  artifact_prefix="3-")
    return {"first": first, "placing": placing, "created_while_dead": created_while_dead, "second": second,
            "third": third, "profiles": profiles}


def test_a_placement_killed_midway_keeps_the_draft_and_is_reconciled_without_duplicates(runs, standalone_sandbox):
    first, placing, second = runs["first"], runs["placing"], runs["second"]
    assert first.killed_on_event == "placing", first.describe()
    assert placing.get("aois") == 2 and placing.get("saved_placing") == [0, 1], placing
    assert len(runs["created_while_dead"]) == 2, "the interrupted request created the orders after the kill"

    report = second.report
    assert report.get("scenario_error") is None, second.describe()
    restored = report.get("restored")
    assert restored and restored["client_reference"] == placing["client_reference"], report
    assert restored["placing"] == [0, 1] and restored["outcomes"] == {}, "the draft survived the kill as saved"
    reconciled = report.get("reconciled", {})
    created = {o["id"] for o in runs["created_while_dead"]}
    assert {v.get("order_id") for v in reconciled.values()} == created, reconciled
    outcomes = report.get("outcomes", {})
    assert sorted(outcomes) == ["0", "1"] and all(v.get("order_id") for v in outcomes.values()), outcomes
    orders = sandbox_orders(standalone_sandbox, placing["client_reference"])
    assert len(orders) == 2, "exactly one order per AOI"
    assert {o["id"] for o in orders} == {v["order_id"] for v in outcomes.values()}


def test_a_sync_killed_inside_its_transaction_leaves_the_store_as_it_was(runs):
    second, third = runs["second"], runs["third"]
    assert second.killed_on_event == "syncing", second.describe()
    assert not second.report.get("sync_was_not_interrupted")
    baseline = second.report.get("baseline")
    assert second.report.get("baseline_error") == "" and baseline and baseline["orders"], second.describe()
    assert third.report.get("scenario_error") is None, third.describe()
    after_kill = third.report["after_kill"]
    assert after_kill["integrity"] == "ok"
    assert after_kill["orders"] == baseline["orders"], "the store holds the pre-sync state, not half a sync"
    assert third.report.get("resync_error") == ""
    after = third.report["after_resync"]
    assert after["integrity"] == "ok"
    ids = [row[0] for row in after["orders"]]
    assert sorted(ids) == sorted(row[0] for row in baseline["orders"]) and len(ids) == len(set(ids))
    assert after["orders"] != baseline["orders"], "the completed sync brought the changes the killed one lost"
