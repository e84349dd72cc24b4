#!/usr/bin/env python3
"""Qt6 (QGIS 4) readiness check for the plugin's Python code.

The rules are those of QGIS's own migration script (``scripts/pyqt5_to_pyqt6/pyqt5_to_pyqt6.py``
in qgis/QGIS): what it rewrites (unscoped enums, ``exec_``, renamed enums, ``QVariant()`` and
``QVariant.Type.X``, two QDateTime constructors, ``qApp``, ``PyQt5`` imports, ``qgis.PyQt.Qt``)
and what it warns about (``QRegExp``, ``desktop()``, ``QFontMetrics.width()``, ``activated[str]``,
four-argument ``addAction``, compiled resources). A few facts of Qt6 and of QGIS 4's
``qgis.PyQt`` that the script leaves to people are checked too: QFlags classes such as
``Qt.Alignment`` are gone from PyQt6, classes Qt6 removed or moved to QtGui, old-style
``SIGNAL()``/``SLOT()`` connections; run with PyQt6 bindings, any ``QtClass.name`` PyQt6 lacks.

Enums are judged by looking at the classes themselves, as the migration script does: each
imported Qt or QGIS name is imported here and ``Owner.Member`` is reported when ``Member`` is an
enum value reached through its class instead of through its enum (``Qt.AlignLeft`` rather than
``Qt.AlignmentFlag.AlignLeft``). It therefore runs in an interpreter that can import the bindings
the code imports (the project's .venv, with QGIS's PyQt5; or PyQt6).

``QVariant.String`` and the other ``QVariant`` type constants are allowed: QGIS 4 keeps them for
``QgsField`` and friends, and QGIS before 3.38 accepts nothing else. ``--qgis3-incompatible`` reports
them too, like the migration script's option of that name.

Usage: check_qt6.py [--qgis3-incompatible] [PATH ...]  (default: plugin/ ui/ __init__.py)
Exit status: 0 no findings, 1 findings, 2 a file or an imported binding could not be read.
"""
import argparse
import ast
import enum
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = ("plugin", "ui", "__init__.py")
BINDING_PREFIXES = ("qgis", "PyQt5", "PyQt6")

# Enum values Qt6 renamed (the migration script's table of deprecated renamed enums).
RENAMED_ENUMS = {
    ("Qt", "MidButton"): "Qt.MouseButton.MiddleButton",
    ("Qt", "TextColorRole"): "Qt.ItemDataRole.ForegroundRole",
    ("Qt", "BackgroundColorRole"): "Qt.ItemDataRole.BackgroundRole",
    ("QPainter", "HighQualityAntialiasing"): "QPainter.RenderHint.Antialiasing",
}
# Classes Qt6 removed (the script warns about QRegExp; the others are gone the same way).
REMOVED_CLASSES = {
    "QRegExp": "use QRegularExpression",
    "QRegExpValidator": "use QRegularExpressionValidator",
    "QDesktopWidget": "use QScreen (QGuiApplication.screens(), QWidget.screen())",
    "QTextCodec": "decode with Python's codecs",
    "QMatrix": "use QTransform",
    "QStringRef": "use str",
    "QLinkedList": "use a Python list",
    "QGLWidget": "use QOpenGLWidget",
    "QSound": "use QSoundEffect",
}
# Classes Qt6 moved from QtWidgets to QtGui. QGIS 4's qgis.PyQt.QtWidgets still offers QAction and
# QShortcut, and QGIS 3 has them only in QtWidgets: import those two from QtWidgets, never QtGui.
MOVED_TO_QTGUI_ALIASED = {"QAction", "QShortcut"}
MOVED_TO_QTGUI = {"QActionGroup", "QUndoCommand", "QUndoGroup", "QUndoStack", "QFileSystemModel"}
OLD_STYLE_SIGNALS = {"SIGNAL", "SLOT", "pyqtSignature"}
NEW_STYLE_SIGNALS = "declare pyqtSignal(...) attributes, connect with signal.connect(slot), mark slots with pyqtSlot"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    code: str
    message: str

    def __str__(self):
        return f"{self.path}:{self.line}:{self.column + 1}: {self.code} {self.message}"


