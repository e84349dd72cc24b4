"""Estimate and place tasking orders from the features of a layer: one order per AOI.

The AOIs come from ``aoi.aois_from_features`` under the product's rules (``rules_for``, as in the dialog), the
parameters are checked against the product's schema with the dialog's messages, and placement is the
dialog's: one ``OrderDraft`` with a client reference, ``provider.place`` (which never places an AOI twice for
one reference). Give a **client reference** to make a model re-runnable: a second run with the same
reference and the same AOIs finds the orders of the first (``provider.placed_orders``) and places only the
AOIs that have none, so nothing is ordered twice.

Placement reports its progress per AOI (``place(progress=...)``) and can be cancelled: the provider calls
run inside ``http.cancellable(feedback.isCanceled)`` (see ``TaskingAlgorithm.processAlgorithm``), so a
cancel ends retry waits and sends no further order. A cancelled run still writes its output and says
which AOIs were placed and which were not; running it again with the same client reference places the
rest.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Optional

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingFeatureSource,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from .. import placement_ledger, product_catalogue
from ..aoi import WGS84_AUTHID, aois_from_features
from ..aoi_rules import geometry_from_geojson, rules_for
from ..drafts import new_client_reference
from ..http import RequestCancelled
from ..model import Aoi, OrderDraft, PlacementOutcome
from ..order_schema import WINDOW_FIELDS, window_fields
from ..placement_ledger import NO_REASON, PlacementLedger, attempt_outcomes, found_sentence, run_summary
from ..utc import format_instant
from ..wording import plural
from .algorithm import TaskingAlgorithm
from .connections import keep_sandbox_state
from .order_params import OrderParamsError, check_params, explain, parse_params, with_defaults

PRODUCT = "PRODUCT"
INPUT = "INPUT"
NAME = "NAME"
START = "START"
END = "END"
PARAMS = "PARAMS"
CLIENT_REFERENCE = "CLIENT_REFERENCE"
OUTPUT = "OUTPUT"
PLACED = "PLACED"
FAILED = "FAILED"
TOTAL = "TOTAL"
UNIT = "UNIT"
# The share of the progress bar placement takes (preparing the AOIs and the parameters comes before).
PLACING_FROM, PLACING_TO = 30.0, 90.0
# QGIS 3.22-3.34 name the flag on QgsProcessingFeatureSource; later ones in Qgis.ProcessingFeatureSourceFlag.
_SKIP_GEOMETRY_VALIDATION = (getattr(QgsProcessingFeatureSource, "FlagSkipGeometryValidityChecks", None)
                             or getattr(getattr(Qgis, "ProcessingFeatureSourceFlag", None),
                                        "SkipGeometryValidityChecks", None))
REFERENCE_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_FAMILIES = {QgsWkbTypes.GeometryType.PolygonGeometry: "Polygon", QgsWkbTypes.GeometryType.PointGeometry: "Point",
             QgsWkbTypes.GeometryType.LineGeometry: "LineString"}
_FAMILY_WORDS = {"Polygon": "polygon", "Point": "point", "LineString": "line"}
_MULTI_TYPES = {"Polygon": QgsWkbTypes.Type.MultiPolygon, "Point": QgsWkbTypes.Type.MultiPoint,
                "LineString": QgsWkbTypes.Type.MultiLineString}

PARAMS_HELP = (
    "<p><b>Order parameters</b>: a JSON object of the product's order fields, checked against the product's "
    "schema like the order dialog checks them (same messages); fields left out take the schema's defaults. "
    "The geometry and the order name are filled by the algorithm. Example for Pléiades Neo: "
    "<code>{\"maxCloudCover\": 10, \"acquisitionMode\": \"mono\"}</code>; for Planet: "
    "<code>{\"sat_elevation_angle_min\": 70}</code>.</p>"
    "<p><b>Acquisition start/end</b>: the window, written to the product's own fields "
    "(<code>acquisitionStart/acquisitionEnd</code> for UP42, <code>start_time/end_time</code> for Planet); "
    "left empty, the JSON or the schema's defaults decide.</p>"
    "<p><b>AOIs</b>: every feature of the input layer (or only its selected features, with "
    "<i>Selected features only</i>) becomes one AOI in EPSG:4326; multipart features are split into one AOI "
    "per part when the product takes single geometries. The product decides which geometry types it "
    "accepts (list them with <i>List tasking products</i>).</p>")


def _fields(kind: str) -> QgsFields:
    fields = QgsFields()
    specs = [("aoi", QVariant.Int), ("source_fid", QVariant.LongLong), ("part", QVariant.Int),
             ("area_km2", QVariant.Double)]
    if kind == "estimate":
        specs += [("estimate", QVariant.Double), ("unit", QVariant.String), ("error", QVariant.String)]
    else:
        specs += [("order_id", QVariant.String), ("order_name", QVariant.String), ("status", QVariant.String),
                  ("error", QVariant.String)]
    for name, field_type in specs:
        fields.append(QgsField(name, field_type))
    return fields


def find_product(products: list, wanted: str, connection_name: str):
    """The product with the id ``wanted``, else the one whose title (or "collection title") is ``wanted``."""
    text = (wanted or "").strip()
    if not text:
        raise QgsProcessingException("Choose a product: give its id (see “List tasking products”).")
    for product in products:
        if product.id == text:
            return product
    lowered = text.lower()
    matches = [p for p in products if lowered in (p.title.lower(), f"{p.collection_title} {p.title}".lower(),
                                                  f"{p.collection_title} / {p.title}".lower())]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(f"{p.id} ({p.collection_title or p.collection} {p.title})" for p in products[:12])
    if matches:
        raise QgsProcessingException(f"“{text}” names several products of {connection_name}; give the id of "
                                     f"one of: {', '.join(p.id for p in matches)}.")
    raise QgsProcessingException(f"{connection_name} has no product “{text}”. Its products are: {listed}.")


class _OrdersAlgorithm(TaskingAlgorithm):
    kind = ""

    def initAlgorithm(self, config=None):
        self.add_connection_parameter()
        # Chosen from the products the connections offered when last asked (no network while QGIS builds the
        # algorithm); a model or qgis_process may give an id or a title instead (checkParameterValues).
        product = QgsProcessingParameterEnum(PRODUCT, "Product", options=product_catalogue.options(),
                                             allowMultiple=False, optional=True, usesStaticStrings=True)
        product.setHelp("One of the products your connections offer (run “List tasking products” or open the "
                        "order dialog to fill the list), or a product's id or title.")
        self.addParameter(product)
        self.addParameter(QgsProcessingParameterFeatureSource(INPUT, "Areas of interest (polygons, or points "
                                                                     "or lines where the product takes them)",
                                                              [QgsProcessing.SourceType.TypeVectorAnyGeometry]))
        self.addParameter(QgsProcessingParameterString(NAME, "Order name", defaultValue="Tasking order"))
        self.addParameter(QgsProcessingParameterDateTime(START, "Acquisition start", optional=True))
        self.addParameter(QgsProcessingParameterDateTime(END, "Acquisition end", optional=True))
        self.addParameter(QgsProcessingParameterString(PARAMS, "Order parameters (JSON)", defaultValue="{}",
                                                       multiLine=True, optional=True))
        self.add_extra_parameters()
        title = "Estimated AOIs" if self.kind == "estimate" else "Placed AOIs"
        self.addParameter(
            QgsProcessingParameterFeatureSink(OUTPUT, title, QgsProcessing.SourceType.TypeVectorAnyGeometry))

    def add_extra_parameters(self):
        pass

    def checkParameterValues(self, parameters, context):
        # The enum lists the products seen so far; an id, a title or a product not listed yet is checked against
        # the connection's catalogue when the algorithm runs (find_product), not refused here.
        value = parameters.get(PRODUCT)
        if value is not None:
            wanted = self.product_wanted(parameters)
            listed = [option for option in self.parameterDefinition(PRODUCT).options()
                      if product_catalogue.product_id_of(option) == wanted]
            rest = {k: v for k, v in parameters.items() if k != PRODUCT}
            parameters = {**rest, PRODUCT: listed[0]} if listed else rest
        return super().checkParameterValues(parameters, context)

    def product_wanted(self, parameters) -> str:
        value = parameters.get(PRODUCT)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            listed = self.parameterDefinition(PRODUCT).options()
            if int(value) < len(listed):
                value = listed[int(value)]
        return product_catalogue.product_id_of(value) if value is not None else ""

    # -- shared preparation -------------------------------------------------------------------
    def prepare_orders(self, parameters, context, feedback):
        """(connection, provider, product, draft, aois) — or a QgsProcessingException with the reason."""
        connection, provider = self.connection_and_provider(parameters, feedback)
        try:
            products = provider.products()
        except RequestCancelled:
            feedback.pushInfo("Cancelled: nothing was sent to the provider.")
            return None
        except Exception as error:  # noqa: BLE001
            raise self.failed(connection, error) from None
        product = find_product(products, self.product_wanted(parameters), connection.name)
        feedback.pushInfo(f"Product: {product.collection_title} {product.title} ({product.id})")
        name = self.parameterAsString(parameters, NAME, context).strip()
        if not name:
            raise QgsProcessingException("Give the orders a name (Order name).")
        feedback.setProgress(5)

        aois = self._aois(parameters, context, feedback, product)
        if feedback.isCanceled():
            return None
        try:
            schema = provider.order_schema(product)
        except RequestCancelled:
            feedback.pushInfo("Cancelled: nothing was sent to the provider.")
            return None
        except Exception as error:  # noqa: BLE001
            raise self.failed(connection, error) from None
        notes: list = []
        params = self._params(parameters, context, schema, product, notes)
        for note in notes:
            feedback.pushWarning(note)
        # Rules that do not stop an order (Planet's dashboard rules for Flexible orders): logged, never a block.
        for warning in provider.order_warnings(product, params, datetime.now(timezone.utc)):
            feedback.pushWarning(warning)
        feedback.setProgress(25)
        draft = OrderDraft(connection_id=connection.id, product_id=product.id, name=name, params=params,
                           aois=[Aoi(geometry=aoi.geometry, label=_label(aoi), area_km2=aoi.area_km2)
                                 for aoi in aois],
                           client_reference=self.client_reference(parameters, context))
        return connection, provider, product, draft, aois

    def client_reference(self, parameters, context) -> str:
        return new_client_reference()

    def _aois(self, parameters, context, feedback, product):
        source = self.parameterAsSource(parameters, INPUT, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, INPUT))
        layer = self.parameterAsVectorLayer(parameters, INPUT, context)
        layer_name = layer.name() if layer is not None else (source.sourceName() or "the input layer")
        rules = rules_for(product)
        family = _FAMILIES.get(QgsWkbTypes.geometryType(source.wkbType()))
        wanted = " or ".join(_FAMILY_WORDS[f] for f in rules.families()) or "polygon"
        if family is None:
            raise QgsProcessingException(f"Layer '{layer_name}' has no geometries; “{product.title}” needs "
                                         f"{wanted}s.")
        if not rules.accepts_family(family):
            raise QgsProcessingException(f"Layer '{layer_name}' holds {_FAMILY_WORDS[family]}s; “{product.title}” "
                                         f"accepts {wanted}s only.")
        count = source.featureCount()
        value = parameters.get(INPUT)
        selected_only = isinstance(value, QgsProcessingFeatureSourceDefinition) and value.selectedFeaturesOnly
        if count == 0:
            if selected_only:
                raise QgsProcessingException(f"No features are selected on '{layer_name}': select the areas to "
                                             "order, or untick “Selected features only”.")
            raise QgsProcessingException(f"Layer '{layer_name}' has no features.")

        def features():
            # Invalid geometries are repaired by aois_from_features, as in the order dialog, not refused by
            # Processing's generic check.
            request = QgsFeatureRequest().setNoAttributes()
            flags = _SKIP_GEOMETRY_VALIDATION
            for index, feature in enumerate(source.getFeatures(request, flags)):
                if feedback.isCanceled():
                    return
                if count > 0:
                    feedback.setProgress(5 + 15 * index / count)
                yield feature

        result = aois_from_features(features(), source.sourceCrs(), rules, layer_name, context.transformContext())
        for refusal in result.refusals:
            feedback.reportError(f"Not ordered: {refusal.reason}", False)
        if not result.aois and not feedback.isCanceled():
            reasons = "; ".join(r.reason for r in result.refusals[:3])
            raise QgsProcessingException(f"{result.message or 'No usable areas.'} {reasons}".strip())
        if any(aoi.part_index for aoi in result.aois):
            feedback.pushInfo(result.multipart_policy)
        feedback.pushInfo(f"{plural(len(result.aois), 'AOI')} from {layer_name}.")
        return result.aois

    def _params(self, parameters, context, schema, product, notes: Optional[list] = None) -> dict:
        """The order parameters: the JSON, the window from START/END, the schema's defaults — checked. Sentences
        for the user that do not stop the run go to ``notes``."""
        notes = notes if notes is not None else []
        try:
            params = parse_params(self.parameterAsString(parameters, PARAMS, context))
        except OrderParamsError as error:
            raise QgsProcessingException(str(error)) from None
        start = self.parameterAsDateTime(parameters, START, context) if parameters.get(START) else None
        end = self.parameterAsDateTime(parameters, END, context) if parameters.get(END) else None
        if (start is not None and start.isValid()) or (end is not None and end.isValid()):
            names = window_fields(schema) or start_only_window(schema)
            if names is None:
                raise QgsProcessingException(f"“{product.title}” has no acquisition window to set; leave "
                                             "Acquisition start and end empty.")
            for name, moment in zip(names, (start, end)):
                if moment is not None and moment.isValid():
                    if name is None:
                        # A Planet Monitoring order starts its recurrence at start_time and ends after its count
                        # of captures; Planet ignores end_time [planet.md "Scheduling types"], so it is not sent.
                        notes.append(f"“{product.title}” ends after its number of captures, not at a date: "
                                     "Acquisition end is not sent (set the count in the parameters, "
                                     "rrule_count).")
                    else:
                        params[name] = _iso_utc(moment)
        params = with_defaults(schema, params)
        problems = check_params(schema, params)
        if problems:
            raise QgsProcessingException(f"The order parameters do not fit “{product.title}”: {explain(problems)}")
        return params

    def sink(self, parameters, context, aois):
        family = aois[0].geometry_type.replace("Multi", "") if aois else "Polygon"
        fields = _fields(self.kind)
        sink, sink_id = self.parameterAsSink(parameters, OUTPUT, context, fields, _MULTI_TYPES[family],
                                             QgsCoordinateReferenceSystem(WGS84_AUTHID))
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, OUTPUT))
        return sink, sink_id, fields

    @staticmethod
    def write(sink, fields, aoi, index, values):
        feature = QgsFeature(fields)
        geometry = geometry_from_geojson(aoi.geometry)
        if geometry is not None:
            geometry.convertToMultiType()
            feature.setGeometry(geometry)
        feature.setAttributes([index + 1, aoi.feature_id, aoi.part_index + 1, round(aoi.area_km2, 6), *values])
        sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)


def _label(aoi) -> str:
    return f"{aoi.source_layer_name} #{aoi.feature_id}" + (f" part {aoi.part_index + 1}" if aoi.part_index else "")


def start_only_window(schema: dict) -> Optional[tuple]:
    """(start name, None) for a schema with the start of an acquisition window but no end — Planet's Monitoring
    form (start_time and a recurrence; end_time is ignored for Monitoring [planet.md]) — else None."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return None
    return next(((first, None) for first, last in WINDOW_FIELDS if first in properties and last not in properties),
                None)


