"""Forms built from generated schemas never crash, and a form that says "valid" is.

hypothesis-jsonschema needs a newer jsonschema than the 4.10 QGIS ships with, so the
schemas come from a small strategy of our own covering what the factory meets in the
wild (and some things it should not meet): bounds that may contradict, enums of mixed
types, anyOf of const, $ref into definitions, nested objects, unknown types, junk.
"""
import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, FormatChecker

from satellite_tasking.ui.schema_form import SchemaForm

NAMES = st.sampled_from(["a", "b", "mode", "count", "ratio", "when", "flag", "geometry", "tags", "note"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-1000, max_value=1000),
    st.floats(min_value=-1000, max_value=1000, allow_nan=False).map(lambda x: round(x, 3)),
    st.text(max_size=6),
)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=3), inner, max_size=3), max_leaves=6)
BOUND = st.one_of(st.integers(min_value=-50, max_value=50), st.floats(min_value=-50, max_value=50).map(
    lambda x: round(x, 2)))


def _maybe(draw, key, strategy, into):
    if draw(st.booleans()):
        into[key] = draw(strategy)


@st.composite
def numeric_schemas(draw):
    schema = {"type": draw(st.sampled_from(["integer", "number"]))}
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        _maybe(draw, key, BOUND, schema)
    _maybe(draw, "multipleOf", st.sampled_from([1, 2, 5, 0.5, 0.25, 0.1]), schema)
    _maybe(draw, "default", st.one_of(BOUND, SCALARS), schema)
    return schema


@st.composite
def string_schemas(draw):
    schema = {"type": "string"}
    _maybe(draw, "maxLength", st.integers(min_value=0, max_value=10), schema)
    _maybe(draw, "minLength", st.integers(min_value=0, max_value=3), schema)
    _maybe(draw, "pattern", st.sampled_from(["^[A-Z]+$", "x", "^$", "[0-9]{2}", "(["]), schema)
    _maybe(draw, "format", st.sampled_from(["date-time", "date", "email", "uri"]), schema)
    _maybe(draw, "default", st.one_of(st.sampled_from(["2030-01-01T00:00:00Z", "2030-01-01", "AB"]), SCALARS),
           schema)
    return schema


@st.composite
def choice_schemas(draw):
    values = draw(st.lists(SCALARS, max_size=6))
    if draw(st.booleans()):
        schema = {"enum": values}
    else:
        key = draw(st.sampled_from(["anyOf", "oneOf"]))
        schema = {key: [{"const": v, "title": draw(st.text(max_size=5))} for v in values] or [{"const": 1}]}
    _maybe(draw, "default", st.sampled_from(values) if values else SCALARS, schema)
    return schema


@st.composite
def multi_choice_schemas(draw):
    schema = {"type": "array", "items": draw(choice_schemas())}
    _maybe(draw, "uniqueItems", st.booleans(), schema)
    _maybe(draw, "minItems", st.integers(min_value=0, max_value=2), schema)
    _maybe(draw, "maxItems", st.integers(min_value=0, max_value=3), schema)
    return schema


LEAF_SCHEMAS = st.one_of(
    numeric_schemas(),
    string_schemas(),
    choice_schemas(),
    multi_choice_schemas(),
    st.fixed_dictionaries({"type": st.just("boolean")}, optional={"default": st.one_of(st.booleans(), SCALARS)}),
    st.fixed_dictionaries({"type": st.sampled_from(["duration", "null", "object", "array"])}),
    st.fixed_dictionaries({"type": st.lists(st.sampled_from(["string", "integer", "null"]), min_size=1,
                                            max_size=3, unique=True)}),
    st.sampled_from([{"$ref": "#/definitions/shared"}, {"allOf": [{"$ref": "#/definitions/shared"}]},
                     {"$ref": "#/definitions/missing"}, {"$ref": "#/definitions/loop"}, True, False, {}, 7,
                     "text", [], None]),
)


def object_schemas(children):
    return st.builds(
        lambda props, required, title: {"type": "object", "title": title, "properties": props,
                                        "required": required},
        st.dictionaries(NAMES, children, min_size=1, max_size=4),
        st.lists(NAMES, max_size=3, unique=True),
        st.text(max_size=5),
    )


PROPERTY_SCHEMAS = st.recursive(LEAF_SCHEMAS, object_schemas, max_leaves=8)


@st.composite
def form_schemas(draw):
    return {
        "type": "object",
        "properties": draw(st.dictionaries(NAMES, PROPERTY_SCHEMAS, max_size=6)),
        "required": draw(st.lists(NAMES, max_size=4, unique=True)),
        "additionalProperties": draw(st.booleans()),
        "definitions": {
            "shared": draw(LEAF_SCHEMAS.filter(lambda s: s != {"$ref": "#/definitions/shared"})),
            "loop": {"$ref": "#/definitions/loop"},
        },
    }


def _without_hidden_required(schema, hidden=("geometry",)):
    schema = dict(schema)
    schema["required"] = [name for name in schema["required"] if name not in hidden]
    return schema


def _check(form, schema):
    values = form.values()
    assert isinstance(values, dict)
    assert isinstance(form.errors(), dict)
    assert form.is_valid() == (not form.errors())
    if form.is_valid():
        validator = Draft7Validator(_without_hidden_required(schema), format_checker=FormatChecker())
        assert validator.is_valid(values), list(validator.iter_errors(values))


# Derandomized and without an example database, so every run (and CI) tries the same schemas.
SETTINGS = settings(max_examples=150, deadline=2000, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@SETTINGS
@given(schema=form_schemas(), edits=st.lists(st.tuples(NAMES, JSON_VALUES), max_size=4))
def test_generated_schemas_never_crash_and_valid_means_valid(qtbot, caplog, schema, edits):
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        form = SchemaForm(schema)
        qtbot.addWidget(form)
        _check(form, schema)
        # What the form returns, it takes back unchanged (a saved draft restores).
        again = SchemaForm(schema, values=form.values())
        qtbot.addWidget(again)
        assert again.values() == form.values()
        # Arbitrary values pushed into the editors (as a stale draft would) never break it.
        for name, value in edits:
            field = form.field(name)
            if field is not None:
                field.set_value(value)
        form.set_values(dict(edits))
        _check(form, schema)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "an unexpected exception was logged"
