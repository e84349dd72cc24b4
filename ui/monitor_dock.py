"""The order monitor dock: the orders of every connection, their status and captures."""
from pathlib import Path

from qgis.gui import QgsDockWidget
from qgis.PyQt import uic
from qgis.PyQt.QtGui import QStandardItemModel

# The .ui's top level is a plain QDockWidget (uic cannot make a QGIS class the base);
# the class below puts the form on a QgsDockWidget, which adds setUserVisible().
FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("monitor_dock.ui")))

ORDER_COLUMNS = ("Name", "Connection", "Status", "Product", "Acquisition window", "Captures", "Updated")


class MonitorDock(QgsDockWidget, FORM_CLASS):
    OBJECT_NAME = "SatelliteTaskingMonitorDock"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName(self.OBJECT_NAME)
        self.orders_model = QStandardItemModel(0, len(ORDER_COLUMNS), self)
        self.orders_model.setHorizontalHeaderLabels(ORDER_COLUMNS)
        self.ordersView.setModel(self.orders_model)
        self.connectionFilter.addItem("All connections", "")
        self.show_message("No orders yet. Select polygons on the map and use “Task a satellite” to place one.")

    def show_message(self, text: str) -> None:
        self.statusLabel.setText(text)
