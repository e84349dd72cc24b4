"""The sandbox's Planet responses carry every field the seed document's response examples show, with the same
JSON types. The examples are parsed out of the seed file at test time (the shared copy when present, else the
copy in tests/data), so the test follows the document rather than a transcription of it.
"""
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from satellite_tasking.plugin.sandbox import SandboxServer

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_NAME = "002_171a55edcf7f7637.txt"
SEED_CANDIDATES = (REPO_ROOT.parent / "shared" / "seeds" / SEED_NAME, REPO_ROOT / "tests" / "data" / SEED_NAME)
START = datetime(2026, 1, 5, tzinfo=timezone.utc)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
STRIP_ID = re.compile(r"^s\d+_\d{8}T\d{6}Z$")


def seed_text() -> str:
    for candidate in SEED_CANDIDATES:
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise AssertionError(f"seed document not found in {SEED_CANDIDATES}")


def response_examples(text: str) -> list:
    """Every JSON object that follows a "Response example" heading."""
    decoder = json.JSONDecoder()
    examples = []
    for match in re.finditer(r"Response example", text):
        start = text.index("{", match.end())
        example, _end = decoder.raw_decode(text, start)
        examples.append(example)
    return examples


def is_timestamp_field(name: str) -> bool:
    return name.endswith("_time")


def json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def allowed_kinds(name: str, example_value) -> set:
    kind = json_kind(example_value)
    if is_timestamp_field(name) or kind == "null":
        # A timestamp is null until its event happened; a null in the example says "string or null".
        return {kind, "null", "string"}
    return {kind}


def check_like(example: dict, actual: dict, where: str) -> None:
    missing = sorted(set(example) - set(actual))
    assert not missing, f"{where} lacks {missing}"
    for name, value in example.items():
        got = json_kind(actual[name])
        assert got in allowed_kinds(name, value), f"{where}.{name}: {got}, example has {json_kind(value)}"
        if is_timestamp_field(name) and actual[name] is not None:
            assert TIMESTAMP.match(actual[name]), f"{where}.{name} = {actual[name]!r}"
        if isinstance(value, list) and value and actual[name]:
            assert {json_kind(v) for v in actual[name]} == {json_kind(v) for v in value}, f"{where}.{name}"


@pytest.fixture(scope="module")
def examples():
    found = response_examples(seed_text())
    assert len(found) == 2, "the seed document shows an order example and a captures-list example"
    order, captures = found
    assert order["status"] == "FULFILLED" and "geometry" in order
    assert set(captures) == {"count", "next", "previous", "results"} and captures["results"]
    return order, captures


@pytest.fixture(scope="module")
def fulfilled():
    """A sandbox order driven to FULFILLED, and its captures list, as the client sees them."""
    settings = {"planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
                "planet_reassessment_rate": 0.0, "planet_contract_cloud_cover": 1.0}
    with SandboxServer(port=0, seed=3, speed=0, start=START, dialects=["planet"], settings=settings) as server:
        base = server.base_url + "/tasking/v2"
        auth = {"Authorization": "api-key seed-fields"}
        end = (START + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        created = requests.post(base + "/orders/", headers=auth, timeout=30, json={
            "name": "cairo_egypt", "end_time": end,
            "geometry": {"type": "Polygon", "coordinates": [[[31.20, 30.02], [31.26, 30.02], [31.26, 30.07],
                                                             [31.20, 30.07], [31.20, 30.02]]]}})
        assert created.status_code == 201, created.text
        order_id = created.json()["id"]
        for _ in range(10 * 24):
            order = requests.get(f"{base}/orders/{order_id}", headers=auth, timeout=30).json()
            if order["status"] == "FULFILLED":
                break
            requests.post(server.base_url + "/_sandbox/clock", json={"advance_seconds": 3600}, timeout=30)
        assert order["status"] == "FULFILLED"
        listing = requests.get(base + "/orders/", params={"status": "FULFILLED"}, headers=auth, timeout=30).json()
        captures = requests.get(base + "/captures/", params={"order_id": order_id}, headers=auth, timeout=30).json()
        yield order, listing, captures


def test_seed_examples_are_found_in_the_document(examples):
    order, captures = examples
    assert order["id"] == "bfc45520-8a72-4d23-bfd1-7b22f23ed133"
    assert captures["results"][0]["strip_id"] == "s104_20190921T085131Z"


def test_order_has_every_field_of_the_seed_example(examples, fulfilled):
    example, _ = examples
    order, listing, _captures = fulfilled
    check_like(example, order, "order")
    assert [o["id"] for o in listing["results"]] == [order["id"]]
    check_like(example, listing["results"][0], "listed order")
    assert order["geometry"]["type"] == example["geometry"]["type"] == "Polygon"


def test_captures_list_has_every_field_of_the_seed_example(examples, fulfilled):
    _, example = examples
    _order, _listing, captures = fulfilled
    check_like({k: v for k, v in example.items() if k != "results"}, captures, "captures list")
    assert captures["count"] == len(captures["results"]) >= 1
    for capture in captures["results"]:
        check_like(example["results"][0], capture, "capture")
        assert STRIP_ID.match(capture["strip_id"])
        assert capture["item_types"] == example["results"][0]["item_types"]
        assert capture["status"] == example["results"][0]["status"]
        assert capture["assessment"] == example["results"][0]["assessment"]


def test_check_like_can_fail():
    example = {"a_time": "2019-09-21T23:57:43.783444Z", "n": 0.16, "items": ["x"]}
    with pytest.raises(AssertionError):
        check_like(example, {"a_time": None, "n": "0.16", "items": ["x"]}, "bad")
    with pytest.raises(AssertionError):
        check_like(example, {"a_time": None, "items": ["x"]}, "missing")
    with pytest.raises(AssertionError):
        check_like(example, {"a_time": "2019-09-21T23:57:43Z", "n": 1, "items": ["x"]}, "short timestamp")
    check_like(example, {"a_time": None, "n": 1, "items": []}, "fine")
