"""scripts/check_qt6.py run against PyQt6 itself: the Qt-only code names nothing PyQt6 lacks."""
import importlib.util
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_qt6", ROOT / "scripts" / "check_qt6.py")
check_qt6 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_qt6)


def test_names_pyqt6_lacks_are_found():
    source = textwrap.dedent('''
        from qgis.PyQt.QtCore import Qt
        from qgis.PyQt.QtWidgets import QMessageBox

        answer = QMessageBox.Yes
        alignment = Qt.Alignment()
        fine = Qt.AlignmentFlag.AlignLeft
    ''')
    found = [(f.code, f.line) for f in check_qt6.check_source(source)]
    assert found == [("Q6017", 5), ("Q6017", 6)]


def test_the_qt_only_code_names_only_what_pyqt6_has():
    files = [ROOT / "ui" / "schema_form.py", ROOT / "ui" / "schema_form_widgets.py"]
    findings = [str(f) for file in files for f in check_qt6.check_source(file.read_text(encoding="utf-8"), str(file))]
    assert findings == []