def _iso_utc(moment) -> str:
    """A QGIS date-time as the order's UTC text, to the second (what the widget offers)."""
    return format_instant(moment.toUTC().toPyDateTime(), "seconds")


class EstimateOrdersAlgorithm(_OrdersAlgorithm):
    algorithm_name = "estimateorders"
    algorithm_title = "Estimate tasking orders"
    kind = "estimate"
    help_text = ("<p>Asks the provider what one order per AOI would cost, without placing anything. The output "
                 "layer holds the AOIs (EPSG:4326) with each one's estimate or the provider's reason.</p>"
                 + PARAMS_HELP)

    def initAlgorithm(self, config=None):
        super().initAlgorithm(config)
        self.addOutput(QgsProcessingOutputNumber(TOTAL, "Estimated total"))
        self.addOutput(QgsProcessingOutputString(UNIT, "Unit of the estimate"))

    def process(self, parameters, context, feedback):
        prepared = self.prepare_orders(parameters, context, feedback)
        if prepared is None:
            return {}
        connection, provider, product, draft, aois = prepared
        feedback.setProgress(30)
        try:
            estimate = provider.estimate(draft)
        except Exception as error:  # noqa: BLE001
            raise self.failed(connection, error) from None
        feedback.setProgress(80)
        sink, sink_id, fields = self.sink(parameters, context, aois)
        for index, aoi in enumerate(aois):
            value = estimate.per_aoi[index] if index < len(estimate.per_aoi) else None
            error = estimate.errors.get(index) or estimate.errors.get(str(index)) or ""
            self.write(sink, fields, aoi, index, [value, estimate.unit, error])
        feedback.setProgress(100)
        feedback.pushInfo(f"Estimated total: {estimate.total:g} {estimate.unit} for {plural(len(aois), 'AOI')}.")
        return {OUTPUT: sink_id, TOTAL: estimate.total, UNIT: estimate.unit}


