"""“Find opportunities”: when could the provider acquire this AOI, and order one of those chances.

The window and the AOI come from the order dialog; the filter is a form built by the one schema
form factory from the product's queryables (a number gives “at least” / “at most” fields, a list
of values a multiple choice), turned into CQL2-JSON. The opportunities come back as a list and as
a temporary (memory) layer of footprints; picking one emits ``opportunityChosen(aoi_index,
opportunity)`` and the order dialog places it.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

from qgis.core import QgsFeature, QgsField, QgsProject, QgsVectorLayer, QgsWkbTypes
from qgis.PyQt import sip, uic
from qgis.PyQt.QtCore import QDateTime, Qt, QVariant, pyqtSignal
from qgis.PyQt.QtWidgets import QDialog, QTableWidgetItem, QVBoxLayout

from ..plugin.aoi_rules import geometry_from_geojson
from ..plugin.tasks import BackgroundTask
from .schema_form import SchemaForm
from .schema_form_widgets import rich_tooltip

logger = logging.getLogger(__name__)

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("opportunities.ui")))

LAYER_PROPERTY = "satellite_tasking/kind"
LAYER_KIND = "opportunities"
FIXED_COLUMNS = ("#", "Start (UTC)", "End (UTC)")
DEFAULT_DAYS = 14


# ---- queryables → filter form → CQL2-JSON (no Qt) ------------------------------------------------
def _plain(spec: dict) -> dict:
    """A queryable without its "or null" alternative (pydantic writes Optional[x] as anyOf)."""
    options = spec.get("anyOf") if isinstance(spec.get("anyOf"), list) else None
    if options:
        real = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        if len(real) == 1:
            return {**{k: v for k, v in spec.items() if k != "anyOf"}, **real[0]}
    return spec


def filter_form_schema(queryables: dict) -> tuple:
    """(schema of the filter form, form field -> (queryable, CQL2 operator))."""
    properties, mapping = {}, {}
    for name, raw in (queryables.get("properties") or {}).items():
        if not isinstance(raw, dict) or "/" in name:
            continue
        spec = _plain(raw)
        title = spec.get("title") or name
        kind = spec.get("type")
        if isinstance(spec.get("enum"), list) and spec["enum"]:
            item = {"enum": spec["enum"]}
            if isinstance(kind, str):
                item["type"] = kind
            properties[f"{name}__in"] = {"title": f"{title}: one of", "type": "array", "items": item,
                                         "uniqueItems": True}
            mapping[f"{name}__in"] = (name, "in")
        elif kind in ("number", "integer"):
            bounds = {k: spec[k] for k in ("minimum", "maximum") if k in spec}
            properties[f"{name}__min"] = {"title": f"{title}: at least", "type": kind, **bounds}
            properties[f"{name}__max"] = {"title": f"{title}: at most", "type": kind, **bounds}
            mapping[f"{name}__min"] = (name, ">=")
            mapping[f"{name}__max"] = (name, "<=")
        elif kind == "boolean":
            properties[f"{name}__eq"] = {"title": title, "type": "boolean"}
            mapping[f"{name}__eq"] = (name, "=")
        elif kind == "string":
            properties[f"{name}__eq"] = {"title": f"{title}: equals", "type": "string"}
            mapping[f"{name}__eq"] = (name, "=")
    return {"type": "object", "properties": properties}, mapping


def cql2_filter(values: dict, mapping: dict):
    """CQL2-JSON for the filter form's values (None when nothing is asked for)."""
    clauses = []
    for key in mapping:
        value = values.get(key)
        if value is None or value == "" or value == []:
            continue
        name, op = mapping[key]
        argument = list(value) if op == "in" else value
        clauses.append({"op": op, "args": [{"property": name}, argument]})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"op": "and", "args": clauses}


def _scalar_keys(opportunities) -> list:
    keys = []
    for opportunity in opportunities:
        for key, value in opportunity.properties.items():
            if key not in keys and (value is None or isinstance(value, (str, int, float, bool))):
                keys.append(key)
    return keys


def _utc(value: QDateTime) -> datetime:
    return datetime.fromtimestamp(value.toSecsSinceEpoch(), tz=timezone.utc)


