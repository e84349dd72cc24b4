"""Planet's rules in the order dialog and in Processing (needs QGIS), against the in-process sandbox.

- Flexible orders: Planet's Tasking Dashboard asks for a window of at least 14 days, submitted at least 24 h before
  it starts (planet.md "Scheduling types / products"; API enforcement unverified): a warning while editing and in
  the placement confirmation, which the user can still answer Yes; a log line in Processing. The default window of
  a Flexible product keeps the rules.
- Area orders: "areas under 25 sq km are charged as 25 sq km" (planet.md "Order kinds and geometry"): the
  confirmation says how many AOIs are under it and what they are charged as.
- Assured orders: the contract number typed in the form is not asked again by the imaging-window search.
"""
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import requests
from qgis.core import QgsApplication, QgsProcessingFeedback
from qgis.PyQt.QtCore import QDateTime, Qt
from qgis.PyQt.QtWidgets import QMessageBox
from qgis_harness import choose_product, memory_layer, square_wkt
from sandbox_harness import control

WAIT = 30000
YES = QMessageBox.StandardButton.Yes
NO = QMessageBox.StandardButton.No


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Questions:
    """Stands in for QMessageBox.question: records each question and gives ``answer``."""

    def __init__(self, answer):
        self.asked, self.answer = [], answer

    def __call__(self, parent, title, text, buttons=None, default=None):
        self.asked.append(SimpleNamespace(title=title, text=text, default=default))
        return self.answer


@pytest.fixture
def questions(monkeypatch):
    recorder = Questions(NO)
    monkeypatch.setattr(QMessageBox, "question", recorder)
    return recorder


def area_dialog(plugin, qtbot, wkts):
    control(plugin.sandbox, "POST", "/_sandbox/settings", {"planet_rejection_rate": 0.0})
    dialog = plugin.open_order_dialog([memory_layer("Polygon", wkts)])
    choose_product(qtbot, dialog, "planet:area")
    qtbot.waitUntil(lambda: QgsApplication.taskManager().countActiveTasks() == 0, timeout=WAIT)
    return dialog


def place_and_wait_for_question(dialog, qtbot, questions):
    qtbot.waitUntil(dialog.placeButton.isEnabled, timeout=WAIT)
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: bool(questions.asked) and not dialog.busy, timeout=WAIT)
    return questions.asked[-1].text


def test_a_flexible_window_against_the_dashboard_rules_is_warned_and_can_still_be_placed(plugin, qtbot, questions):
    dialog = area_dialog(plugin, qtbot, [square_wkt(13.0, 52.0, 0.1)])
    form = dialog.form
    # The default window keeps Planet's rules: nothing to warn about.
    assert dialog.rule_warnings() == []
    start = datetime.fromisoformat(form.values()["start_time"].replace("Z", "+00:00"))
    assert start - datetime.now(timezone.utc) >= timedelta(hours=24)
    now = datetime.now(timezone.utc)
    form.set_values({**form.values(), "start_time": iso(now + timedelta(hours=3)),
                     "end_time": iso(now + timedelta(days=5, hours=3))})
    dialog.nameEdit.setText("Quarry")
    warnings = dialog.rule_warnings()
    assert len(warnings) == 3, warnings
    assert "at least 24 hours before their window starts" in warnings[0]
    assert "starts in 3 hours" in warnings[0] or "starts in 2 hours" in warnings[0]
    assert "at least 14 days" in warnings[1] and "5 days long" in warnings[1]
    assert "you can still place it" in warnings[2]
    assert dialog.statusLabel.text().startswith("Warning: ") and "14 days" in dialog.statusLabel.text()
    assert dialog.placeButton.isEnabled()  # a warning, not a block

    questions.answer = YES
    text = place_and_wait_for_question(dialog, qtbot, questions)
    assert "Warning: The acquisition window starts in" in text
    assert "Warning: The acquisition window is 5 days long" in text
    qtbot.waitUntil(lambda: not dialog.busy and bool(dialog.draft.outcomes), timeout=WAIT)
    assert dialog.draft.outcomes["0"].get("order_id"), dialog.draft.outcomes

    # Back within the rules, the warning goes.
    form.set_values({**form.values(), "start_time": iso(now + timedelta(days=2)),
                     "end_time": iso(now + timedelta(days=20))})
    assert dialog.rule_warnings() == [] and not dialog.statusLabel.text().startswith("Warning: ")
    dialog.close()


