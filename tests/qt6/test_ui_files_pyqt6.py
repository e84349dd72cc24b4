"""Every .ui file under ui/ builds under PyQt6, and each of its spacers can stretch."""

import PyQt6.uic
import pytest
from qgis.PyQt import uic
from qgis.PyQt.QtWidgets import QLayout
from ui_files import UI_FILES, assert_spacers_stretch, build


def test_the_ui_folder_has_the_dialogs():
    assert len(UI_FILES) >= 5, UI_FILES
    assert uic.loadUiType is PyQt6.uic.loadUiType


@pytest.mark.parametrize("ui_file", UI_FILES, ids=lambda path: path.name)
def test_ui_file_builds_under_pyqt6(ui_file, qapp):
    widget = build(ui_file)
    assert widget.findChildren(QLayout), f"{ui_file.name} built no layout"
    widget.deleteLater()


@pytest.mark.parametrize("ui_file", UI_FILES, ids=lambda path: path.name)
def test_spacers_stretch_under_pyqt6(ui_file, qapp):
    widget = build(ui_file)
    assert_spacers_stretch(ui_file, widget)
    widget.deleteLater()
