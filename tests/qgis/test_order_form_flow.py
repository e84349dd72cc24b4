"""The order form as a person fills it: the acquisition window first (with a default two-week window), start
before end checked before anything is sent, estimates dropped when the order changes, values kept across product
switches (the window too, between APIs that name it differently), and "New order" after placing."""
from datetime import datetime, timedelta, timezone

import pytest
from qgis_harness import choose_product, memory_layer, square_wkt

from satellite_tasking.ui.order_dialog import carry_values
from satellite_tasking.ui.schema_form import SchemaForm

WAIT = 30000
FIELDS = [square_wkt(13.0, 52.0, 0.02), square_wkt(13.1, 52.0, 0.02)]
SAR = "up42:d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"
PLEIADES = "up42:a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"


@pytest.fixture
def plugin(load_plugin):
    return load_plugin(seed=5, start=datetime.now(timezone.utc).replace(microsecond=0), answer_yes=True)


def test_the_window_comes_first_with_a_default_and_end_must_follow_start(plugin, qtbot):
    dialog = plugin.open_order_dialog([memory_layer("Polygon", FIELDS)])
    form = choose_product(qtbot, dialog, SAR)
    assert form.section.names()[:2] == ["acquisitionStart", "acquisitionEnd"]
    values = form.values()
    start = datetime.fromisoformat(values["acquisitionStart"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(values["acquisitionEnd"].replace("Z", "+00:00"))
    today = datetime.now(timezone.utc)
    assert today < start < today + timedelta(days=2) and end - start == timedelta(days=14)

    form.set_values({**form.values(), "acquisitionEnd": values["acquisitionStart"]})
    assert not form.is_valid()
    assert "after" in form.errors()["acquisitionEnd"].lower()
    qtbot.waitUntil(lambda: not dialog.placeButton.isEnabled(), timeout=WAIT)
    assert not dialog.estimateButton.isEnabled()


def test_values_are_kept_across_product_switches_and_estimates_dropped_on_change(plugin, qtbot):
    dialog = plugin.open_order_dialog([memory_layer("Polygon", FIELDS)])
    form = choose_product(qtbot, dialog, SAR)
    start = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%Y-%m-%dT00:00:00Z")
    end = (datetime.now(timezone.utc) + timedelta(days=9)).strftime("%Y-%m-%dT00:00:00Z")
    form.set_values({**form.values(), "acquisitionStart": start, "acquisitionEnd": end})
    dialog.nameEdit.setText("Fields")
    qtbot.waitUntil(dialog.estimateButton.isEnabled, timeout=WAIT)
    dialog.estimateButton.click()
    qtbot.waitUntil(lambda: dialog._estimate is not None, timeout=WAIT)
    assert all(aoi.get("estimate") for aoi in dialog.draft.aois)
    dialog.form.set_values({**dialog.form.values(), "maxIncidenceAngle": 35})
    assert dialog._estimate is None and not any(aoi.get("estimate") for aoi in dialog.draft.aois)

    form = choose_product(qtbot, dialog, PLEIADES)
    assert form.values()["acquisitionStart"] == start and form.values()["acquisitionEnd"] == end
    form = choose_product(qtbot, dialog, "planet:area")
    assert form.values().get("start_time", "").startswith(start[:10]), form.values()


def test_carry_values_maps_the_window_between_apis():
    carried = carry_values({"acquisitionStart": "a", "acquisitionEnd": "b", "maxCloudCover": 5},
                           {"properties": {"start_time": {}, "end_time": {}, "max_cloud_cover": {}}})
    assert carried == {"start_time": "a", "end_time": "b"}


def test_a_form_checks_a_range_it_is_given(qtbot):
    schema = {"type": "object", "properties": {"end": {"type": "string", "format": "date-time"},
                                               "start": {"type": "string", "format": "date-time"}}}
    form = SchemaForm(schema, first=("start", "end"), ranges=(("start", "end"),))
    qtbot.addWidget(form)
    assert form.section.names() == ["start", "end"]
    form.set_values({"start": "2026-12-10T00:00:00Z", "end": "2026-12-01T00:00:00Z"})
    assert not form.is_valid() and "end" in form.errors()


def test_new_order_after_placing_keeps_areas_product_and_parameters(plugin, qtbot):
    dialog = plugin.open_order_dialog([memory_layer("Polygon", FIELDS)])
    choose_product(qtbot, dialog, SAR)
    dialog.nameEdit.setText("Fields")
    qtbot.waitUntil(dialog.placeButton.isEnabled, timeout=WAIT)
    assert not dialog.newOrderButton.isVisibleTo(dialog)
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and len(dialog.draft.outcomes) == 2, timeout=WAIT)
    assert not dialog.placeButton.isEnabled() and "New order" in dialog.placeButton.toolTip()
    assert dialog.newOrderButton.isVisibleTo(dialog) and dialog.newOrderButton.isEnabled()
    params = dict(dialog.draft.params)
    reference = dialog.draft.client_reference
    dialog.newOrderButton.click()
    assert dialog.draft.outcomes == {} and dialog.draft.client_reference != reference
    assert len(dialog.draft.aois) == 2 and dialog.draft.params == params
    qtbot.waitUntil(dialog.placeButton.isEnabled, timeout=WAIT)


def test_reopened_after_a_placement_the_dialog_starts_from_the_last_product_and_parameters(plugin, qtbot):
    dialog = plugin.open_order_dialog([memory_layer("Polygon", FIELDS)])
    choose_product(qtbot, dialog, SAR)
    dialog.nameEdit.setText("Fields")
    qtbot.waitUntil(dialog.placeButton.isEnabled, timeout=WAIT)
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and len(dialog.draft.outcomes) == 2, timeout=WAIT)
    params = dict(dialog.draft.params)
    dialog.close()
    assert plugin.draft_store.load() is None, "a placed draft is archived"
    dialog = plugin.open_order_dialog([memory_layer("Polygon", FIELDS)])
    qtbot.waitUntil(lambda: dialog.form is not None and dialog.form_product is not None, timeout=WAIT)
    assert dialog.product.id == SAR and dialog.nameEdit.text() == "Fields"
    assert dialog.form.values()["acquisitionStart"] == params["acquisitionStart"]
    assert dialog.draft.outcomes == {}


