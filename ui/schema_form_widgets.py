"""Editors for single JSON Schema values, used by the schema form factory.

Each editor is a :class:`Field`: a widget with a ``changed`` signal, ``value()`` (the
JSON value, or :data:`UNSET` when the parameter is left out), ``set_value()`` and
``clear()``. The editors only interpret the keywords that shape their widget (bounds,
choices, formats); checking a value is left to jsonschema in :mod:`.schema_form`, so
a keyword an editor does not understand still constrains the order.

Every string that comes from a schema (titles, descriptions, choice labels) is shown
as plain text: schemas come from servers, and rich text could load images or links.
"""
import html
import json
import logging
import math
import re
from datetime import date, datetime, timezone

from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime, pyqtSignal
from qgis.PyQt.QtGui import QValidator
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..plugin.order_schema import UnreadableSchemaError, choice_key, choice_label
from ..plugin.schema_validation import pattern_search
from ..plugin.wording import shorten

logger = logging.getLogger(__name__)

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# A spin box sizes itself to its longest value: an unbounded double range would make
# a field hundreds of digits wide, so open ends stop here.
DOUBLE_LIMIT = 1e15
DOUBLE_OPEN_END = 1e12
MAX_DECIMALS = 10


class _Unset:
    """The value of a parameter the user left out (distinct from JSON null)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "UNSET"

    def __bool__(self):
        return False


UNSET = _Unset()


def plain_label(text, parent=None, *, word_wrap=False):
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(str(text))
    label.setWordWrap(word_wrap)
    return label


def rich_tooltip(text):
    """A tooltip that shows ``text`` literally, whatever markup it holds.

    Qt guesses whether a tooltip is rich text; escaping alone would show ``&amp;`` when
    the guess is "plain". Wrapping the escaped text in a paragraph makes the guess
    "rich" every time, so the entities render as the characters they stand for.
    """
    if not text:
        return ""
    return "<p style='white-space:pre-wrap'>" + html.escape(str(text)) + "</p>"


class Field(QWidget):
    """One editor. Subclasses fill ``self.editor_layout`` and implement the value hooks."""

    changed = pyqtSignal()

    #: whether the editor itself can show "left out" (an empty text, a "(not set)" item);
    #: editors that cannot get an "include" check box when the value may be left out.
    natural_unset = True

    def __init__(self, schema, *, required=False, parent=None):
        super().__init__(parent)
        self.schema = schema
        self.required = required
        self.default = schema.get("default", UNSET) if isinstance(schema, dict) else UNSET
        self._restore_error = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.include_box = None
        if not self.natural_unset and (not required or self.default is UNSET):
            # Numbers, dates and times always show some value; the box says whether it is sent.
            self.include_box = QCheckBox(self)
            self.include_box.setToolTip("Send this parameter")
            self.include_box.toggled.connect(self._on_include_toggled)
            layout.addWidget(self.include_box)
        self.editor_layout = layout
        self.changed.connect(self._forget_restore_error)

    # -- hooks for subclasses ------------------------------------------------------------
    def _editor_value(self):
        raise NotImplementedError

    def _set_editor_value(self, value):
        """Show ``value``; return False when the editor cannot hold it."""
        raise NotImplementedError

    def _clear_editor(self):
        """Show "left out" (editors with a natural unset) or the default."""

    def _editor_widgets(self):
        editor = getattr(self, "editor", None)
        return [editor] if editor is not None else []

    # -- public --------------------------------------------------------------------------
    def value(self):
        if self.include_box is not None and not self.include_box.isChecked():
            return UNSET
        return self._editor_value()

    def set_value(self, value):
        if value is UNSET:
            self.clear()
            return True
        try:
            accepted = self._set_editor_value(value)
        except (TypeError, ValueError, OverflowError) as exc:
            logger.debug("editor cannot show %r: %s", value, exc)
            accepted = False
        if accepted and self.include_box is not None:
            self.include_box.setChecked(True)
        return bool(accepted)

    def clear(self):
        """Leave the parameter out, or go back to the default when it must be sent."""
        if self.include_box is not None:
            self.include_box.setChecked(False)
            if self.default is not UNSET:
                self._set_quietly(self.default)
            return
        if self.default is not UNSET and self.required:
            self._set_quietly(self.default)
        else:
            self._clear_editor()

    def apply_default(self):
        if self.default is UNSET:
            self.clear()
        elif not self.set_value(self.default):
            logger.debug("default %r does not fit its editor", self.default)
            self.clear()

    def local_error(self):
        """An error jsonschema cannot see: text that is not JSON, a draft that did not fit."""
        return self._restore_error

    def mark_unrestorable(self, value):
        self._restore_error = shorten(f"The saved value {choice_label(value)} could not be restored here.")

    def focus_widget(self):
        widgets = self._editor_widgets()
        return widgets[0] if widgets else self

    def _set_quietly(self, value):
        try:
            self._set_editor_value(value)
        except (TypeError, ValueError, OverflowError):
            self._clear_editor()

    def _forget_restore_error(self):
        self._restore_error = None

    def _on_include_toggled(self, checked):
        for widget in self._editor_widgets():
            widget.setEnabled(checked)
        self.changed.emit()

    def _attach_editor(self, editor, *signals):
        """Put the one editor widget in the row, report its ``signals`` as changes, and set the
        include box up (for the fields with a single editor widget)."""
        self.editor = editor
        editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.editor_layout.addWidget(editor)
        for signal in signals:
            signal.connect(self._emit_changed)
        self._finish_include_box()

    def _emit_changed(self, *_args):
        self.changed.emit()

    def _finish_include_box(self):
        """Called by subclasses once their editor exists: start as "sent" only with a default."""
        if self.include_box is not None:
            start = self.default is not UNSET
            self.include_box.setChecked(start)
            for widget in self._editor_widgets():
                widget.setEnabled(start)


class ChoiceField(Field):
    """enum / const / anyOf-oneOf of const: titles shown, values stored."""

    def __init__(self, schema, choices, *, required=False, parent=None):
        super().__init__(schema, required=required, parent=parent)
        self.choices = list(choices)  # [(value, label, description)]
        self._index_of = {}
        for index, (value, _label, _description) in enumerate(self.choices):
            self._index_of.setdefault(choice_key(value), index)
        self.combo = QComboBox(self)
        if len(self.choices) > 100:
            # The default sizing reads every item when first shown; a long list would stall
            # the dialog there, so it gets a fixed width instead (this call is too slow to
            # make for every combo box).
            self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            self.combo.setMinimumContentsLength(24)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._offset = 0
        if not self.choices:
            self.combo.addItem("(no choices)")
            self.combo.setEnabled(False)
        else:
            default_fits = self.default is not UNSET and choice_key(self.default) in self._index_of
            if not required or not default_fits:
                self.combo.addItem("(not set)" if not required else "(choose…)")
                self._offset = 1
            self.combo.addItems([label for _value, label, _description in self.choices])
            # Per-item tooltips cost a call each; a huge list is a list of names anyway.
            if len(self.choices) <= 500:
                for index, (_value, _label, description) in enumerate(self.choices):
                    if description:
                        self.combo.setItemData(
                            index + self._offset, rich_tooltip(description), Qt.ItemDataRole.ToolTipRole
                        )
        self.editor_layout.addWidget(self.combo)
        self.combo.currentIndexChanged.connect(self._on_index_changed)
        # Picking the shown item again is still an answer (it clears a "could not be restored").
        self.combo.activated.connect(self._on_index_changed)

    def _on_index_changed(self, _index):
        self.changed.emit()

    def _editor_widgets(self):
        return [self.combo]

    def _editor_value(self):
        index = self.combo.currentIndex() - self._offset
        if not self.choices or index < 0 or index >= len(self.choices):
            return UNSET
        return self.choices[index][0]

    def _set_editor_value(self, value):
        index = self._index_of.get(choice_key(value))
        if index is None:
            return False
        self.combo.setCurrentIndex(index + self._offset)
        return True

    def _clear_editor(self):
        if self._offset:
            self.combo.setCurrentIndex(0)
        elif self.choices:
            self.combo.setCurrentIndex(0)

    def labels(self):
        return [label for _value, label, _description in self.choices]


class MultiChoiceField(Field):
    """An array whose items are choices: a list of check boxes."""

    def __init__(self, schema, choices, *, required=False, parent=None):
        super().__init__(schema, required=required, parent=parent)
        self.choices = list(choices)
        self._index_of = {}
        for index, (value, _label, _description) in enumerate(self.choices):
            self._index_of.setdefault(choice_key(value), index)
        self.list = QListWidget(self)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for _value, label, description in self.choices:
            item = QListWidgetItem(label, self.list)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Unchecked)
            if description:
                item.setToolTip(rich_tooltip(description))
            item.setData(Qt.ItemDataRole.UserRole, None)  # values stay in Python, typed as in the schema
        rows = max(1, min(len(self.choices), 6))
        self.list.setMaximumHeight(self.list.sizeHintForRow(0) * rows + 2 * self.list.frameWidth() + 4)
        self.editor_layout.addWidget(self.list)
        self.list.itemChanged.connect(self._on_item_changed)

    def _on_item_changed(self, _item):
        self.changed.emit()

    def _editor_widgets(self):
        return [self.list]

    def checked_indexes(self):
        checked = Qt.CheckState.Checked
        return [i for i in range(self.list.count()) if self.list.item(i).checkState() == checked]

    def _editor_value(self):
        chosen = [self.choices[i][0] for i in self.checked_indexes()]
        if not chosen and not self.required and self.default is UNSET:
            return UNSET
        return chosen

    def _set_editor_value(self, value):
        if not isinstance(value, list):
            return False
        indexes = set()
        for item in value:
            index = self._index_of.get(choice_key(item))
            if index is None:
                return False
            indexes.add(index)
        self._check_only(indexes)
        return True

    def _check_only(self, indexes):
        self.list.blockSignals(True)
        try:
            for i in range(self.list.count()):
                state = Qt.CheckState.Checked if i in indexes else Qt.CheckState.Unchecked
                self.list.item(i).setCheckState(state)
        finally:
            self.list.blockSignals(False)
        self.changed.emit()

    def _clear_editor(self):
        self._check_only(set())


class _LenientSpinMixin:
    """Lets the user type a number outside the bounds so the form can say what is wrong.

    A plain spin box swallows such a keystroke silently; here the text stays, ``typed()``
    returns it, jsonschema reports the bound it breaks next to the field, and leaving the
    field puts back the last value inside the bounds (Qt's usual correction).
    """

    def validate(self, text, pos):
        state, new_text, new_pos = super().validate(text, pos)
        if state == QValidator.State.Invalid and self.parse_typed(text) is not None:
            return QValidator.State.Intermediate, text, pos
        return state, new_text, new_pos

    def typed(self):
        """The number in the text box: the value, or an out-of-bounds number being typed."""
        if self.hasAcceptableInput():
            return None
        return self.parse_typed(self.cleanText())


class LenientSpinBox(_LenientSpinMixin, QSpinBox):
    def parse_typed(self, text):
        text = text.strip()
        if not re.fullmatch(r"[+-]?\d{1,30}", text):
            return None
        return int(text)


class LenientDoubleSpinBox(_LenientSpinMixin, QDoubleSpinBox):
    def parse_typed(self, text):
        text = text.strip()
        if not text:
            return None
        number, ok = self.locale().toDouble(text)
        if not ok:
            try:
                number = float(text)
            except ValueError:
                return None
        return number if math.isfinite(number) else None


def _number(schema, key):
    value = schema.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnreadableSchemaError(f"{key} is {choice_label(value)}, not a number")
    if not math.isfinite(value):
        return None
    return value


def numeric_bounds(schema):
    """(low, low_exclusive, high, high_exclusive, multiple_of) from any draft's spelling."""
    low, high = _number(schema, "minimum"), _number(schema, "maximum")
    low_ex = high_ex = False
    exclusive_min, exclusive_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(exclusive_min, bool):  # draft 4: a flag on minimum
        low_ex = exclusive_min and low is not None
    elif exclusive_min is not None:
        value = _number(schema, "exclusiveMinimum")
        if value is not None and (low is None or value >= low):
            low, low_ex = value, True
    if isinstance(exclusive_max, bool):
        high_ex = exclusive_max and high is not None
    elif exclusive_max is not None:
        value = _number(schema, "exclusiveMaximum")
        if value is not None and (high is None or value <= high):
            high, high_ex = value, True
    multiple_of = _number(schema, "multipleOf")
    if multiple_of is not None and multiple_of <= 0:
        raise UnreadableSchemaError(f"multipleOf is {choice_label(multiple_of)}; it must be greater than 0")
    if low is not None and high is not None:
        if low > high or (low == high and (low_ex or high_ex)):
            raise UnreadableSchemaError(
                f"the bounds contradict each other (minimum {choice_label(low)} is above maximum "
                f"{choice_label(high)}): no value can be valid"
            )
    return low, low_ex, high, high_ex, multiple_of


def decimals_of(number):
    text = repr(float(number))
    if "e" in text:
        mantissa, exponent = text.split("e")
        places = len(mantissa.split(".")[1].rstrip("0")) if "." in mantissa else 0
        return max(0, places - int(exponent))
    return len(text.split(".")[1].rstrip("0"))


class _SpinField(Field):
    """A number in a spin box (integer or floating): one place wires the box into the row."""

    natural_unset = False

    def _attach_spin(self):
        self._attach_editor(self.spin, self.spin.valueChanged, self.spin.lineEdit().textEdited,
                            self.spin.editingFinished)


class IntegerField(_SpinField):

    def __init__(self, schema, *, required=False, parent=None):
        super().__init__(schema, required=required, parent=parent)
        low, low_ex, high, high_ex, multiple_of = numeric_bounds(schema)
        low = INT32_MIN if low is None else (math.floor(low) + 1 if low_ex else math.ceil(low))
        high = INT32_MAX if high is None else (math.ceil(high) - 1 if high_ex else math.floor(high))
        step = 1
        if multiple_of is not None and float(multiple_of).is_integer():
            step = int(multiple_of)
            low, high = math.ceil(low / step) * step, math.floor(high / step) * step
        if low > high:
            raise UnreadableSchemaError("no whole number fits between the bounds")
        if high < INT32_MIN or low > INT32_MAX:
            raise UnreadableSchemaError("the bounds are beyond what a number box can hold")
        self.spin = LenientSpinBox(self)
        self.spin.setRange(max(low, INT32_MIN), min(high, INT32_MAX))
        self.spin.setSingleStep(max(1, min(step, INT32_MAX)))
        self._attach_spin()

    def _editor_value(self):
        typed = self.spin.typed()
        return typed if typed is not None else int(self.spin.value())

    def _set_editor_value(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
            return False
        value = int(value)
        if not self.spin.minimum() <= value <= self.spin.maximum():
            return False
        self.spin.setValue(value)
        return True

    def _clear_editor(self):
        self.spin.setValue(max(self.spin.minimum(), min(0, self.spin.maximum())))


class NumberField(_SpinField):

    def __init__(self, schema, *, required=False, parent=None):
        super().__init__(schema, required=required, parent=parent)
        low, low_ex, high, high_ex, multiple_of = numeric_bounds(schema)
        known = [n for n in (low, high, multiple_of) if n is not None]
        default = self.default
        if isinstance(default, (int, float)) and not isinstance(default, bool) and math.isfinite(default):
            known.append(default)
        decimals = max([2] + [decimals_of(n) for n in known])
        decimals = min(decimals, MAX_DECIMALS)
        tick = 10.0**-decimals
        low = -DOUBLE_OPEN_END if low is None else (low + tick if low_ex else low)
        high = DOUBLE_OPEN_END if high is None else (high - tick if high_ex else high)
        low, high = max(low, -DOUBLE_LIMIT), min(high, DOUBLE_LIMIT)
        if low > high:
            raise UnreadableSchemaError("no number fits between the bounds")
        self.decimals = decimals
        self.spin = LenientDoubleSpinBox(self)
        self.spin.setDecimals(decimals)
        self.spin.setRange(low, high)
        if multiple_of is not None:
            self.spin.setSingleStep(multiple_of)
        elif high - low <= 10:
            self.spin.setSingleStep(10 ** -min(decimals, 2) if high - low <= 1 else 0.1)
        self._attach_spin()

    def _editor_value(self):
        typed = self.spin.typed()
        number = typed if typed is not None else self.spin.value()
        return float(round(number, self.decimals))

    def _set_editor_value(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if not self.spin.minimum() <= value <= self.spin.maximum():
            return False
        self.spin.setValue(float(value))
        return True

    def _clear_editor(self):
        self.spin.setValue(max(self.spin.minimum(), min(0.0, self.spin.maximum())))


def parse_utc(text):
    """An ISO 8601 date-time as an aware UTC datetime (naive text is taken as UTC)."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class DateTimeField(Field):
    """format: date-time, edited and sent in UTC as ``YYYY-MM-DDTHH:MM:SSZ``."""

    natural_unset = False

    def __init__(self, schema, *, required=False, parent=None):
        super().__init__(schema, required=required, parent=parent)
        self.edit = QDateTimeEdit(self)
        self.edit.setTimeSpec(Qt.TimeSpec.UTC)
        self.edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss 'UTC'")
        self.edit.setCalendarPopup(True)
        now = QDateTime.currentDateTimeUtc()
        now.setTime(QTime(now.time().hour(), 0, 0))
        self.edit.setDateTime(now)
        self._attach_editor(self.edit, self.edit.dateTimeChanged)

    def _editor_value(self):
        moment = self.edit.dateTime().toUTC()
        day, clock = moment.date(), moment.time()
        moment = datetime(day.year(), day.month(), day.day(), clock.hour(), clock.minute(), clock.second(),
                          tzinfo=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _set_editor_value(self, value):
        moment = parse_utc(value)
        shown = QDateTime(
            QDate(moment.year, moment.month, moment.day),
            QTime(moment.hour, moment.minute, moment.second),
            Qt.TimeSpec.UTC,
        )
        if not shown.isValid() or not self.edit.minimumDateTime() <= shown <= self.edit.maximumDateTime():
            return False
        self.edit.setDateTime(shown)
        return True


class DateField(Field):
    """format: date, sent as ``YYYY-MM-DD`` (a calendar day has no time zone)."""

    natural_unset = False

    def __init__(self, schema, *, required=False, parent=None):
        super().__init__(schema, required=required, parent=parent)
        self.edit = QDateEdit(self)
        self.edit.setDisplayFormat("yyyy-MM-dd")
        self.edit.setCalendarPopup(True)
        self.edit.setDate(QDateTime.currentDateTimeUtc().date())
        self._attach_editor(self.edit, self.edit.dateChanged)

    def _editor_value(self):
        day = self.edit.date()
        return date(day.year(), day.month(), day.day()).isoformat()

    def _set_editor_value(self, value):
        if not isinstance(value, str):
            return False
        day = date.fromisoformat(value.strip()[:10])
        shown = QDate(day.year, day.month, day.day)
        if not self.edit.minimumDate() <= shown <= self.edit.maximumDate():
            return False
        self.edit.setDate(shown)
        return True


class BooleanField(Field):
    """A check box; a parameter that may be left out gets a third, "not set" state."""

    def __init__(self, schema, *, required=False, parent=None):
        super().__init__(schema, required=required, parent=parent)
        self.check = QCheckBox(self)
        self.tristate = not required
        self.check.setTristate(self.tristate)
        self.editor_layout.addWidget(self.check)
        self.editor_layout.addStretch(1)
        self.check.stateChanged.connect(self._on_state_changed)
        self._clear_editor()

    def _on_state_changed(self, _state):
        self._show_state_text()
        self.changed.emit()

    def _show_state_text(self):
        partial = self.check.checkState() == Qt.CheckState.PartiallyChecked
        self.check.setText("(not set)" if partial else "")

    def _editor_widgets(self):
        return [self.check]

    def _editor_value(self):
        state = self.check.checkState()
        if state == Qt.CheckState.PartiallyChecked:
            return UNSET
        return state == Qt.CheckState.Checked

    def _set_editor_value(self, value):
        if not isinstance(value, bool):
            return False
        self.check.setCheckState(Qt.CheckState.Checked if value else Qt.CheckState.Unchecked)
        return True

    def _clear_editor(self):
        self.check.setCheckState(Qt.CheckState.PartiallyChecked if self.tristate else Qt.CheckState.Unchecked)
        self._show_state_text()


class PatternValidator(QValidator):
    """JSON Schema's ``pattern``: a search anywhere in the text, with bounded work as the form's validation
    does it (``schema_validation.pattern_search``: a pattern that backtracks without end cannot stall typing).

    Text that does not match yet is "intermediate", never refused, so the user can type
    towards a match; the form shows the pattern error until it matches.
    """

    def __init__(self, pattern, parent=None):
        super().__init__(parent)
        re.compile(pattern)  # a pattern Python cannot read is reported where the field is built
        self.pattern = pattern

    def validate(self, text, pos):
        if pattern_search(self.pattern, text):
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos


class StringField(Field):
    def __init__(self, schema, *, required=False, parent=None):
        super().__init__(schema, required=required, parent=parent)
        self.line = QLineEdit(self)
        max_length = schema.get("maxLength")
        if isinstance(max_length, int) and not isinstance(max_length, bool) and max_length >= 0:
            self.line.setMaxLength(min(max_length, 32767))
        pattern = schema.get("pattern")
        self.validator = None
        if pattern is not None:
            if not isinstance(pattern, str):
                raise UnreadableSchemaError("pattern is not a string")
            try:
                self.validator = PatternValidator(pattern, self.line)
            except re.error as exc:
                raise UnreadableSchemaError(f"pattern is not a valid regular expression ({exc})") from exc
            self.line.setValidator(self.validator)
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt:
            self.line.setPlaceholderText(fmt)
        self.editor_layout.addWidget(self.line)
        self.line.textChanged.connect(self._emit_changed)

    def _editor_widgets(self):
        return [self.line]

    def _editor_value(self):
        text = self.line.text()
        return text if text else UNSET

    def _set_editor_value(self, value):
        if not isinstance(value, str):
            return False
        if self.line.maxLength() < len(value):
            return False
        self.line.setText(value)
        return True

    def _clear_editor(self):
        self.line.clear()


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


class JsonTextField(Field):
    """The fallback for anything the factory does not know: the value typed as JSON text."""

    def __init__(self, schema, reason, *, required=False, parent=None):
        super().__init__(schema if isinstance(schema, dict) else {}, required=required, parent=parent)
        self.reason = reason
        box = QVBoxLayout()
        box.setContentsMargins(0, 0, 0, 0)
        self.text = QPlainTextEdit(self)
        self.text.setTabChangesFocus(True)
        self.text.setPlaceholderText("JSON value")
        line_height = self.text.fontMetrics().lineSpacing()
        self.text.setFixedHeight(line_height * 3 + 12)
        self.note = plain_label(f"Entered as JSON text: {reason}", self, word_wrap=True)
        self.note.setEnabled(False)
        box.addWidget(self.text)
        box.addWidget(self.note)
        self.editor_layout.addLayout(box)
        self._parse_error = None
        self.text.textChanged.connect(self._on_text_changed)

    def _on_text_changed(self):
        self.changed.emit()

    def _editor_widgets(self):
        return [self.text]

    def _parse(self):
        source = self.text.toPlainText().strip()
        if not source:
            return UNSET, None
        try:
            return json.loads(source, parse_constant=_refuse_constant), None
        except ValueError as exc:
            return UNSET, shorten(f"Not valid JSON: {exc}")

    def _editor_value(self):
        return self._parse()[0]

    def local_error(self):
        return self._parse()[1] or super().local_error()

    def _set_editor_value(self, value):
        self.text.setPlainText(json.dumps(value, ensure_ascii=False, allow_nan=False))
        return True

    def _clear_editor(self):
        self.text.clear()
