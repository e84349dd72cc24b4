"""An order form built from a JSON Schema: one type→widget factory and the form around it.

Providers describe their order parameters as JSON Schema (UP42 serves one per data
product; the plugin ships its own for Planet order kinds), so one form serves all.

* :func:`widget_for` is the single factory: it resolves local ``$ref``/``allOf``, picks
  the editor for the resolved schema, and falls back to a JSON text field for anything it
  does not know, so no property is ever dropped and no schema ends in a traceback.
* :class:`SchemaForm` lays the editors out, applies UP42's top-level ``if/then/else``
  blocks (whose ``then``/``else`` *replace definitions* or add properties, which plain
  JSON Schema validation would ignore) each time a value changes, and validates every
  change with jsonschema, showing each error next to its field.
"""
import bisect
import json
import logging

from jsonschema import FormatChecker
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QColor, QPalette
from qgis.PyQt.QtWidgets import QFormLayout, QGroupBox, QVBoxLayout, QWidget

from ..plugin.schema_validation import SchemaReachesOut, SchemaValidator, schema_too_large, validator_class_of
from .schema_form_widgets import (
    UNSET,
    BooleanField,
    ChoiceField,
    DateField,
    DateTimeField,
    Field,
    IntegerField,
    JsonTextField,
    MultiChoiceField,
    NumberField,
    SchemaFormError,
    StringField,
    choice_key,
    choice_label,
    plain_label,
    rich_tooltip,
    shorten,
)

logger = logging.getLogger(__name__)

__all__ = ["UNSET", "SchemaForm", "SchemaFormError", "widget_for"]

MAX_NESTING = 8
MAX_ALL_OF = 64
MAX_CONDITIONAL_BLOCKS = 64
MAX_CONDITION_PASSES = 6
# A list of check boxes is built item by item; past this a JSON array is quicker to type.
MAX_MULTI_CHOICES = 500
KNOWN_TYPES = {"string", "integer", "number", "boolean", "object", "array", "null"}
DEFINITION_KEYS = ("definitions", "$defs")


class NotApplicableError(Exception):
    """The property accepts no value in the current state (schema ``false``, or a
    definition that only a conditional branch provides): its field is not shown."""


# ---------------------------------------------------------------------------------------
# Schema reading (no Qt)
# ---------------------------------------------------------------------------------------


def resolve_pointer(root, ref):
    """The part of ``root`` a local ``$ref`` ("#/definitions/x") points to."""
    if not isinstance(ref, str):
        raise SchemaFormError(f"$ref is {choice_label(ref)}, not a string")
    if not ref.startswith("#"):
        raise SchemaFormError(f"$ref {ref!r} points outside this schema; only local references are followed")
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


class MissingReferenceError(SchemaFormError):
    def __init__(self, ref):
        super().__init__(f"$ref {ref!r} points to nothing in the schema")
        self.ref = ref


TIGHTER_IS_LARGER = {"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"}
TIGHTER_IS_SMALLER = {"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"}


