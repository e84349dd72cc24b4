"""The QGIS widgets that the plugin's .ui files name, as plain Qt stand-ins (the real ones are
QLineEdit subclasses too). Only what the .ui files set on them is needed here."""
from qgis.PyQt.QtWidgets import QLineEdit

__all__ = ["QgsFilterLineEdit", "QgsPasswordLineEdit"]


class QgsFilterLineEdit(QLineEdit):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setClearButtonEnabled(True)


class QgsPasswordLineEdit(QLineEdit):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setEchoMode(QLineEdit.EchoMode.Password)
