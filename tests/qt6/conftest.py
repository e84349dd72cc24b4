"""PyQt6 checks, run only in .venv-qt6 (`make test-qt6`): a plain venv with PyQt6 and no QGIS.

QGIS 4 cannot be installed here, so these tests are the proof that the Qt side of the plugin
works on Qt6: every .ui file is built with PyQt6's uic, and the Qt-only code (the schema form)
runs its own test suite under PyQt6. ``stand_in/`` provides ``qgis.PyQt`` the way QGIS 4 builds
it (PyQt6 modules re-exported) and the two QGIS widgets the .ui files name; it goes first on
``sys.path`` before anything imports ``qgis``.

The main venv (QGIS with PyQt5) must never collect this folder: pyproject's testpaths leave it
out, and should someone point that venv's pytest here anyway, nothing is collected rather than
a PyQt5 process being handed a PyQt6 ``qgis`` package.
"""
import importlib.util
import os
import sys
from pathlib import Path

STAND_IN = Path(__file__).resolve().parent / "stand_in"

if importlib.util.find_spec("PyQt6") is None or importlib.util.find_spec("PyQt5") is not None:
    collect_ignore_glob = ["*"]
else:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(STAND_IN))
    import qgis  # noqa: E402

    assert Path(qgis.__file__).parent == STAND_IN / "qgis", f"a real qgis package came first: {qgis.__file__}"
