"""The Planet order schemas the plugin ships (Planet serves none): draft-07, complete, and strict."""
import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from satellite_tasking.plugin.providers.planet import SCHEMA_FOLDER
from satellite_tasking.plugin.sandbox.planet import ORDER_FIELDS, SCHEDULING_TYPES

KINDS = ("point", "strip", "area", "stereo")
GEOMETRIES = {
    "point": {"type": "Point", "coordinates": [13.4, 52.5]},
    "strip": {"type": "LineString", "coordinates": [[13.0, 52.0], [13.3, 52.2]]},
    "area": {"type": "Polygon", "coordinates": [[[13, 52], [13.1, 52], [13.1, 52.1], [13, 52]]]},
}
GEOMETRIES["stereo"] = GEOMETRIES["area"]


def schema_of(kind):
    return json.loads((SCHEMA_FOLDER / f"{kind}.json").read_text(encoding="utf-8"))


def example(kind):
    order = {
        "geometry": GEOMETRIES[kind], "scheduling_type": "FLEXIBLE",
        "start_time": "2026-02-01T00:00:00Z", "end_time": "2026-03-01T00:00:00Z",
        "sat_elevation_angle_min": 60, "sat_elevation_angle_max": 90, "satellite_types": ["SKYSAT"],
        "max_cloud_cover": 0.15, "exclusivity_days": 30, "pl_number": "PL-123456", "product": "Flexible Tasking",
    }
    if kind == "stereo":
        order["n_stereo_pov"] = 2
    return order


def test_schema_folder_is_in_the_plugin_resources():
    assert SCHEMA_FOLDER == Path(__file__).resolve().parents[2] / "resources" / "schemas" / "planet"
    assert sorted(p.stem for p in SCHEMA_FOLDER.glob("*.json")) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_draft7_and_complete(kind):
    schema = schema_of(kind)
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    properties = schema["properties"]
    assert {"geometry", "start_time", "end_time", "scheduling_type"} <= set(schema["required"]) <= set(properties)
    for name, spec in properties.items():
        assert spec.get("title") and spec.get("description"), name
    # Every field is one the Planet API (as the sandbox speaks it) accepts, the cloud threshold included.
    assert set(properties) <= set(ORDER_FIELDS)
    assert "max_cloud_cover" in properties
    assert [o["const"] for o in properties["scheduling_type"]["anyOf"]] == list(SCHEDULING_TYPES)
    assert all(o.get("title") for o in properties["scheduling_type"]["anyOf"])
    assert properties["start_time"]["format"] == properties["end_time"]["format"] == "date-time"
    assert (properties["sat_elevation_angle_min"]["default"], properties["sat_elevation_angle_max"]["default"]) \
        == (60, 90)
    assert (properties["exclusivity_days"]["minimum"], properties["exclusivity_days"]["maximum"]) == (0, 30)
    assert properties["satellite_types"]["type"] == "array" and "enum" in properties["satellite_types"]["items"]
    assert ("n_stereo_pov" in properties) == (kind == "stereo")


@pytest.mark.parametrize("kind", KINDS)
def test_valid_example_passes_and_bad_ones_fail(kind):
    validator = Draft7Validator(schema_of(kind))
    good = example(kind)
    assert list(validator.iter_errors(good)) == []
    monitoring = {**good, "scheduling_type": "MONITORING", "rrule": "FREQ=WEEKLY;COUNT=4"}
    assert validator.is_valid(monitoring)

    other_kind = "area" if kind in ("point", "strip") else "point"
    bad = {
        "elevation above 90": {"sat_elevation_angle_max": 95},
        "negative elevation": {"sat_elevation_angle_min": -1},
        "exclusivity over 30": {"exclusivity_days": 31},
        "exclusivity not whole": {"exclusivity_days": 1.5},
        "unknown scheduling": {"scheduling_type": "SOON"},
        "unknown satellite": {"satellite_types": ["LANDSAT"]},
        "cloud cover as percent": {"max_cloud_cover": 20},
        "start not text": {"start_time": 20260201},
        "unknown field": {"colour": "blue"},
        "monitoring without rrule": {"scheduling_type": "MONITORING"},
        "assured without window": {"scheduling_type": "ASSURED"},
        "bad rrule": {"scheduling_type": "MONITORING", "rrule": "weekly please"},
        "wrong geometry type": {"geometry": GEOMETRIES[other_kind]},
    }
    if kind == "stereo":
        bad["three views at most"] = {"n_stereo_pov": 4}
    else:
        bad["stereo views outside stereo"] = {"n_stereo_pov": 2}
    for reason, change in bad.items():
        assert not validator.is_valid({**good, **change}), reason
    for required in ("start_time", "end_time", "scheduling_type", "geometry"):
        order = copy.deepcopy(good)
        del order[required]
        assert not validator.is_valid(order), required
