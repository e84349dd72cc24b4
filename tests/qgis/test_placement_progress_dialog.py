"""Placing from the order dialog: progress per AOI in QGIS's task manager and the status line; a cancelled
placement (task manager or "Stop placing") keeps the draft and never places an order twice; closing the dialog
while placing loses no outcome; cancelling tasks ends their retry waits. Against the plugin's sandbox and a
loopback server on 127.0.0.1."""
import threading
import time

import pytest
import requests
from loopback_http import RecordingServer, reply
from qgis.core import QgsApplication
from qgis.PyQt import sip
from qgis.PyQt.QtWidgets import QMessageBox
from qgis_harness import choose_product, memory_layer, square_wkt
from sandbox_harness import control

from satellite_tasking.plugin.http import build_session
from satellite_tasking.plugin.tasks import BackgroundTask, TaskRunner
from satellite_tasking.ui.order_dialog import COL_ORDER

WAIT = 30000
LOCK_IN = {"start_time": "2026-01-06T01:00:00Z", "end_time": "2026-01-12T01:00:00Z"}
QUIET = {"planet_rejection_rate": 0.0, "planet_pricing": True}


@pytest.fixture
def plugin(load_plugin):
    return load_plugin(seed=5, answer_yes=True)


def planet_dialog(plugin, recording_iface, qtbot, count, name):
    control(plugin.sandbox, "POST", "/_sandbox/settings", QUIET)
    layer = memory_layer("Polygon", [square_wkt(13.0 + index * 0.1, 52.0) for index in range(count)])
    recording_iface.layer_tree_view.setCurrentLayer(layer)
    plugin.layer_task_action.trigger()
    dialog = plugin._order_dialog
    choose_product(qtbot, dialog, "planet:area")
    dialog.form.set_values({**dialog.form.values(), **LOCK_IN})
    dialog.nameEdit.setText(name)
    qtbot.waitUntil(lambda: dialog.placeButton.isEnabled(), timeout=WAIT)
    assert len(dialog.draft.aois) == count
    return dialog


class PlacementWatch:
    """The placing task's progress as QGIS's task manager relays it (what its progress bar shows)."""

    def __init__(self, on_progress=None):
        self.manager = QgsApplication.taskManager()
        self.ids = []
        self.values = []
        self.on_progress = on_progress
        self.manager.taskAdded.connect(self._added)
        self.manager.progressChanged.connect(self._progress)

    def _added(self, task_id):
        task = self.manager.task(task_id)
        if task is not None and task.description().startswith("Placing"):
            self.ids.append(task_id)

    def _progress(self, task_id, value):
        if task_id in self.ids:
            self.values.append(value)
            if self.on_progress is not None:
                self.on_progress(self.manager.task(task_id))

    def close(self):
        self.manager.taskAdded.disconnect(self._added)
        self.manager.progressChanged.disconnect(self._progress)


def recorded_status(dialog, monkeypatch):
    texts = []
    show = dialog._status

    def record(text):
        texts.append(text)
        show(text)

    monkeypatch.setattr(dialog, "_status", record)
    return texts


def planet_orders_named_with(plugin, reference):
    page = requests.get(f"{plugin.sandbox.url()}/tasking/v2/orders/",
                        params={"name__icontains": reference, "limit": 1000},
                        headers={"Authorization": "api-key sandbox-api-key"}, timeout=10).json()
    return page["results"]


def test_placement_progress_reaches_the_task_manager_and_the_status_line(plugin, recording_iface, qtbot,
                                                                        monkeypatch):
    dialog = planet_dialog(plugin, recording_iface, qtbot, 6, "Progress")
    statuses = recorded_status(dialog, monkeypatch)
    watch = PlacementWatch()
    try:
        dialog.placeButton.click()
        qtbot.waitUntil(lambda: not dialog.busy and len(dialog.draft.outcomes) == 6, timeout=WAIT)
        qtbot.waitUntil(lambda: watch.values and max(watch.values) == 100, timeout=WAIT)
    finally:
        watch.close()
    assert len(watch.ids) == 1
    assert all(o.get("order_id") for o in dialog.draft.outcomes.values()), dialog.draft.outcomes
    # One step per AOI: 16.7, 33.3, … 100 (QGIS may repeat the last value when the task completes).
    steps = sorted(set(round(v, 1) for v in watch.values))
    assert steps == [round(100 * done / 6, 1) for done in range(1, 7)], watch.values
    assert watch.values == sorted(watch.values)
    assert [t for t in statuses if t.startswith("Placing orders:")] == [
        f"Placing orders: {done} of 6 done…" for done in range(1, 7)]
    assert statuses[-1] == "6 orders placed."


