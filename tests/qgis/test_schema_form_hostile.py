"""The order form against hostile or huge schemas: no reaching out, no stalls, sentences instead.

Each test here failed on the code before issue 15: the form fetched a remote ``$ref`` itself and read a
``file://`` one (quoting the file in its error), a schema of 10,000 properties took tens of seconds to build
(a quadratic row placement), and a restored draft checked against ``^((a+)+)+$`` held the GUI thread for
as long as Python's backtracking ``re`` took.
"""
import time

from satellite_tasking.plugin.processing.order_params import check_params
from satellite_tasking.plugin.schema_validation import MAX_SCHEMA_PROPERTIES


def reaching_schema(ref):
    return {"type": "object", "properties": {"name": {"type": "string"}, "level": {"$ref": ref}}}


def test_a_remote_ref_is_never_fetched_and_the_form_says_why(make_form, schema_server):
    base, asked = schema_server
    form = make_form(reaching_schema(f"{base}/level.json"), values={"name": "a", "level": 3})
    form.set_values({"name": "a", "level": 3})
    assert asked == []
    assert not form.is_valid()
    assert "never fetches schema parts from other addresses or files" in form.errors()[""]
    assert f"{base}/level.json" in form.errors()[""]


def test_a_remote_ref_in_a_condition_is_never_fetched(make_form, schema_server):
    base, asked = schema_server
    schema = {"type": "object", "properties": {"mode": {"type": "string", "default": "a"}},
              "if": {"properties": {"mode": {"$ref": f"{base}/mode.json"}}},
              "then": {"properties": {"extra": {"type": "string"}}}}
    form = make_form(schema)
    form.set_values({"mode": "b"})
    assert asked == []
    assert form.field("extra") is None  # a condition that cannot be checked is not met


def test_a_file_ref_is_never_read(make_form, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"enum": ["THE-SECRET-CONTENT"]}', encoding="utf-8")
    form = make_form(reaching_schema(secret.as_uri()))
    form.set_values({"name": "a", "level": "guess"})
    shown = " ".join(form.errors().values())
    assert "THE-SECRET-CONTENT" not in shown
    assert "never fetches" in shown


def test_processing_checks_refuse_a_remote_ref_with_the_same_sentence(schema_server):
    base, asked = schema_server
    messages = check_params(reaching_schema(f"{base}/level.json"), {"level": 3}, hidden=())
    assert asked == []
    assert any("never fetches schema parts" in m for m in messages)


def test_a_schema_past_the_limit_is_refused_at_once_with_a_sentence(make_form):
    properties = {f"p{i}": {"type": "string", "title": f"P {i}"} for i in range(10_000)}
    started = time.perf_counter()
    form = make_form({"type": "object", "properties": properties})
    seconds = time.perf_counter() - started
    assert seconds < 2.0
    assert not form.is_valid()
    assert "10,000 parameters" in form.errors()[""] and f"{MAX_SCHEMA_PROPERTIES:,}" in form.errors()[""]


def test_a_schema_at_the_limit_builds_in_linear_time(make_form):
    def build(count):
        properties = {f"p{i}": {"type": "string", "description": "d"} for i in range(count)}
        started = time.perf_counter()
        form = make_form({"type": "object", "properties": properties})
        seconds = time.perf_counter() - started
        assert len(form.section.rows) == count
        return seconds

    build(50)  # warm-up
    small = min(build(MAX_SCHEMA_PROPERTIES // 4) for _ in range(2))
    full = min(build(MAX_SCHEMA_PROPERTIES) for _ in range(2))
    # Four times the rows; quadratic placement made it about 16 times the time.
    assert full < 8 * small + 0.1, (small, full)
    assert full < 5.0


def test_rows_keep_the_schema_order_when_built_and_replaced(make_form):
    schema = {"type": "object", "properties": {"kind": {"enum": ["a", "b"], "default": "a"},
                                               "middle": {"type": "string"}, "last": {"type": "integer"}},
              "if": {"properties": {"kind": {"const": "b"}}},
              "then": {"properties": {"middle": {"type": "integer"}, "more": {"type": "string"}}}}
    form = make_form(schema)
    assert form.section.names() == ["kind", "middle", "last"]
    form.field("kind").set_value("b")
    assert form.section.names() == ["kind", "middle", "last", "more"]
    labels = [form.section.layout_.itemAt(i, form.section.layout_.ItemRole.LabelRole).widget().text()
              for i in range(form.section.layout_.rowCount())]
    assert labels == ["kind", "middle", "last", "more"]


def test_a_restored_draft_against_a_backtracking_pattern_does_not_stall(make_form):
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^((a+)+)+$"}}}
    form = make_form(schema)
    started = time.perf_counter()
    form.set_values({"code": "a" * 5_000 + "!"})
    seconds = time.perf_counter() - started
    assert seconds < 1.5, seconds
    assert "does not match" in form.errors()["code"]
    form.set_values({"code": "aaaa"})
    assert form.is_valid()


def test_pattern_properties_are_matched_with_bounded_work_too():
    from satellite_tasking.plugin.schema_validation import SchemaValidator

    validator = SchemaValidator({"type": "object", "patternProperties": {"^((a+)+)+$": {"type": "integer"}}})
    started = time.perf_counter()
    assert validator.errors({"a" * 5_000 + "!": "not checked", "aaa": 1}) == []
    assert [e.message for e in validator.errors({"aaa": "x"})] == ["'x' is not of type 'integer'"]
    assert time.perf_counter() - started < 1.5
