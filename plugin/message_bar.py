"""The one way the plugin tells the user something: QGIS's message bar.

Texts may quote provider strings; the message bar renders rich text, so everything is
escaped first and a provider's ``<img src=…>`` shows as the characters it is.
"""
import html
import logging

from qgis.core import Qgis

from .metadata import plugin_name

logger = logging.getLogger(__name__)

_LEVELS = {
    "info": (Qgis.MessageLevel.Info, logging.INFO, 5),
    "success": (Qgis.MessageLevel.Success, logging.INFO, 5),
    "warning": (Qgis.MessageLevel.Warning, logging.WARNING, 10),
    "error": (Qgis.MessageLevel.Critical, logging.ERROR, 0),
}


class MessageBar:
    def __init__(self, iface):
        self.iface = iface

    def push(self, text: str, level: str = "info", title: str = "") -> None:
        qgis_level, log_level, duration = _LEVELS[level]
        logger.log(log_level, "%s", text)
        self.iface.messageBar().pushMessage(
            html.escape(title or plugin_name()), html.escape(text), level=qgis_level, duration=duration
        )

    def info(self, text: str) -> None:
        self.push(text, "info")

    def success(self, text: str) -> None:
        self.push(text, "success")

    def warning(self, text: str) -> None:
        self.push(text, "warning")

    def error(self, text: str) -> None:
        self.push(text, "error")
