"""The schema-built order form: each construct's editor, validation, conditionals, drafts."""
import json
import logging
from pathlib import Path

import pytest
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QValidator
from qgis.PyQt.QtWidgets import QFormLayout, QLabel

from satellite_tasking.ui.schema_form import widget_for
from satellite_tasking.ui.schema_form_widgets import (
    UNSET,
    BooleanField,
    ChoiceField,
    DateField,
    DateTimeField,
    IntegerField,
    JsonTextField,
    MultiChoiceField,
    NumberField,
    StringField,
)

SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "schemas"


def load(name):
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


def choose(field, label):
    index = field.combo.findText(label)
    assert index >= 0, f"{label!r} not among {[field.combo.itemText(i) for i in range(field.combo.count())]}"
    field.combo.setCurrentIndex(index)


def fill_required_optical(form):
    form.field("displayName").line.setText("Field survey")
    form.field("acquisitionStart").set_value("2030-05-01T00:00:00Z")
    form.field("acquisitionEnd").set_value("2030-05-20T00:00:00Z")


def combo_items(field):
    return [field.combo.itemText(i) for i in range(field.combo.count())]


def layout_order(section):
    layout = section.layout_
    names = []
    for index in range(layout.rowCount()):
        item = layout.itemAt(index, QFormLayout.ItemRole.FieldRole)
        for name, row in section.rows.items():
            if item is not None and item.widget() is row.container:
                names.append(name)
    return names


# -- editors for each construct ------------------------------------------------------------


def test_up42_optical_editors_bounds_and_choices(make_form):
    form = make_form(load("up42_optical"))

    cloud = form.field("cloudCoverage")
    assert isinstance(cloud, IntegerField)
    assert (cloud.spin.minimum(), cloud.spin.maximum(), cloud.spin.value()) == (5, 20, 20)
    assert cloud.include_box is None  # required with a default: always sent

    angle = form.field("incidenceAngle")
    assert isinstance(angle, NumberField)
    assert (angle.spin.minimum(), angle.spin.maximum()) == (5.0, 50.0)

    mode = form.field("acquisitionMode")
    assert isinstance(mode, ChoiceField)
    assert combo_items(mode) == ["MONO", "STEREO"]  # titles shown, no "(not set)": required with default
    assert combo_items(form.field("projection")) == ["(not set)", "WGS 84", "Web Mercator", "UTM (zone of the area)"]

    start = form.field("acquisitionStart")
    assert isinstance(start, DateTimeField)
    assert start.edit.timeSpec() == Qt.TimeSpec.UTC
    assert start.value() is UNSET  # required, no default: the user must set it

    bands = form.field("spectralBands")
    assert isinstance(bands, MultiChoiceField)
    assert [bands.list.item(i).text() for i in range(bands.list.count())] == [
        "Panchromatic", "Red, green, blue", "Near infrared"]

    assert isinstance(form.field("displayName"), StringField)
    assert form.field("displayName").line.maxLength() == 200
    assert form.field("geometry") is None, "the geometry comes from the AOIs"
    assert form.field("minBH") is None, "minBH only exists in stereo"
    assert layout_order(form.section) == [
        "displayName", "acquisitionStart", "acquisitionEnd", "acquisitionMode", "cloudCoverage",
        "incidenceAngle", "geometricProcessing", "projection", "spectralBands"]


def test_defaults_applied_with_json_types(make_form):
    values = make_form(load("up42_optical")).values()
    assert values == {
        "acquisitionMode": "mono", "cloudCoverage": 20, "incidenceAngle": 30.0,
        "geometricProcessing": "ortho", "projection": "UTM", "spectralBands": ["pan", "rgb"]}
    assert type(values["cloudCoverage"]) is int
    assert type(values["incidenceAngle"]) is float


def test_required_fields_are_marked(make_form):
    form = make_form(load("up42_optical"))
    assert form.row("displayName").label.text() == "Order name *"
    assert form.row("cloudCoverage").label.property("required") is True
    assert form.row("spectralBands").label.text() == "Spectral bands"
    assert form.row("spectralBands").label.property("required") is False