class BindingError(Exception):
    """A Qt or QGIS module the code imports cannot be imported here, so its enums cannot be judged."""


def _is_enum_type(value):
    if isinstance(value, type) and issubclass(value, enum.Enum):
        return True
    return type(value).__name__ == "enumtype"  # sip's enum metaclass (PyQt5)


def _is_enum_member(value):
    return isinstance(value, enum.Enum) or _is_enum_type(type(value))


def _flags_classes_of(owner):
    """PyQt5's QFlags classes of ``owner`` (``Qt.Alignment`` for ``Qt.AlignmentFlag``), by name.

    A flag enum's values combine with ``|`` into an object of the QFlags class; plain enums give int.
    """
    one_member = {}
    for name in dir(owner):
        try:
            value = getattr(owner, name)
        except Exception:  # noqa: BLE001 - sip raises assorted errors for odd attributes
            continue
        if _is_enum_member(value) and not isinstance(value, enum.Enum):
            one_member.setdefault(type(value), value)
    found = {}
    for enum_type, member in one_member.items():
        try:
            combined = type(member | member)
        except TypeError:
            continue
        if combined is not int and not _is_enum_type(combined):
            found[combined.__name__] = enum_type.__name__
    return found


class Bindings:
    """Qt and QGIS objects looked up by module and name, each module imported once."""

    def __init__(self):
        self._modules = {}
        self._flags = {}

    def module(self, name):
        if name not in self._modules:
            try:
                self._modules[name] = importlib.import_module(name)
            except ImportError as error:
                raise BindingError(f"cannot import {name} to check its enums: {error}") from error
        return self._modules[name]

    def flags_classes(self, owner):
        key = id(owner)
        if key not in self._flags:
            self._flags[key] = _flags_classes_of(owner)
        return self._flags[key]


