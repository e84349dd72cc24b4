"""Planet's Tasking Dashboard rules for Flexible orders as warnings (planet.md "Scheduling types / products":
window at least 14 days, submitted at least 24 h before it starts; API enforcement unverified → warn, never
block), and the area product's minimum charged area ("areas under 25 sq km are charged as 25 sq km")."""
from datetime import datetime, timedelta, timezone

import pytest

from satellite_tasking.plugin.providers.planet import flexible_rule_warnings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def window(start_hours: float, days: float) -> dict:
    start = NOW + timedelta(hours=start_hours)
    return {"start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_time": (start + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_a_window_within_the_rules_is_not_warned_about():
    assert flexible_rule_warnings(window(24, 14), NOW) == []
    assert flexible_rule_warnings({}, NOW) == []  # Planet's defaults: nothing to say


def test_each_broken_rule_is_a_sentence_and_the_last_says_it_may_still_be_placed():
    lead, length, note = flexible_rule_warnings(window(5, 3.5), NOW)
    assert lead.startswith("The acquisition window starts in 5 hours:") and "24 hours" in lead
    assert length.startswith("The acquisition window is 3.5 days long:") and "14 days" in length
    assert "you can still place it" in note and "not documented" in note
    assert flexible_rule_warnings(window(-2, 20), NOW)[0].startswith("The acquisition window has already begun")
    assert "starts in 30 minutes" in flexible_rule_warnings(window(0.5, 20), NOW)[0]


@pytest.mark.parametrize("product_id, params, warned", [
    ("area", {}, True), ("point", {}, True), ("strip", {"product": "Flexible Tasking"}, True),
    ("monitoring", {}, False), ("assured", {}, False), ("area", {"product": "Archive Tasking"}, False),
])
def test_only_flexible_orders_are_checked(planet_provider, product_id, params, warned):
    got = planet_provider.order_warnings(product_id, {**window(2, 3), **params}, NOW)
    assert bool(got) is warned


def test_the_sandbox_connection_asks_its_planet_part(sandbox_provider):
    product = next(p for p in sandbox_provider.products() if p.id == "planet:area")
    assert len(sandbox_provider.order_warnings(product, window(2, 3), NOW)) == 3
    up42 = next(p for p in sandbox_provider.products() if p.id.startswith("up42:"))
    assert sandbox_provider.order_warnings(up42, window(2, 3), NOW) == []


def test_only_the_area_product_states_the_minimum_charged_area(planet_provider):
    stated = {p.id: p.extra.get("min_charged_area_km2") for p in planet_provider.products()}
    assert stated == {"point": None, "strip": None, "area": 25.0, "monitoring": None, "assured": None}