def _moment(value):
    """An ISO 8601 date-time as an aware datetime, or None."""
    from datetime import datetime, timezone

    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def merge_schemas(low, high):
    """``high`` over ``low``; bounds keep the tighter one, required lists add up.

    Only used to choose and shape the editor: validation always runs on the real schema,
    so a loose merge never lets a wrong value through.
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


class SchemaReader:
    """Resolves property schemas against one (effective) root schema."""

    def __init__(self, root, conditional_refs=frozenset()):
        self.root = root
        # Definitions only some if/then/else branch provides: a $ref to one of them that
        # points to nothing now means "not in this mode", not a broken schema.
        self.conditional_refs = conditional_refs

    def flatten(self, schema, visiting=frozenset(), used=None):
        """One dict for a schema written with ``$ref`` and ``allOf`` (UP42's style).

        ``used`` collects the references followed, so nested objects can spot recursion.
        """
        if schema is True:
            return {}
        if schema is False:
            raise NotApplicableError()
        if not isinstance(schema, dict):
            shown = shorten(choice_label(schema), 60)
            raise SchemaFormError(f"the schema is {type(schema).__name__} {shown}, not a JSON object")
        merged = {}
        ref = schema.get("$ref")
        if ref is not None:
            if ref in visiting:
                raise SchemaFormError(f"$ref {ref!r} refers back to itself (a cycle)")
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
                raise SchemaFormError("allOf is not a list")
            if len(all_of) > MAX_ALL_OF:
                raise SchemaFormError(f"allOf has {len(all_of)} parts")
            for part in all_of:
                merged = merge_schemas(merged, self.flatten(part, visiting, used))
        own = {key: value for key, value in schema.items() if key not in ("$ref", "allOf")}
        return merge_schemas(merged, own)

    def choices(self, schema, visiting=frozenset()):
        """[(value, label, description)] when the schema is a closed list of values, else None."""
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list):
                raise SchemaFormError("enum is not a list")
            return [(value, choice_label(value), "") for value in values]
        if "const" in schema:
            return [(schema["const"], _title_or(schema, choice_label(schema["const"])), "")]
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
                    found.append((option["const"], _title_or(option, choice_label(option["const"])),
                                  _text(option.get("description"))))
                elif isinstance(option.get("enum"), list) and len(option["enum"]) == 1:
                    value = option["enum"][0]
                    found.append(
                        (value, _title_or(option, choice_label(value)), _text(option.get("description")))
                    )
                else:
                    return None
            return found
        return None

    def nullable_alternative(self, schema):
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

    def references_of(self, schema, limit=2000):
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
                    except SchemaFormError:
                        found[ref] = None
                    stack.append(found[ref])
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        return found


def _text(value):
    if value is None:
        return ""
    return value if isinstance(value, str) else choice_label(value)


def _title_or(schema, fallback):
    title = schema.get("title")
    return _text(title) if title not in (None, "") else fallback


def _schema_type(schema):
    kind = schema.get("type")
    if isinstance(kind, list):
        named = [k for k in kind if k != "null"]
        if not all(isinstance(k, str) for k in kind):
            raise SchemaFormError(f"type {choice_label(kind)} is not a list of names")
        if len(named) == 1:
            kind = named[0]
        elif not named:
            kind = "null"
        else:
            raise SchemaFormError(f"the value may be any of {', '.join(named)}")
    if kind is not None and (not isinstance(kind, str) or kind not in KNOWN_TYPES):
        raise SchemaFormError(f"type {choice_label(kind)} is not a JSON Schema type")
    return kind


# ---------------------------------------------------------------------------------------
# The factory
# ---------------------------------------------------------------------------------------


def widget_for(schema, *, required=False, reader=None, depth=0, ancestry=frozenset(), parent=None):
    """The editor for one property schema, or None when the property takes no value now.

    Anything this function does not know becomes a :class:`JsonTextField` saying why.
    """
    reader = reader or SchemaReader(schema if isinstance(schema, dict) else {})
    used = set()
    try:
        spec = reader.flatten(schema, used=used)
        if "const" in spec and spec["const"] is None:
            raise NotApplicableError()  # UP42's "no value in this branch": no field, nothing sent
        field = _editor_for(spec, required, reader, depth, ancestry | used, parent)
    except NotApplicableError:
        return None
    except SchemaFormError as problem:
        field = JsonTextField(_safe_dict(schema), str(problem), required=required, parent=parent)
    except RecursionError:
        field = JsonTextField(_safe_dict(schema), "the schema nests too deeply", required=required,
                              parent=parent)
    except Exception as exc:  # a hand-broken schema must never take the dialog down
        logger.exception("no editor for schema %s", shorten(choice_label(schema), 200))
        field = JsonTextField(_safe_dict(schema), f"the form could not read this part ({exc})",
                              required=required, parent=parent)
    field.apply_default()
    return field


def _safe_dict(schema):
    return schema if isinstance(schema, dict) else {}


def _editor_for(spec, required, reader, depth, ancestry, parent):
    alternative = reader.nullable_alternative(spec)
    if alternative is not None:
        spec = alternative
    kind = _schema_type(spec)
    choices = reader.choices(spec)
    if choices is not None:
        return ChoiceField(spec, choices, required=required, parent=parent)
    if kind is None:
        if "properties" in spec:
            kind = "object"
        elif "items" in spec:
            kind = "array"
        elif any(key in spec for key in ("format", "pattern", "maxLength", "minLength")):
            kind = "string"
        elif any(key in spec for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
            kind = "number"
    if kind == "boolean":
        return BooleanField(spec, required=required, parent=parent)
    if kind == "integer":
        return IntegerField(spec, required=required, parent=parent)
    if kind == "number":
        return NumberField(spec, required=required, parent=parent)
    if kind == "string":
        fmt = spec.get("format")
        if fmt == "date-time":
            return DateTimeField(spec, required=required, parent=parent)
        if fmt == "date":
            return DateField(spec, required=required, parent=parent)
        return StringField(spec, required=required, parent=parent)
    if kind == "array":
        items = spec.get("items")
        if isinstance(items, dict):
            item_choices = reader.choices(reader.flatten(items))
            if item_choices is not None:
                if len(item_choices) > MAX_MULTI_CHOICES:
                    raise SchemaFormError(f"{len(item_choices)} choices are too many for a list; "
                                        "type a JSON array of values")
                return MultiChoiceField(spec, item_choices, required=required, parent=parent)
        raise SchemaFormError("a list of free values; type a JSON array")
    if kind == "object":
        properties = spec.get("properties")
        if isinstance(properties, dict) and properties:
            if depth >= MAX_NESTING:
                raise SchemaFormError("the objects nest too deeply")
            return ObjectField(spec, reader, required=required, depth=depth + 1, ancestry=ancestry,
                               parent=parent)
        raise SchemaFormError("an object with free keys; type a JSON object")
    if kind == "null":
        raise SchemaFormError("the only value allowed is null")
    raise SchemaFormError("the schema does not say what kind of value this is")


# ---------------------------------------------------------------------------------------
# Layout: rows of label + editor + help + error
# ---------------------------------------------------------------------------------------


class FieldRow:
    """One property on screen: its label, editor, help text and error line."""

    def __init__(self, name, field, schema, required, signature):
        self.name = name
        self.field = field
        self.signature = signature
        title = schema.get("title") if isinstance(schema, dict) else None
        title = _text(title) if title not in (None, "") else name
        description = _text(schema.get("description")) if isinstance(schema, dict) else ""
        self.container = QWidget()
        self._box = QVBoxLayout(self.container)
        self._box.setContentsMargins(0, 0, 0, 0)
        self._box.setSpacing(2)
        self._box.addWidget(field)
        self.help = None
        if description:
            self.help = plain_label(description, self.container, word_wrap=True)
            self.help.setEnabled(False)  # greyed: a hint, not an instruction
            self._box.addWidget(self.help)
        self._error = None  # made on the first error: most rows never need one
        self.label = plain_label(f"{title} *" if required else title)
        self.label.setProperty("required", bool(required))
        if description:
            tip = rich_tooltip(description)
            self.label.setToolTip(tip)
            field.setToolTip(tip)
        if required:
            self.label.setToolTip((self.label.toolTip() or "") + rich_tooltip("Required."))
        self.label.setBuddy(field.focus_widget())
        self.required = required
        self.title = title
        self.description = description

    @property
    def error(self):
        if self._error is None:
            self._error = plain_label("", self.container, word_wrap=True)
            self._error.setObjectName(f"error:{self.name}")
            self._error.setPalette(error_palette(self._error))
            self._error.setVisible(False)
            self._box.addWidget(self._error)
        return self._error

    def show_error(self, message):
        if not message and self._error is None:
            return
        self.error.setText(message or "")
        self.error.setVisible(bool(message))


def error_palette(widget):
    palette = QPalette(widget.palette())
    palette.setColor(QPalette.ColorRole.WindowText, QColor(192, 57, 43))
    return palette


class FormSection(QWidget):
    """A QFormLayout of rows keyed by property name, kept in the schema's order."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layout_ = QFormLayout(self)
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.rows = {}
        self.order = []

    @property
    def order(self):
        return self._order

    @order.setter
    def order(self, names):
        # Where a new row goes is found by bisecting the positions of the rows on screen: looking through
        # the rows for each new one made building a form of n rows take n² steps (10,000 rows: 25 s).
        self._order = names if isinstance(names, list) else list(names)
        self._position = {name: index for index, name in enumerate(self._order)}
        self._placed = None  # sorted positions of the rows on screen, made when next needed

    def _placed_positions(self):
        if self._placed is None:
            self._placed = sorted(self._position[name] for name in self.rows if name in self._position)
        return self._placed

    def put(self, row, order):
        """Insert or replace the row for ``row.name``; ``order`` is the current property order."""
        if order is not self._order:
            self.order = order
        old = self.rows.get(row.name)
        if old is not None:
            index = self._index(old)
            self.remove(row.name)
        else:
            position = self._position.get(row.name)
            # A name not in the order goes after every row, as before.
            index = len(self.rows) if position is None else bisect.bisect_left(self._placed_positions(), position)
        self.layout_.insertRow(index, row.label, row.container)
        self.rows[row.name] = row
        position = self._position.get(row.name)
        if position is not None:
            bisect.insort(self._placed_positions(), position)

    def _index(self, row):
        index, _role = self.layout_.getWidgetPosition(row.container)
        return index if index >= 0 else len(self.rows)

    def remove(self, name):
        row = self.rows.pop(name, None)
        if row is None:
            return
        position = self._position.get(name)
        if position is not None and self._placed is not None:
            at = bisect.bisect_left(self._placed, position)
            if at < len(self._placed) and self._placed[at] == position:
                del self._placed[at]
        # takeRow keeps the widgets alive; they may be the sender of the signal being handled,
        # so they are deleted later rather than now.
        self.layout_.takeRow(row.container)
        for widget in (row.label, row.container):
            widget.hide()
            widget.deleteLater()

    def names(self):
        return [name for name in self._order if name in self.rows] + [
            name for name in self.rows if name not in self._position
        ]


class ObjectField(Field):
    """A nested object: its properties in a group box."""

    def __init__(self, schema, reader, *, required=False, depth=1, ancestry=frozenset(), parent=None):
        super().__init__(schema, required=required, parent=parent)
        # Untitled: the row's label in the parent form already names the object.
        self.group = QGroupBox(self)
        box = QVBoxLayout(self.group)
        self.section = FormSection(self.group)
        box.addWidget(self.section)
        self.editor_layout.addWidget(self.group)
        properties = schema["properties"]
        names = schema.get("required")
        required_names = {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()
        self.section.order = list(properties)
        for name, sub in properties.items():
            refs = _direct_refs(sub)
            if refs & ancestry:
                child = JsonTextField(_safe_dict(sub), "the schema refers to itself here", parent=None,
                                      required=name in required_names)
                child.apply_default()
            else:
                child = widget_for(sub, required=name in required_names, reader=reader, depth=depth,
                                   ancestry=ancestry)
            if child is None:
                continue
            child.changed.connect(self.changed.emit)
            row = FieldRow(name, child, _row_schema(reader, sub), name in required_names, None)
            self.section.put(row, self.section.order)

    def fields(self):
        return {name: row.field for name, row in self.section.rows.items()}

    def _editor_widgets(self):
        return [row.field.focus_widget() for row in self.section.rows.values()][:1]

    def _editor_value(self):
        result = {}
        for name in self.section.names():
            value = self.section.rows[name].field.value()
            if value is not UNSET:
                result[name] = value
        if not result and not self.required and self.default is UNSET:
            return UNSET
        return result

    def _set_editor_value(self, value):
        if not isinstance(value, dict):
            return False
        accepted = True
        for name, row in self.section.rows.items():
            if name in value:
                if not row.field.set_value(value[name]):
                    row.field.mark_unrestorable(value[name])
                    accepted = False
            else:
                row.field.clear()
        unknown = set(value) - set(self.section.rows)
        return accepted and not unknown

    def _clear_editor(self):
        for row in self.section.rows.values():
            row.field.clear()

    def apply_default(self):
        for row in self.section.rows.values():
            row.field.apply_default()
        if isinstance(self.default, dict):
            for name, value in self.default.items():
                row = self.section.rows.get(name)
                if row is not None:
                    row.field.set_value(value)


def _direct_refs(schema):
    refs = set()
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str):
            refs.add(schema["$ref"])
        for part in schema.get("allOf", []) if isinstance(schema.get("allOf"), list) else []:
            if isinstance(part, dict) and isinstance(part.get("$ref"), str):
                refs.add(part["$ref"])
    return refs


def _row_schema(reader, schema):
    """Title and description for a row: the property's own words over its definition's."""
    try:
        return reader.flatten(schema)
    except (SchemaFormError, NotApplicableError, RecursionError):
        return schema if isinstance(schema, dict) else {}


# ---------------------------------------------------------------------------------------
# The form
# ---------------------------------------------------------------------------------------


def _conditional_blocks(schema):
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
            elif _is_block_group(part):
                # UP42 nests them one level deeper: {"allOf": [{"if": …}, {"if": …}]}.
                blocks.extend(inner for inner in part["allOf"] if isinstance(inner, dict) and "if" in inner)
    return blocks[:MAX_CONDITIONAL_BLOCKS]


def _is_block_group(part):
    """An allOf item that only groups if/then/else blocks."""
    return (isinstance(part, dict) and set(part) == {"allOf"} and isinstance(part["allOf"], list)
            and all(isinstance(inner, dict) and "if" in inner for inner in part["allOf"]))


def _branch_definition_refs(schema, depth=0):
    refs = set()
    for block in _conditional_blocks(schema):
        for key in ("then", "else"):
            branch = block.get(key)
            if not isinstance(branch, dict):
                continue
            for definitions_key in DEFINITION_KEYS:
                definitions = branch.get(definitions_key)
                if isinstance(definitions, dict):
                    refs.update(f"#/{definitions_key}/{name}" for name in definitions)
            if depth < 4:
                refs |= _branch_definition_refs(branch, depth + 1)
    return refs


class SchemaForm(QWidget):
    """The order form for one JSON schema of order parameters.

    ``values()`` returns what the user set (and the defaults), typed as the schema says;
    ``is_valid()``/``errors()``/``validityChanged`` tell the dialog when it may place.
    """

    validityChanged = pyqtSignal(bool)
    valuesChanged = pyqtSignal()

    def __init__(self, schema, values=None, hidden=("geometry",), parent=None, first=(), ranges=()):
        """``first``: property names shown before the others, in this order (the acquisition window);
        ``ranges``: (start name, end name) pairs whose end must come after their start."""
        super().__init__(parent)
        self._hidden = frozenset(hidden or ())
        self._first = tuple(first or ())
        self._ranges = tuple(ranges or ())
        # "Required" is said of a field once the user has been there (or asked to place): an empty form is not
        # a page of errors. Every other error shows at once.
        self._touched = set()
        self._reveal_required = bool(values)
        self._rows_order = []
        self._selection = None
        self._validators = {}
        self._errors = {}
        self._valid = False
        self._updating = False
        self._broken = None
        self._root = {}
        self._blocks = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._problem = plain_label("", self, word_wrap=True)
        self._problem.setObjectName("schemaProblem")
        self._problem.setVisible(False)
        layout.addWidget(self._problem)
        self.section = FormSection(self)
        layout.addWidget(self.section)
        self._form_error = plain_label("", self, word_wrap=True)
        self._form_error.setObjectName("formError")
        self._form_error.setPalette(error_palette(self._form_error))
        self._form_error.setVisible(False)
        layout.addWidget(self._form_error)
        layout.addStretch(1)
        self._updating = True
        try:
            self._broken = self._load(schema)
            if self._broken is None:
                # The first branches are chosen from the defaults (and the draft), not from an
                # empty form: an `if` on an absent property holds vacuously and would build the
                # wrong branch first.
                self._evaluate_conditions(guess=self._initial_guess(values))
                if values:
                    self._restore(values)
        finally:
            self._updating = False
        if self._broken:
            self._problem.setText(self._broken)
            self._problem.setVisible(True)
        self._validate(emit=False)

    # -- public API ----------------------------------------------------------------------
    def values(self):
        result = {}
        for name in self.section.names():
            value = self.section.rows[name].field.value()
            if value is not UNSET:
                result[name] = value
        return result

    def set_values(self, values):
        """Restore a saved draft: fields missing from ``values`` are left out (or reset)."""
        if self._broken:
            return
        self._updating = True
        try:
            self._restore(values or {})
        finally:
            self._updating = False
        self._validate()
        self.valuesChanged.emit()

    def is_valid(self):
        return self._valid

    def errors(self):
        return dict(self._errors)

    def field(self, path):
        """The editor at ``path`` ("a/b" for nested objects), or None."""
        row = self.row(path)
        return row.field if row else None

    def row(self, path):
        section, row = self.section, None
        for part in path.split("/"):
            if section is None:
                return None
            row = section.rows.get(part)
            if row is None:
                return None
            section = row.field.section if isinstance(row.field, ObjectField) else None
        return row

    def effective_schema(self):
        """The schema with the current if/then/else branches applied (what is validated)."""
        return self._effective(self._selection or ())

    # -- schema set-up -------------------------------------------------------------------
    def _load(self, schema):
        if schema is True:
            schema = {}
        if not isinstance(schema, dict):
            return (f"The order form cannot be built: the schema is a {type(schema).__name__}, "
                    "not a JSON object.")
        kind = schema.get("type", "object")
        if kind != "object" and not (isinstance(kind, list) and "object" in kind):
            shown = shorten(choice_label(kind), 80)
            return f"The order form cannot be built: its schema describes {shown}, not an object."
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            return "The order form cannot be built: the schema's properties are not a JSON object."
        too_large = schema_too_large(schema)
        if too_large:
            return too_large
        self._root = schema
        self._blocks = _conditional_blocks(schema)
        self._validator_class = validator_class_of(schema)
        # Conditions are parts of the root schema: their references resolve in it, and only in it.
        self._root_validator = SchemaValidator(schema, validator_class=self._validator_class)
        self._conditional_refs = frozenset(_branch_definition_refs(schema))
        return None

    def _select(self, values, schema=None, depth=0):
        """Which branch each if/then/else block takes for ``values``: a tuple of (path, bool)."""
        schema = self._root if schema is None else schema
        chosen = []
        for index, block in enumerate(_conditional_blocks(schema)):
            matched = self._condition_holds(block.get("if"), values)
            chosen.append(((depth, index), matched))
            branch = block.get("then" if matched else "else")
            if isinstance(branch, dict) and depth < 4:
                chosen.extend(self._select(values, branch, depth + 1))
        return tuple(chosen)

    def _condition_holds(self, condition, values):
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

    def _branches(self, selection):
        """The then/else branches the selection takes, in order."""
        taken = dict(selection)
        branches = []

        def walk(schema, depth):
            for index, block in enumerate(_conditional_blocks(schema)):
                matched = taken.get((depth, index))
                if matched is None:
                    continue
                branch = block.get("then" if matched else "else")
                if isinstance(branch, dict):
                    branches.append(branch)
                    if depth < 4:
                        walk(branch, depth + 1)

        walk(self._root, 0)
        return branches

    def _effective(self, selection):
        """The root schema with the chosen branches merged in.

        UP42's branches *replace definitions* and may add properties and required names;
        plain validation would ignore a ``then: {definitions: ...}``, so the branches are
        merged here and the conditional blocks left out of what is validated.
        """
        root = self._root
        effective = {key: value for key, value in root.items() if key not in ("if", "then", "else")}
        for key in DEFINITION_KEYS:
            if isinstance(root.get(key), dict):
                effective[key] = dict(root[key])
        effective["properties"] = dict(root.get("properties", {}))
        required = root.get("required", [])
        effective["required"] = list(required) if isinstance(required, list) else []
        all_of = root.get("allOf")
        extra = [part for part in all_of
                 if not (isinstance(part, dict) and "if" in part) and not _is_block_group(part)] \
            if isinstance(all_of, list) else []
        for branch in self._branches(selection):
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

    # -- building rows -------------------------------------------------------------------
    def _evaluate_conditions(self, pending=None, guess=None):
        """Apply the if/then/else blocks until the branches stop changing.

        A new branch can add a field whose default flips another condition, hence the
        loop; it is bounded because a schema can make the branches flip forever.
        """
        for _ in range(MAX_CONDITION_PASSES):
            current = guess if guess is not None and self._selection is None else self.values()
            selection = self._select(current) if self._blocks else ()
            if selection == self._selection:
                return
            self._selection = selection
            self._sync_rows(self._effective(selection), pending)

    def _initial_guess(self, values):
        if not self._blocks:
            return {}
        reader = SchemaReader(self._root, _branch_definition_refs(self._root))
        guess = {}
        for name, sub in self._root.get("properties", {}).items():
            try:
                spec = reader.flatten(sub)
            except (SchemaFormError, NotApplicableError, RecursionError):
                continue
            if "default" in spec:
                guess[name] = spec["default"]
        if isinstance(values, dict):
            guess.update(values)
        return guess

    def _sync_rows(self, effective, pending=None):
        reader = SchemaReader(effective, self._conditional_refs)
        properties = effective.get("properties", {})
        required = {n for n in effective.get("required", []) if isinstance(n, str)}
        order = [name for name in properties if name not in self._hidden]
        if self._first:  # as a person fills it: the window first, then the schema's order
            order.sort(key=lambda name: self._first.index(name) if name in self._first else len(self._first))
        self.section.order = order
        for name in order:
            sub = properties[name]
            signature = self._signature(reader, sub, name in required)
            old = self.section.rows.get(name)
            if old is not None and old.signature == signature:
                continue
            field = widget_for(sub, required=name in required, reader=reader)
            if field is None:
                self.section.remove(name)
                continue
            if old is not None:
                carried = old.field.value()
                # Keep what the user chose; a value that was only the old default gives way to
                # the new default, and a choice that no longer exists falls back to it too.
                if carried is not UNSET and choice_key(carried) != choice_key(old.field.default):
                    field.set_value(carried)
            elif pending is not None and name in pending:
                if not field.set_value(pending[name]):
                    field.mark_unrestorable(pending[name])
                pending.pop(name)
            elif pending is not None:
                field.clear()
            field.changed.connect(self._on_field_changed)
            field.changed.connect(lambda *_args, touched=name: self._touched.add(touched))
            row = FieldRow(name, field, _row_schema(reader, sub), name in required, signature)
            self.section.put(row, order)
        for name in list(self.section.rows):
            if name not in order:
                self.section.remove(name)

    def _signature(self, reader, schema, required):
        """What a row's editor depends on: its schema, what its references point to now,
        and whether it is required. Rows whose signature holds are kept as they are, so a
        change never rebuilds the editor the user is typing in."""
        try:
            return json.dumps([schema, reader.references_of(schema), required], sort_keys=True, default=repr)
        except (TypeError, ValueError, RecursionError):
            return repr((schema, required))

    def _restore(self, values):
        if not isinstance(values, dict):
            logger.warning("saved form values are not an object; ignored")
            return
        pending = dict(values)
        for name, row in list(self.section.rows.items()):
            if name in pending:
                if row.field.set_value(pending[name]):
                    pending.pop(name)
            else:
                row.field.clear()
        # The restored values may switch branches, which can bring the fields still pending.
        self._evaluate_conditions(pending)
        for name, row in self.section.rows.items():
            if name in pending:
                value = pending.pop(name)
                if not row.field.set_value(value):
                    row.field.mark_unrestorable(value)
        hidden = [name for name in pending if name in self._hidden]
        ignored = [name for name in pending if name not in self._hidden]
        if ignored:
            logger.warning("saved values for unknown parameters ignored: %s", ", ".join(map(str, ignored)))
        if hidden:
            logger.debug("saved values for hidden parameters ignored: %s", ", ".join(hidden))

    # -- reacting and validating ---------------------------------------------------------
    def _on_field_changed(self):
        if self._updating:
            return
        self._updating = True
        try:
            if self._blocks:
                self._evaluate_conditions()
        finally:
            self._updating = False
        self._validate()
        self.valuesChanged.emit()

    def _validator(self):
        key = self._selection or ()
        validator = self._validators.get(key)
        if validator is None:
            schema = self._effective(key)
            # Hidden properties (the geometry) are required by UP42's schemas but come later
            # from the AOIs, one order per AOI: the form checks everything else, so the hidden
            # names leave `required` here and the provider adds the geometry when placing.
            if self._hidden and "required" in schema:
                schema["required"] = [n for n in schema["required"] if n not in self._hidden]
                if not schema["required"]:
                    schema.pop("required")
            validator = SchemaValidator(schema, format_checker=FormatChecker(),
                                        validator_class=self._validator_class)
            self._validators[key] = validator
        return validator

    def _validate(self, emit=True):
        errors = {}
        if self._broken:
            errors[""] = self._broken
        else:
            values = self.values()
            for path, field in self._walk_fields():
                message = field.local_error()
                if message:
                    errors[path] = message
            try:
                found = self._validator().errors(values)
            except SchemaReachesOut as refused:
                found = []
                errors.setdefault("", str(refused))
            except Exception as exc:  # noqa: BLE001 - jsonschema cannot apply it (bad regex, cycle…)
                logger.warning("the schema could not be applied", exc_info=True)
                found = []
                errors.setdefault("", shorten(f"The schema cannot check these values: {exc}"))
            for error in found:
                for path, message in self._explain(error):
                    if path not in errors:
                        errors[path] = message
                    elif message not in errors[path]:
                        errors[path] = shorten(errors[path] + "\n" + message)
        if not self._broken:
            for path, message in self._range_errors():
                errors.setdefault(path, message)
        self._errors = errors
        self._show_errors(errors)
        valid = not errors
        if valid != self._valid:
            self._valid = valid
            if emit:
                self.validityChanged.emit(valid)

    def _range_errors(self):
        """(end field, message) for each range whose end is not after its start: checked here, before
        anything is sent, so the provider's own words for it never reach the user."""
        values = self.values()
        for start_name, end_name in self._ranges:
            start, end = _moment(values.get(start_name)), _moment(values.get(end_name))
            if start is not None and end is not None and end <= start and end_name in self.section.rows:
                start_title = self.section.rows[start_name].title if start_name in self.section.rows else start_name
                yield end_name, f"Must be after {start_title.lower()}."

    def _walk_fields(self, section=None, prefix=""):
        section = section or self.section
        for name, row in section.rows.items():
            path = f"{prefix}{name}"
            yield path, row.field
            if isinstance(row.field, ObjectField):
                yield from self._walk_fields(row.field.section, path + "/")

    def _explain(self, error):
        """(field path, message) pairs for one jsonschema error."""
        parts = [str(part) for part in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [name for name in error.validator_value or [] if isinstance(name, str)
                       and name not in error.instance]
            if missing:
                return [(self._shown_path(parts + [name]), "This field is required.") for name in missing]
            return [(self._shown_path(parts), shorten(error.message))]
        path = self._shown_path(parts)
        row = self.row(path) if path else None
        if error.validator in ("anyOf", "oneOf", "enum", "const") and row is not None and isinstance(
            row.field, (ChoiceField, MultiChoiceField)
        ):
            return [(path, "Choose one of the listed values.")]
        if error.validator == "additionalProperties" and not parts:
            return [("", shorten(error.message))]
        return [(path, shorten(error.message))]

    def _shown_path(self, parts):
        """The deepest row on screen for a value path; "" when none (a form-wide error)."""
        shown, section = [], self.section
        for part in parts:
            if section is None or part not in section.rows:
                break
            shown.append(part)
            field = section.rows[part].field
            section = field.section if isinstance(field, ObjectField) else None
        return "/".join(shown)

    def reveal_required(self):
        """Say "required" for every empty required field (the user tried to go on without them)."""
        self._reveal_required = True
        self._show_errors(self._errors)

    def _show_errors(self, errors):
        for path, _field in self._walk_fields():
            row = self.row(path)
            if row is not None:
                message = errors.get(path)
                if (message == "This field is required." and not self._reveal_required
                        and path.split("/")[0] not in self._touched):
                    message = None
                row.show_error(message)
        general = errors.get("")
        if self._broken:
            general = None  # already shown at the top
        self._form_error.setText(general or "")
        self._form_error.setVisible(bool(general))