def _dotted(node):
    """``a.b.c`` as ["a", "b", "c"], or None when the chain does not start at a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


class FileChecker(ast.NodeVisitor):
    def __init__(self, path, bindings, qgis3_incompatible=False):
        self.path = path
        self.bindings = bindings
        self.qgis3_incompatible = qgis3_incompatible
        self.findings = []
        self.imported = {}  # local name -> (module, attribute or None)
        self.font_metrics_names = set()
        self._reported = set()

    def report(self, node, code, message):
        key = (node.lineno, node.col_offset, code)
        if key not in self._reported:
            self._reported.add(key)
            self.findings.append(Finding(self.path, node.lineno, node.col_offset, code, message))

    # -- imports -------------------------------------------------------------------------------

    def collect_imports(self, tree):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imported[alias.asname] = (alias.name, None)
                    else:
                        self.imported[alias.name.split(".")[0]] = (alias.name.split(".")[0], None)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if node.level == 0 and module.split(".")[0] in ("PyQt5", "PyQt6"):
            self.report(node, "Q6011", f"import from {module}: import Qt through qgis.PyQt")
        if node.level == 0 and module == "qgis.PyQt.Qt":
            self.report(node, "Q6011", "qgis.PyQt.Qt is gone in QGIS 4: import Qt from qgis.PyQt.QtCore")
        for alias in node.names:
            name = alias.name
            if name in REMOVED_CLASSES:
                self.report(node, "Q6012", f"{name} is removed in Qt6: {REMOVED_CLASSES[name]}")
            if name == "resources_rc":
                self.report(node, "Q6013", "compiled resources are gone in Qt6: load icons and .ui files by path")
            if name in OLD_STYLE_SIGNALS:
                self.report(node, "Q6014", f"{name} (old-style signals) is gone in PyQt6: {NEW_STYLE_SIGNALS}")
            if module.endswith("QtWidgets") and name in MOVED_TO_QTGUI:
                self.report(node, "Q6015", f"{name} moved to QtGui in Qt6 and QGIS 4 offers no alias in QtWidgets")
            if module.endswith("QtGui") and name in MOVED_TO_QTGUI_ALIASED:
                self.report(node, "Q6015", f"{name} is in QtWidgets on Qt5: import it from qgis.PyQt.QtWidgets "
                            "(QGIS 4 offers it there too)")
        self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name.split(".")[0] in ("PyQt5", "PyQt6"):
                self.report(node, "Q6011", f"import {alias.name}: import Qt through qgis.PyQt")
            if alias.name.split(".")[-1] == "resources_rc":
                self.report(node, "Q6013", "compiled resources are gone in Qt6: load icons and .ui files by path")
        self.generic_visit(node)

    # -- definitions and calls -----------------------------------------------------------------

    def visit_FunctionDef(self, node):
        if node.name == "exec_":
            self.report(node, "Q6001", "def exec_: PyQt6 calls exec(); name the method exec")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Assign(self, node):
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in (
                "QFontMetrics", "QFontMetricsF"):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.font_metrics_names.add(target.id)
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr == "addAction" and len(node.args) >= 4:
                self.report(node, "Q6007", "addAction with 4 or more arguments is fragile in Qt6: "
                            "make a QAction, then addAction(action)")
            if func.attr == "desktop" and not node.args and not node.keywords:
                self.report(node, "Q6008", "QApplication.desktop() (QDesktopWidget) is removed in Qt6: use QScreen")
        if isinstance(func, ast.Name) and func.id == "QVariant":
            if not node.args:
                self.report(node, "Q6004", "QVariant() makes a null variant: use NULL from qgis.core (or None)")
            elif len(node.args) == 1 and _dotted(node.args[0]) and _dotted(node.args[0])[0] == "QVariant":
                self.report(node, "Q6004", "QVariant(QVariant.<type>) makes a null variant: use NULL from qgis.core")
        if isinstance(func, ast.Name) and func.id == "QDateTime":
            if len(node.args) == 8:
                self.report(node, "Q6005", "QDateTime(y, m, d, h, min, s, ms, spec) does not exist in Qt6: "
                            "use QDateTime(QDate(...), QTime(...), spec)")
            elif (len(node.args) == 1 and isinstance(node.args[0], ast.Call)
                  and isinstance(node.args[0].func, ast.Name) and node.args[0].func.id == "QDate"):
                self.report(node, "Q6005", "QDateTime(QDate(...)) does not exist in Qt6: "
                            "use QDateTime(QDate(...), QTime(0, 0, 0))")
        self.generic_visit(node)

    def visit_Subscript(self, node):
        value = node.value
        if (isinstance(value, ast.Attribute) and value.attr == "activated"
                and isinstance(node.slice, ast.Name) and node.slice.id == "str"):
            self.report(node, "Q6009", "activated[str] is removed in Qt6: use activated (index) or textActivated")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id == "qApp":
            self.report(node, "Q6006", "qApp is gone in PyQt6: use QApplication.instance()")
        elif node.id in OLD_STYLE_SIGNALS and isinstance(node.ctx, ast.Load):
            self.report(node, "Q6014", f"{node.id}() (old-style signals) is gone in PyQt6: {NEW_STYLE_SIGNALS}")

    # -- attributes: exec_, enums, QVariant, QFontMetrics --------------------------------------

    def visit_Attribute(self, node):
        if node.attr == "exec_":
            self.report(node, "Q6001", "exec_() is gone in PyQt6: use exec()")
        if node.attr in REMOVED_CLASSES and _dotted(node.value):
            self.report(node, "Q6012", f"{node.attr} is removed in Qt6: {REMOVED_CLASSES[node.attr]}")
        if node.attr == "width" and self._is_font_metrics(node.value):
            self.report(node, "Q6010", "QFontMetrics.width() is removed in Qt6: use horizontalAdvance()")
        parts = _dotted(node)
        if parts is not None:
            self._check_chain(node, parts)
        self.generic_visit(node)

    def _resolve(self, parts):
        """The Qt or QGIS object that ``a.b.c`` names through this file's imports, else None."""
        if parts[0] not in self.imported:
            return None
        module_name, attribute = self.imported[parts[0]]
        if module_name.split(".")[0] not in BINDING_PREFIXES:
            return None
        obj = self.bindings.module(module_name)
        for step in ([attribute] if attribute else []) + parts[1:]:
            try:
                obj = getattr(obj, step)
            except AttributeError:
                if not hasattr(obj, "__path__"):  # only a package has submodules to import
                    return None
                obj = self.bindings.module(f"{obj.__name__}.{step}")
        return obj

    def _is_font_metrics(self, value):
        if isinstance(value, ast.Name):
            return value.id in self.font_metrics_names
        if isinstance(value, ast.Call):
            func = value.func
            return ((isinstance(func, ast.Attribute) and func.attr == "fontMetrics")
                    or (isinstance(func, ast.Name) and func.id in ("QFontMetrics", "QFontMetricsF")))
        return False

    def _check_chain(self, node, parts):
        owner_name, member = parts[-2], parts[-1]
        if len(parts) == 2 and (owner_name, member) in RENAMED_ENUMS:
            renamed = RENAMED_ENUMS[owner_name, member]
            self.report(node, "Q6003", f"{owner_name}.{member} is renamed in Qt6: use {renamed}")
            return
        if parts[0] == "QVariant" and len(parts) >= 2:
            if parts[1] == "Type" and len(parts) == 3:
                self.report(node, "Q6004", f"QVariant.Type.{parts[2]} does not exist: QVariant.{parts[2]} "
                            "(QGIS 3) or QMetaType.Type (QGIS >= 3.38)")
            elif self.qgis3_incompatible and len(parts) == 2 and parts[1] not in ("Type",) and parts[1][0].isupper():
                self.report(node, "Q6004", f"QVariant.{parts[1]}: Qt6 names types QMetaType.Type")
            return
        owner = self._resolve(parts[:-1])
        if owner is None:
            return
        if not isinstance(owner, type) or _is_enum_type(owner):
            return
        shown_owner = ".".join(parts[:-1])
        try:
            value = getattr(owner, member)
        except AttributeError:
            if getattr(owner, "__module__", "").startswith("PyQt6."):
                self.report(node, "Q6017", f"{shown_owner}.{member} does not exist in PyQt6")
            return
        if _is_enum_member(value) and not _is_enum_type(value):
            enum_name = type(value).__name__
            if getattr(owner, enum_name, None) is type(value):
                scoped = f"{shown_owner}.{enum_name}.{member}"
            else:
                scoped = f"{type(value).__qualname__}.{member}"
            self.report(node, "Q6002", f"unscoped enum {shown_owner}.{member}: use {scoped}")
        elif isinstance(value, type) and not _is_enum_type(value):
            flags = self.bindings.flags_classes(owner)
            if member in flags and flags[member] != member:
                self.report(node, "Q6016", f"QFlags class {shown_owner}.{member} is gone in PyQt6: "
                            f"use {shown_owner}.{flags[member]}")