def test_the_confirmation_says_which_areas_are_under_planets_minimum_charged_area(plugin, qtbot, questions):
    # 0.03° squares at 52° N are about 7 km²; the 0.1° one about 76 km².
    dialog = area_dialog(plugin, qtbot, [square_wkt(13.0, 52.0, 0.03), square_wkt(13.2, 52.0, 0.1),
                                         square_wkt(13.4, 52.0, 0.03)])
    assert dialog.product.extra["min_charged_area_km2"] == 25
    dialog.nameEdit.setText("Fields")
    text = place_and_wait_for_question(dialog, qtbot, questions)
    assert "Planet charges at least 25 km² per order: 2 of these areas are smaller and are each charged as " \
           "25 km²." in text, text
    assert dialog.draft.outcomes == {}  # answered No: nothing placed
    dialog.close()


def test_an_assured_orders_contract_number_is_typed_once(load_plugin, recording_iface, qtbot):
    plugin = load_plugin(seed=9, answer_yes=True)
    control(plugin.sandbox, "POST", "/_sandbox/settings", {"planet_rejection_rate": 0.0})
    recording_iface.layer_tree_view.setCurrentLayer(memory_layer("Point", ["POINT(13.4 52.5)"], name="sites"))
    plugin.layer_task_action.trigger()
    dialog = plugin._order_dialog
    form = choose_product(qtbot, dialog, "planet:assured")
    dialog.nameEdit.setText("Harbour assured")
    form.set_values({**form.values(), "pl_number": "PL-424242"})
    dialog.opportunitiesButton.click()
    finder = dialog._opportunities_dialog
    qtbot.waitUntil(lambda: finder.filter_form is not None, timeout=WAIT)
    assert finder.filter_form.values().get("pl_number__eq") == "PL-424242"  # not asked again
    now = datetime.fromisoformat(control(plugin.sandbox, "GET", "/_sandbox/clock")["now"].replace("Z", "+00:00"))
    for edit, moment in ((finder.startEdit, now + timedelta(hours=1)), (finder.endEdit, now + timedelta(days=5))):
        edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(moment.timestamp()), Qt.TimeSpec.UTC))
    finder.searchButton.click()
    qtbot.waitUntil(lambda: not finder.busy and finder.opportunityTable.rowCount() > 0, timeout=WAIT)
    finder.opportunityTable.selectRow(0)
    finder.orderButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and bool(dialog.draft.outcomes), timeout=WAIT)
    outcome = dialog.draft.outcomes["0"]
    assert outcome.get("order_id"), outcome
    order = requests.get(f"{plugin.sandbox.url()}/tasking/v2/orders/{outcome['order_id'].split(':', 1)[-1]}",
                         headers={"Authorization": "api-key sandbox-api-key"}, timeout=10).json()
    assert order["pl_number"] == "PL-424242"
    dialog.close()


def test_processing_logs_the_flexible_rules_an_order_breaks(processing_run):
    now = datetime.now(timezone.utc)
    feedback = QgsProcessingFeedback()
    result = processing_run("placeorders", feedback=feedback, PRODUCT="planet:area", NAME="Short window",
                            INPUT=memory_layer("Polygon", [square_wkt(13.0, 52.0, 0.1)]), OUTPUT="memory:",
                            START=iso(now + timedelta(days=3)), END=iso(now + timedelta(days=6)))
    assert result["PLACED"] == 1
    log = feedback.textLog()
    assert "at least 14 days" in log and "3 days long" in log and "you can still place it" in log
    assert "24 hours" not in log  # it starts 3 days ahead