def test_required_fields_are_not_errors_before_the_user_has_been_there(qtbot):
    schema = {"type": "object", "required": ["name", "size"],
              "properties": {"name": {"type": "string", "title": "Name"}, "size": {"type": "integer"}}}
    form = SchemaForm(schema)
    qtbot.addWidget(form)
    assert not form.is_valid() and set(form.errors()) == {"name", "size"}
    shown = [row.error.text() for row in form.section.rows.values() if row._error is not None
             and not row.error.isHidden()]
    assert shown == [], "an empty form is not a page of errors"
    form.field("size").set_value(3)
    form.field("size").clear()
    assert form.row("size").error.text() == "This field is required." and not form.row("size").error.isHidden()
    assert form.row("name")._error is None or form.row("name").error.isHidden()
    form.reveal_required()
    assert not form.row("name").error.isHidden()


def test_the_multipart_note_appears_only_when_a_feature_was_split(plugin, qtbot):
    dialog = plugin.open_order_dialog([memory_layer("Polygon", FIELDS)])  # two single polygons
    choose_product(qtbot, dialog, SAR)
    assert "multipart" not in dialog.aoiNotes.text().lower()


def test_a_value_the_next_product_does_not_offer_is_not_carried(plugin, qtbot):
    dialog = plugin.open_order_dialog([memory_layer("Polygon", FIELDS)])
    form = choose_product(qtbot, dialog, SAR)
    assert form.values().get("acquisitionMode") == "stripmap"
    form = choose_product(qtbot, dialog, PLEIADES)
    assert not any("could not be restored" in message for message in form.errors().values()), form.errors()
    assert form.values().get("acquisitionMode") != "stripmap"


def test_the_areas_table_shows_several_areas_at_once(plugin, qtbot):
    """Five areas: the table shows at least four rows without scrolling (it showed one, squeezed by the form)."""
    fields = [square_wkt(13.0 + 0.1 * i, 52.0, 0.02) for i in range(5)]
    dialog = plugin.open_order_dialog([memory_layer("Polygon", fields)])
    choose_product(qtbot, dialog, PLEIADES)
    qtbot.waitExposed(dialog)
    table = dialog.aoiTable
    assert table.rowCount() == 5
    row_height = table.verticalHeader().defaultSectionSize()
    assert table.viewport().height() >= 4 * row_height, (table.viewport().height(), row_height)
