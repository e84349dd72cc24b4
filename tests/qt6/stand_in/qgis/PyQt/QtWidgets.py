"""QGIS 4's ``qgis.PyQt.QtWidgets`` also offers QAction and QShortcut (moved to QtGui in Qt6), so
plugin code importing them from QtWidgets runs on QGIS 3 and 4 alike."""
from PyQt6.QtGui import QAction, QShortcut  # noqa: F401
from PyQt6.QtWidgets import *  # noqa: F403
