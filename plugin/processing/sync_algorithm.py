"""Sync tasking orders and captures of a connection into a GeoPackage (the plugin's store)."""
from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputNumber,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterFileDestination,
)

from ..layers import CAPTURES_ROLE, LAYERS, ORDERS_ROLE, ROLE_PROPERTY, layer_uri
from ..store import CAPTURES_TABLE, ORDERS_TABLE, TaskingStore
from ..sync import sync_connection
from ..wording import plural
from .algorithm import TaskingAlgorithm

GEOPACKAGE = "GEOPACKAGE"
ORDERS = "ORDERS"
CAPTURES = "CAPTURES"
ORDER_COUNT = "ORDER_COUNT"
CAPTURE_COUNT = "CAPTURE_COUNT"


class _StyleLayer(QgsProcessingLayerPostProcessorInterface):
    """Styles a loaded output layer with the plugin's QML, as the plugin's own layers are."""

    def __init__(self, role: str):
        super().__init__()
        self.role = role

    def postProcessLayer(self, layer, context, feedback):
        _table, _title, style = LAYERS[self.role]
        layer.loadNamedStyle(str(style))
        layer.setCustomProperty(ROLE_PROPERTY + "_processing", self.role)
        layer.triggerRepaint()


class SyncOrdersAlgorithm(TaskingAlgorithm):
    algorithm_name = "syncorders"
    algorithm_title = "Sync tasking orders and captures"
    help_text = (
        "<p>Brings the orders and captures of a connection into a GeoPackage, the same way the order monitor "
        "fills the plugin's store: the first run reads everything, later runs into the same file only what "
        "changed since. The GeoPackage gets the tables <code>tasking_orders</code> (the AOI of each order, its "
        "status and decision) and <code>tasking_captures</code> (capture footprints with their assessment: "
        "<i>outcome</i> is success, invalid, pending or failed); both are returned as layers, styled like the "
        "plugin's own layers when loaded.</p>")

    def __init__(self, factory):
        super().__init__(factory)
        self._post_processors = []

    def initAlgorithm(self, config=None):
        self.add_connection_parameter()
        self.addParameter(QgsProcessingParameterFileDestination(GEOPACKAGE, "GeoPackage",
                                                                fileFilter="GeoPackage (*.gpkg)"))
        self.addOutput(QgsProcessingOutputVectorLayer(ORDERS, "Tasking orders"))
        self.addOutput(QgsProcessingOutputVectorLayer(CAPTURES, "Tasking captures"))
        self.addOutput(QgsProcessingOutputNumber(ORDER_COUNT, "Orders in the GeoPackage"))
        self.addOutput(QgsProcessingOutputNumber(CAPTURE_COUNT, "Captures in the GeoPackage"))

    def process(self, parameters, context, feedback):
        path = self.parameterAsFileOutput(parameters, GEOPACKAGE, context)
        if not path:
            raise QgsProcessingException("Give the GeoPackage to write the orders to.")
        if not path.lower().endswith(".gpkg"):
            path += ".gpkg"
        connection, provider = self.connection_and_provider(parameters, feedback)
        feedback.setProgress(5)
        try:
            store = TaskingStore(Path(path))
        except Exception as error:  # noqa: BLE001 - not a GeoPackage, not writable…
            raise QgsProcessingException(f"{path} cannot be used as the order store: {error}") from None
        feedback.setProgress(10)
        result = sync_connection(provider, store, connection.id, cancelled=feedback.isCanceled)
        if result.error:
            raise QgsProcessingException(result.error)
        if result.cancelled:
            feedback.reportError(result.summary(), False)
        else:
            feedback.pushInfo(result.summary())
        feedback.setProgress(90)
        counts = store.counts(connection.id)
        outputs = {GEOPACKAGE: str(store.path), ORDERS: layer_uri(store.path, ORDERS_TABLE),
                   CAPTURES: layer_uri(store.path, CAPTURES_TABLE), ORDER_COUNT: counts[ORDERS_TABLE],
                   CAPTURE_COUNT: counts[CAPTURES_TABLE]}
        if context.project() is not None:
            for output, role in ((ORDERS, ORDERS_ROLE), (CAPTURES, CAPTURES_ROLE)):
                details = QgsProcessingContext.LayerDetails(LAYERS[role][1], context.project(), output)
                processor = _StyleLayer(role)
                self._post_processors.append(processor)  # Processing does not keep Python objects alive
                details.setPostProcessor(processor)
                context.addLayerToLoadOnCompletion(outputs[output], details)
        feedback.pushInfo(f"{plural(counts[ORDERS_TABLE], 'order')} and {plural(counts[CAPTURES_TABLE], 'capture')} of "
                          f"{connection.name} in {store.path}.")
        feedback.setProgress(100)
        return outputs
