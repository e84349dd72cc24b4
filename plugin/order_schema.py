"""A product's order schema read without widgets: references, merging, conditional blocks, defaults, validation.

Providers describe their order parameters as JSON Schema (UP42 serves one per data product; the plugin ships
its own for Planet order kinds). Two front ends read them: the order dialog's form (``ui/schema_form.py``) and
the Processing algorithm that places orders from JSON text (``plugin/processing/order_params.py``). Both must
accept and refuse the same parameters, so the reading lives here once, without Qt:

* :class:`SchemaReader` resolves local ``$ref`` and ``allOf`` (UP42's style) into one dict per property;
* :class:`OrderSchema` applies UP42's if/then/else blocks — at the top, inside ``allOf``, grouped one level
  deeper, nested in a branch — whose ``then``/``else`` *replace definitions* or add properties and required
  names, which plain JSON Schema validation would ignore; it merges the chosen branches into the *effective*
  schema that is validated (with :mod:`.schema_validation`), and fills defaults as the form does;
* UP42's ``const: null`` ("no value in this branch") and ``enum`` lists of ``{id, label}`` objects are read as
  choices like any other closed list.
"""
from __future__ import annotations

import json
import logging
from typing import Iterable, Optional

from jsonschema import FormatChecker

from .schema_validation import SchemaReachesOut, SchemaValidator, schema_objects, schema_too_large, validator_class_of
from .utc import parse_instant
from .wording import shorten

logger = logging.getLogger(__name__)

MAX_ALL_OF = 64
MAX_CONDITIONAL_BLOCKS = 64
# A default can switch a branch that brings fields with defaults of their own, and a schema can make the
# branches flip forever: the passes that settle them are bounded.
MAX_CONDITION_PASSES = 6
# Branches inside branches are followed this deep.
MAX_BRANCH_DEPTH = 4
KNOWN_TYPES = {"string", "integer", "number", "boolean", "object", "array", "null"}
DEFINITION_KEYS = ("definitions", "$defs")
# Fields the plugin fills itself: the geometry from each AOI (one order per AOI), the order name from the
# dialog's "Order name" or the algorithm's parameter. They are not the user's to give.
PLUGIN_FILLED_FIELDS = ("geometry", "displayName", "name")
# The acquisition window, per API (UP42's order schemas, Planet's): shown first, checked start < end, carried
# from one product to another even where the two APIs name it differently.
WINDOW_FIELDS = (("acquisitionStart", "acquisitionEnd"), ("start_time", "end_time"))

TIGHTER_IS_LARGER = {"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"}
TIGHTER_IS_SMALLER = {"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"}


class UnreadableSchemaError(Exception):
    """A part of a schema the plugin cannot read as one parameter (the form shows a JSON text field instead);
    the message says why."""


class NotApplicableError(Exception):
    """The property accepts no value in the current state (schema ``false``, or a
    definition that only a conditional branch provides): its field is not shown."""


class MissingReferenceError(UnreadableSchemaError):
    def __init__(self, ref: str):
        super().__init__(f"$ref {ref!r} points to nothing in the schema")
        self.ref = ref