def test_constructs_each_get_their_editor(make_form):
    form = make_form(load("constructs"))
    kinds = {name: type(row.field) for name, row in form.section.rows.items()}
    assert kinds == {
        "mode": ChoiceField, "level": ChoiceField, "count": IntegerField, "ratio": NumberField,
        "day": DateField, "when": DateTimeField, "urgent": BooleanField, "notify": BooleanField,
        "code": StringField, "note": StringField, "tags": MultiChoiceField,
        "delivery": type(form.field("delivery")), "nullableName": StringField, "optionalLimit": IntegerField,
        "free": JsonTextField, "either": JsonTextField, "points": JsonTextField, "negated": JsonTextField,
    }
    # enum values of mixed types keep their types; oneOf of const shows titles, stores values
    assert combo_items(form.field("mode")) == ["a", "b", "3"]
    level = form.field("level")
    assert combo_items(level) == ["(not set)", "Low", "High"]
    choose(level, "High")
    assert form.values()["level"] == 2
    choose(form.field("mode"), "3")
    assert form.values()["mode"] == 3
    # exclusive bounds and multipleOf become the spin box's range and step
    count = form.field("count")
    assert (count.spin.minimum(), count.spin.maximum(), count.spin.singleStep()) == (5, 95, 5)
    ratio = form.field("ratio")
    assert ratio.spin.minimum() == pytest.approx(0.01)
    assert (ratio.spin.maximum(), ratio.spin.singleStep()) == (1.0, 0.25)
    # dates in UTC; a default with an offset is converted
    assert form.values()["when"] == "2030-01-31T10:30:00Z"
    assert form.values()["day"] == "2030-01-31"
    # a boolean that may be left out has a third state
    assert form.field("notify").check.isTristate() and form.field("notify").value() is UNSET
    assert form.values()["urgent"] is False
    # string limits
    code = form.field("code")
    assert code.line.maxLength() == 8
    assert code.validator.validate("abc", 0)[0] == QValidator.State.Intermediate
    assert code.validator.validate("ABC", 0)[0] == QValidator.State.Acceptable
    # arrays of $ref'd choices → multi-select; nested object → group box with its own required mark
    tags = form.field("tags")
    assert [tags.list.item(i).text() for i in range(tags.list.count())] == ["Red", "Green", "Blue"]
    tags.list.item(2).setCheckState(Qt.CheckState.Checked)
    assert form.values()["tags"] == ["blue"]
    assert form.row("delivery/bucket").label.text() == "Bucket *"
    assert form.row("delivery").label.text() == "Delivery"
    assert form.field("delivery").group.isVisibleTo(form)
    # nullable types edit the non-null type
    assert form.field("nullableName").line.maxLength() == 5
    assert form.field("optionalLimit").spin.minimum() == 1
    # the property name labels a property without a title
    assert form.row("note").label.text() == "note"


def test_draft4_bounds_follow_the_declared_draft(make_form):
    form = make_form(load("draft4_legacy"))
    assert (form.field("level").spin.minimum(), form.field("level").spin.maximum()) == (11, 20)
    assert form.field("gain").spin.maximum() == pytest.approx(0.99)
    assert form._validator().validator_class.__name__ == "Draft4Validator"
    assert form.is_valid()


# -- validation ----------------------------------------------------------------------------


def test_form_becomes_valid_when_required_fields_are_set(make_form, qtbot):
    form = make_form(load("up42_optical"))
    assert not form.is_valid()
    assert set(form.errors()) == {"displayName", "acquisitionStart", "acquisitionEnd"}
    # Nothing touched yet: an empty form is not a page of errors (issue 13), until the user asks to go on.
    assert form.row("displayName")._error is None or form.row("displayName").error.isHidden()
    form.reveal_required()
    assert form.row("displayName").error.text() == "This field is required."
    assert not form.row("displayName").error.isHidden()
    form.field("acquisitionStart").set_value("2030-05-01T00:00:00Z")
    form.field("acquisitionEnd").set_value("2030-05-20T00:00:00Z")
    with qtbot.waitSignal(form.validityChanged, timeout=1000) as signal:
        qtbot.keyClicks(form.field("displayName").line, "Survey")
    assert signal.args == [True]
    assert form.is_valid() and form.errors() == {}
    assert form.row("displayName").error.isHidden()


def test_typing_out_of_range_shows_error_next_to_field(make_form, qtbot):
    form = make_form(load("up42_optical"))
    fill_required_optical(form)
    assert form.is_valid()
    spin = form.field("cloudCoverage").spin
    spin.lineEdit().selectAll()
    with qtbot.waitSignal(form.validityChanged, timeout=1000) as signal:
        qtbot.keyClicks(spin.lineEdit(), "25")
    assert signal.args == [False]
    assert spin.lineEdit().text() == "25", "the out-of-range text stays so the error can point at it"
    assert not form.is_valid()
    assert "maximum of 20" in form.errors()["cloudCoverage"]
    error = form.row("cloudCoverage").error
    assert not error.isHidden() and "maximum of 20" in error.text()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "15")
    assert form.is_valid() and form.values()["cloudCoverage"] == 15


