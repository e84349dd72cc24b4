"""The Processing provider "Satellite tasking" (id ``satellitetasking``).

Registered by the plugin (``initProcessing``, also called from ``initGui``) with the plugin's own
ProviderFactory, so the algorithms use the connections, credentials and sandbox the dialogs use.
"""
from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithm import ICON_PATH
from .decision_algorithm import DecideOrderAlgorithm
from .orders_algorithm import EstimateOrdersAlgorithm, PlaceOrdersAlgorithm
from .products_algorithm import ListProductsAlgorithm
from .sync_algorithm import SyncOrdersAlgorithm
from .team_sync_algorithm import SyncTeamStoreAlgorithm

PROVIDER_ID = "satellitetasking"
ALGORITHMS = (ListProductsAlgorithm, EstimateOrdersAlgorithm, PlaceOrdersAlgorithm, DecideOrderAlgorithm,
              SyncOrdersAlgorithm, SyncTeamStoreAlgorithm)


class TaskingProcessingProvider(QgsProcessingProvider):
    def __init__(self, factory):
        super().__init__()
        self.factory = factory

    def id(self):
        return PROVIDER_ID

    def name(self):
        return "Satellite tasking"

    def longName(self):
        return "Satellite tasking: UP42, Planet and the offline sandbox"

    def icon(self):
        return QIcon(str(ICON_PATH))

    def loadAlgorithms(self):
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm(self.factory))