# ---- JSON values as a schema compares and names them ---------------------------------------------------------
def choice_key(value) -> tuple:
    """Identity of a JSON value as JSON Schema compares it (1 == 1.0, True != 1)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    try:
        return ("json", json.dumps(value, sort_keys=True, allow_nan=True))
    except (TypeError, ValueError):
        return ("repr", repr(value))


def choice_label(value) -> str:
    """A JSON value as text: strings as they are, anything else (an ``{id, label}`` object) as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def window_fields(schema) -> Optional[tuple]:
    """(start name, end name) of the acquisition window in this schema, or None."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return None
    return next((pair for pair in WINDOW_FIELDS if pair[0] in properties and pair[1] in properties), None)


def reversed_ranges(values: dict, ranges: Iterable[tuple]) -> list:
    """The (start name, end name) pairs whose end is not after their start in ``values``."""
    found = []
    for start_name, end_name in ranges:
        start, end = parse_instant(values.get(start_name)), parse_instant(values.get(end_name))
        if start is not None and end is not None and end <= start:
            found.append((start_name, end_name))
    return found


# ---- references and allOf ------------------------------------------------------------------------------------
def resolve_pointer(root, ref):
    """The part of ``root`` a local ``$ref`` ("#/definitions/x") points to."""
    if not isinstance(ref, str):
        raise UnreadableSchemaError(f"$ref is {choice_label(ref)}, not a string")
    if not ref.startswith("#"):
        raise UnreadableSchemaError(f"$ref {ref!r} points outside this schema; only local references are followed")
    node = root
    fragment = ref[1:]
    if fragment in ("", "/"):
        return root
    for raw in fragment.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise MissingReferenceError(ref)
    return node


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def merge_schemas(low: dict, high: dict) -> dict:
    """``high`` over ``low``; bounds keep the tighter one, required lists add up.

    Only used to choose and shape an editor or a default: validation always runs on the real (effective)
    schema, so a loose merge never lets a wrong value through.
    """
    merged = dict(low)
    for key, value in high.items():
        old = merged.get(key)
        if key in TIGHTER_IS_LARGER and _is_number(old) and _is_number(value):
            merged[key] = max(old, value)
        elif key in TIGHTER_IS_SMALLER and _is_number(old) and _is_number(value):
            merged[key] = min(old, value)
        elif key == "required" and isinstance(old, list) and isinstance(value, list):
            merged[key] = old + [name for name in value if name not in old]
        elif key == "properties" and isinstance(old, dict) and isinstance(value, dict):
            merged[key] = {**old, **value}
        else:
            merged[key] = value
    return merged


def text_of(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else choice_label(value)


def title_or(schema: dict, fallback: str) -> str:
    title = schema.get("title")
    return text_of(title) if title not in (None, "") else fallback


def schema_type(schema: dict) -> Optional[str]:
    """The one JSON type a (flattened) schema names, "null" only when nothing else; None when it names none."""
    kind = schema.get("type")
    if isinstance(kind, list):
        named = [k for k in kind if k != "null"]
        if not all(isinstance(k, str) for k in kind):
            raise UnreadableSchemaError(f"type {choice_label(kind)} is not a list of names")
        if len(named) == 1:
            kind = named[0]
        elif not named:
            kind = "null"
        else:
            raise UnreadableSchemaError(f"the value may be any of {', '.join(named)}")
    if kind is not None and (not isinstance(kind, str) or kind not in KNOWN_TYPES):
        raise UnreadableSchemaError(f"type {choice_label(kind)} is not a JSON Schema type")
    return kind


def is_no_value(spec: dict) -> bool:
    """UP42's ``const: null``: "no value in this branch" — no field, nothing sent."""
    return "const" in spec and spec["const"] is None