def test_pattern_error_is_shown_next_to_its_field(make_form, qtbot):
    form = make_form(load("planet_like_area"))
    qtbot.keyClicks(form.field("pl_number").line, "12345")
    assert "does not match" in form.errors()["pl_number"]
    form.field("pl_number").line.setText("PL-123456")
    assert "pl_number" not in form.errors()


def test_nested_errors_are_shown_in_the_group(make_form):
    form = make_form(load("constructs"))
    form.field("count").set_value(10)
    assert form.errors() == {"delivery/bucket": "This field is required."}
    form.reveal_required()
    assert form.row("delivery/bucket").error.text() == "This field is required."
    form.field("delivery/bucket").line.setText("ab")
    assert "too short" in form.errors()["delivery/bucket"]
    form.field("delivery/bucket").line.setText("abc")
    assert form.is_valid()
    assert form.values()["delivery"] == {"format": "GeoTIFF", "bucket": "abc"}


def test_multiple_of_is_checked(make_form):
    form = make_form(load("planet_like_area"))
    form.field("exclusivity_days").set_value(10)
    assert "multiple of 15" in form.errors()["exclusivity_days"]


def test_hidden_required_geometry_does_not_block_the_form(make_form):
    form = make_form(load("up42_sar"))
    form.field("displayName").line.setText("x")
    form.field("acquisitionStart").set_value("2030-01-01T00:00:00Z")
    form.field("acquisitionEnd").set_value("2030-01-02T00:00:00Z")
    assert form.is_valid(), form.errors()
    assert "geometry" not in form.values()


# -- conditionals --------------------------------------------------------------------------


def test_stereo_brings_min_bh_and_mono_removes_it(make_form, qtbot):
    form = make_form(load("up42_optical"))
    fill_required_optical(form)
    mode = form.field("acquisitionMode")
    with qtbot.waitSignal(form.valuesChanged, timeout=1000):
        choose(mode, "STEREO")
    min_bh = form.field("minBH")
    assert isinstance(min_bh, NumberField)
    assert (min_bh.spin.minimum(), min_bh.spin.maximum()) == (0.2, 0.8)
    assert form.row("minBH").label.text() == "Minimum B/H ratio *"
    assert form.values()["minBH"] == 0.4
    assert form.field("acquisitionMode") is mode, "the field being changed is not rebuilt"
    assert form.is_valid(), form.errors()  # additionalProperties: false still lets minBH through
    min_bh.set_value(0.9)  # outside 0.2–0.8: refused by the editor itself
    assert form.values()["minBH"] == 0.4
    choose(mode, "MONO")
    assert form.field("minBH") is None
    assert "minBH" not in form.values()
    assert form.is_valid()


def test_projection_choices_swap_with_geometric_processing(make_form):
    form = make_form(load("up42_optical"))
    projection = form.field("projection")
    choose(projection, "WGS 84")
    choose(form.field("acquisitionMode"), "STEREO")
    assert form.field("projection") is projection, "unrelated changes keep the user's editor"
    assert form.values()["projection"] == "EPSG:4326"

    choose(form.field("geometricProcessing"), "Primary (sensor geometry)")
    projection = form.field("projection")
    assert combo_items(projection) == ["(no choices)"]
    assert not projection.combo.isEnabled()
    assert "projection" not in form.values()

    choose(form.field("geometricProcessing"), "Orthorectified")
    assert form.values()["projection"] == "UTM"  # back to the branch's default
    assert len(combo_items(form.field("projection"))) == 4


def test_nested_conditional_definitions_hide_and_rebound_fields(make_form):
    form = make_form(load("conditional_definitions"))
    assert set(form.section.rows) == {"sensor", "resolution"}
    assert form.values() == {"sensor": "optical", "resolution": 2}
    choose(form.field("sensor"), "Radar")
    resolution = form.field("resolution")
    assert (resolution.spin.minimum(), resolution.spin.maximum()) == (3, 30)
    assert form.values() == {"sensor": "sar", "resolution": 5, "nightMode": True, "band": "X"}
    choose(form.field("band"), "C band")
    assert form.field("nightMode") is None
    assert form.values() == {"sensor": "sar", "resolution": 5, "band": "C"}
    form.field("resolution").set_value(7)
    choose(form.field("sensor"), "Optical")
    assert form.values() == {"sensor": "optical", "resolution": 7}, "a value the user chose is kept"
    assert form.is_valid()


