"""The one schema validator: references resolve only inside the schema; nothing is fetched or read.

Runs on the jsonschema of Debian 12 (4.10, ``RefResolver``) in the project's venv, and on jsonschema 4.18+
(``referencing``) in any venv that has it: the test names the generation it ran on.
"""
import importlib.metadata

import pytest

from satellite_tasking.plugin.schema_validation import (
    MAX_SCHEMA_PROPERTIES,
    SchemaReachesOut,
    SchemaValidator,
    external_references,
    schema_too_large,
)

JSONSCHEMA = importlib.metadata.version("jsonschema")


def schema_with(ref, **extra):
    return {"type": "object", "properties": {"remote": {"$ref": ref}, "local": {"$ref": "#/definitions/word"}},
            "definitions": {"word": {"type": "string"}}, **extra}


def test_local_references_resolve_on_this_jsonschema():
    validator = SchemaValidator(schema_with("#/definitions/word"))
    assert [e.message for e in validator.errors({"local": 1})] == ["1 is not of type 'string'"], JSONSCHEMA
    assert validator.errors({"local": "a", "remote": "b"}) == []


def test_a_remote_reference_is_refused_and_never_fetched(schema_server):
    base, asked = schema_server
    validator = SchemaValidator(schema_with(f"{base}/part.json"))
    assert validator.errors({"local": "a"}) == []  # the remote part is not needed for these values
    with pytest.raises(SchemaReachesOut) as refused:
        validator.errors({"remote": 5})
    assert f"{base}/part.json" in str(refused.value) and "never fetches" in str(refused.value)
    with pytest.raises(SchemaReachesOut):
        validator.is_valid({"remote": 5})
    assert asked == [], f"jsonschema {JSONSCHEMA} fetched {asked}"


def test_a_relative_reference_under_a_remote_id_is_refused(schema_server):
    base, asked = schema_server
    validator = SchemaValidator(schema_with("part.json", **{"$id": f"{base}/root.json"}))
    assert [e.message for e in validator.errors({"local": 1})] == ["1 is not of type 'string'"]
    with pytest.raises(SchemaReachesOut, match="part.json"):
        validator.errors({"remote": 5})
    assert asked == []


def test_a_file_reference_is_never_read(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"enum": ["THE-SECRET-CONTENT"]}', encoding="utf-8")
    validator = SchemaValidator(schema_with(secret.as_uri()))
    with pytest.raises(SchemaReachesOut) as refused:
        validator.errors({"remote": "guess"})
    assert "THE-SECRET-CONTENT" not in str(refused.value)


def test_a_part_of_the_schema_resolves_in_the_whole_and_refuses_the_rest(schema_server):
    base, asked = schema_server
    root = schema_with(f"{base}/part.json")
    condition = {"properties": {"local": {"$ref": "#/definitions/word"}, "remote": {"$ref": f"{base}/if.json"}}}
    part = SchemaValidator(root).part(condition)
    assert part.is_valid({"local": "a"}) and not part.is_valid({"local": 1})
    with pytest.raises(SchemaReachesOut):
        part.is_valid({"remote": 1})
    assert asked == []


def test_external_references_are_listed():
    schema = {"properties": {"a": {"$ref": "#/x"}, "b": {"allOf": [{"$ref": "file:///etc/passwd"}]},
                             "c": {"items": [{"$ref": "http://h/s.json#/y"}]}}}
    assert sorted(external_references(schema)) == ["file:///etc/passwd", "http://h/s.json#/y"]


def test_a_schema_past_the_property_limit_is_refused_with_a_sentence():
    properties = {f"p{i}": {"type": "string"} for i in range(MAX_SCHEMA_PROPERTIES + 1)}
    sentence = schema_too_large({"type": "object", "properties": properties})
    assert sentence and f"{MAX_SCHEMA_PROPERTIES + 1:,} parameters" in sentence
    assert schema_too_large({"type": "object", "properties": dict(list(properties.items())[:50])}) is None
