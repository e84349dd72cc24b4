"""The order schema read without Qt (plugin/order_schema.py): the shapes UP42 serves and the plugin's own.

The same module drives the dialog's form and the Processing algorithm; here it is tested on its own, with no
widget and no QGIS, against the schemas of tests/data/schemas and those the sandbox serves
(plugin/sandbox/up42_schemas.py), and checked against the sandbox's own, independent reading of them.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from satellite_tasking.plugin.order_schema import (
    PLUGIN_FILLED_FIELDS,
    WINDOW_FIELDS,
    NotApplicableError,
    OrderSchema,
    SchemaReader,
    UnreadableSchemaError,
    merge_schemas,
    missing_required,
    resolve_pointer,
    reversed_ranges,
    schema_problem,
    schema_type,
    window_fields,
)
from satellite_tasking.plugin.providers.up42 import choice_lists_as_any_of
from satellite_tasking.plugin.sandbox import up42_schemas

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "tests" / "data" / "schemas"
OPTICAL = "a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"  # sandbox: Pléiades Neo Analytic (ortho by default)
DISPLAY = "b9c2e7a1-6d4f-4c8b-8a32-1f7d3e5c8b22"  # sandbox: Pléiades Neo Display (primary by default)
SAR = "d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"  # sandbox: Capella SAR, enum of {id, label}
WINDOW = {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-02-10T00:00:00Z"}


def load(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


def sandbox_schema(product_id: str) -> dict:
    return copy.deepcopy(up42_schemas.PRODUCTS[product_id]["schema"])


def messages(schema: OrderSchema, values: dict) -> list:
    return [f"{'/'.join(map(str, e.absolute_path))}:{e.validator}" for e in schema.errors(values)]


def test_the_module_imports_no_qt_no_qgis_and_nothing_of_ui():
    # (A "pattern" keyword would load Qt on purpose: schema_validation matches patterns with Qt's PCRE2 when Qt
    # is there, for its bounded work, and with Python's re when it is not.)
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("satellite_tasking", {str(REPO / "__init__.py")!r},
                                              submodule_search_locations=[{str(REPO)!r}])
sys.modules["satellite_tasking"] = importlib.util.module_from_spec(spec)
import satellite_tasking.plugin.order_schema as order_schema
schema = order_schema.OrderSchema({{"type": "object", "properties": {{"code": {{"type": "string"}}}}}})
assert schema.errors({{"code": 5}}) and schema.with_defaults({{}}) == {{}}
loaded = sorted(name for name in sys.modules
                if name.split(".")[0] in ("qgis", "PyQt5", "PyQt6", "sip") or name.startswith("satellite_tasking.ui"))
print(loaded)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---- references, allOf, merging --------------------------------------------------------------------------------
def test_references_and_allof_flatten_into_one_property_schema():
    schema = load("up42_optical")
    reader = SchemaReader(schema)
    spec = reader.flatten(schema["properties"]["cloudCoverage"])
    assert spec == {"title": "Maximum cloud coverage (%)", "description": "The maximum share of clouds in the image.",
                    "type": "integer", "minimum": 5, "maximum": 20, "default": 20}
    assert reader.choices(reader.flatten(schema["properties"]["acquisitionMode"])) == [
        ("mono", "MONO", ""), ("stereo", "STEREO", "")]


def test_merging_keeps_the_tighter_bound_and_adds_up_required_names():
    merged = merge_schemas({"minimum": 1, "maximum": 10, "required": ["a"]},
                           {"minimum": 3, "maximum": 30, "required": ["b", "a"]})
    assert merged == {"minimum": 3, "maximum": 10, "required": ["a", "b"]}


def test_a_reference_that_leaves_the_schema_or_loops_is_said_not_followed():
    with pytest.raises(UnreadableSchemaError, match="outside this schema"):
        resolve_pointer({}, "https://example.com/schema.json#/x")
    with pytest.raises(UnreadableSchemaError, match="points to nothing"):
        resolve_pointer({"definitions": {}}, "#/definitions/missing")
    looping = {"definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}}}
    with pytest.raises(UnreadableSchemaError, match="cycle"):
        SchemaReader(looping).flatten({"$ref": "#/definitions/a"})


def test_a_schema_that_is_no_object_form_gets_a_sentence():
    assert "not a JSON object" in schema_problem(["a list"])
    assert "describes" in schema_problem({"type": "string"})
    assert schema_problem(load("constructs")) is None


# ---- conditional blocks -----------------------------------------------------------------------------------------
def test_a_then_branch_adds_a_property_and_makes_it_required():
    schema = OrderSchema(load("up42_optical"))
    mono = schema.effective_for({"acquisitionMode": "mono"})
    stereo = schema.effective_for({"acquisitionMode": "stereo"})
    assert "minBH" not in mono["properties"] and "minBH" not in mono["required"]
    assert "minBH" in stereo["properties"] and "minBH" in stereo["required"]
    assert stereo["definitions"]["minBH"]["default"] == 0.4
    assert "allOf" not in stereo  # the blocks are merged, not validated as plain JSON Schema would


def test_branches_replace_definitions_and_a_nested_block_inside_a_branch_is_followed():
    schema = OrderSchema(load("conditional_definitions"))
    optical = schema.with_defaults({})
    assert optical == {"sensor": "optical", "resolution": 2}
    sar = schema.with_defaults({"sensor": "sar"})
    assert sar == {"sensor": "sar", "resolution": 5, "nightMode": True, "band": "X"}
    # band C: the block nested in the SAR branch makes nightMode `false` (no value allowed).
    c_band = schema.effective_for({"sensor": "sar", "band": "C"})
    with pytest.raises(NotApplicableError):
        SchemaReader(c_band, schema.conditional_refs).flatten(c_band["properties"]["nightMode"])
    assert schema.with_defaults({"sensor": "sar", "band": "C"}) == {"sensor": "sar", "band": "C", "resolution": 5}
    assert messages(schema, {"sensor": "sar", "band": "C", "nightMode": True, "resolution": 5})
    assert messages(schema, {"sensor": "sar", "band": "C", "resolution": 5}) == []
    # the SAR branch's own bounds: 2 fits the optical definition, not the SAR one.
    assert messages(schema, {"sensor": "sar", "resolution": 2}) == ["resolution:minimum"]
    assert messages(schema, {"sensor": "optical", "resolution": 2}) == []


def test_a_definition_only_a_branch_provides_is_not_applicable_elsewhere_not_broken():
    schema = OrderSchema(load("conditional_definitions"))
    assert "#/definitions/nightMode" in schema.conditional_refs
    optical = schema.effective_for({"sensor": "optical"})
    reader = SchemaReader(optical, schema.conditional_refs)
    with pytest.raises(NotApplicableError):
        reader.flatten(optical["properties"]["nightMode"])


def test_up42_blocks_grouped_one_level_deeper_and_const_null_mean_no_value_in_this_branch():
    schema = OrderSchema(sandbox_schema(OPTICAL))
    assert len(schema.blocks) == 2  # {"allOf": [{"allOf": [{"if"...}, {"if"...}]}]}
    mono = schema.with_defaults({})
    assert mono["acquisitionMode"] == "mono" and "minBH" not in mono and mono["projection"] == "UTM"
    stereo = schema.with_defaults({"acquisitionMode": "stereo"})
    assert stereo["minBH"] == 0.25
    primary = schema.with_defaults({"acquisitionMode": "stereo", "geometricProcessing": "primary"})
    assert "projection" not in primary and primary["minBH"] == 0.25
    # A value for a `const: null` field is refused: the branch takes no value there.
    refused = messages(schema, {**primary, **WINDOW, "displayName": "x", "projection": "UTM"})
    assert refused == ["projection:const"]


def test_a_default_taken_in_one_branch_goes_when_the_next_pass_chooses_another():
    schema = OrderSchema(sandbox_schema(DISPLAY))  # geometric processing defaults to primary: no projection
    assert "projection" not in schema.with_defaults({})
    assert schema.with_defaults({"geometricProcessing": "ortho"})["projection"] == "UTM"


def test_an_enum_of_id_label_objects_is_a_choice_of_ids_once_the_provider_reads_it():
    raw = sandbox_schema(SAR)
    reader = SchemaReader(raw)
    raw_choices = reader.choices(reader.flatten(raw["properties"]["acquisitionMode"]))
    assert raw_choices[0][0] == {"id": "spotlight", "label": "Spotlight (0.5 m)"}  # as served: objects
    schema = OrderSchema(choice_lists_as_any_of(raw))
    reader = SchemaReader(schema.root)
    choices = reader.choices(reader.flatten(schema.root["properties"]["acquisitionMode"]))
    assert ("sliding_spotlight", "Sliding spotlight (0.8 m)", "") in choices
    values = {**schema.with_defaults({}), **WINDOW, "displayName": "SAR"}
    assert values["acquisitionMode"] == "stripmap"
    assert messages(schema, values) == []
    assert messages(schema, {**values, "acquisitionMode": "bogus"}) == ["acquisitionMode:anyOf"]


OPTICAL_CHOICES = [{}, {"acquisitionMode": "stereo"}, {"geometricProcessing": "primary"},
                   {"geometricProcessing": "ortho"}, {"acquisitionMode": "stereo", "geometricProcessing": "ortho"}]


@pytest.mark.parametrize(("product_id", "choice"), [
    *[(OPTICAL, choice) for choice in OPTICAL_CHOICES], *[(DISPLAY, choice) for choice in OPTICAL_CHOICES],
    *[(product_id, {}) for product_id in sorted(up42_schemas.PRODUCTS) if product_id not in (OPTICAL, DISPLAY)],
    (SAR, {"acquisitionMode": "spotlight", "polarization": "VV"}),
])
def test_what_the_core_fills_and_accepts_the_sandbox_accepts_too(product_id, choice):
    """The sandbox validates with a reading of its own (up42_schemas.validate_params): the two agree."""
    schema = OrderSchema(choice_lists_as_any_of(sandbox_schema(product_id)))
    values = {**schema.with_defaults(choice), **WINDOW, "displayName": "agreement"}
    assert messages(schema, values) == []
    assert up42_schemas.validate_params(product_id, values) == []


def test_the_plugin_filled_fields_leave_required_but_nothing_else_does():
    schema = OrderSchema(load("up42_optical"))
    errors = schema.errors({"acquisitionMode": "stereo"})
    missing = sorted(name for error in errors for name in missing_required(error))
    assert "geometry" not in missing and "displayName" not in missing and "minBH" in missing
    assert "geometry" in PLUGIN_FILLED_FIELDS and "displayName" in PLUGIN_FILLED_FIELDS
    with_geometry = sorted(name for e in schema.errors({}, hidden=()) for name in missing_required(e))
    assert "geometry" in with_geometry


def test_a_draft4_schema_is_validated_as_draft4():
    schema = OrderSchema(load("draft4_legacy"))
    assert schema.validator(()).validator_class.__name__ == "Draft4Validator"


def test_the_acquisition_window_is_found_and_a_reversed_one_is_named():
    assert window_fields(load("up42_optical")) == ("acquisitionStart", "acquisitionEnd")
    assert window_fields(load("planet_like_area")) == ("start_time", "end_time")
    assert window_fields(load("draft4_legacy")) is None
    values = {"acquisitionStart": "2026-02-10T00:00:00Z", "acquisitionEnd": "2026-02-10T00:00:00+00:00",
              "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02"}
    assert reversed_ranges(values, WINDOW_FIELDS) == [("acquisitionStart", "acquisitionEnd")]


def test_processing_takes_its_defaults_from_the_branch_the_defaults_choose():
    """An ``if`` on a property the values leave out holds vacuously: choosing the first branch from the values
    alone took the SAR branch's defaults for an optical order, which the schema then refused."""
    from satellite_tasking.plugin.processing.order_params import check_params, with_defaults

    schema = load("conditional_definitions")
    values = with_defaults(schema, {})
    assert values == {"sensor": "optical", "resolution": 2}
    assert check_params(schema, values) == []


