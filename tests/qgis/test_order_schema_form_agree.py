"""The dialog's form and the Processing algorithm read an order schema the same way (both use
plugin/order_schema.py): a value set in the form as a user sets it gives the same parameters as the same value
given to Processing, defaults and conditional branches included, and Processing accepts what the form shows.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from satellite_tasking.plugin.order_schema import PLUGIN_FILLED_FIELDS
from satellite_tasking.plugin.processing.order_params import check_params, with_defaults
from satellite_tasking.plugin.providers.up42 import choice_lists_as_any_of
from satellite_tasking.plugin.sandbox import up42_schemas
from satellite_tasking.ui.schema_form import SchemaForm

SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "schemas"
WINDOW = {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-02-10T00:00:00Z",
          "start_time": "2026-01-10T00:00:00Z", "end_time": "2026-02-10T00:00:00Z"}


def schema_named(name: str) -> dict:
    if name in up42_schemas.PRODUCTS:
        return choice_lists_as_any_of(copy.deepcopy(up42_schemas.PRODUCTS[name]["schema"]))
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


OPTICAL = "a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"
DISPLAY = "b9c2e7a1-6d4f-4c8b-8a32-1f7d3e5c8b22"
SAR = "d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"
CASES = [
    ("conditional_definitions", {}),
    ("conditional_definitions", {"sensor": "sar"}),
    ("conditional_definitions", {"sensor": "sar", "band": "C"}),
    ("up42_optical", {}),
    ("up42_optical", {"acquisitionMode": "stereo"}),
    ("up42_optical", {"geometricProcessing": "primary"}),
    ("up42_sar", {}),
    ("draft4_legacy", {}),
    ("planet_like_area", {}),
    (OPTICAL, {}),
    (OPTICAL, {"acquisitionMode": "stereo"}),
    (OPTICAL, {"acquisitionMode": "stereo", "geometricProcessing": "primary"}),
    (DISPLAY, {}),
    (DISPLAY, {"geometricProcessing": "ortho"}),
    (SAR, {"acquisitionMode": "sliding_spotlight"}),
]


@pytest.mark.parametrize(("name", "given"), CASES, ids=[f"{n[:12]}-{'-'.join(g.values()) or 'defaults'}"
                                                         for n, g in CASES])
def test_the_form_and_processing_fill_the_same_parameters(qtbot, name, given):
    schema = schema_named(name)
    form = SchemaForm(schema, hidden=PLUGIN_FILLED_FIELDS)
    qtbot.addWidget(form)
    for field_name, value in given.items():  # one after the other, as a person chooses them
        assert form.field(field_name).set_value(value)
    shown = form.values()
    assert with_defaults(schema, given) == shown
    window = {k: v for k, v in WINDOW.items() if form.field(k) is not None}
    for field_name, value in window.items():
        assert form.field(field_name).set_value(value)
    messages = check_params(schema, {**shown, **window})
    assert form.is_valid() == (messages == []), (form.errors(), messages)
