"""Every .ui file under ui/ builds under PyQt6, and each of its spacers can stretch."""
from pathlib import Path

import PyQt6.uic
import pytest
from qgis.PyQt import uic
from qgis.PyQt.QtWidgets import QLayout, QSpacerItem, QWidget

UI_FILES = sorted((Path(__file__).resolve().parents[2] / "ui").glob("*.ui"))


def spacers(widget):
    """The spacers of the .ui's own layouts (named by uic; Qt's inner layouts, e.g. a button box's, are not)."""
    found = []

    def walk(layout):
        for index in range(layout.count()):
            item = layout.itemAt(index)
            if isinstance(item, QSpacerItem) or item.spacerItem() is not None:
                found.append((layout.objectName(), item.spacerItem()))
            elif item.layout() is not None:
                walk(item.layout())

    for holder in [widget, *widget.findChildren(QWidget)]:
        if holder.layout() is not None and holder.layout().objectName():
            walk(holder.layout())
    return found


def test_the_ui_folder_has_the_dialogs():
    assert len(UI_FILES) >= 5, UI_FILES
    assert uic.loadUiType is PyQt6.uic.loadUiType


@pytest.mark.parametrize("ui_file", UI_FILES, ids=lambda path: path.name)
def test_ui_file_builds_under_pyqt6(ui_file, qapp):
    form_class, base_class = uic.loadUiType(str(ui_file))
    widget = base_class()
    form_class().setupUi(widget)
    assert widget.findChildren(QLayout), f"{ui_file.name} built no layout"
    widget.deleteLater()


@pytest.mark.parametrize("ui_file", UI_FILES, ids=lambda path: path.name)
def test_spacers_stretch_under_pyqt6(ui_file, qapp):
    form_class, base_class = uic.loadUiType(str(ui_file))
    widget = base_class()
    form_class().setupUi(widget)
    found = spacers(widget)
    assert len(found) == ui_file.read_text(encoding="utf-8").count("<spacer "), found
    for layout_name, spacer in found:
        assert spacer.expandingDirections(), f"{ui_file.name}: a spacer in {layout_name} cannot stretch"
    widget.deleteLater()
