"""``qgis.PyQt.uic`` on PyQt6, with QGIS's own widgets resolved from ``qgis.gui`` as QGIS's uic
widget plugin arranges inside QGIS (Designer headers such as ``qgsfilterlineedit.h`` name no
Python module)."""
from pathlib import Path

from PyQt6.uic import *  # noqa: F403
from PyQt6.uic import loadUiType  # noqa: F401
from PyQt6.uic.objcreator import widgetPluginPath

_PLUGINS = str(Path(__file__).with_name("widget-plugins"))
if _PLUGINS not in widgetPluginPath:
    widgetPluginPath.append(_PLUGINS)
