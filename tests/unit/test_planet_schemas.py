"""The Planet order schemas the plugin ships (Planet serves none): draft-07, complete, and strict."""
import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from satellite_tasking.plugin.providers import planet_wire as wire
from satellite_tasking.plugin.providers.planet import ORDER_KINDS, RRULE_FORM_FIELDS, SCHEMA_FOLDER

KINDS = ("point", "strip", "area", "monitoring", "assured")
GEOMETRIES = {
    "point": {"type": "Point", "coordinates": [13.4, 52.5]},
    "strip": {"type": "LineString", "coordinates": [[13.0, 52.0], [13.3, 52.2]]},
    "area": {"type": "Polygon", "coordinates": [[[13, 52], [13.1, 52], [13.1, 52.1], [13, 52]]]},
}
GEOMETRIES["monitoring"] = GEOMETRIES["strip"]
GEOMETRIES["assured"] = GEOMETRIES["point"]
# Form-only fields: the monitoring cadence the provider turns into the rrule.
FORM_ONLY = set(RRULE_FORM_FIELDS)


def schema_of(kind):
    return json.loads((SCHEMA_FOLDER / f"{kind}.json").read_text(encoding="utf-8"))


def example(kind):
    order = {"geometry": GEOMETRIES[kind], "start_time": "2026-02-01T00:00:00Z", "end_time": "2026-03-01T00:00:00Z",
             "sat_elevation_angle_min": 60, "sat_elevation_angle_max": 90, "pl_number": "PL-123456",
             "product": "Flexible Tasking"}
    if kind == "monitoring":
        del order["end_time"]
        order.update(rrule_frequency="WEEKLY", rrule_interval=1, rrule_count=4)
    if kind == "assured":
        order.update(product="Assured Tasking", imaging_window="window-1")
    return order


def test_schema_folder_holds_one_schema_per_order_kind():
    assert SCHEMA_FOLDER == Path(__file__).resolve().parents[2] / "resources" / "schemas" / "planet"
    assert sorted(p.stem for p in SCHEMA_FOLDER.glob("*.json")) == sorted(KINDS) == sorted(ORDER_KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_draft7_and_offers_documented_fields_only(kind):
    schema = schema_of(kind)
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    properties = schema["properties"]
    for name, spec in properties.items():
        assert spec.get("title") and spec.get("description"), name
    assert set(properties) - FORM_ONLY <= set(wire.ORDER_FIELDS)
    assert not {"max_cloud_cover", "scheduling_type", "satellite_types", "exclusivity_days", "n_stereo_pov"} \
        & set(properties)
    assert "cloud" in schema["description"].lower()  # says why there is no cloud setting
    assert set(schema["required"]) <= set(properties)
    assert not {"product"} & set(schema["required"])
    assert ("pl_number" in schema["required"]) == (kind == "assured")
    assert properties["start_time"]["format"] == "date-time"
    assert ("end_time" in properties) == (kind != "monitoring")
    assert ("imaging_window" in properties) == (kind == "assured")
    assert (set(RRULE_FORM_FIELDS) <= set(properties)) == (kind == "monitoring")


@pytest.mark.parametrize("kind", KINDS)
def test_valid_example_passes_and_bad_ones_fail(kind):
    validator = Draft7Validator(schema_of(kind))
    good = example(kind)
    assert list(validator.iter_errors(good)) == []
    assert validator.is_valid({k: v for k, v in good.items() if k not in ("pl_number", "product")}) == \
        (kind != "assured")
    other = {"point": "area", "strip": "area", "area": "point", "monitoring": "area", "assured": "strip"}[kind]
    bad = {
        "elevation above 90": {"sat_elevation_angle_max": 95},
        "negative elevation": {"sat_elevation_angle_min": -1},
        "contract not PL-": {"pl_number": "123456"},
        "start not text": {"start_time": 20260201},
        "unknown field": {"colour": "blue"},
        "cloud cover": {"max_cloud_cover": 0.2},
        "scheduling type": {"scheduling_type": "FLEXIBLE"},
        "wrong geometry type": {"geometry": GEOMETRIES[other]},
    }
    if kind == "monitoring":
        bad.update({"yearly": {"rrule_frequency": "YEARLY"}, "too many": {"rrule_count": 366},
                    "no count": {"rrule_count": 0}, "bad rrule text": {"rrule": "weekly please"}})
    for reason, change in bad.items():
        assert not validator.is_valid({**good, **change}), reason
    order = copy.deepcopy(good)
    del order["geometry"]
    assert not validator.is_valid(order)
