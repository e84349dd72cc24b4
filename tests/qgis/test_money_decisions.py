"""Decisions that spend money default to No, and the placement confirmation names the total with its unit (and
the minimum charged area the provider states) before anything is placed."""
from types import SimpleNamespace

import pytest
from qgis.PyQt.QtWidgets import QMessageBox
from qgis_harness import choose_product, memory_layer, square_wkt

from satellite_tasking.plugin import model
from satellite_tasking.plugin.tasks import TaskRunner
from satellite_tasking.ui.decisions_dialog import DecisionsDialog
from satellite_tasking.ui.order_dialog import placement_question

SAR = "up42:d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"
NO = QMessageBox.StandardButton.No
YES = QMessageBox.StandardButton.Yes


class Questions:
    """Stands in for QMessageBox.question: records each question and answers No."""

    def __init__(self):
        self.asked = []

    def __call__(self, parent, title, text, buttons=None, default=None):
        self.asked.append(SimpleNamespace(title=title, text=text, buttons=buttons, default=default))
        return NO


@pytest.fixture
def questions(monkeypatch):
    recorder = Questions()
    monkeypatch.setattr(QMessageBox, "question", recorder)
    return recorder


class QuietProvider:
    connection = model.Connection(id="c", name="Sandbox", kind=model.ConnectionKind.SANDBOX)

    def orders(self):
        return []


def waiting_order(decision):
    return model.Order(id="o-1", connection_id="c", name="Field 1", decision=decision,
                       status=model.Status(model.OrderStatus.HELD, "PLACED", "QUOTATION_WAITING_RESPONSE"))


def test_accepting_or_rejecting_a_price_and_confirming_an_option_default_to_no(questions, qtbot):
    dialog = DecisionsDialog(QuietProvider(), TaskRunner())
    qtbot.addWidget(dialog)
    order = waiting_order(model.Decision.QUOTATION)
    dialog._orders_loaded([order])
    dialog.quotation = model.Quotation(id="q", order_id=order.id, price=2252, unit="credits")
    dialog.decide_quote(True)
    dialog.decide_quote(False)
    order = waiting_order(model.Decision.FEASIBILITY)
    dialog._orders_loaded([order])
    dialog.study = model.FeasibilityStudy(id="s", order_id=order.id,
                                          options=[model.FeasibilityOption("opt", "Tomorrow")])
    dialog._study_loaded(order, dialog.study)
    dialog.optionsList.setCurrentRow(0)
    dialog.confirm_option()
    assert len(questions.asked) == 3
    for question in questions.asked:
        assert question.buttons == YES | NO
        assert question.default == NO, question.title
    assert "2,252 credits" in questions.asked[0].text


def product(**extra):
    return model.Product(id="up42:x", title="Analytic", provider_name="UP42", collection_title="Pléiades Neo",
                         extra=dict(extra))


def test_the_placement_question_names_the_total_and_its_unit():
    estimate = model.Estimate(total=2252.5, unit="credits", per_aoi=[1000, 1252.5])
    text = placement_question(product(), "Sandbox", [0, 1], estimate, areas_km2=[4.0, 80.0])
    assert "Place 2 orders of “Pléiades Neo Analytic” on Sandbox?" in text
    assert "Estimated total: 2,252.5 credits" in text
    assert "order(s)" not in text
    one = placement_question(product(), "Sandbox", [1],
                             model.Estimate(total=900, unit="credits", per_aoi=[None, 900]), areas_km2=[4.0, 80.0])
    assert "Place 1 order of" in one and "Estimated total: 900 credits" in one


def test_the_placement_question_states_the_minimum_charged_area_and_which_areas_it_raises():
    estimate = model.Estimate(total=4800, unit="credits", per_aoi=[2400, 2400])
    text = placement_question(product(min_charged_area_km2=100), "Sandbox", [0, 1], estimate,
                              areas_km2=[4.0, 120.0])
    assert "at least 100 km² per order" in text
    assert "1 of these areas is smaller and is charged as 100 km²" in text


def test_without_an_estimate_the_question_says_so():
    text = placement_question(product(), "Sandbox", [0], None, areas_km2=[4.0], estimate_error="UP42 said no")
    assert "No price estimate" in text and "UP42 said no" in text


def test_place_asks_with_the_estimated_total_defaults_to_no_and_no_places_nothing(plugin, recording_iface, qtbot,
                                                                                  questions):
    layer = memory_layer("Polygon", [square_wkt(13.0, 52.0, 0.02), square_wkt(13.1, 52.0, 0.02)])
    dialog = plugin.open_order_dialog([layer])
    choose_product(qtbot, dialog, SAR)
    dialog.form.set_values({**dialog.form.values(), "acquisitionStart": "2026-01-10T00:00:00Z",
                            "acquisitionEnd": "2026-01-30T00:00:00Z"})
    dialog.nameEdit.setText("Fields")
    qtbot.waitUntil(dialog.placeButton.isEnabled, timeout=30000)
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: bool(questions.asked) and not dialog.busy, timeout=30000)
    question = questions.asked[-1]
    assert question.default == NO
    assert "Place 2 orders of “Capella SAR”" in question.text or "Place 2 orders of" in question.text, question.text
    assert "Estimated total:" in question.text and "credits" in question.text, question.text
    assert dialog.draft.outcomes == {} and dialog.draft.placing == []
    assert dialog.placeButton.isEnabled()


def test_a_multipart_feature_may_be_ordered_as_one_area_and_the_question_says_when_it_is_split(
        plugin, recording_iface, qtbot, questions):
    layer = memory_layer("MultiPolygon", ["MULTIPOLYGON(((13 52, 13.02 52, 13.02 52.02, 13 52.02, 13 52)),"
                                          "((13.1 52, 13.12 52, 13.12 52.02, 13.1 52.02, 13.1 52)))"], name="islands")
    dialog = plugin.open_order_dialog([layer])
    choose_product(qtbot, dialog, SAR)
    assert len(dialog.draft.aois) == 2 and dialog.keepPartsCheck.isVisibleTo(dialog)
    parts_area = sum(aoi["area_km2"] for aoi in dialog.draft.aois)
    dialog.nameEdit.setText("Islands")
    qtbot.waitUntil(dialog.placeButton.isEnabled, timeout=30000)
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: bool(questions.asked) and not dialog.busy, timeout=30000)
    assert "1 multipart feature is split" in questions.asked[-1].text

    dialog.keepPartsCheck.setChecked(True)
    assert len(dialog.draft.aois) == 1
    whole = dialog.draft.aois[0]
    assert whole["type"] == "Polygon" and whole["area_km2"] > parts_area
    assert any("outline around them" in w for w in whole["warnings"])
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: len(questions.asked) == 2 and not dialog.busy, timeout=30000)
    assert "multipart" not in questions.asked[-1].text and "Place 1 order of" in questions.asked[-1].text