class SchemaReader:
    """Resolves property schemas against one (effective) root schema."""

    def __init__(self, root, conditional_refs=frozenset()):
        self.root = root
        # Definitions only some if/then/else branch provides: a $ref to one of them that
        # points to nothing now means "not in this mode", not a broken schema.
        self.conditional_refs = conditional_refs

    def flatten(self, schema, visiting=frozenset(), used=None) -> dict:
        """One dict for a schema written with ``$ref`` and ``allOf`` (UP42's style).

        ``used`` collects the references followed, so nested objects can spot recursion.
        """
        if schema is True:
            return {}
        if schema is False:
            raise NotApplicableError()
        if not isinstance(schema, dict):
            shown = shorten(choice_label(schema), 60)
            raise UnreadableSchemaError(f"the schema is {type(schema).__name__} {shown}, not a JSON object")
        merged = {}
        ref = schema.get("$ref")
        if ref is not None:
            if ref in visiting:
                raise UnreadableSchemaError(f"$ref {ref!r} refers back to itself (a cycle)")
            try:
                target = resolve_pointer(self.root, ref)
            except MissingReferenceError:
                if ref in self.conditional_refs:
                    raise NotApplicableError() from None
                raise
            if used is not None:
                used.add(ref)
            merged = self.flatten(target, visiting | {ref}, used)
        all_of = schema.get("allOf")
        if all_of is not None:
            if not isinstance(all_of, list):
                raise UnreadableSchemaError("allOf is not a list")
            if len(all_of) > MAX_ALL_OF:
                raise UnreadableSchemaError(f"allOf has {len(all_of)} parts")
            for part in all_of:
                merged = merge_schemas(merged, self.flatten(part, visiting, used))
        own = {key: value for key, value in schema.items() if key not in ("$ref", "allOf")}
        return merge_schemas(merged, own)

    def choices(self, schema, visiting=frozenset()) -> Optional[list]:
        """[(value, label, description)] when the schema is a closed list of values, else None."""
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list):
                raise UnreadableSchemaError("enum is not a list")
            return [(value, choice_label(value), "") for value in values]
        if "const" in schema:
            return [(schema["const"], title_or(schema, choice_label(schema["const"])), "")]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if not isinstance(options, list) or not options:
                continue
            found = []
            for option in options:
                try:
                    option = self.flatten(option, visiting)
                except NotApplicableError:
                    continue
                if "const" in option:
                    found.append((option["const"], title_or(option, choice_label(option["const"])),
                                  text_of(option.get("description"))))
                elif isinstance(option.get("enum"), list) and len(option["enum"]) == 1:
                    value = option["enum"][0]
                    found.append((value, title_or(option, choice_label(value)), text_of(option.get("description"))))
                else:
                    return None
            return found
        return None

    def nullable_alternative(self, schema) -> Optional[dict]:
        """``anyOf: [X, {"type": "null"}]`` → X merged into the schema (sent as X or left out)."""
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if not isinstance(options, list) or len(options) != 2:
                continue
            flat = [self.flatten(option) for option in options]
            others = [option for option in flat if option.get("type") != "null"]
            if len(others) == 1:
                rest = {k: v for k, v in schema.items() if k != key}
                return merge_schemas(others[0], rest)
        return None

    def references_of(self, schema, limit: int = 2000) -> dict:
        """Every local reference reachable from ``schema``, with what it points to now."""
        found, stack, seen = {}, [schema], 0
        while stack and seen < limit:
            node = stack.pop()
            seen += 1
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref not in found:
                    try:
                        found[ref] = resolve_pointer(self.root, ref)
                    except UnreadableSchemaError:
                        found[ref] = None
                    stack.append(found[ref])
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        return found


# ---- conditional blocks --------------------------------------------------------------------------------------
def conditional_blocks(schema) -> list:
    """The if/then/else blocks of a schema: its own and those in its top-level allOf."""
    blocks = []
    if not isinstance(schema, dict):
        return blocks
    if "if" in schema:
        blocks.append(schema)
    all_of = schema.get("allOf")
    if isinstance(all_of, list):
        for part in all_of:
            if isinstance(part, dict) and "if" in part:
                blocks.append(part)
            elif is_block_group(part):
                # UP42 nests them one level deeper: {"allOf": [{"if": …}, {"if": …}]}.
                blocks.extend(inner for inner in part["allOf"] if isinstance(inner, dict) and "if" in inner)
    return blocks[:MAX_CONDITIONAL_BLOCKS]


def is_block_group(part) -> bool:
    """An allOf item that only groups if/then/else blocks."""
    return (isinstance(part, dict) and set(part) == {"allOf"} and isinstance(part["allOf"], list)
            and all(isinstance(inner, dict) and "if" in inner for inner in part["allOf"]))


def branch_definition_refs(schema, depth: int = 0) -> set:
    """The references ("#/definitions/x") to definitions that only some then/else branch provides."""
    refs = set()
    for block in conditional_blocks(schema):
        for key in ("then", "else"):
            branch = block.get(key)
            if not isinstance(branch, dict):
                continue
            for definitions_key in DEFINITION_KEYS:
                definitions = branch.get(definitions_key)
                if isinstance(definitions, dict):
                    refs.update(f"#/{definitions_key}/{name}" for name in definitions)
            if depth < MAX_BRANCH_DEPTH:
                refs |= branch_definition_refs(branch, depth + 1)
    return refs


def schema_problem(schema) -> Optional[str]:
    """Why no order form can be built from ``schema`` (a sentence), or None when it can."""
    if not isinstance(schema, dict):
        return f"The order form cannot be built: the schema is a {type(schema).__name__}, not a JSON object."
    kind = schema.get("type", "object")
    if kind != "object" and not (isinstance(kind, list) and "object" in kind):
        shown = shorten(choice_label(kind), 80)
        return f"The order form cannot be built: its schema describes {shown}, not an object."
    if not isinstance(schema.get("properties", {}), dict):
        return "The order form cannot be built: the schema's properties are not a JSON object."
    return schema_too_large(schema)


