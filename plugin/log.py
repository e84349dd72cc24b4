"""One logging handler that forwards the plugin's log records to the QGIS message log.

Modules log with ``logging.getLogger(__name__)``; everything under the plugin's package
logger reaches the QGIS message log under the plugin's tag. ``initGui`` installs the
handler and ``unload`` removes it, so a reloaded plugin never logs twice.
"""
import logging
import re

from qgis.core import Qgis, QgsMessageLog

from .metadata import plugin_name

# Defence in depth: no module logs a secret on purpose, and this filter blanks the shapes
# a secret takes on the wire should one ever slip into a message (a header, a URL).
_SECRET_PATTERNS = (
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(\S+\s+)?\S+"), r"\1<hidden>"),
    (re.compile(r"(?i)\b(bearer|basic|api-key)\s+[A-Za-z0-9._~+/=-]+"), r"\1 <hidden>"),
    (re.compile(r"(?i)([?&](?:api_key|apikey|token|access_token|password|key)=)[^&\s]+"), r"\1<hidden>"),
    (re.compile(r"(?i)(\"?(?:password|access_token|refresh_token|api_key|client_secret)\"?\s*[:=]\s*\"?)[^\",\s}]+"),
     r"\1<hidden>"),
    (re.compile(r"(https?://)[^/\s:@]+:[^/\s@]+@"), r"\1<hidden>@"),
)

_LEVELS = (
    (logging.ERROR, Qgis.MessageLevel.Critical),
    (logging.WARNING, Qgis.MessageLevel.Warning),
    (logging.INFO, Qgis.MessageLevel.Info),
)


def redact_secrets(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def package_logger() -> logging.Logger:
    """The logger every module of the plugin logs under (the package's root logger)."""
    return logging.getLogger(__name__.rsplit(".", 2)[0])


class QgisMessageLogHandler(logging.Handler):
    def __init__(self, tag: str):
        super().__init__(level=logging.INFO)
        self.tag = tag
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = redact_secrets(self.format(record))
            level = next((qgis_level for threshold, qgis_level in _LEVELS if record.levelno >= threshold),
                         Qgis.MessageLevel.Info)
            QgsMessageLog.logMessage(message, self.tag, level, notifyUser=False)
        except Exception:  # noqa: BLE001 - a log handler must never raise into the code that logs
            self.handleError(record)


def install_log_handler() -> QgisMessageLogHandler:
    logger = package_logger()
    handler = QgisMessageLogHandler(plugin_name())
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    return handler


def remove_log_handler(handler: QgisMessageLogHandler) -> None:
    package_logger().removeHandler(handler)
    handler.close()
