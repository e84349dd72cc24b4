"""A test-only stand-in for the ``qgis`` package as QGIS 4 (Qt6) ships it, reduced to what the
Qt-only parts of the plugin import: ``qgis.PyQt`` on top of PyQt6 and the two QGIS line edits the
.ui files name. It is put first on ``sys.path`` by ``tests/qt6/conftest.py`` and never reaches a
real QGIS: the main venv's tests use the real ``qgis`` package.
"""
