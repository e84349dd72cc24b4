"""Every spacer in the .ui files stretches under Qt5 too.

A <spacer> without a sizeHint is built by PyQt5's uic as a fixed 7x1 px item (and not at all by
PyQt6's), so buttons meant to sit at one edge of a row drifted into the middle.
"""
from pathlib import Path
from xml.etree import ElementTree

import pytest
from qgis.PyQt import uic
from qgis.PyQt.QtWidgets import QSpacerItem, QWidget

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


def test_the_dialogs_have_spacers():
    assert sum(path.read_text(encoding="utf-8").count("<spacer ") for path in UI_FILES) >= 6


@pytest.mark.parametrize("ui_file", UI_FILES, ids=lambda path: path.name)
def test_spacers_stretch(ui_file, qgis_app):
    form_class, base_class = uic.loadUiType(str(ui_file))
    widget = base_class()
    form_class().setupUi(widget)
    found = spacers(widget)
    assert len(found) == ui_file.read_text(encoding="utf-8").count("<spacer "), found
    for layout_name, spacer in found:
        assert spacer.expandingDirections(), f"{ui_file.name}: a spacer in {layout_name} cannot stretch"
    widget.deleteLater()


@pytest.mark.parametrize("ui_file", UI_FILES, ids=lambda path: path.name)
def test_every_spacer_declares_its_size_hint(ui_file):
    """PyQt6's uic cannot build a spacer without one; PyQt5's builds the fixed 7x1 px item."""
    for spacer in ElementTree.parse(ui_file).iter("spacer"):
        hints = [p for p in spacer.findall("property") if p.get("name") == "sizeHint"]
        assert hints and hints[0].find("size") is not None, f"{ui_file.name}: spacer {spacer.get('name')}"
