"""Order parameters given as JSON text, checked against the product's schema like the order dialog checks them.

The dialog's form (``ui/schema_form.SchemaForm``) is a widget; Processing runs headless (``qgis_process`` has
no GUI application), so no form can be built. Its schema logic, though, does not need widgets: the methods
that pick UP42's if/then/else branches and merge them into the schema that is validated are borrowed here
unchanged, and the messages are the form's own ("This field is required.", jsonschema's message otherwise),
so the toolbox and the dialog accept and refuse the same parameters with the same words.
"""
from __future__ import annotations

import json
from typing import Optional

from jsonschema import FormatChecker

from ...ui.order_dialog import FIELDS_FROM_DIALOG, WINDOW_FIELDS
from ...ui.schema_form import MAX_CONDITION_PASSES, NotApplicableError, SchemaForm, SchemaFormError, SchemaReader
from ...ui.schema_form_widgets import shorten
from ..schema_validation import SchemaReachesOut, SchemaValidator, validator_class_of

MAX_MESSAGES = 6


class OrderParamsError(ValueError):
    """The parameters cannot be used; the message is a sentence for the user."""


class _SchemaLogic:
    """The widget-free part of SchemaForm: branch selection and the effective schema."""

    _select = SchemaForm._select
    _condition_holds = SchemaForm._condition_holds
    _branches = SchemaForm._branches
    _effective = SchemaForm._effective

    def __init__(self, schema: dict):
        self._root = schema
        self._validator_class = validator_class_of(schema)
        self._root_validator = SchemaValidator(schema, validator_class=self._validator_class)

    def effective_for(self, values: dict) -> dict:
        return self._effective(self._select(values))


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


def window_fields(schema: dict) -> Optional[tuple]:
    """(start name, end name) of the acquisition window in this schema, or None."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return None
    return next((pair for pair in WINDOW_FIELDS if pair[0] in properties and pair[1] in properties), None)


def with_defaults(schema: dict, values: dict, hidden=FIELDS_FROM_DIALOG) -> dict:
    """``values`` plus the schema's defaults for what they leave out, as the dialog's form fills them.

    A default can switch an if/then/else branch, which may bring fields with defaults of their own,
    hence the bounded loop (the form's own bound).
    """
    logic = _SchemaLogic(schema)
    result = dict(values)
    defaulted = set()
    for _ in range(MAX_CONDITION_PASSES):
        effective = logic.effective_for(result)
        reader = SchemaReader(effective)
        changed = False
        for name, sub in (effective.get("properties") or {}).items():
            if name in hidden or (name in result and name not in defaulted):
                continue
            try:
                spec = reader.flatten(sub)
            except (SchemaFormError, NotApplicableError, RecursionError):
                continue
            if "const" in spec and spec["const"] is None:
                # "No value in this branch" (UP42): a default taken while another branch held goes again,
                # as the form drops the field.
                if name in result:
                    del result[name]
                    defaulted.discard(name)
                    changed = True
                continue
            if name not in result and "default" in spec:
                result[name] = spec["default"]
                defaulted.add(name)
                changed = True
        if not changed:
            break
    return result


def check_params(schema: dict, values: dict, hidden=FIELDS_FROM_DIALOG) -> list:
    """Messages ("field: what is wrong") for values the product's schema refuses; empty when they fit."""
    if not isinstance(schema, dict):
        return ["The product's order schema is not a JSON object, so the parameters cannot be checked."]
    logic = _SchemaLogic(schema)
    effective = logic.effective_for(values)
    # As in the form: the fields the plugin fills itself (geometry, order name) are not the user's to give.
    if "required" in effective:
        effective["required"] = [n for n in effective["required"] if n not in hidden]
    unknown = [name for name in values if name in hidden]
    messages = [f"{name}: this field is filled by the plugin (from the AOIs or the order name); leave it out."
                for name in unknown]
    validator = SchemaValidator(effective, format_checker=FormatChecker(), validator_class=logic._validator_class)
    try:
        found = validator.errors(values)
    except SchemaReachesOut as refused:
        return messages + [str(refused)]
    except Exception as error:  # noqa: BLE001 - jsonschema cannot apply the schema (bad regex, cycle…)
        return messages + [shorten(f"The schema cannot check these values: {error}")]
    for error in found:
        path = "/".join(str(part) for part in error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [n for n in error.validator_value or [] if isinstance(n, str) and n not in error.instance]
            for name in missing:
                messages.append(f"{path + '/' if path else ''}{name}: This field is required.")
            if missing:
                continue
        messages.append(f"{path or '(parameters)'}: {shorten(error.message)}")
    for start_name, end_name in WINDOW_FIELDS:
        start, end = _moment(values.get(start_name)), _moment(values.get(end_name))
        if start is not None and end is not None and end <= start:
            messages.append(f"{end_name}: the end of the acquisition window must be after its start ({start_name}).")
    return list(dict.fromkeys(messages))


def _moment(value):
    from ...ui.schema_form import _moment as parse

    return parse(value)


def explain(messages: list) -> str:
    shown = [message.rstrip(".") for message in messages[:MAX_MESSAGES]]
    more = len(messages) - len(shown)
    return "; ".join(shown) + (f"; and {more} more." if more else ".")