def _qt_time(moment: datetime) -> QDateTime:
    return QDateTime.fromSecsSinceEpoch(int(moment.timestamp()), Qt.TimeSpec.UTC)


def _text(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if isinstance(moment, datetime) else ""


def _style_translucent(layer) -> None:
    """Footprints as outlines over a light fill: the map under them stays readable."""
    from qgis.core import QgsFillSymbol, QgsSingleSymbolRenderer

    symbol = QgsFillSymbol.createSimple({"color": "52,152,219,40", "outline_color": "41,128,185,230",
                                         "outline_width": "0.6"})
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    layer.setOpacity(0.85)


# ---- the dialog ---------------------------------------------------------------------------------
class OpportunitiesDialog(QDialog, FORM_CLASS):
    opportunityChosen = pyqtSignal(int, object)

    def __init__(self, provider, product, aois, task_runner, start=None, end=None, parent=None,
                 filter_values=None):
        """``aois``: [(AOI index in the draft, label, GeoJSON geometry)] the user may search for.
        ``filter_values``: filter-form values known already (the order form's contract number, typed once)."""
        super().__init__(parent)
        self.setupUi(self)
        self.provider = provider
        self.product = product
        self.task_runner = task_runner
        self.aois = list(aois)
        self.filter_form = None
        self.mapping = {}
        self._known_filter_values = dict(filter_values or {})
        self.opportunities = []
        self.layer_id = None
        self.busy = False
        self.productName.setText(product.title)
        for index, label, _geometry in self.aois:
            self.aoiCombo.addItem(f"{index + 1}: {label}" if label else f"AOI {index + 1}", index)
        start = start or datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(hours=1)
        end = end if end and end > start else start + timedelta(days=DEFAULT_DAYS)
        for edit, moment in ((self.startEdit, start), (self.endEdit, end)):
            edit.setTimeSpec(Qt.TimeSpec.UTC)
            edit.setDateTime(_qt_time(moment))
        self.filterHolder.setLayout(QVBoxLayout())
        self.opportunityTable.verticalHeader().setVisible(False)
        self.opportunityTable.itemSelectionChanged.connect(self._update_buttons)
        self.searchButton.clicked.connect(self.search)
        self.orderButton.clicked.connect(self.order_selected)
        self._update_buttons()
        self._status("Loading what opportunities can be filtered on…")
        self.task_runner.start(BackgroundTask(
            f"Loading the queryables of {product.title}", lambda task: provider.queryables(product),
            on_success=self._queryables_loaded, on_failure=self._queryables_failed))

    # -- filter -------------------------------------------------------------------------------
    def _queryables_loaded(self, queryables):
        if sip.isdeleted(self):
            return
        schema, self.mapping = filter_form_schema(queryables if isinstance(queryables, dict) else {})
        self.filter_form = SchemaForm(schema, hidden=())
        known = {name: value for name, value in self._known_filter_values.items() if name in schema["properties"]}
        if known:
            self.filter_form.set_values({**self.filter_form.values(), **known})
        self.filterHolder.layout().addWidget(self.filter_form)
        self.filter_form.validityChanged.connect(self._update_buttons)
        self._status("")
        self._update_buttons()

    def _queryables_failed(self, message):
        if sip.isdeleted(self):
            return
        # Searching without a filter still works.
        self.mapping = {}
        self._status(f"No filter available: {message}")
        self._update_buttons()

    def current_filter(self):
        return cql2_filter(self.filter_form.values(), self.mapping) if self.filter_form is not None else None

    # -- search -------------------------------------------------------------------------------
    def search(self):
        if not self.aois:
            return
        start, end = _utc(self.startEdit.dateTime()), _utc(self.endEdit.dateTime())
        if end <= start:
            self._status("The end of the window must come after its start.")
            return
        index = self.aoiCombo.currentData()
        geometry = next(g for i, _label, g in self.aois if i == index)
        cql2 = self.current_filter()
        provider, product = self.provider, self.product
        self.busy = True
        self._update_buttons()
        self._status("Searching opportunities…")
        self.task_runner.start(BackgroundTask(
            f"Searching opportunities of {product.title}",
            lambda task: provider.opportunities(product, geometry, start, end, cql2),
            on_success=lambda found: self._found(index, found), on_failure=self._failed))

    def _found(self, aoi_index, opportunities):
        if sip.isdeleted(self):
            return
        self.busy = False
        self.searched_aoi = aoi_index
        self.opportunities = list(opportunities)
        keys = _scalar_keys(self.opportunities)
        self.opportunityTable.clear()
        self.opportunityTable.setColumnCount(len(FIXED_COLUMNS) + len(keys))
        self.opportunityTable.setHorizontalHeaderLabels(list(FIXED_COLUMNS) + keys)
        self.opportunityTable.setRowCount(len(self.opportunities))
        for row, opportunity in enumerate(self.opportunities):
            values = [str(row + 1), _text(opportunity.start), _text(opportunity.end)]
            values += ["" if opportunity.properties.get(k) is None else str(opportunity.properties.get(k))
                       for k in keys]
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(rich_tooltip(value))  # provider text stays inert
                self.opportunityTable.setItem(row, column, item)
        self.opportunityTable.resizeColumnsToContents()
        self._show_layer(keys)
        count = len(self.opportunities)
        self._status(f"{count} opportunit{'y' if count == 1 else 'ies'} found; each is also drawn on the map "
                     "(a temporary layer). Select one and order it." if count else
                     "No opportunity in this window matches: widen the window or loosen the filter.")
        self._update_buttons()

    def _show_layer(self, keys):
        project = QgsProject.instance()
        if self.layer_id and project.mapLayer(self.layer_id) is not None:
            project.removeMapLayer(self.layer_id)
        layer = QgsVectorLayer("MultiPolygon?crs=EPSG:4326", f"Opportunities — {self.product.title}", "memory")
        fields = [QgsField("opportunity_id", QVariant.String), QgsField("start", QVariant.String),
                  QgsField("end", QVariant.String)]
        kinds = {}
        for key in keys:
            numbers = [o.properties.get(key) for o in self.opportunities if o.properties.get(key) is not None]
            numeric = bool(numbers) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers)
            kinds[key] = numeric
            fields.append(QgsField(key, QVariant.Double if numeric else QVariant.String))
        fields.append(QgsField("properties", QVariant.String))
        layer.dataProvider().addAttributes(fields)
        layer.updateFields()
        features = []
        for opportunity in self.opportunities:
            feature = QgsFeature(layer.fields())
            geometry = geometry_from_geojson(opportunity.geometry)
            if geometry is not None and geometry.type() == QgsWkbTypes.GeometryType.PolygonGeometry:
                geometry.convertToMultiType()
                feature.setGeometry(geometry)
            attributes = [opportunity.id, _text(opportunity.start), _text(opportunity.end)]
            for key in keys:
                value = opportunity.properties.get(key)
                attributes.append(None if value is None else (float(value) if kinds[key] else str(value)))
            attributes.append(json.dumps(opportunity.properties, sort_keys=True, default=str))
            feature.setAttributes(attributes)
            features.append(feature)
        layer.dataProvider().addFeatures(features)
        layer.updateExtents()
        layer.setCustomProperty(LAYER_PROPERTY, LAYER_KIND)
        _style_translucent(layer)
        project.addMapLayer(layer)
        self.layer_id = layer.id()

    def layer(self):
        return QgsProject.instance().mapLayer(self.layer_id) if self.layer_id else None

    # -- ordering -----------------------------------------------------------------------------
    def selected(self):
        rows = {index.row() for index in self.opportunityTable.selectedIndexes()}
        return self.opportunities[min(rows)] if rows and min(rows) < len(self.opportunities) else None

    def order_selected(self):
        opportunity = self.selected()
        if opportunity is None:
            return
        self.opportunityChosen.emit(self.searched_aoi, opportunity)
        self.accept()

    # -- misc ---------------------------------------------------------------------------------
    def _update_buttons(self, *_):
        self.searchButton.setEnabled(not self.busy and bool(self.aois)
                                     and (self.filter_form is None or self.filter_form.is_valid()))
        self.orderButton.setEnabled(not self.busy and self.selected() is not None)

    def _failed(self, message):
        if sip.isdeleted(self):
            return
        self.busy = False
        self._status(message)
        self._update_buttons()

    def _status(self, text):
        self.statusLabel.setText(text)
