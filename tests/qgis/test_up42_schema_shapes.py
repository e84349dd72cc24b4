"""Order forms from schemas shaped as UP42 serves them (the sandbox serves those shapes; see
``plugin/sandbox/up42_schemas.py``): if/then blocks grouped one level deep whose ``if`` has no ``required``,
``{"const": null}`` for "no value in this branch", and the older ``enum`` of ``{id, label}`` choice lists.
The form built from the provider's schema sends values the (strict) sandbox accepts.
"""
from dataclasses import dataclass, field

import pytest

from satellite_tasking.plugin.http import build_session
from satellite_tasking.plugin.model import Aoi, Connection, OrderDraft
from satellite_tasking.plugin.providers.up42 import Up42Provider, choice_lists_as_any_of

OPTICAL = "a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"
SAR = "d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"
BERLIN = {"type": "Polygon",
          "coordinates": [[[13.30, 52.45], [13.50, 52.45], [13.50, 52.58], [13.30, 52.58], [13.30, 52.45]]]}


@dataclass(frozen=True)
class Creds:
    username: str = "forms@example.com"
    password: str = field(default="secret", repr=False)


@pytest.fixture
def up42(start_sandbox):
    server = start_sandbox(seed=2, settings={}, dialects=("up42",))
    connection = Connection(id="up42-forms", name="forms UP42", kind="up42", base_url=server.base_url)
    return Up42Provider(connection, Creds(), build_session("forms UP42", "SatelliteTasking/test"))


def placeable(up42, product, values, name):
    params = {k: v for k, v in values.items() if k not in ("displayName", "geometry")}
    params.update(acquisitionStart="2026-01-10T00:00:00Z", acquisitionEnd="2026-02-10T00:00:00Z")
    draft = OrderDraft(connection_id="up42-forms", product_id=product, name=name, params=params,
                       aois=[Aoi(geometry=BERLIN)], client_reference=f"forms-{name}")
    return up42.estimate(draft)


def test_nested_conditions_and_const_null_hide_fields_and_send_nothing(qtbot, make_form, up42):
    form = make_form(up42.order_schema(OPTICAL))
    values = form.values()
    assert values["acquisitionMode"] == "mono" and form.field("minBH") is None and "minBH" not in values
    assert form.field("projection") is not None  # ortho by default
    form.set_values({**values, "acquisitionMode": "stereo"})
    qtbot.waitUntil(lambda: form.field("minBH") is not None, timeout=5000)
    stereo = form.values()
    assert stereo["minBH"] == 0.25
    form.set_values({**stereo, "geometricProcessing": "primary"})
    qtbot.waitUntil(lambda: form.field("projection") is None, timeout=5000)
    primary = form.values()
    assert "projection" not in primary and primary["minBH"] == 0.25
    estimate = placeable(up42, OPTICAL, primary, "stereo-primary")
    assert estimate.total > 0 and not estimate.errors, estimate.errors


def test_an_enum_of_id_label_objects_is_a_choice_of_ids(make_form, up42):
    schema = up42.order_schema(SAR)
    assert schema["definitions"]["sarMode"]["anyOf"][0] == {"const": "spotlight", "title": "Spotlight (0.5 m)"}
    form = make_form(schema)
    mode = form.field("acquisitionMode")
    labels = [mode.combo.itemText(i) for i in range(mode.combo.count())]
    assert "Sliding spotlight (0.8 m)" in labels
    form.set_values({**form.values(), "acquisitionMode": "sliding_spotlight", "polarization": "VV"})
    values = form.values()
    assert values["acquisitionMode"] == "sliding_spotlight" and "acquisitionMode" not in form.errors()
    estimate = placeable(up42, SAR, values, "sar")
    assert estimate.total > 0 and not estimate.errors, estimate.errors


def test_choice_lists_as_any_of_leaves_other_enums_alone():
    schema = {"definitions": {"a": {"enum": [{"id": 1, "label": "One"}, {"id": 2}]}, "b": {"enum": ["x", "y"]},
                              "c": {"enum": [{"value": 1}]}}}
    out = choice_lists_as_any_of(schema)
    assert out["definitions"]["a"] == {"anyOf": [{"const": 1, "title": "One"}, {"const": 2, "title": "2"}]}
    assert out["definitions"]["b"] == {"enum": ["x", "y"]} and out["definitions"]["c"] == {"enum": [{"value": 1}]}


def test_a_workspace_with_budgets_offers_one_in_the_form(make_form, up42):
    assert "up42:budgetId" not in up42.order_schema(OPTICAL)["properties"]  # no budgets: no field
    import requests

    base = up42.api_base
    (budget_id,) = requests.post(f"{base}/_sandbox/up42/seed_budgets", json={
        "username": "forms@example.com", "names": ["Field campaign"]}, timeout=5).json()["ids"]
    up42._budgets = None  # a new dialog asks again
    form = make_form(up42.order_schema(OPTICAL))
    choice = form.field("up42:budgetId")
    assert choice is not None and "Field campaign" in [choice.combo.itemText(i) for i in range(choice.combo.count())]
    form.set_values({**form.values(), "up42:budgetId": budget_id})
    values = form.values()
    assert values["up42:budgetId"] == budget_id
    params = {k: v for k, v in values.items() if k not in ("displayName", "geometry")}
    params.update(acquisitionStart="2026-01-10T00:00:00Z", acquisitionEnd="2026-02-10T00:00:00Z")
    draft = OrderDraft(connection_id="up42-forms", product_id=OPTICAL, name="Budgeted", params=params,
                       aois=[Aoi(geometry=BERLIN)], client_reference="forms-budget")
    (outcome,) = up42.place(draft)
    assert outcome.placed, outcome.error
    assert outcome.order.raw["budgetId"] == budget_id