class PlaceOrdersAlgorithm(_OrdersAlgorithm):
    algorithm_name = "placeorders"
    algorithm_title = "Place tasking orders"
    kind = "place"
    help_text = (
        "<p>Places one tasking order per AOI. <b>Placing may commit you to pay</b> once the provider confirms the "
        "price (products with a quote wait for you to accept it: see <i>Decide feasibility or quote</i>). The "
        "output layer holds the AOIs with each one's order id, or the reason it was not placed.</p>"
        "<p><b>Client reference</b> (optional, letters, digits, <code>.-_</code>): the tag the orders carry. "
        "Left empty, every run is a new placement. Give one to make a model safe to run again: a run with the "
        "same reference and the same AOIs finds the orders placed before and places only the AOIs without one, "
        "so nothing is ordered twice — also after a run that stopped half-way. The reference used is logged "
        "and returned.</p>" + PARAMS_HELP)

    def add_extra_parameters(self):
        reference = QgsProcessingParameterString(CLIENT_REFERENCE, "Client reference (re-runs reconcile instead "
                                                                   "of placing twice)", optional=True)
        self.addParameter(reference)

    def initAlgorithm(self, config=None):
        super().initAlgorithm(config)
        self.addOutput(QgsProcessingOutputNumber(PLACED, "Orders placed (or found placed)"))
        self.addOutput(QgsProcessingOutputNumber(FAILED, "AOIs without an order"))
        self.addOutput(QgsProcessingOutputString(CLIENT_REFERENCE, "Client reference used"))

    def client_reference(self, parameters, context) -> str:
        given = (self.parameterAsString(parameters, CLIENT_REFERENCE, context) or "").strip()
        if not given:
            return new_client_reference()
        if not REFERENCE_PATTERN.fullmatch(given):
            raise QgsProcessingException("The client reference may hold letters, digits, “.”, “-” and “_” only "
                                         "(at most 64).")
        return given

    def process(self, parameters, context, feedback):
        given_reference = bool((self.parameterAsString(parameters, CLIENT_REFERENCE, context) or "").strip())
        prepared = self.prepare_orders(parameters, context, feedback)
        if prepared is None:
            return {}
        connection, provider, product, draft, aois = prepared
        reference = draft.client_reference
        feedback.pushInfo(f"Client reference: {reference} (give it as Client reference to run this placement "
                          "again without ordering twice).")
        try:
            found = self.found_placed(provider, draft, given_reference, feedback)
            remaining = [i for i in range(len(aois)) if i not in found]
            attempt = {}
            if remaining and not feedback.isCanceled():
                attempt = self.place_remaining(provider, draft, remaining, feedback)
        except Exception as error:  # noqa: BLE001 - reconciliation failed: nothing was placed
            raise self.failed(connection, error) from None
        finally:
            keep_sandbox_state(provider, connection)
        cancelled = feedback.isCanceled()
        outcomes = {**found, **attempt}
        outcomes.update(attempt_outcomes([i for i in range(len(aois)) if i not in outcomes], [], reference,
                                         cancelled=cancelled))
        ledger = PlacementLedger(len(aois))
        ledger.record(outcomes[i] for i in range(len(aois)))
        sink, sink_id, fields = self.sink(parameters, context, aois)
        for index, aoi in enumerate(aois):
            outcome = outcomes[index]
            if outcome.placed:
                order = outcome.order
                self.write(sink, fields, aoi, index, [order.id, order.name, order.status.describe(), ""])
            else:
                error = outcome.error or NO_REASON
                feedback.reportError(f"AOI {index + 1}: {error}", False)
                self.write(sink, fields, aoi, index, ["", "", "", error])
        feedback.setProgress(100)
        if cancelled:
            feedback.reportError(cancelled_summary(outcomes, connection.name, reference), False)
        else:
            feedback.pushInfo(run_summary(outcomes, connection.name))
        placed = len(ledger.placed)
        return {OUTPUT: sink_id, PLACED: placed, FAILED: len(aois) - placed, CLIENT_REFERENCE: reference}

    @staticmethod
    def found_placed(provider, draft, given_reference, feedback) -> dict:
        """AOI index -> outcome for the AOIs that have an order with the given reference already."""
        if not given_reference:
            return {}
        try:
            found = provider.placed_orders(draft)
        except RequestCancelled:
            return {}  # cancelled before anything was placed: every AOI is reported as not placed
        if found:
            feedback.pushInfo(found_sentence(len(found), draft.client_reference))
        return {index: PlacementOutcome(index, order=order) for index, order in found.items()}

    @staticmethod
    def place_remaining(provider, draft, remaining, feedback) -> dict:
        """AOI index -> outcome of placing ``remaining``, as far as a cancel lets it go (the shared bookkeeping
        turns a cancel or an error into outcomes: ``placement_ledger.attempt_outcomes``)."""
        def progress(done, total):
            feedback.setProgress(PLACING_FROM + (PLACING_TO - PLACING_FROM) * (done / total if total else 1.0))

        try:
            ended_with = provider.place(draft, only=remaining, progress=progress)
        except Exception as error:  # noqa: BLE001 - cancelled, or the provider could not say what it created
            ended_with = error
        return attempt_outcomes(remaining, ended_with, draft.client_reference, cancelled=feedback.isCanceled())


# The bookkeeping's sentences, where callers of this module found them before.
aoi_numbers = placement_ledger.aoi_numbers
cancelled_summary = placement_ledger.cancelled_summary
