"""Processing's place algorithm and a Planet Monitoring order: START becomes the recurrence's start_time (the
rrule cadence counts from it), END is not sent (Planet ignores end_time for Monitoring) and the run says so."""
from datetime import timedelta

import pytest
import requests
from qgis.core import QgsProcessingFeedback
from qgis_harness import memory_layer
from sandbox_harness import control

from satellite_tasking.plugin.utc import format_instant, parse_instant


@pytest.fixture
def tasking(processing_run):
    return processing_run, processing_run.sandbox


def planet_orders(sandbox, reference):
    page = requests.get(f"{sandbox.url()}/tasking/v2/orders/", params={"name__icontains": reference, "limit": 100},
                        headers={"Authorization": "api-key sandbox-api-key"}, timeout=10).json()
    return page["results"]


def test_a_monitoring_order_takes_its_start_from_start_and_says_end_is_not_sent(tasking):
    run, sandbox = tasking
    now = parse_instant(control(sandbox.url(), "GET", "/_sandbox/clock")["now"])
    start = (now + timedelta(days=3)).replace(microsecond=0)
    end = start + timedelta(days=40)
    points = memory_layer("Point", ["POINT(13.40 52.50)", "POINT(13.45 52.52)"], name="masts", select=False)
    feedback = QgsProcessingFeedback()
    result = run("placeorders", feedback=feedback, PRODUCT="planet:monitoring", INPUT=points, NAME="Masts",
                 PARAMS='{"rrule_frequency": "WEEKLY", "rrule_count": 4}', CLIENT_REFERENCE="monitoring-window-1",
                 START=format_instant(start, "seconds"), END=format_instant(end, "seconds"), OUTPUT="memory:")
    assert result["PLACED"] == 2 and result["FAILED"] == 0, feedback.textLog()
    orders = planet_orders(sandbox, "monitoring-window-1")
    assert len(orders) == 2
    for order in orders:
        assert order["scheduling_type"] == "MONITORING"
        assert parse_instant(order["start_time"]) == start  # before the fix: START was refused for Monitoring
        assert order["rrule"].startswith("FREQ=WEEKLY;COUNT=4")
    assert "Acquisition end is not sent" in feedback.textLog()


def test_a_monitoring_order_with_start_only_needs_no_end(tasking):
    run, sandbox = tasking
    now = parse_instant(control(sandbox.url(), "GET", "/_sandbox/clock")["now"])
    start = (now + timedelta(days=2)).replace(microsecond=0)
    points = memory_layer("Point", ["POINT(13.40 52.50)"], name="mast", select=False)
    feedback = QgsProcessingFeedback()
    result = run("placeorders", feedback=feedback, PRODUCT="planet:monitoring", INPUT=points, NAME="Mast",
                 CLIENT_REFERENCE="monitoring-window-2", START=format_instant(start, "seconds"), OUTPUT="memory:")
    assert result["PLACED"] == 1, feedback.textLog()
    [order] = planet_orders(sandbox, "monitoring-window-2")
    assert parse_instant(order["start_time"]) == start
    assert "Acquisition end" not in feedback.textLog()
