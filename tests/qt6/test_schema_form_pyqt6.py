"""The schema form's own test suite, tests/qgis/test_schema_form.py, run unchanged under PyQt6.

The form and its editors import Qt only (through ``qgis.PyQt``), so the stand-in ``qgis.PyQt``
of this folder's conftest is all they need; the suite's tests and fixtures are taken over as
they are, and pytest-qt drives PyQt6 here.
"""
import importlib.util
from pathlib import Path

import PyQt6.QtWidgets

SUITE = Path(__file__).resolve().parents[1] / "qgis" / "test_schema_form.py"

_spec = importlib.util.spec_from_file_location("schema_form_suite_under_pyqt6", SUITE)
_suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_suite)



def _is_fixture(value):
    marker = getattr(value, "_pytestfixturefunction", None)  # pytest 8.3; 8.4 has its own class
    return marker is not None or type(value).__name__ == "FixtureFunctionDefinition"


_TAKEN = {name: value for name, value in vars(_suite).items() if name.startswith("test_") or _is_fixture(value)}
globals().update(_TAKEN)


def test_the_suite_was_taken_over():
    tests = [name for name in _TAKEN if name.startswith("test_")]
    assert len(tests) >= 20, tests


def test_the_suites_form_fixture_builds_pyqt6_forms(make_form):
    form = make_form({"type": "object", "properties": {"n": {"type": "integer"}}})
    assert isinstance(form, PyQt6.QtWidgets.QWidget)


def test_the_form_is_a_pyqt6_widget(qtbot):
    from satellite_tasking.ui.schema_form import SchemaForm

    form = SchemaForm({"type": "object", "properties": {"name": {"type": "string"}}})
    qtbot.addWidget(form)
    assert isinstance(form, PyQt6.QtWidgets.QWidget)