def check_source(source, path="<snippet>", bindings=None, qgis3_incompatible=False):
    tree = ast.parse(source, filename=path)
    checker = FileChecker(path, bindings or Bindings(), qgis3_incompatible)
    checker.collect_imports(tree)
    checker.visit(tree)
    return sorted(checker.findings, key=lambda f: (f.line, f.column, f.code))


def python_files(paths):
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        else:
            yield path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="files or folders (default: plugin/ ui/ __init__.py)")
    parser.add_argument("--qgis3-incompatible", action="store_true",
                        help="also report what only QGIS >= 3.38 / 4 accepts instead (QVariant types)")
    args = parser.parse_args(argv)
    paths = args.paths or [ROOT / p for p in DEFAULT_PATHS]
    bindings = Bindings()
    findings = []
    try:
        for file in python_files(paths):
            shown = str(file.relative_to(ROOT)) if file.resolve().is_relative_to(ROOT) else str(file)
            findings += check_source(file.read_text(encoding="utf-8"), shown, bindings, args.qgis3_incompatible)
    except (BindingError, OSError, SyntaxError) as error:
        sys.stderr.write(f"check_qt6: {error}\n")
        return 2
    for finding in findings:
        sys.stdout.write(f"{finding}\n")
    sys.stderr.write(f"check_qt6: {len(findings)} finding(s)\n")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
