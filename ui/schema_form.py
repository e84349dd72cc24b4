"""An order form built from a JSON Schema: one type→widget factory and the form around it.

Providers describe their order parameters as JSON Schema (UP42 serves one per data
product; the plugin ships its own for Planet order kinds), so one form serves all.

Reading the schema (references, ``allOf``, UP42's if/then/else blocks, defaults, what is
validated) is not a widget's business: it lives in :mod:`..plugin.order_schema`, which the
Processing algorithm uses too. This module only builds widgets from what it reads:

* :func:`widget_for` is the single factory: it picks the editor for a resolved property
  schema and falls back to a JSON text field for anything it does not know, so no
  property is ever dropped and no schema ends in a traceback.
* :class:`SchemaForm` lays the editors out, re-applies the conditional blocks each time a
  value changes, and validates every change, showing each error next to its field.
"""
import bisect
import json
import logging

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QColor, QPalette
from qgis.PyQt.QtWidgets import QFormLayout, QGroupBox, QVBoxLayout, QWidget

from ..plugin.order_schema import (
    MAX_CONDITION_PASSES,
    NotApplicableError,
    OrderSchema,
    SchemaReader,
    UnreadableSchemaError,
    choice_key,
    choice_label,
    is_no_value,
    missing_required,
    reversed_ranges,
    schema_problem,
    schema_type,
    text_of,
)
from ..plugin.schema_validation import SchemaReachesOut
from ..plugin.wording import shorten
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
    StringField,
    plain_label,
    rich_tooltip,
)

logger = logging.getLogger(__name__)

__all__ = ["UNSET", "SchemaForm", "widget_for"]

MAX_NESTING = 8
# A list of check boxes is built item by item; past this a JSON array is quicker to type.
MAX_MULTI_CHOICES = 500


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
        if is_no_value(spec):
            raise NotApplicableError()  # UP42's "no value in this branch": no field, nothing sent
        field = _editor_for(spec, required, reader, depth, ancestry | used, parent)
    except NotApplicableError:
        return None
    except UnreadableSchemaError as problem:
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
    kind = schema_type(spec)
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
                    raise UnreadableSchemaError(f"{len(item_choices)} choices are too many for a list; "
                                        "type a JSON array of values")
                return MultiChoiceField(spec, item_choices, required=required, parent=parent)
        raise UnreadableSchemaError("a list of free values; type a JSON array")
    if kind == "object":
        properties = spec.get("properties")
        if isinstance(properties, dict) and properties:
            if depth >= MAX_NESTING:
                raise UnreadableSchemaError("the objects nest too deeply")
            return ObjectField(spec, reader, required=required, depth=depth + 1, ancestry=ancestry,
                               parent=parent)
        raise UnreadableSchemaError("an object with free keys; type a JSON object")
    if kind == "null":
        raise UnreadableSchemaError("the only value allowed is null")
    raise UnreadableSchemaError("the schema does not say what kind of value this is")


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
        title = text_of(title) if title not in (None, "") else name
        description = text_of(schema.get("description")) if isinstance(schema, dict) else ""
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
    except (UnreadableSchemaError, NotApplicableError, RecursionError):
        return schema if isinstance(schema, dict) else {}


# ---------------------------------------------------------------------------------------
# The form
# ---------------------------------------------------------------------------------------


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
        self._errors = {}
        self._valid = False
        self._updating = False
        self._broken = None
        self._schema = OrderSchema({})  # replaced by the real one in _load(); stays for a broken schema
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
        problem = schema_problem(schema)
        if problem:
            return problem
        self._schema = OrderSchema(schema)
        self._blocks = self._schema.blocks
        self._conditional_refs = self._schema.conditional_refs
        return None

    def _select(self, values):
        """Which branch each if/then/else block takes for ``values``: a tuple of (path, bool)."""
        return self._schema.select(values)

    def _effective(self, selection):
        """The root schema with the chosen branches merged in (see OrderSchema.effective)."""
        return self._schema.effective(selection)

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
        return self._schema.initial_guess(values)

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
        return self._schema.validator(self._selection or (), self._hidden)

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
        for start_name, end_name in reversed_ranges(self.values(), self._ranges):
            if end_name in self.section.rows:
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
            missing = missing_required(error)
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
