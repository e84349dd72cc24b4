"""The order dialog: selected features → AOIs → a form from the product's schema → orders.

Network work (products, schema, estimate, placement) runs in background tasks; the dialog
only shows results. The draft is saved on every edit and restored when the dialog opens
again, so nothing typed is lost; a placement records which AOIs it is about to place
before the request leaves, so a crash is reconciled on the next start instead of placing
twice. A placement reports its progress per AOI (task manager and status line) and can be
cancelled ("Stop placing", or QGIS's task manager): what the provider created by then is recorded,
the rest stays in the draft for "Retry failed". Closing the dialog does not cancel a placement:
its outcomes are still recorded in the draft when it ends.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsDistanceArea,
    QgsGeometry,
    QgsProject,
    QgsWkbTypes,
)
from qgis.gui import QgsRubberBand
from qgis.PyQt import sip, uic
from qgis.PyQt.QtCore import Qt, QTimer, pyqtSlot
from qgis.PyQt.QtGui import QColor, QStandardItem, QStandardItemModel
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QDialog,
    QLayout,
    QMessageBox,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..plugin import product_catalogue
from ..plugin.aoi import aois_from_layers
from ..plugin.aoi_rules import geometry_from_geojson, rules_for
from ..plugin.drafts import DraftStore, SavedDraft, new_client_reference
from ..plugin.model import Aoi, OrderDraft, PlacementOutcome
from ..plugin.order_schema import PLUGIN_FILLED_FIELDS, WINDOW_FIELDS
from ..plugin.placement_ledger import PlacementLedger, attempt_summary, interrupted_summary
from ..plugin.tasks import BackgroundTask
from ..plugin.team_placement import held_elsewhere_sentence, placement_for
from ..plugin.wording import amount, plural, product_title, sentences
from .schema_form import SchemaForm
from .schema_form_widgets import rich_tooltip

logger = logging.getLogger(__name__)

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("order_dialog.ui")))

#: Rows of the areas table always in view (a multipart split easily makes five or more areas).
AOI_ROWS_IN_VIEW = 4
# Warnings last: their sentences are long, and the estimate and the order must not be pushed out of view.
AOI_COLUMNS = ("#", "Source", "Type", "Area (km²)", "Vertices", "Estimate", "Order", "Warnings")
COL_ESTIMATE = 5
COL_ORDER = 6
PRODUCT_ROLE = Qt.ItemDataRole.UserRole + 1
SAVE_DELAY_MS = 300
WINDOW_FIRST = tuple(name for pair in WINDOW_FIELDS for name in pair)
DEFAULT_WINDOW_DAYS = 14


_LAYER_FAMILIES = {
    QgsWkbTypes.GeometryType.PolygonGeometry: "Polygon",
    QgsWkbTypes.GeometryType.PointGeometry: "Point",
    QgsWkbTypes.GeometryType.LineGeometry: "LineString",
}


def product_label(product) -> str:
    return product_title(product)


def placement_question(product, connection_name: str, indexes, estimate, areas_km2, estimate_error: str = "",
                       split: int = 0, warnings=()) -> str:
    """The confirmation a placement asks for: how many orders of what, the estimated total with its unit, and
    the minimum charged area the provider states (with how many of the areas it raises), and the provider's
    rules the order breaks that do not stop it (``warnings``: the user may still say yes).

    ``areas_km2`` is indexed like the draft's AOIs; ``estimate`` is the estimate of the AOIs in ``indexes``."""
    count = len(indexes)
    lines = [f"Place {plural(count, 'order')} of “{product_label(product)}” on {connection_name}?", ""]
    if estimate is not None:
        lines.append(f"Estimated total: {amount(estimate.total, estimate.unit)}"
                     + (f" for {plural(count, 'area')}." if count > 1 else "."))
    else:
        lines.append("No price estimate: " + (estimate_error or "the provider gave none.").rstrip(".") + ".")
    minimum = (product.extra or {}).get("min_charged_area_km2")
    if minimum:
        smaller = [i for i in indexes if i < len(areas_km2) and (areas_km2[i] or 0) < float(minimum)]
        rule = f"{product.provider_name or connection_name} charges at least {amount(minimum, 'km²')} per order"
        if not smaller:
            lines.append(f"{rule}; every area is larger.")
        elif len(smaller) == 1:
            lines.append(f"{rule}: 1 of these areas is smaller and is charged as {amount(minimum, 'km²')}.")
        else:
            lines.append(f"{rule}: {len(smaller)} of these areas are smaller and are each charged as "
                         f"{amount(minimum, 'km²')}.")
    if split:
        lines.append(f"{plural(split, 'multipart feature')} {'is' if split == 1 else 'are'} split: each part is an "
                     "order of its own (and pays any minimum on its own).")
    if getattr(product, "needs_quotation", False):
        lines.append("The provider sends a price quote first; nothing is charged until you accept it.")
    if warnings:
        lines += [""] + [f"Warning: {warning}" for warning in warnings]
    lines += ["", "Placing may commit you to pay once the provider confirms the price."]
    return "\n".join(lines)