# -- drafts --------------------------------------------------------------------------------


def test_values_round_trip_through_set_values(make_form):
    form = make_form(load("up42_optical"))
    fill_required_optical(form)
    choose(form.field("acquisitionMode"), "STEREO")
    form.field("minBH").set_value(0.65)
    choose(form.field("projection"), "Web Mercator")
    form.field("spectralBands").set_value(["nir"])
    saved = form.values()
    assert saved["minBH"] == 0.65 and saved["acquisitionStart"] == "2030-05-01T00:00:00Z"

    restored = make_form(load("up42_optical"))
    restored.set_values(saved)
    assert restored.values() == saved
    assert restored.is_valid()
    assert make_form(load("up42_optical"), values=saved).values() == saved


def test_set_values_leaves_out_what_the_draft_left_out(make_form):
    form = make_form(load("constructs"))
    form.set_values({"mode": "a", "count": 20})
    assert form.values() == {"mode": "a", "count": 20}  # defaults of optional fields are left out too
    assert form.is_valid(), form.errors()  # delivery is left out, so its required bucket is not asked for


def test_unrestorable_draft_value_is_an_error_not_silence(make_form, caplog):
    form = make_form(load("up42_optical"))
    with caplog.at_level(logging.WARNING):
        form.set_values({"acquisitionMode": "tri-stereo", "unknownKey": 1})
    assert "could not be restored" in form.errors()["acquisitionMode"]
    assert not form.is_valid()
    assert "unknownKey" in caplog.text
    choose(form.field("acquisitionMode"), "STEREO")
    assert "acquisitionMode" not in form.errors()


def test_dates_are_sent_as_utc(make_form):
    form = make_form(load("up42_optical"))
    form.field("acquisitionStart").set_value("2030-05-01T02:00:00+02:00")
    assert form.values()["acquisitionStart"] == "2030-05-01T00:00:00Z"
    form.field("acquisitionStart").edit.setDateTime(form.field("acquisitionStart").edit.dateTime().addSecs(90))
    assert form.values()["acquisitionStart"] == "2030-05-01T00:01:30Z"


# -- the JSON text fallback ----------------------------------------------------------------


def test_unknown_construct_is_a_json_text_field(make_form):
    form = make_form(load("constructs"))
    form.field("count").set_value(10)
    free = form.field("free")
    assert "JSON" in free.note.text()
    free.text.setPlainText('{"a": [1, 2]}')
    assert form.values()["free"] == {"a": [1, 2]}
    free.text.setPlainText("{bad")
    assert form.errors()["free"].startswith("Not valid JSON")
    assert not form.row("free").error.isHidden()
    assert "free" not in form.values()
    assert not form.is_valid()
    form.field("negated").text.setPlainText("5")
    assert "negated" in form.errors()  # the schema still checks what the text says
    form.field("negated").text.setPlainText("6")
    free.text.setPlainText("")
    form.field("delivery/bucket").line.setText("bucket")
    assert form.is_valid(), form.errors()


# -- hand-broken schemas -------------------------------------------------------------------


@pytest.mark.parametrize("schema", [[1, 2], "schema", None, 42, {"type": "string"}, {"properties": [1]}])
def test_non_object_schemas_give_a_clear_message(make_form, schema):
    form = make_form(schema)
    assert not form.is_valid()
    assert form.errors()[""].startswith("The order form cannot be built")
    problem = form.findChild(QLabel, "schemaProblem")
    assert problem.text() == form.errors()[""] and not problem.isHidden()
    assert form.values() == {}


