"""The shared fixtures of tests/conftest.py do what their names say: providers of each kind connected to one
sandbox, and a control API that sees what they asked and steers the sandbox's clock."""
from datetime import timedelta

import pytest


@pytest.fixture
def sandbox_options():
    return {"seed": 2}


def test_providers_of_each_kind_speak_to_the_one_sandbox(up42_provider, planet_provider, stapi_provider,
                                                          sandbox_provider, sandbox_control):
    sandbox_control.forget_requests()
    assert up42_provider.products() and planet_provider.products() and stapi_provider.products()
    assert {p.api for p in sandbox_provider.products()} == {"up42", "planet", "stapi"}
    paths = [entry["path"] for entry in sandbox_control.requests("GET")]
    assert any(p.startswith("/stapi") for p in paths) and any(p.startswith("/v2/") for p in paths), paths


def test_the_control_api_steers_the_frozen_clock_and_answers_with_faults(sandbox_control):
    before = sandbox_control.now()
    sandbox_control.advance(3600)
    assert sandbox_control.now() - before == timedelta(hours=1)
    (rule,) = sandbox_control.add_fault(path=r"^/tasking/v2/products", method="GET", kind="status", status=503,
                                        count=1)
    assert [f["id"] for f in sandbox_control.faults()] == [rule["id"]]
    sandbox_control.clear_faults()
    assert sandbox_control.faults() == []


def test_start_sandbox_gives_each_call_a_sandbox_of_its_own(start_sandbox):
    first, second = start_sandbox(seed=3), start_sandbox(seed=3, settings={"planet_rejection_rate": 1.0})
    assert first.base_url != second.base_url
    assert first.world.settings["planet_rejection_rate"] == 0.0
    assert second.world.settings["planet_rejection_rate"] == 1.0