def test_a_cancelled_placement_keeps_the_draft_and_never_places_twice(plugin, recording_iface, qtbot, monkeypatch):
    dialog = planet_dialog(plugin, recording_iface, qtbot, 12, "Cancelled halfway")
    reference = dialog.draft.client_reference
    # Slow answers (4 in flight at once): the cancel comes with the first one, long before the last AOIs are sent.
    control(plugin.sandbox, "POST", "/_sandbox/faults", {"path": r"^/tasking/v2/orders/?$", "method": "POST",
                                                 "kind": "delay", "seconds": 0.4})
    cancelled = []

    def cancel(task):
        if task is not None and not cancelled:
            cancelled.append(task.description())
            task.cancel()

    watch = PlacementWatch(on_progress=cancel)
    try:
        dialog.placeButton.click()
        qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)
    finally:
        watch.close()
    assert cancelled, "the placement reported no progress before it ended"
    outcomes = dialog.draft.outcomes
    placed = {i: o["order_id"] for i, o in outcomes.items() if o.get("order_id")}
    refused = [i for i, o in outcomes.items() if o.get("error")]
    assert len(outcomes) == 12 and placed and len(refused) >= 4, outcomes
    assert all("cancelled before the order was sent" in outcomes[i]["error"] for i in refused), outcomes
    assert dialog.statusLabel.text().startswith("Placement cancelled:"), dialog.statusLabel.text()
    assert len(planet_orders_named_with(plugin, reference)) == len(placed)
    kept = plugin.draft_store.load()
    assert kept is not None and kept.client_reference == reference and kept.placing == []

    # "Retry failed" places only the rest; the first orders are not placed again.
    control(plugin.sandbox, "DELETE", "/_sandbox/faults")
    assert dialog.retryButton.isEnabled()
    dialog.retryButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and all(o.get("order_id") for o in dialog.draft.outcomes.values()),
                    timeout=WAIT)
    assert {i: dialog.draft.outcomes[i]["order_id"] for i in placed} == placed
    names = [o["name"] for o in planet_orders_named_with(plugin, reference)]
    assert len(names) == len(set(names)) == 12
    assert plugin.draft_store.load() is None  # fully placed: archived


PLANET_ORDERS = r"^/tasking/v2/orders/?$"


def slow_planet_orders(plugin, seconds):
    control(plugin.sandbox, "POST", "/_sandbox/faults", {"path": PLANET_ORDERS, "method": "POST", "kind": "delay",
                                                 "seconds": seconds})


def stop_button_state(dialog):
    button = dialog.cancelPlacementButton
    return (not button.isHidden(), button.isEnabled())


def test_stop_placing_is_offered_only_while_a_placement_runs(plugin, recording_iface, qtbot, monkeypatch):
    dialog = planet_dialog(plugin, recording_iface, qtbot, 3, "Stop button")
    assert dialog.cancelPlacementButton.text() == "Stop placing"
    assert stop_button_state(dialog) == (False, False)
    dialog.estimateButton.click()
    assert dialog.busy and stop_button_state(dialog) == (False, False)  # busy, but nothing is being placed
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)
    assert dialog.statusLabel.text().startswith("Estimated total"), dialog.statusLabel.text()

    slow_planet_orders(plugin, 0.3)
    dialog.placeButton.click()
    assert stop_button_state(dialog) == (True, True)
    # Answered "No": the placement goes on, the button stays offered.
    asked = []
    monkeypatch.setattr(dialog, "confirm_stop_placing", lambda: asked.append(True) or False)
    dialog.cancelPlacementButton.click()
    assert asked and stop_button_state(dialog) == (True, True)
    assert not dialog.statusLabel.text().startswith("Stopping"), dialog.statusLabel.text()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)
    assert stop_button_state(dialog) == (False, False)
    assert all(o.get("order_id") for o in dialog.draft.outcomes.values()) and len(dialog.draft.outcomes) == 3
    assert dialog.statusLabel.text() == "3 orders placed."


