"""scripts/check_qt6.py finds what Qt6 (QGIS 4) would break, and the plugin has none of it."""
import importlib.util
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_qt6", ROOT / "scripts" / "check_qt6.py")
check_qt6 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_qt6)

OFFENCES = textwrap.dedent('''
    from PyQt5.QtCore import QRegExp
    from qgis.PyQt.QtCore import Qt, QVariant, QDateTime, QDate, pyqtSignal
    from qgis.PyQt.QtGui import QAction, QFontMetrics, QPainter
    from qgis.PyQt.QtWidgets import QActionGroup, QDialog, QMessageBox, QSizePolicy, qApp
    from qgis.PyQt import QtWidgets
    from qgis.core import Qgis, QgsTask, QgsWkbTypes
    from . import resources_rc

    class Dialog(QDialog):
        changed = pyqtSignal()

        def exec_(self):
            return super().exec_()

        def run(self, combo, menu, font):
            label_alignment = Qt.AlignLeft
            button = QMessageBox.Yes
            policy = QtWidgets.QSizePolicy.Expanding
            level = Qgis.Warning
            family = QgsWkbTypes.PolygonGeometry
            flags = QgsTask.Flags()
            middle = Qt.MidButton
            hint = QPainter.HighQualityAntialiasing
            empty = QVariant()
            also_empty = QVariant(QVariant.Int)
            wrong = QVariant.Type.Int
            when = QDateTime(2024, 1, 2, 3, 4, 5, 6, Qt.TimeSpec.UTC)
            day = QDateTime(QDate(2024, 1, 2))
            app = qApp
            screen = QtWidgets.QApplication.desktop()
            width = QFontMetrics(font).width("text")
            other = self.fontMetrics().width("text")
            combo.activated[str].connect(print)
            menu.addAction(None, "text", self.run, "Ctrl+R")
            return QDialog.exec_(self)
''')

EXPECTED = {
    ("Q6011", 2),  # PyQt5 import
    ("Q6012", 2),  # QRegExp
    ("Q6015", 4),  # QAction from QtGui breaks QGIS 3
    ("Q6015", 5),  # QActionGroup from QtWidgets breaks QGIS 4
    ("Q6013", 8),  # resources_rc
    ("Q6001", 13),  # def exec_
    ("Q6001", 14),  # .exec_()
    ("Q6002", 17),  # Qt.AlignLeft
    ("Q6002", 18),  # QMessageBox.Yes
    ("Q6002", 19),  # QtWidgets.QSizePolicy.Expanding
    ("Q6002", 20),  # Qgis.Warning
    ("Q6002", 21),  # QgsWkbTypes.PolygonGeometry
    ("Q6016", 22),  # QgsTask.Flags
    ("Q6003", 23),  # Qt.MidButton
    ("Q6003", 24),  # QPainter.HighQualityAntialiasing
    ("Q6004", 25),  # QVariant()
    ("Q6004", 26),  # QVariant(QVariant.Int)
    ("Q6004", 27),  # QVariant.Type.Int
    ("Q6005", 28),  # eight-argument QDateTime
    ("Q6005", 29),  # QDateTime(QDate(...))
    ("Q6006", 30),  # qApp
    ("Q6008", 31),  # desktop()
    ("Q6010", 32),  # QFontMetrics(...).width
    ("Q6010", 33),  # fontMetrics().width
    ("Q6009", 34),  # activated[str]
    ("Q6007", 35),  # four-argument addAction
    ("Q6001", 36),  # QDialog.exec_
}


def test_every_known_offence_is_found():
    found = {(finding.code, finding.line) for finding in check_qt6.check_source(OFFENCES)}
    assert EXPECTED - found == set(), "missed"
    # qApp is also imported on line 5: that import and nothing else may come on top.
    assert found - EXPECTED <= {("Q6006", 5)}, "unexpected"


def test_scoped_names_and_what_qgis_3_needs_pass():
    clean = textwrap.dedent('''
        from qgis.PyQt.QtCore import Qt, QVariant
        from qgis.PyQt.QtWidgets import QAction, QDialog, QMessageBox
        from qgis.core import Qgis, QgsField, QgsMapLayerType, QgsTask, QgsWkbTypes

        def run(dialog):
            field = QgsField("name", QVariant.String)
            alignment = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
            answer = QMessageBox.StandardButton.Yes
            level = Qgis.MessageLevel.Warning
            kind = QgsMapLayerType.VectorLayer
            family = QgsWkbTypes.GeometryType.PolygonGeometry
            flags = QgsTask.Flag(0)
            version = Qgis.QGIS_VERSION
            return dialog.exec() == QDialog.DialogCode.Accepted
    ''')
    assert check_qt6.check_source(clean) == []


def test_qvariant_types_only_when_asked_for_qgis_3_incompatible_changes():
    source = "from qgis.PyQt.QtCore import QVariant\nkind = QVariant.String\n"
    assert check_qt6.check_source(source) == []
    assert [f.code for f in check_qt6.check_source(source, qgis3_incompatible=True)] == ["Q6004"]


def test_exit_status_and_report(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("from qgis.PyQt.QtCore import Qt\nalignment = Qt.AlignLeft\n", encoding="utf-8")
    assert check_qt6.main([str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.py:2:13: Q6002 unscoped enum Qt.AlignLeft: use Qt.AlignmentFlag.AlignLeft" in out

    good = tmp_path / "good.py"
    good.write_text("from qgis.PyQt.QtCore import Qt\nalignment = Qt.AlignmentFlag.AlignLeft\n", encoding="utf-8")
    assert check_qt6.main([str(good)]) == 0


def test_a_binding_that_cannot_be_imported_is_an_error_not_a_pass(tmp_path):
    odd = tmp_path / "odd.py"
    odd.write_text("from qgis.no_such_module import Thing\nvalue = Thing.Member\n", encoding="utf-8")
    assert check_qt6.main([str(odd)]) == 2


@pytest.mark.parametrize("folder", ["plugin", "ui"])
def test_the_plugin_has_no_findings(folder):
    findings = [str(f) for file in check_qt6.python_files([ROOT / folder])
                for f in check_qt6.check_source(file.read_text(encoding="utf-8"), str(file))]
    assert findings == []
