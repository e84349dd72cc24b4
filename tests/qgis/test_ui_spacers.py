"""Every spacer in the .ui files stretches under Qt5 too.

A <spacer> without a sizeHint is built by PyQt5's uic as a fixed 7x1 px item (and not at all by
PyQt6's), so buttons meant to sit at one edge of a row drifted into the middle.
"""
from xml.etree import ElementTree

import pytest
from ui_files import UI_FILES, assert_spacers_stretch, build


def test_the_dialogs_have_spacers():
    assert sum(path.read_text(encoding="utf-8").count("<spacer ") for path in UI_FILES) >= 6


@pytest.mark.parametrize("ui_file", UI_FILES, ids=lambda path: path.name)
def test_spacers_stretch(ui_file, qgis_app):
    widget = build(ui_file)
    assert_spacers_stretch(ui_file, widget)
    widget.deleteLater()


@pytest.mark.parametrize("ui_file", UI_FILES, ids=lambda path: path.name)
def test_every_spacer_declares_its_size_hint(ui_file):
    """PyQt6's uic cannot build a spacer without one; PyQt5's builds the fixed 7x1 px item."""
    for spacer in ElementTree.parse(ui_file).iter("spacer"):
        hints = [p for p in spacer.findall("property") if p.get("name") == "sizeHint"]
        assert hints and hints[0].find("size") is not None, f"{ui_file.name}: spacer {spacer.get('name')}"