@pytest.mark.parametrize(
    ("prop", "reason"),
    [
        ({"$ref": "#/definitions/loop"}, "cycle"),
        ({"type": "duration"}, "not a JSON Schema type"),
        ({"type": "integer", "minimum": 10, "maximum": 5}, "contradict"),
        ({"type": "number", "exclusiveMinimum": 3, "exclusiveMaximum": 3}, "contradict"),
        ({"type": "string", "pattern": "(["}, "regular expression"),
        ({"$ref": "#/definitions/nowhere"}, "points to nothing"),
        ({"$ref": "http://example.invalid/schema.json"}, "only local"),
        ({"type": "integer", "multipleOf": 0}, "multipleOf"),
        ("just a string", "not a JSON object"),
        ({"type": "array", "items": {"enum": list(range(1000))}}, "too many"),
    ],
)
def test_broken_property_becomes_a_json_text_field(make_form, prop, reason):
    schema = {"type": "object", "properties": {"broken": prop, "fine": {"type": "integer", "default": 3}},
              "definitions": {"loop": {"allOf": [{"$ref": "#/definitions/loop"}]}}}
    form = make_form(schema)
    broken = form.field("broken")
    assert isinstance(broken, JsonTextField)
    assert reason in broken.reason
    assert form.values() == {"fine": 3}
    assert form.is_valid()


def test_cycle_through_nested_objects_stops(make_form):
    schema = {"type": "object", "properties": {"node": {"$ref": "#/definitions/node"}},
              "definitions": {"node": {"type": "object", "properties": {
                  "name": {"type": "string"}, "child": {"$ref": "#/definitions/node"}}}}}
    form = make_form(schema)
    assert isinstance(form.field("node/child"), JsonTextField)
    form.field("node/name").line.setText("root")
    form.field("node/child").text.setPlainText('{"name": "leaf"}')
    assert form.values() == {"node": {"name": "root", "child": {"name": "leaf"}}}
    assert form.is_valid()


def test_enormous_enum_builds(make_form):
    values = [f"value-{i}" for i in range(10_000)]
    form = make_form({"type": "object", "properties": {"big": {"enum": values, "default": "value-9999"}},
                      "required": ["big"]})
    big = form.field("big")
    assert isinstance(big, ChoiceField) and big.combo.count() == 10_000
    assert form.values() == {"big": "value-9999"} and form.is_valid()


# -- server text stays text ----------------------------------------------------------------


def test_schema_strings_are_plain_text(make_form):
    hostile = "<img src=x onerror=alert(1)> & <b>bold</b>"
    schema = {"type": "object", "properties": {
        "x": {"title": hostile, "description": hostile, "anyOf": [{"const": 1, "title": hostile}]},
        "y": {"type": "object", "title": hostile, "properties": {"z": {"type": "string", "description": hostile}}},
    }}
    form = make_form(schema)
    row = form.row("x")
    assert row.label.textFormat() == Qt.TextFormat.PlainText and row.label.text() == hostile
    assert row.help.textFormat() == Qt.TextFormat.PlainText and row.help.text() == hostile
    assert row.error.textFormat() == Qt.TextFormat.PlainText
    for tip in (row.label.toolTip(), row.field.toolTip()):
        assert "<img" not in tip and "&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;" in tip
    assert combo_items(row.field)[1] == hostile
    assert form.row("y/z").help.text() == hostile
    for label in form.findChildren(QLabel):
        assert label.textFormat() == Qt.TextFormat.PlainText


def test_widget_for_is_usable_alone(qtbot):
    field = widget_for({"type": "integer", "minimum": 1, "maximum": 3, "default": 2}, required=True)
    qtbot.addWidget(field)
    assert isinstance(field, IntegerField) and field.value() == 2
    assert widget_for(False) is None


def test_branch_that_redefines_the_field_being_changed(make_form, qtbot):
    # The changed combo box is itself rebuilt from inside its own signal: it must be
    # retired safely (deleted later), and the user's choice kept.
    schema = {
        "type": "object",
        "properties": {"kind": {"title": "Kind", "allOf": [{"$ref": "#/definitions/kind"}]}},
        "definitions": {"kind": {"enum": ["a", "b"], "default": "a"}},
        "allOf": [{"if": {"properties": {"kind": {"const": "b"}}},
                   "then": {"definitions": {"kind": {"enum": ["a", "b", "c"]}}}}],
    }
    form = make_form(schema)
    old = form.field("kind")
    choose(old, "b")
    qtbot.wait(10)  # let the retired editor's deleteLater run
    new = form.field("kind")
    assert new is not old and combo_items(new)[-1] == "c"
    assert form.values() == {"kind": "b"}
    # "c" leaves the branch that allowed it: the definition goes back to a/b and the
    # choice that no longer exists falls back to the default, without looping.
    choose(new, "c")
    qtbot.wait(10)
    assert combo_items(form.field("kind")) == ["(not set)", "a", "b"]
    assert form.values() == {"kind": "a"} and form.is_valid()