_API_NAMES = {"up42": "UP42", "planet": "Planet", "stapi": "STAPI"}


def collection_heading(product) -> str:
    """The heading a product is listed under: its collection, its provider, and the API it is ordered through
    when a connection speaks several (the sandbox), so no two headings read the same."""
    heading = product.collection_title or product.collection or product.provider_name
    provider = (product.provider_name or "").strip()
    if provider and provider.lower() not in heading.lower():
        heading += f" · {provider}"
    api = _API_NAMES.get(product.api or "", product.api)
    if api and api.lower() not in heading.lower():
        heading += f" (via {api})"
    return heading


def carry_values(values: dict, schema: dict) -> dict:
    """What of ``values`` (another product's form) applies to ``schema``: the fields it has, and the acquisition
    window under this schema's names."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or not values:
        return {}
    carried = {name: value for name, value in values.items()
               if name in properties and name not in PLUGIN_FILLED_FIELDS}
    target = next((pair for pair in WINDOW_FIELDS if pair[0] in properties and pair[1] in properties), None)
    source = next((pair for pair in WINDOW_FIELDS if pair[0] in values and pair[1] in values), None)
    if target and source and target != source:
        carried[target[0]], carried[target[1]] = values[source[0]], values[source[1]]
    return carried


def default_window(form, now=None, lead_hours: float = 0) -> None:
    """An empty acquisition window becomes tomorrow (00:00 UTC) plus two weeks, in the provider's UTC; with
    ``lead_hours`` (a product that asks to be ordered that long ahead) the first midnight after that lead."""
    values = form.values()
    names = [n for pair in WINDOW_FIELDS for n in pair]
    rows = {n for n in names if form.row(n) is not None}
    pair = next((p for p in WINDOW_FIELDS if p[0] in rows and p[1] in rows), None)
    now = now or datetime.now(timezone.utc)
    if pair is None:
        return
    if values.get(pair[0]) or values.get(pair[1]):
        # A window still at the plain default (carried from another product, never touched) moves to this
        # product's lead; one the user chose stays.
        given = tuple(_utc_or_none(values.get(name)) for name in pair)
        if not lead_hours or given != _plain_default_window(now, 0):
            return
    start, end = _plain_default_window(now, lead_hours)
    form.set_values({**values, pair[0]: start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     pair[1]: end.strftime("%Y-%m-%dT%H:%M:%SZ")})


def _plain_default_window(now: datetime, lead_hours: float) -> tuple:
    moment = now + timedelta(hours=lead_hours or 0)
    start = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc) + timedelta(days=1)
    return start, start + timedelta(days=DEFAULT_WINDOW_DAYS)


def _utc_or_none(text) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def saved_aoi(aoi) -> dict:
    return {"geometry": aoi.geometry, "feature": f"{aoi.source_layer_name} #{aoi.feature_id}",
            "label": f"{aoi.source_layer_name} #{aoi.feature_id}"
            + (f" part {aoi.part_index + 1}" if aoi.part_index else ""),
            "type": aoi.geometry_type, "area_km2": round(aoi.area_km2, 3), "vertex_count": aoi.vertex_count,
            "warnings": list(aoi.warnings)}


def split_features(aois) -> int:
    """How many features were split into several AOIs."""
    counts = {}
    for aoi in aois:
        key = aoi.get("feature")
        if key:
            counts[key] = counts.get(key, 0) + 1
    return sum(1 for count in counts.values() if count > 1)


def merged_parts(aois) -> list:
    """One AOI per multipart feature: the outline (convex hull) around its parts, measured on the ellipsoid.
    One order instead of one per part: one minimum charge instead of several."""
    groups, keys = {}, []
    for aoi in aois:
        key = aoi.get("feature") or aoi.get("label")
        if key not in groups:
            keys.append(key)
            groups[key] = []
        groups[key].append(aoi)
    measure = QgsDistanceArea()
    measure.setSourceCrs(QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance().transformContext())
    measure.setEllipsoid("EPSG:7030")
    result = []
    for key in keys:
        members = groups[key]
        geometries = [g for g in (geometry_from_geojson(m["geometry"]) for m in members) if g is not None]
        if len(members) < 2 or len(geometries) < 2 or not all(m.get("type") == "Polygon" for m in members):
            result.extend(members)
            continue
        hull = QgsGeometry.unaryUnion(geometries).convexHull()
        notes = [w for m in members for w in m.get("warnings", []) if not w.startswith("Multipart feature")]
        result.append({"geometry": json.loads(hull.asJson()), "feature": key, "label": key, "type": "Polygon",
                       "area_km2": round(measure.measureArea(hull) / 1e6, 3),
                       "vertex_count": sum(1 for _ in hull.vertices()),
                       "warnings": list(dict.fromkeys(notes)) + [
                           f"{len(members)} parts ordered as one area: the outline around them."]})
    return result


class OrderDialog(QDialog, FORM_CLASS):
    def __init__(self, iface, provider_factory, task_runner, draft_store: DraftStore, layers=None,
                 messages=None, decisions_opener=None, parent=None, shared_store=None):
        """``shared_store``: gives the project's store when placing (the team's shared store places through its
        claims: team_placement.placement_for); None places straight through the provider."""
        super().__init__(parent)
        self.setupUi(self)
        self.shared_store = shared_store
        self.iface = iface
        self.provider_factory = provider_factory
        self.task_runner = task_runner
        self.draft_store = draft_store
        self.messages = messages
        self.decisions_opener = decisions_opener
        self.layers = list(layers or [])
        self.form = None
        self.products = {}
        self.product = None
        self.provider = None
        self.schema = None
        self.form_product = None
        self.rubber_bands = []
        self.busy = False
        self._products_task = None
        # The placement under way (the task "Stop placing" cancels) and whether it is being stopped.
        self._placement_task = None
        self._stopping = False
        # The latest estimate: (AOI indexes it priced, Estimate); forgotten whenever the order changes.
        self._estimate = None
        # The values of the previous product's form while the next product's form loads (None: same product).
        self._carry = None
        self._loading = True
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_draft)

        self.aoiTable.verticalHeader().setVisible(False)
        # Several areas in view at once: the splitter may give the form more room, never squeeze the table to a row.
        table = self.aoiTable
        # (One row more than that: styles draw the header and the scroll bar taller than their size hints.)
        table.setMinimumHeight(table.horizontalHeader().sizeHint().height()
                               + (AOI_ROWS_IN_VIEW + 1) * table.verticalHeader().defaultSectionSize()
                               + table.horizontalScrollBar().sizeHint().height() + 2 * table.frameWidth())
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 3)
        self._fit_to_screen()
        self.aoiTable.setColumnCount(len(AOI_COLUMNS))
        self.aoiTable.setHorizontalHeaderLabels(AOI_COLUMNS)
        self.aoiTable.itemSelectionChanged.connect(self._highlight_selected)
        self.formHolder.setLayout(QVBoxLayout())
        self.product_model = QStandardItemModel(self)
        self.productCombo.setModel(self.product_model)

        self.draft = self._initial_draft()
        self.nameEdit.setText(self.draft.name or "Tasking order")
        for connection in provider_factory.connections():
            self.connectionCombo.addItem(connection.name, connection.id)
        wanted = self.draft.connection_id or provider_factory.default_connection_id()
        index = self.connectionCombo.findData(wanted)
        self.connectionCombo.setCurrentIndex(max(index, 0))

        self.connectionCombo.currentIndexChanged.connect(self._connection_changed)
        self.productCombo.currentIndexChanged.connect(self._product_changed)
        self.nameEdit.textEdited.connect(self._draft_edited)
        self.estimateButton.clicked.connect(self.estimate)
        self.placeButton.clicked.connect(self.place)
        self.retryButton.clicked.connect(self.retry_failed)
        self.cancelPlacementButton.clicked.connect(self.stop_placing)
        # After placing: the same areas and settings, as a fresh order (another product, another window…).
        self.newOrderButton = QPushButton("New order", self)
        self.newOrderButton.setObjectName("newOrderButton")
        self.newOrderButton.setToolTip("Start a new order with the same areas, product and parameters")
        self.newOrderButton.clicked.connect(self.new_order)
        holder = next((layout for layout in self.findChildren(QLayout) if layout.indexOf(self.placeButton) >= 0),
                      None)
        if holder is not None:
            holder.insertWidget(holder.indexOf(self.placeButton), self.newOrderButton)
        # Split multipart features are separate orders (each may pay a minimum area): offer one order each.
        self.keepPartsCheck = QCheckBox("Order each multipart feature as one area (the outline around its parts)",
                                        self)
        self.keepPartsCheck.setObjectName("keepPartsCheck")
        self.keepPartsCheck.setVisible(False)
        self.keepPartsCheck.toggled.connect(self._keep_parts_toggled)
        notes_holder = next((layout for layout in self.findChildren(QLayout) if layout.indexOf(self.aoiNotes) >= 0),
                            None)
        if notes_holder is not None:
            notes_holder.insertWidget(notes_holder.indexOf(self.aoiNotes) + 1, self.keepPartsCheck)
        self.decisionsButton.clicked.connect(self._open_decisions)
        self.opportunitiesButton.clicked.connect(self._find_opportunities)
        self._opportunities_dialog = None
        self.finished.connect(self._cleanup)
        self._loading = False
        self._show_aois()
        self._update_buttons()
        self._connection_changed()

    def _fit_to_screen(self):
        """Tall enough for the order's parameters: most of the screen's height, the form getting most of it."""
        screen = self.screen() if hasattr(self, "screen") else None
        available = screen.availableGeometry() if screen is not None else None
        if available is None or available.height() <= 0:
            return
        height = max(self.height(), int(available.height() * 0.85))
        self.resize(max(self.width(), min(1000, available.width())), min(height, available.height()))
        table = max(self.aoiGroup.minimumSizeHint().height(), int(height * 0.25))
        self.splitter.setSizes([table, max(height - table, 200)])

    # -- draft ----------------------------------------------------------------------------
    def _initial_draft(self) -> SavedDraft:
        saved = self.draft_store.load()
        follow = None
        if saved is not None and saved.fully_placed:
            self.draft_store.archive()
            follow, saved = saved, None
        if saved is not None and self.layers:
            answer = QMessageBox.question(
                self, "Unplaced order draft",
                rich_tooltip(f"An order draft “{saved.name}” with {plural(len(saved.aois), 'area')} has not been "
                             "placed yet.\n\nContinue with that draft? (No starts a new draft from the selected "
                             "features; the old draft is kept in the drafts archive.)"),
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
            if answer == QMessageBox.StandardButton.Yes:
                self.layers = []
            else:
                if saved.outcomes or saved.placing:
                    self._warn_partly_placed(saved)
                self.draft_store.archive()
                saved = None
        if saved is None and follow is None:
            last = self.draft_store.last_archived()
            follow = last if last is not None and last.fully_placed else None
        if saved is None and follow is not None:
            # The last order was placed: the next one starts from its connection, product and parameters.
            return SavedDraft(connection_id=follow.connection_id, product_id=follow.product_id, name=follow.name,
                              params=dict(follow.params), client_reference=new_client_reference())
        return saved or SavedDraft(client_reference=new_client_reference())

    def new_order(self):
        """A fresh draft after a placement: same areas, connection, product and parameters, no orders yet."""
        if self.busy or self._placement_task is not None:
            return
        self._collect()
        previous = self.draft
        if self.draft_store.load() is not None:
            self.draft_store.archive()  # kept, never deleted: the orders placed stay in the monitor
        self.draft = SavedDraft(
            connection_id=previous.connection_id, product_id=previous.product_id, name=previous.name,
            params=dict(previous.params), client_reference=new_client_reference(),
            aois=[{k: v for k, v in aoi.items() if k != "estimate"} for aoi in previous.aois])
        self._estimate = None
        if self.layers and self.product is not None:
            self._prepare_aois()
        else:
            self._show_aois()
        self.save_draft()
        self._status("A new order with the same areas and parameters: change what you need, then place it.")

    def _warn_partly_placed(self, saved):
        placed = len(saved.aois) - len(saved.unplaced_indexes)
        if placed and self.messages:
            self.messages.info(f"The draft “{saved.name}” had {plural(placed, 'order')} placed already; it is kept in "
                               "the drafts archive and its orders stay in the monitor.")

    def _draft_edited(self, *_):
        if not self._loading:
            self._forget_estimate()
            self._save_timer.start()
            self._show_rule_warnings()

    def rule_warnings(self) -> list:
        """The provider's rules the form's order breaks without being stopped by them (Planet's dashboard rules
        for Flexible orders): said while editing and in the placement confirmation, never a block."""
        order_warnings = getattr(self.provider, "order_warnings", None)
        if order_warnings is None or self.product is None or self.form is None:
            return []
        try:
            return list(order_warnings(self.product, self.form.values(), datetime.now(timezone.utc)))
        except Exception:  # noqa: BLE001 - a warning must never stop the dialog
            logger.warning("Could not check the order against %s's rules", self.product.title, exc_info=True)
            return []

    def _show_rule_warnings(self):
        warnings = self.rule_warnings()
        if warnings:
            self._rule_warning_shown = "Warning: " + " ".join(warnings)
            self._status(self._rule_warning_shown)
        elif getattr(self, "_rule_warning_shown", "") and self.statusLabel.text() == self._rule_warning_shown:
            self._rule_warning_shown = ""
            self._status("")

    def _forget_estimate(self):
        """A change to the order makes its estimate stale: the prices shown go, the next placement asks again."""
        self._estimate = None
        stale = [aoi for aoi in self.draft.aois if aoi.get("estimate")]
        for aoi in stale:
            aoi.pop("estimate", None)
        if stale:
            self._show_aois()

    def save_draft(self):
        self._save_timer.stop()
        self._collect()
        self.draft_store.save(self.draft)

    def _collect(self):
        """Bring the draft up to date with the widgets."""
        self.draft.name = self.nameEdit.text().strip()
        self.draft.connection_id = self.connectionCombo.currentData() or ""
        if self.product is not None:
            self.draft.product_id = self.product.id
        if self.form is not None:
            self.draft.params = self.form.values()

    # -- connection and products ----------------------------------------------------------
    def current_connection(self):
        connection_id = self.connectionCombo.currentData()
        return next((c for c in self.provider_factory.connections() if c.id == connection_id), None)

    def _connection_changed(self, *_):
        connection = self.current_connection()
        self.product_model.clear()
        self.products = {}
        self.product = None
        self.provider = None
        self.form_product = None
        self._set_form(None)
        if connection is None:
            self._status("Add a connection first (Connections…).")
            return
        try:
            self.provider = self.provider_factory.provider_for(connection)
        except Exception as error:  # noqa: BLE001 - credentials/auth problems become one sentence
            self._status(getattr(error, "user_message", None) or str(error))
            return
        if self.draft.placing and self.draft.connection_id == connection.id:
            self._reconcile_interrupted_placement()
        self._status(f"Loading the products of {connection.name}…")
        provider = self.provider
        self._products_task = self.task_runner.start(BackgroundTask(
            f"Loading tasking products of {connection.name}", lambda task: provider.products(),
            on_success=lambda products: self._products_loaded(provider, products),
            on_failure=self._failed))
        self._draft_edited()

    def _products_loaded(self, provider, products):
        if sip.isdeleted(self) or provider is not self.provider:
            return
        self._loading = True
        self.product_model.clear()
        self.products = {p.id: p for p in products}
        connection = self.current_connection()
        if connection is not None:
            product_catalogue.remember(connection.id, products, lambda p: product_title(p, with_provider=True))
        by_collection = {}
        for product in products:
            by_collection.setdefault(collection_heading(product), []).append(product)
        wanted_row = -1
        for collection, members in by_collection.items():
            header = QStandardItem(collection)
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            self.product_model.appendRow(header)
            for product in members:
                item = QStandardItem(f"   {product.title}")
                item.setData(product.id, PRODUCT_ROLE)
                item.setToolTip(rich_tooltip(f"{product.provider_name}: {product.description}"))
                self.product_model.appendRow(item)
                if product.id == self.draft.product_id:
                    wanted_row = item.row()
                elif wanted_row < 0 and not self.draft.product_id and self._fits_selection(product):
                    wanted_row = item.row()
        if not products:
            self._loading = False
            self._status("This connection offers no tasking products.")
            return
        self.productCombo.setCurrentIndex(wanted_row if wanted_row >= 0 else 1)
        self._loading = False
        self._product_changed()

    def _fits_selection(self, product) -> bool:
        """Whether the product takes the geometry kind of the selected layers (first choice)."""
        families = {_LAYER_FAMILIES.get(layer.geometryType())
                    for layer in self.layers if hasattr(layer, "geometryType")}
        if not families:
            return True
        return any(t.replace("Multi", "") in families for t in product.geometry_types)

    def _product_changed(self, *_):
        if self._loading:
            return
        product_id = self.productCombo.currentData(PRODUCT_ROLE)
        product = self.products.get(product_id)
        if product is None:
            return
        keep_params = product.id == self.draft.product_id
        # Another product: what was typed goes along where the new form has the field.
        self._carry = None if keep_params else (self.form.values() if self.form is not None
                                                else dict(self.draft.params))
        self.product = product
        self.productDescription.setText(
            f"{product.provider_name} · {product.description}".strip(" ·")
            + ("\nNeeds a feasibility study before it can be priced." if product.needs_feasibility else "")
            + ("\nNeeds a price quotation that you accept before tasking starts." if product.needs_quotation
               else ""))
        self.draft.product_id = product.id
        self._prepare_aois()
        self._status(f"Loading the order form of {product.title}…")
        provider = self.provider
        self.task_runner.start(BackgroundTask(
            f"Loading the order form of {product.title}", lambda task: provider.order_schema(product),
            on_success=lambda schema: self._schema_loaded(product, schema), on_failure=self._failed))

    def _schema_loaded(self, product, schema):
        if sip.isdeleted(self) or product is not self.product:
            return
        self.schema = schema
        self.form_product = product
        carry, self._carry = self._carry, None
        if carry is None:
            form = SchemaForm(schema, values=self.draft.params or None, hidden=PLUGIN_FILLED_FIELDS,
                              first=WINDOW_FIRST, ranges=WINDOW_FIELDS)
        else:
            form = SchemaForm(schema, hidden=PLUGIN_FILLED_FIELDS, first=WINDOW_FIRST, ranges=WINDOW_FIELDS)
            defaults = form.values()
            carried = carry_values(carry, schema)
            if carried:
                # A value the new product does not offer (SAR's "stripmap" for an optical mode) is not carried:
                # the new product's default stays, rather than an error the user did not make.
                trial = SchemaForm(schema, values={**defaults, **carried}, hidden=PLUGIN_FILLED_FIELDS)
                misfits = {name for name, message in trial.errors().items() if "could not be restored" in message}
                trial.deleteLater()
                kept = {name: value for name, value in carried.items() if name not in misfits}
                if kept:
                    form.set_values({**defaults, **kept})
        default_window(form, lead_hours=(product.extra or {}).get("earliest_start_hours", 0))
        self._set_form(form)
        self._status("")
        self._draft_edited()

    def _set_form(self, form):
        layout = self.formHolder.layout()
        if self.form is not None:
            layout.removeWidget(self.form)
            self.form.deleteLater()
        self.form = form
        if form is not None:
            layout.addWidget(form)
            form.validityChanged.connect(self._update_buttons)
            form.valuesChanged.connect(self._draft_edited)
        self._update_buttons()

    # -- AOIs -----------------------------------------------------------------------------
    def _prepare_aois(self):
        if not self.layers:
            self._show_aois()
            return
        if self.draft.outcomes:
            # Orders exist for these AOIs: they are fixed now, whatever product is chosen.
            self._show_aois()
            return
        result = aois_from_layers(self.layers, rules_for(self.product))
        aois = [saved_aoi(aoi) for aoi in result.aois]
        self.keepPartsCheck.setVisible(bool(split_features(aois)) or self.keepPartsCheck.isChecked())
        self.draft.aois = merged_parts(aois) if self.keepPartsCheck.isChecked() else aois
        # When nothing is usable, the message already names the skipped layers.
        notes = [result.message] if result.message else list(result.notes)
        notes += [f"Refused: {refusal.reason}" for refusal in result.refusals]
        if result.aois and split_features(aois):  # said only where a feature was split
            notes.insert(0, result.multipart_policy)
        self.aoiNotes.setText("\n".join(notes))
        self._show_aois()

    def _keep_parts_toggled(self, *_):
        if self.product is not None and not self.draft.outcomes:
            self._forget_estimate()
            self._prepare_aois()

    def _show_aois(self):
        self.aoiTable.setRowCount(len(self.draft.aois))
        for row, aoi in enumerate(self.draft.aois):
            outcome = self.draft.outcomes.get(str(row), {})
            values = (str(row + 1), aoi.get("label", ""), aoi.get("type", aoi["geometry"].get("type", "")),
                      f"{aoi.get('area_km2', 0):.2f}", str(aoi.get("vertex_count", "")), aoi.get("estimate", ""),
                      outcome.get("order_id") or outcome.get("error", ""), sentences(aoi.get("warnings", [])))
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(rich_tooltip(value))
                if column == COL_ORDER and outcome.get("error"):
                    item.setForeground(QColor("#c0392b"))
                self.aoiTable.setItem(row, column, item)
        self.aoiTable.resizeColumnsToContents()
        self._draw_aois()
        self._update_buttons()

    def _draw_aois(self):
        self._clear_rubber_bands()
        canvas = self.iface.mapCanvas() if self.iface is not None else None
        if canvas is None:
            return
        wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
        for aoi in self.draft.aois:
            geometry = geometry_from_geojson(aoi["geometry"])
            if geometry is None:
                continue
            band = QgsRubberBand(canvas, geometry.type())
            band.setColor(QColor(230, 126, 34, 200))
            band.setFillColor(QColor(230, 126, 34, 50))
            band.setWidth(2)
            band.setToGeometry(geometry, wgs84)
            self.rubber_bands.append(band)

    def _highlight_selected(self):
        rows = {index.row() for index in self.aoiTable.selectedIndexes()}
        for row, band in enumerate(self.rubber_bands):
            band.setWidth(4 if row in rows else 2)

    def _clear_rubber_bands(self):
        canvas = self.iface.mapCanvas() if self.iface is not None else None
        for band in self.rubber_bands:
            if canvas is not None and not sip.isdeleted(band):
                canvas.scene().removeItem(band)
        self.rubber_bands = []

    # -- estimate and placement -----------------------------------------------------------
    def current_order_draft(self) -> OrderDraft:
        self._collect()
        return OrderDraft(
            connection_id=self.draft.connection_id, product_id=self.draft.product_id,
            name=self.draft.name, params=dict(self.draft.params),
            aois=[Aoi(geometry=a["geometry"], label=a.get("label", ""), area_km2=a.get("area_km2"))
                  for a in self.draft.aois],
            client_reference=self.draft.client_reference)

    def _ready(self) -> bool:
        return (not self.busy and self.provider is not None and self.product is not None and self.form is not None
                and self.form.is_valid() and bool(self.draft.aois) and bool(self.nameEdit.text().strip()))

    def _update_buttons(self, *_):
        ready = self._ready()
        ledger = self.ledger()
        unplaced = ledger.unplaced
        failed = ledger.failed
        self.estimateButton.setEnabled(ready and bool(unplaced))
        never_tried = ledger.never_tried
        self.placeButton.setEnabled(ready and bool(never_tried))
        self.retryButton.setEnabled(ready and bool(failed))
        self.decisionsButton.setEnabled(self.decisions_opener is not None and any(
            o.get("order_id") for o in self.draft.outcomes.values()))
        self.opportunitiesButton.setEnabled(
            not self.busy and self.form is not None and bool(unplaced) and hasattr(self.provider, "opportunities")
            and bool(self.product is not None and self.product.extra.get("opportunities")))
        placed_any = any(o.get("order_id") for o in self.draft.outcomes.values())
        self.newOrderButton.setVisible(placed_any)
        self.newOrderButton.setEnabled(placed_any and not self.busy and self._placement_task is None)
        if placed_any and not never_tried and not failed:
            self.placeButton.setToolTip("Every area of this order has been placed. “New order” orders them again.")
        elif self.form is not None and not self.form.is_valid():
            self.placeButton.setToolTip("Complete the order form first: the fields marked * are required.")
        else:
            self.placeButton.setToolTip("")
        placing = self._placement_task is not None
        self.cancelPlacementButton.setVisible(placing)
        self.cancelPlacementButton.setEnabled(placing and not self._stopping)

    def estimate(self):
        """Price the AOIs that have no order yet."""
        self.save_draft()
        indexes = tuple(self.draft.unplaced_indexes)
        draft = self.current_order_draft()
        draft.aois = [draft.aois[i] for i in indexes]
        provider = self.provider
        self.busy = True
        self._update_buttons()
        self._status("Asking for a price estimate…")
        self.task_runner.start(BackgroundTask(
            "Estimating tasking orders", lambda task: provider.estimate(draft),
            on_success=lambda estimate: self._estimated(indexes, estimate), on_failure=self._failed))

    def _estimated(self, indexes, estimate):
        if sip.isdeleted(self):
            return
        self.busy = False
        self._estimate = (tuple(indexes), estimate)
        for position, row in enumerate(indexes):
            aoi = self.draft.aois[row]
            value = estimate.per_aoi[position] if position < len(estimate.per_aoi) else None
            error = estimate.errors.get(position) or estimate.errors.get(str(position))
            aoi["estimate"] = amount(value, estimate.unit) if value is not None else (error or "")
        self._show_aois()
        self._status(f"Estimated total: {amount(estimate.total, estimate.unit)} for "
                     f"{plural(len(indexes), 'area')}.")

    def place(self):
        self._place(self.draft.unplaced_indexes)

    def retry_failed(self):
        self._place(self.ledger().failed)

    def _place(self, indexes):
        """Place the orders of ``indexes`` once the user has seen their estimated total and said yes. Without a
        current estimate of exactly these AOIs, one is asked for first."""
        if not indexes or not self._ready():
            return
        self.save_draft()
        indexes = list(indexes)
        if self._estimate is not None and self._estimate[0] == tuple(indexes):
            self._confirm_and_place(indexes, self._estimate[1], "")
            return
        draft = self.current_order_draft()
        draft.aois = [draft.aois[i] for i in indexes]
        provider = self.provider
        self.busy = True
        self._update_buttons()
        self._status("Asking for the price before placing…")

        def estimated(estimate):
            if not sip.isdeleted(self):
                self.busy = False
                self._confirm_and_place(indexes, estimate, "")

        def not_estimated(message):
            if not sip.isdeleted(self):
                self.busy = False
                self._confirm_and_place(indexes, None, message)

        self.task_runner.start(BackgroundTask("Estimating tasking orders before placing",
                                              lambda task: provider.estimate(draft),
                                              on_success=estimated, on_failure=not_estimated))

    def _confirm_and_place(self, indexes, estimate, estimate_error):
        if not self._ready():
            self._update_buttons()
            return
        count = len(indexes)
        connection = self.current_connection()
        areas = [aoi.get("area_km2") or 0 for aoi in self.draft.aois]
        answer = QMessageBox.question(
            self, "Place tasking orders",
            rich_tooltip(placement_question(self.product, connection.name, indexes, estimate, areas,
                                            estimate_error, split=split_features(self.draft.aois),
                                            warnings=self.rule_warnings())),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            self._status("Nothing was placed.")
            self._update_buttons()
            return
        draft = self.current_order_draft()
        self.draft.placing = list(indexes)
        self.draft_store.save(self.draft)  # before the request leaves: see module docstring
        provider = self.provider
        place = placement_for(self.shared_store() if self.shared_store is not None else None)
        self.busy = True
        self._status(f"Placing {plural(count, 'order')}…")

        def succeeded(outcomes):
            self._placement_ended(task)
            self._placed(outcomes)

        def ended_early(message):
            self._placement_ended(task)
            # Cancelled once the provider had answered: its outcomes are facts (orders created, AOIs not sent).
            if isinstance(task.result, list):
                self._placed(task.result, cancelled=True)
            else:
                self._placement_failed(message, cancelled=task.isCanceled())

        # Cancelling is safe: an order request is never repeated, and one not yet sent is not sent any more.
        task = BackgroundTask(
            f"Placing {plural(count, 'tasking order')}",
            lambda running: place(provider, draft, indexes, running.report_progress),
            on_success=succeeded, on_failure=ended_early)
        task.stepsChanged.connect(self._placement_progress)
        self._placement_task = task
        self._stopping = False
        self._update_buttons()
        self.task_runner.start(task)

    def _placement_ended(self, task):
        # The dialog may be gone (closed while placing): the outcomes are still recorded by the caller.
        if self._placement_task is task:
            self._placement_task = None
            self._stopping = False
        if not sip.isdeleted(self):
            self._update_buttons()

    def stop_placing(self):
        """The "Stop placing" button: after a confirmation, cancel the placement under way. Orders already
        sent stay placed (a sent order request is never taken back); the AOIs not sent yet keep their place
        in the draft, for "Retry failed"."""
        task = self._placement_task
        if task is None or self._stopping:
            return
        if not self.confirm_stop_placing():
            return
        if sip.isdeleted(self) or self._placement_task is not task or self._stopping:
            return  # the placement ended (or was stopped) while the question was open
        self._stopping = True
        self._update_buttons()
        self._status("Stopping the placement: no further order is sent; orders already sent stay placed…")
        task.cancel()

    def confirm_stop_placing(self) -> bool:
        answer = QMessageBox.question(
            self, "Stop placing orders",
            rich_tooltip("Stop placing orders?\n\nOrders already sent to the provider stay placed (cancel them "
                         "in the order monitor if you must). The areas not sent yet keep their place in the "
                         "draft: “Retry failed” places them later."),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    @pyqtSlot(int, int)
    def _placement_progress(self, done, total):
        if not self.busy:
            return
        if self._stopping:
            self._status(f"Stopping the placement ({done} of {total} done): no further order is sent; orders "
                         "already sent stay placed…")
        else:
            self._status(f"Placing orders: {done} of {total} done…")

    def _placed(self, outcomes, cancelled=False):
        self.record_outcomes(outcomes)
        if sip.isdeleted(self):
            return
        self.busy = False
        failed = sum(1 for o in outcomes if not o.placed)
        text = " ".join(filter(None, (attempt_summary(outcomes, cancelled=cancelled),
                                      held_elsewhere_sentence(outcomes))))  # a colleague's AOIs: by whom
        self._status(text)
        if self.messages:
            (self.messages.warning if failed else self.messages.success)(text)
        self._show_aois()
        if self.draft.fully_placed:
            self.draft_store.archive()

    def ledger(self) -> PlacementLedger:
        """The draft's placement bookkeeping (shared with Processing): over the draft's own outcomes."""
        return PlacementLedger(len(self.draft.aois), self.draft.outcomes)

    def record_outcomes(self, outcomes):
        self.ledger().record(outcomes)
        self.draft.placing = []
        self.draft_store.save(self.draft)

    def _reconcile_interrupted_placement(self):
        """QGIS stopped while a placement was under way: ask the provider what it created."""
        draft, provider = self.current_order_draft(), self.provider
        self.busy = True
        self.task_runner.start(BackgroundTask(
            "Checking an interrupted placement", lambda task: provider.placed_orders(draft),
            on_success=self._reconciled, on_failure=self._failed, can_cancel=False))

    def _reconciled(self, found):
        self.ledger().record_found(found)
        self.draft.placing = []
        self.draft_store.save(self.draft)
        if sip.isdeleted(self):
            return
        self.busy = False
        self._status(interrupted_summary(len(found)))
        self._show_aois()

    def _placement_failed(self, message, cancelled=False):
        # The provider could not even say which AOIs were placed: keep `placing` so the next
        # attempt (or the next start) reconciles before placing again.
        if sip.isdeleted(self):
            return
        self.busy = False
        if cancelled:
            logger.info("Placement cancelled: %s", message)
            text = "Placement cancelled. Placing again first checks which orders exist, so none is placed twice."
        else:
            text = f"Placement did not complete: {message}"
        self._status(text)
        if self.messages:
            (self.messages.info if cancelled else self.messages.error)(text)
        self._update_buttons()

    def _find_opportunities(self):
        from .opportunities import OpportunitiesDialog

        aois = [(i, self.draft.aois[i].get("label", ""), self.draft.aois[i]["geometry"])
                for i in self.draft.unplaced_indexes]
        # What the order form says already is not asked again (an Assured order's contract number): the finder's
        # "equals" filters start from the form's values of the same name.
        known = {f"{name}__eq": value for name, value in self.form.values().items()
                 if isinstance(value, str) and value.strip()} if self.form is not None else {}
        self._opportunities_dialog = OpportunitiesDialog(self.provider, self.product, aois, self.task_runner,
                                                         parent=self, filter_values=known)
        self._opportunities_dialog.opportunityChosen.connect(self._order_opportunity)
        self._opportunities_dialog.show()

    def _order_opportunity(self, aoi_index, opportunity):
        """Fill the form from the opportunity's create-order body and place that AOI's order."""
        self.form.set_values({**self.form.values(), **opportunity.form_values()})
        if not self._ready():
            self._status("Complete the order parameters, then place the order of this opportunity.")
            return
        self._place([aoi_index])

    def _open_decisions(self):
        if self.decisions_opener:
            self.decisions_opener(self.current_connection())

    # -- misc -----------------------------------------------------------------------------
    def _failed(self, message):
        if sip.isdeleted(self):
            return
        self.busy = False
        self._status(message)
        self._update_buttons()

    def _status(self, text):
        self.statusLabel.setText(text)

    def _cleanup(self, *_):
        if self._save_timer.isActive():
            self.save_draft()
        self._clear_rubber_bands()


__all__ = ["OrderDialog", "PlacementOutcome"]
