"""Order parameters given as JSON text, checked against the product's schema like the order dialog checks them.

Processing runs headless (``qgis_process`` has no GUI application), so no form can be built; the schema is read
by the same core module the dialog's form uses (:mod:`..order_schema`: branches, the effective schema, defaults,
validation), and the messages are the form's own ("This field is required.", jsonschema's message otherwise),
so the toolbox and the dialog accept and refuse the same parameters with the same words.
"""
from __future__ import annotations

import json
from typing import Iterable

from ..order_schema import PLUGIN_FILLED_FIELDS, WINDOW_FIELDS, OrderSchema, missing_required, reversed_ranges
from ..schema_validation import SchemaReachesOut
from ..wording import shorten

MAX_MESSAGES = 6


class OrderParamsError(ValueError):
    """The parameters cannot be used; the message is a sentence for the user."""


def parse_params(text) -> dict:
    """The JSON text of the ALGORITHM's parameter as a dict (empty text: no parameters)."""
    if isinstance(text, dict):
        return dict(text)
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise OrderParamsError(f"The order parameters are not valid JSON: {error}.") from None
    if not isinstance(value, dict):
        raise OrderParamsError("The order parameters must be a JSON object, like {\"maxCloudCover\": 10}.")
    return value


def with_defaults(schema: dict, values: dict, hidden: Iterable[str] = PLUGIN_FILLED_FIELDS) -> dict:
    """``values`` plus the schema's defaults for what they leave out, as the dialog's form fills them."""
    return OrderSchema(schema).with_defaults(values, hidden)


def check_params(schema: dict, values: dict, hidden: Iterable[str] = PLUGIN_FILLED_FIELDS) -> list:
    """Messages ("field: what is wrong") for values the product's schema refuses; empty when they fit."""
    if not isinstance(schema, dict):
        return ["The product's order schema is not a JSON object, so the parameters cannot be checked."]
    hidden = frozenset(hidden)
    # As in the form: the fields the plugin fills itself (geometry, order name) are not the user's to give.
    messages = [f"{name}: this field is filled by the plugin (from the AOIs or the order name); leave it out."
                for name in values if name in hidden]
    try:
        found = OrderSchema(schema).errors(values, hidden)
    except SchemaReachesOut as refused:
        return messages + [str(refused)]
    except Exception as error:  # noqa: BLE001 - jsonschema cannot apply the schema (bad regex, cycle…)
        return messages + [shorten(f"The schema cannot check these values: {error}")]
    for error in found:
        path = "/".join(str(part) for part in error.absolute_path)
        missing = missing_required(error)
        for name in missing:
            messages.append(f"{path + '/' if path else ''}{name}: This field is required.")
        if missing:
            continue
        messages.append(f"{path or '(parameters)'}: {shorten(error.message)}")
    for start_name, end_name in reversed_ranges(values, WINDOW_FIELDS):
        messages.append(f"{end_name}: the end of the acquisition window must be after its start ({start_name}).")
    return list(dict.fromkeys(messages))


def explain(messages: list) -> str:
    shown = [message.rstrip(".") for message in messages[:MAX_MESSAGES]]
    more = len(messages) - len(shown)
    return "; ".join(shown) + (f"; and {more} more." if more else ".")