def test_choice_shapes_enum_oneof_anyof_and_nullable_alternatives_are_read_without_widgets():
    schema = load("constructs")
    reader = SchemaReader(schema)
    properties = schema["properties"]
    assert [value for value, _label, _ in reader.choices(properties["mode"])] == ["a", "b", 3]
    assert reader.choices(properties["level"]) == [(1, "Low", ""), (2, "High", "")]  # oneOf of const
    tags = reader.flatten(properties["tags"]["items"])
    assert [label for _value, label, _ in reader.choices(tags)] == ["Red", "Green", "Blue"]  # anyOf via $ref
    nullable = reader.nullable_alternative(properties["optionalLimit"])
    assert nullable == {"type": "integer", "minimum": 1, "title": "Optional limit"}
    assert reader.choices(properties["count"]) is None  # a free value is no choice
    with pytest.raises(UnreadableSchemaError, match="any of string, number"):
        schema_type(properties["either"])
    order = OrderSchema(schema)
    assert order.with_defaults({}) == {"mode": "b", "day": "2030-01-31", "when": "2030-01-31T12:30:00+02:00",
                                       "urgent": False}
    found = messages(order, {"level": 3, "optionalLimit": None, "negated": 5})
    assert sorted(m for m in found if not m.endswith(":required")) == ["level:oneOf", "negated:not"]
