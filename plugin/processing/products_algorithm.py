"""List tasking products of a connection → a table."""
from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from .. import product_catalogue
from ..wording import plural, product_title
from .algorithm import TaskingAlgorithm

OUTPUT = "OUTPUT"
COUNT = "COUNT"
PRODUCT_FIELDS = (
    ("id", QVariant.String), ("title", QVariant.String), ("collection", QVariant.String),
    ("provider", QVariant.String), ("api", QVariant.String), ("geometry_types", QVariant.String),
    ("needs_feasibility", QVariant.Bool), ("needs_quotation", QVariant.Bool), ("description", QVariant.String),
)


def product_fields() -> QgsFields:
    fields = QgsFields()
    for name, kind in PRODUCT_FIELDS:
        fields.append(QgsField(name, kind))
    return fields


def product_attributes(product) -> list:
    return [product.id, product.title, product.collection_title or product.collection, product.provider_name,
            product.api, ", ".join(product.geometry_types), bool(product.needs_feasibility),
            bool(product.needs_quotation), product.description]


class ListProductsAlgorithm(TaskingAlgorithm):
    algorithm_name = "listproducts"
    algorithm_title = "List tasking products"
    help_text = (
        "<p>Lists the tasking products a connection offers, one row per product: its <b>id</b> (what the "
        "Estimate and Place algorithms take as Product), title, collection, provider, the AOI geometry types it "
        "accepts, and whether it needs a feasibility study and a price quote before tasking starts.</p>")

    def initAlgorithm(self, config=None):
        self.add_connection_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(OUTPUT, "Tasking products",
                                                            QgsProcessing.SourceType.TypeVector))
        self.addOutput(QgsProcessingOutputNumber(COUNT, "Number of products"))

    def process(self, parameters, context, feedback):
        connection, provider = self.connection_and_provider(parameters, feedback)
        feedback.setProgress(5)
        try:
            products = provider.products()
        except Exception as error:  # noqa: BLE001 - provider errors become one sentence
            raise self.failed(connection, error) from None
        feedback.setProgress(60)
        # Processing's product lists (the Estimate and Place algorithms) offer what was listed here.
        product_catalogue.remember(connection.id, products, lambda p: product_title(p, with_provider=True))
        sink, sink_id = self.parameterAsSink(parameters, OUTPUT, context, product_fields(), QgsWkbTypes.Type.NoGeometry,
                                             QgsCoordinateReferenceSystem())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, OUTPUT))
        for index, product in enumerate(products):
            if feedback.isCanceled():
                break
            feature = QgsFeature(product_fields())
            feature.setAttributes(product_attributes(product))
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
            feedback.setProgress(60 + 40 * (index + 1) / max(len(products), 1))
        feedback.pushInfo(f"{plural(len(products), 'tasking product')} on {connection.name}.")
        return {OUTPUT: sink_id, COUNT: len(products)}