class OrderSchema:
    """One order schema (a JSON object) and its conditional blocks.

    A *selection* says which branch each if/then/else block takes for some values: a tuple of
    ((depth, index), matched) pairs, hashable so that what is built from it can be kept.
    """

    def __init__(self, schema: dict):
        self.root = schema
        self.blocks = conditional_blocks(schema)
        self.validator_class = validator_class_of(schema)
        # Conditions are parts of the root schema: their references resolve in it, and only in it.
        self._root_validator = SchemaValidator(schema, validator_class=self.validator_class)
        self.conditional_refs = frozenset(branch_definition_refs(schema))
        self._validators: dict = {}

    # -- branches ----------------------------------------------------------------------------------------------
    def select(self, values: dict, schema: Optional[dict] = None, depth: int = 0) -> tuple:
        """Which branch each if/then/else block takes for ``values``."""
        schema = self.root if schema is None else schema
        chosen = []
        for index, block in enumerate(conditional_blocks(schema)):
            matched = self.condition_holds(block.get("if"), values)
            chosen.append(((depth, index), matched))
            branch = block.get("then" if matched else "else")
            if isinstance(branch, dict) and depth < MAX_BRANCH_DEPTH:
                chosen.extend(self.select(values, branch, depth + 1))
        return tuple(chosen)

    def condition_holds(self, condition, values: dict) -> bool:
        if isinstance(condition, bool):
            return condition
        if not isinstance(condition, dict):
            return False
        try:
            return self._root_validator.part(condition).is_valid(values)
        except SchemaReachesOut as refused:
            logger.warning("a schema condition is taken as not met: %s", refused)
            return False
        except Exception:  # noqa: BLE001 - a broken condition counts as not met; the form carries on
            logger.warning("cannot evaluate a schema condition", exc_info=True)
            return False

    def branches(self, selection: tuple) -> list:
        """The then/else branches the selection takes, in order."""
        taken = dict(selection)
        found = []

        def walk(schema, depth):
            for index, block in enumerate(conditional_blocks(schema)):
                matched = taken.get((depth, index))
                if matched is None:
                    continue
                branch = block.get("then" if matched else "else")
                if isinstance(branch, dict):
                    found.append(branch)
                    if depth < MAX_BRANCH_DEPTH:
                        walk(branch, depth + 1)

        walk(self.root, 0)
        return found

    def effective(self, selection: tuple) -> dict:
        """The root schema with the chosen branches merged in (a new dict each time).

        UP42's branches *replace definitions* and may add properties and required names;
        plain validation would ignore a ``then: {definitions: ...}``, so the branches are
        merged here and the conditional blocks left out of what is validated.
        """
        root = self.root
        effective = {key: value for key, value in root.items() if key not in ("if", "then", "else")}
        for key in DEFINITION_KEYS:
            if isinstance(root.get(key), dict):
                effective[key] = dict(root[key])
        effective["properties"] = dict(root.get("properties", {}))
        required = root.get("required", [])
        effective["required"] = list(required) if isinstance(required, list) else []
        all_of = root.get("allOf")
        extra = [part for part in all_of
                 if not (isinstance(part, dict) and "if" in part) and not is_block_group(part)] \
            if isinstance(all_of, list) else []
        for branch in self.branches(selection):
            for key in DEFINITION_KEYS:
                if isinstance(branch.get(key), dict):
                    effective[key] = {**effective.get(key, {}), **branch[key]}
            if isinstance(branch.get("properties"), dict):
                effective["properties"].update(branch["properties"])
            if isinstance(branch.get("required"), list):
                effective["required"] += [n for n in branch["required"] if n not in effective["required"]]
            rest = {key: value for key, value in branch.items()
                    if key not in ("properties", "required", "if", "then", "else", "allOf", *DEFINITION_KEYS)}
            if rest:
                extra.append(rest)
            if isinstance(branch.get("allOf"), list):
                extra += [part for part in branch["allOf"] if not (isinstance(part, dict) and "if" in part)]
        if extra:
            effective["allOf"] = extra
        else:
            effective.pop("allOf", None)
        if not effective["required"]:
            effective.pop("required")
        return effective

    def effective_for(self, values: dict) -> dict:
        return self.effective(self.select(values))

    # -- defaults ----------------------------------------------------------------------------------------------
    def initial_guess(self, values: Optional[dict] = None) -> dict:
        """The values the first branches are chosen from: the top-level defaults, then ``values``.

        An ``if`` on an absent property holds vacuously, so an empty form would build the wrong branch first.
        """
        if not self.blocks:
            return {}
        reader = SchemaReader(self.root, self.conditional_refs)
        guess = {}
        for name, sub in (self.root.get("properties") or {}).items():
            try:
                spec = reader.flatten(sub)
            except (UnreadableSchemaError, NotApplicableError, RecursionError):
                continue
            if "default" in spec:
                guess[name] = spec["default"]
        if isinstance(values, dict):
            guess.update(values)
        return guess

    def with_defaults(self, values: dict, hidden: Iterable[str] = PLUGIN_FILLED_FIELDS) -> dict:
        """``values`` plus the schema's defaults for what they leave out, as the order form fills them.

        As in the form, the first branches are chosen from the top-level defaults and ``values`` (an ``if`` on
        an absent property holds vacuously); then a default can switch a branch, which may bring fields with
        defaults of their own, hence the bounded passes. A value that is only a default follows the branch in
        force: it takes that branch's default, and goes where the branch takes no value (``const: null``,
        ``false``, a definition only another branch provides) or has no default. ``values`` stay as given.
        """
        hidden = frozenset(hidden or ())
        result = dict(values)
        defaulted = set()
        current = self.initial_guess(values)
        selection = None
        for _ in range(MAX_CONDITION_PASSES):
            chosen = self.select(current)
            if chosen == selection:
                break
            selection = chosen
            effective = self.effective(selection)
            reader = SchemaReader(effective, self.conditional_refs)
            properties = effective.get("properties") or {}
            for name in [name for name in defaulted if name not in properties]:
                del result[name]
                defaulted.discard(name)
            for name, sub in properties.items():
                if name in hidden or name in values:
                    continue
                try:
                    spec = reader.flatten(sub)
                except NotApplicableError:
                    spec = None
                except (UnreadableSchemaError, RecursionError):
                    continue
                if spec is not None and not is_no_value(spec) and "default" in spec:
                    result[name] = spec["default"]
                    defaulted.add(name)
                elif name in defaulted:
                    del result[name]
                    defaulted.discard(name)
            current = result
        return result

    # -- validation --------------------------------------------------------------------------------------------
    def validator(self, selection: tuple, hidden: Iterable[str] = PLUGIN_FILLED_FIELDS) -> SchemaValidator:
        """The validator of the effective schema for ``selection``, kept per selection.

        Hidden properties (the geometry) are required by UP42's schemas but come later from the AOIs, one order
        per AOI: everything else is checked here, so the hidden names leave ``required`` and the provider adds
        the geometry when placing.
        """
        hidden = frozenset(hidden or ())
        key = (selection, hidden)
        validator = self._validators.get(key)
        if validator is None:
            schema = self.effective(selection)
            if hidden and "required" in schema:
                schema["required"] = [n for n in schema["required"] if n not in hidden]
                if not schema["required"]:
                    schema.pop("required")
            validator = SchemaValidator(schema, format_checker=FormatChecker(), validator_class=self.validator_class)
            self._validators[key] = validator
        return validator

    def errors(self, values: dict, hidden: Iterable[str] = PLUGIN_FILLED_FIELDS) -> list:
        """jsonschema's errors for ``values`` under the branches they choose.

        Raises :class:`~.schema_validation.SchemaReachesOut` for a schema that points outside itself, and
        whatever jsonschema raises for a schema it cannot apply (a bad regex, a cycle).
        """
        return self.validator(self.select(values), hidden).errors(values)


def missing_required(error) -> list:
    """The names a jsonschema "required" error says are missing (empty for any other error)."""
    if error.validator != "required" or not isinstance(error.instance, dict):
        return []
    return [name for name in error.validator_value or [] if isinstance(name, str) and name not in error.instance]


def schema_titles(schema, limit: int = 2000) -> dict:
    """Property name -> title, from every "properties" map of an order schema (branches included)."""
    titles: dict = {}
    for node in schema_objects(schema, limit):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and isinstance(sub.get("title"), str) and sub["title"].strip():
                    titles.setdefault(str(name), sub["title"].strip())
    return titles
