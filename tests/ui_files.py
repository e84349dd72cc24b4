"""The plugin's .ui files as tests build them, under whichever Qt ``qgis.PyQt`` is (PyQt5 in QGIS, PyQt6 in
.venv-qt6's stand-in).

Importable as ``ui_files`` (tests/conftest.py registers it by name). Qt is imported inside the functions: this
module is registered before tests/qt6/conftest.py puts its PyQt6 ``qgis`` package first on ``sys.path``.

- ``UI_FILES``: every ui/*.ui.
- ``build(ui_file)``: the widget uic builds from it (``deleteLater()`` it when done).
- ``spacers(widget)``: the spacers of the .ui's own layouts, as (layout name, QSpacerItem).
- ``assert_spacers_stretch(ui_file, widget)``: every spacer the file declares was built and can stretch.
"""
from pathlib import Path
from typing import List, Tuple

UI_FILES = sorted((Path(__file__).resolve().parents[1] / "ui").glob("*.ui"))


def build(ui_file: Path):
    from qgis.PyQt import uic

    form_class, base_class = uic.loadUiType(str(ui_file))
    widget = base_class()
    form_class().setupUi(widget)
    return widget


def spacers(widget) -> List[Tuple[str, object]]:
    """The spacers of the .ui's own layouts (named by uic; Qt's inner layouts, e.g. a button box's, are not)."""
    from qgis.PyQt.QtWidgets import QSpacerItem, QWidget

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


def assert_spacers_stretch(ui_file: Path, widget) -> None:
    found = spacers(widget)
    assert len(found) == ui_file.read_text(encoding="utf-8").count("<spacer "), found
    for layout_name, spacer in found:
        assert spacer.expandingDirections(), f"{ui_file.name}: a spacer in {layout_name} cannot stretch"