def test_stop_placing_keeps_what_was_placed_and_retry_places_the_rest_once(plugin, recording_iface, qtbot,
                                                                         monkeypatch):
    count = 16
    dialog = planet_dialog(plugin, recording_iface, qtbot, count, "Stopped by hand")
    reference = dialog.draft.client_reference
    # Slow answers, 4 in flight at once: the stop comes with the first answers, long before the last AOIs leave.
    slow_planet_orders(plugin, 0.4)
    statuses = recorded_status(dialog, monkeypatch)
    questions = []

    def answer(parent, title, text, *args, **kwargs):
        questions.append((title, text))
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    dialog.placeButton.click()  # the price is asked for first, then the question, then the placement
    qtbot.waitUntil(lambda: dialog._placement_task is not None, timeout=WAIT)
    assert [title for title, _ in questions] == ["Place tasking orders"]
    qtbot.waitUntil(lambda: any(t.startswith("Placing orders: ") for t in statuses), timeout=WAIT)
    dialog.cancelPlacementButton.click()

    title, text = questions[-1]
    assert title == "Stop placing orders"
    assert "already sent to the provider stay placed" in text and "“Retry failed” places them later" in text, text
    # Stopping: the button stays in sight, disabled, and the status line says what happens.
    assert stop_button_state(dialog) == (True, False)
    assert dialog.statusLabel.text().startswith("Stopping the placement"), dialog.statusLabel.text()
    dialog.cancelPlacementButton.click()  # disabled: no second question
    assert len(questions) == 2

    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)
    assert stop_button_state(dialog) == (False, False)
    outcomes = dialog.draft.outcomes
    placed = {i: o["order_id"] for i, o in outcomes.items() if o.get("order_id")}
    refused = [i for i, o in outcomes.items() if o.get("error")]
    assert len(outcomes) == count and len(placed) >= 4 and len(refused) >= 4, outcomes
    assert all("cancelled before the order was sent" in outcomes[i]["error"] for i in refused), outcomes
    assert dialog.statusLabel.text() == (
        f"Placement cancelled: {len(placed)} orders placed, {len(refused)} not — see the Order column; "
        "“Retry failed” places only those.")
    assert dialog.aoiTable.item(int(refused[0]), COL_ORDER).text() == outcomes[refused[0]]["error"]
    assert len(planet_orders_named_with(plugin, reference)) == len(placed)
    kept = plugin.draft_store.load()
    assert kept is not None and kept.client_reference == reference and kept.placing == []
    assert kept.outcomes == outcomes

    control(plugin.sandbox, "DELETE", "/_sandbox/faults")
    assert dialog.retryButton.isEnabled() and not dialog.placeButton.isEnabled()
    dialog.retryButton.click()
    qtbot.waitUntil(lambda: dialog._placement_task is not None, timeout=WAIT)
    assert stop_button_state(dialog) == (True, True)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)
    assert all(o.get("order_id") for o in dialog.draft.outcomes.values()), dialog.draft.outcomes
    assert {i: dialog.draft.outcomes[i]["order_id"] for i in placed} == placed
    names = [o["name"] for o in planet_orders_named_with(plugin, reference)]
    assert len(names) == len(set(names)) == count
    assert dialog.statusLabel.text() == f"{len(refused)} orders placed."
    assert stop_button_state(dialog) == (False, False)
    assert plugin.draft_store.load() is None  # fully placed: archived


def test_closing_the_dialog_while_placing_records_every_outcome(plugin, recording_iface, qtbot):
    dialog = planet_dialog(plugin, recording_iface, qtbot, 6, "Closed while placing")
    reference = dialog.draft.client_reference
    slow_planet_orders(plugin, 0.3)
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: dialog._placement_task is not None, timeout=WAIT)
    assert stop_button_state(dialog) == (True, True)
    dialog.closeButton.click()
    qtbot.waitUntil(lambda: sip.isdeleted(dialog), timeout=WAIT)
    # The placement goes on without the dialog (closing is not stopping) and its outcomes reach the draft.

    def recorded():
        saved = plugin.draft_store.load()
        return saved is not None and not saved.placing and len(saved.outcomes) == 6

    qtbot.waitUntil(recorded, timeout=WAIT)
    saved = plugin.draft_store.load()
    assert saved.client_reference == reference and saved.fully_placed, saved.outcomes
    ids = sorted(o["order_id"] for o in saved.outcomes.values())
    assert ids == sorted(o["id"] for o in planet_orders_named_with(plugin, reference))


@pytest.fixture
def busy_url():
    """A server on 127.0.0.1 that answers every request 503 with Retry-After: 5."""
    answered = threading.Event()

    def busy(handler, body):
        reply(handler, 503, {"detail": "busy"}, headers={"Retry-After": "5"})
        answered.set()

    server = RecordingServer("127.0.0.1", script=busy)
    server.answered = answered
    yield server.start()
    server.stop()


def test_cancelling_tasks_ends_their_retry_waits_at_once(qgis_app, qtbot, busy_url):
    """What unloading the plugin does (TaskRunner.cancel_all): a task waiting to retry lets go of its thread."""
    session = build_session("Busy provider", "SatelliteTasking/test", timeout=(2, 2))
    url = f"http://127.0.0.1:{busy_url.server_address[1]}/orders"
    failures = []
    runner = TaskRunner()
    task = runner.start(BackgroundTask("Reading a busy provider", lambda running: session.get(url),
                                       on_failure=failures.append))
    assert busy_url.answered.wait(timeout=10)
    time.sleep(0.1)  # into the 5 s wait
    cancelled_at = time.monotonic()
    runner.cancel_all()
    qtbot.waitUntil(lambda: bool(failures), timeout=WAIT)
    assert time.monotonic() - cancelled_at < 1.0
    assert failures[0].startswith("Cancelled while waiting to retry Busy provider"), failures
    assert task.result is None and runner.running == 0
    session.close()
