"""The order monitor: background sync of every connection into the store, as a scheduler without widgets.

``OrderMonitor`` owns the sync timer, one provider per connection (kept between syncs: a new
provider authenticates again) and the sync tasks; it turns ``SyncResult``s into signals (the store's
rows read, the connections' errors, the products known), layer refreshes and at most one grouped
message-bar notice per sync round. It carries out actions on an order (cancel, edit, download) in
background tasks once they are decided, and keeps the map layers' selections in step with the order
chosen. It opens no window: the dock (``ui/monitor_dock.py``) asks the user, then calls the monitor,
and listens to its signals (``MonitorDock.attach``). It imports nothing from ``ui/``.

Decisions:

* **One round, one notice.** A round is every sync started while no other was pending; its events
  are announced together when the last of its connections has answered.
* **Paused in the background.** The timer runs only while the dock is shown (``set_shown``) and QGIS is the
  active application; coming back after longer than the interval syncs at once. "Refresh now" always syncs.
* **Actions never write the store directly.** Writing an order the provider returned would move the
  connection's sync cursor past changes of other orders; the action syncs its connection instead.
* **A shared store kept current by a service is read, not synced** (``team_service.desktop_sync``): the
  sentence saying so reaches the dock (``storeSyncChanged``); the store's NOTIFY reaches the dock, which
  calls ``reload_dock``.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Optional

from qgis.core import (
    QgsExpression,
    QgsFeatureRequest,
    QgsProject,
    QgsRasterLayer,
    QgsSettings,
)
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QObject, Qt, QTimer, pyqtSignal
from qgis.PyQt.QtGui import QGuiApplication

from . import product_catalogue
from .layers import ORDERS_ROLE, find_layers, refresh_layers
from .listed_order import LISTED_CONNECTION, LISTED_PRODUCT
from .model import ConnectionKind, Order
from .order_listing import full_order, listed_capture_counts, listed_orders
from .order_schema import schema_titles
from .sandbox_clock import jump_to_next_event, read_clock, set_speed
from .settings import credentials_locked, needs_stored_credentials
from .store import StoreError
from .store_choice import ensure_store_layers, is_shared, open_project_store
from .sync import SyncEventKind
from .sync_process import SyncProcess
from .tasks import BackgroundTask, user_message_for
from .team_service import LeftToTheTeam, desktop_sync_task
from .wording import product_title

logger = logging.getLogger(__name__)

SYNC_INTERVAL_KEY = "satellite_tasking/sync_interval_s"
DOWNLOAD_FOLDER_KEY = "satellite_tasking/download_folder"
SANDBOX_SPEED_KEY = "satellite_tasking/sandbox_speed"
LOCKED_MESSAGE = ("not synced: its credentials are locked in the QGIS authentication database. Click "
                  "“Refresh now” to enter the master password.")
DEFAULT_SYNC_INTERVAL_S = 60
MIN_SYNC_INTERVAL_S = 0.05
# A grouped notice lists this many events, then says how many more there are.
NOTICE_EVENTS_SHOWN = 4
_WARNING_EVENTS = {SyncEventKind.ORDER_FAILED, SyncEventKind.ORDER_EXPIRED, SyncEventKind.ORDER_REJECTED}
RASTER_SUFFIXES = (".tif", ".tiff")
# The fields the dock's edit form offers.
EDITABLE_FIELDS = frozenset({"name", "start_time", "end_time"})


def sync_interval_seconds(settings: Optional[QgsSettings] = None) -> float:
    settings = settings or QgsSettings()
    try:
        value = float(settings.value(SYNC_INTERVAL_KEY, DEFAULT_SYNC_INTERVAL_S))
    except (TypeError, ValueError):
        value = DEFAULT_SYNC_INTERVAL_S
    return max(value, MIN_SYNC_INTERVAL_S)


def notice_for(events: list) -> tuple:
    """(level, text) of the one notice a round's events make, or (None, "") when there are none."""
    if not events:
        return None, ""
    level = "warning" if any(e.kind in _WARNING_EVENTS for e in events) else "info"
    if len(events) == 1:
        return level, events[0].message
    shown = " ".join(e.message for e in events[:NOTICE_EVENTS_SHOWN])
    more = len(events) - NOTICE_EVENTS_SHOWN
    tail = f" …and {more} more." if more > 0 else ""
    return level, f"{len(events)} order updates: {shown}{tail}"


def read_snapshot(store) -> tuple:
    """The dock's view of the store: its orders and their capture counts.

    Nothing here may change how Python collects garbage (no freezing of the collector): it serves the whole QGIS
    process, and freezing it would keep every other plugin's objects of that moment forever.
    """
    return (store.orders(), store.capture_summaries())


def read_placers(store, orders: list) -> dict:
    """(connection id, order id) -> the user who placed it, for a store that records it (the team's shared
    store); empty for one that does not (the GeoPackage). ``orders``: listed orders (``listed_order``)."""
    placed_by = getattr(store, "placed_by", None)
    if not callable(placed_by):
        return {}
    placers: dict = {}
    for connection_id in sorted({order[LISTED_CONNECTION] for order in orders}):
        placers.update({(connection_id, order_id): user for order_id, (user, _) in placed_by(connection_id).items()})
    return placers


def read_dock_snapshot(store) -> tuple:
    """(light orders, capture summaries, placers): what the dock's rows show, read in one background task.

    The orders are listed without their raw records, parameters and geometries (``order_listing``): the dock
    reads the selected one in full (``OrderMonitor.full_order``)."""
    orders = listed_orders(store)
    return (orders, listed_capture_counts(store), read_placers(store, orders))


def current_user_name() -> str:
    """The name a shared store records for the orders placed from this QGIS: "mine" in the dock."""
    from .store_postgis import default_user_name

    return default_user_name()


class OrderMonitor(QObject):
    """Keeps the store and the layers up to date with every connection, and says so through its signals."""

    # A sync round ended: list of SyncResult.
    roundFinished = pyqtSignal(object)
    # The store was read: (orders, capture summaries, placers) as ``read_dock_snapshot`` gives them, and the
    # connections' names (id -> name).
    storeRead = pyqtSignal(object, object)
    # What is wrong, per connection name (and "Order store"), and the names of the connections syncing now.
    stateChanged = pyqtSignal(object, object)
    # How the store is kept current, in a sentence ("" for a store this QGIS syncs itself).
    storeSyncChanged = pyqtSignal(str)
    # A store was opened (None when none could be): a shared one's announcements are listened to by the dock.
    storeOpened = pyqtSignal(object)
    productsKnown = pyqtSignal(str, object)  # connection id, its Products
    parameterTitlesKnown = pyqtSignal(object)  # parameter name -> the schema's title
    sandboxPresent = pyqtSignal(bool)  # a sandbox connection exists: its clock is worth showing
    sandboxTimeRead = pyqtSignal(object)  # the sandbox clock's answer
    orderPickedOnMap = pyqtSignal(str, str)  # connection id, order id: a feature of it was selected on the map

    def __init__(self, iface, provider_factory, task_runner, messages,
                 decisions_opener: Optional[Callable] = None, project: Optional[QgsProject] = None,
                 parent: Optional[QObject] = None, sync_process: Optional[SyncProcess] = None):
        super().__init__(parent)
        # Syncs run in a process of their own when they can (sync_process.py says why); started at the first sync.
        self.sync_process = sync_process if sync_process is not None else SyncProcess()
        self.iface = iface
        self.shown = False  # the dock showing the monitor is visible (set_shown)
        self.store_listened = False  # the dock hears the shared store's announcements (it reloads on them)
        # Set by the dock: True while what was read last is still being made ready to show.
        self.view_busy: Optional[Callable[[], bool]] = None
        self.provider_factory = provider_factory
        self.task_runner = task_runner
        self.messages = messages
        self.decisions_opener = decisions_opener
        self.project = project or QgsProject.instance()
        self.store = None
        self.store_problem = ""  # a sentence when the store cannot be used (or only read)
        self.providers: dict = {}  # connection id -> (connection, provider, its recipe or None)
        self.errors: dict = {}  # connection id -> sentence
        self.syncing: dict = {}  # connection id -> task
        self.last_round_at: Optional[float] = None
        self._round_results: list = []
        self._round_events: list = []
        self._known_connections: Optional[set] = None
        self._selected_layers: list = []
        self._updating_selection = False
        self._closed = False
        self._started = False
        self._reload_generation = 0
        self._titled_products: set = set()
        self._products: dict = {}  # connection id -> its products, once read
        self._shown_generation = 0
        self._ordered_products: set = set()  # (connection id, product id) of the orders last read
        self._store_sentences: dict = {}  # connection id -> how the shared store is kept current
        self.is_app_active = lambda: QGuiApplication.applicationState() == Qt.ApplicationState.ApplicationActive
        self.timer = QTimer(self)
        self.timer.setObjectName("satelliteTaskingSyncTimer")
        self.timer.timeout.connect(self._tick)

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._open_store()
        self.timer.setInterval(int(sync_interval_seconds() * 1000))
        QGuiApplication.instance().applicationStateChanged.connect(self._conditions_changed)
        self.project.readProject.connect(self._project_read)
        self._started = True
        self.reload_dock()
        self._conditions_changed()

    def stop(self) -> None:
        """Everything ``start`` connected is disconnected; callbacks of tasks still running are ignored."""
        if self._closed:
            return
        self._closed = True
        self.timer.stop()
        self.timer.timeout.disconnect(self._tick)
        if self._started:  # a monitor stopped before it started connected nothing outside itself
            QGuiApplication.instance().applicationStateChanged.disconnect(self._conditions_changed)
            self.project.readProject.disconnect(self._project_read)
        self._watch_layer_selections([])
        for task in list(self.syncing.values()):
            if not sip.isdeleted(task):
                task.cancel()
        self.syncing.clear()
        self.providers.clear()
        self.sync_process.close()

    # -- when to sync ---------------------------------------------------------------------------
    def should_run(self) -> bool:
        return not self._closed and self.shown and self.is_app_active()

    def set_shown(self, shown: bool) -> None:
        """The dock became visible or hidden: the timer runs only while someone can see its results."""
        self.shown = bool(shown)
        self._conditions_changed()

    def _conditions_changed(self, *_):
        if self._closed:
            return
        if self.shown:
            self._watch_existing_layers()
        if self.should_run():
            if not self.timer.isActive():
                self.timer.start()
                overdue = (self.last_round_at is None
                           or time.monotonic() - self.last_round_at >= self.timer.interval() / 1000)
                if overdue:
                    QTimer.singleShot(0, self._tick)
        else:
            self.timer.stop()

    def _tick(self):
        if self.should_run():
            self.sync_all()

    def refresh_now(self):
        """The user's "Refresh now": the one sync that may unlock the authentication database."""
        self._watch_existing_layers()
        self.sync_all(may_ask=True)

    def set_interval(self, seconds: float) -> None:
        QgsSettings().setValue(SYNC_INTERVAL_KEY, seconds)
        self.timer.setInterval(int(sync_interval_seconds() * 1000))

    # -- syncing --------------------------------------------------------------------------------
    def sync_all(self, may_ask: bool = False) -> list:
        """Start one sync task per connection that has none running; returns the connection ids started.

        Only a user's act (``may_ask``) may make QGIS ask for its master password: the timer's rounds leave
        locked connections alone and say so in the dock."""
        if self._closed:
            return []
        self.last_round_at = time.monotonic()
        connections = self.provider_factory.connections()
        self._forget_deleted({c.id for c in connections})
        self._follow_sandbox_clock(connections)
        started = []
        for connection in connections:
            if self.sync_connection(connection, may_ask=may_ask):
                started.append(connection.id)
        self._show_state()
        if not self.syncing and not started:
            self._finish_round()
        return started

    def sync_connection(self, connection, may_ask: bool = True) -> bool:
        if self._closed or connection.id in self.syncing:
            return False
        if (not may_ask and connection.id not in self.providers and needs_stored_credentials(connection)
                and credentials_locked()):
            self.errors[connection.id] = LOCKED_MESSAGE
            return False
        if self.store is None or self.store.read_only:
            return False  # self.store_problem says why, in the dock
        provider = self.provider(connection)
        if provider is None:
            return False
        # On the team's shared store the task asks the provider only when no service keeps the store current
        # and nobody else syncs the connection now (team_service.desktop_sync).
        task = desktop_sync_task(provider, self.store, connection.id, self._on_synced,
                                 description=f"Syncing tasking orders of {connection.name}",
                                 sync_process=self.sync_process, recipe=self.providers[connection.id][2])
        self.syncing[connection.id] = task
        self.task_runner.start(task)
        return True

    def sync_connection_by_id(self, connection_id: str) -> bool:
        """Sync one connection now (after a decision taken elsewhere), if it is not syncing already."""
        connection = self._connection(connection_id)
        return connection is not None and self.sync_connection(connection)

    def provider(self, connection):
        """The connection's provider, kept between syncs; None (and the error shown) when it cannot be made."""
        kept = self.providers.get(connection.id)
        if kept is not None and kept[0] == connection:
            return kept[1]
        try:
            # A recipe (what the provider is made of) lets the sync process build the same provider; a factory
            # that cannot describe its providers (a test's) has them built here and synced here.
            recipe_for = getattr(self.provider_factory, "recipe_for", None)
            recipe = recipe_for(connection) if recipe_for is not None else None
            provider = recipe.build() if recipe is not None else self.provider_factory.provider_for(connection)
        except Exception as error:  # noqa: BLE001 - missing credentials etc. become one sentence
            message = user_message_for(error)
            if self.errors.get(connection.id) != message:
                self.messages.warning(f"{connection.name}: {message}")
            self.errors[connection.id] = message
            self.providers.pop(connection.id, None)
            return None
        self.providers[connection.id] = (connection, provider, recipe)
        self._learn_products(connection, provider)
        return provider

    def _learn_parameter_titles(self, connection, provider, products):
        """The dock labels an order's parameters with its product's schema titles: read once per product ordered."""
        used = {product_id for connection_id, product_id in self._ordered_products if connection_id == connection.id}
        wanted = [p for p in products if (p.id in used or p.id.split(":", 1)[-1] in used)
                  and p.id not in self._titled_products]
        if not wanted:
            return
        self._titled_products.update(p.id for p in wanted)

        def work(task):
            titles = {}
            for product in wanted:
                try:
                    titles.update({k: v for k, v in schema_titles(provider.order_schema(product)).items()
                                   if k not in titles})
                except Exception:  # noqa: BLE001 - a schema that cannot be read leaves the names in words
                    logger.debug("No schema titles for %s", product.id, exc_info=True)
            return titles

        def known(titles):
            if not self._closed:
                self.parameterTitlesKnown.emit(titles)

        self.task_runner.start(BackgroundTask(f"Reading the order forms of {connection.name}", work,
                                              on_success=known, cancel_without_prompt=True))

    def _learn_products(self, connection, provider):
        """The dock names products by title: the connection's catalogue is read once per provider."""
        def work(task):
            return provider.products()

        def known(products):
            if not self._closed:
                product_catalogue.remember(connection.id, products, lambda p: product_title(p, with_provider=True))
                self.productsKnown.emit(connection.id, products)
                self._products[connection.id] = products
                self._learn_parameter_titles(connection, provider, products)

        self.task_runner.start(BackgroundTask(
            f"Reading the products of {connection.name}", work, on_success=known,
            on_failure=lambda message: logger.info("Products of %s unknown: %s", connection.name, message),
            cancel_without_prompt=True))

    def _on_synced(self, result):
        if self._closed:
            return
        self.syncing.pop(result.connection_id, None)
        left_to_the_team = isinstance(result, LeftToTheTeam)
        self._store_sentences[result.connection_id] = result.sentence if left_to_the_team else ""
        if result.error:
            self.errors[result.connection_id] = result.error
        elif result.ok and result.skipped:
            # Records left out are named until the next sync; everything else was stored.
            self.errors[result.connection_id] = result.skipped_sentence()
            name = self.connection_names().get(result.connection_id, result.connection_id)
            self.messages.warning(f"{name}: {result.skipped_sentence()}")
        elif result.ok:
            self.errors.pop(result.connection_id, None)
        if result.changed or (left_to_the_team and not self.store_listened):
            # Left to the team: what the service wrote is read here, unless the store's announcements reach the
            # dock (then it reads at once, and only then).
            refresh_layers(self.project)
            self.reload_dock()
        self._round_results.append(result)
        self._round_events.extend(result.events)
        self._show_state()
        if not self.syncing:
            self._finish_round()

    def _finish_round(self):
        results, events = self._round_results, self._round_events
        self._round_results, self._round_events = [], []
        level, text = notice_for(events)
        if level is not None:
            self.messages.push(text, level)
        self.roundFinished.emit(results)

    def _forget_deleted(self, current: set) -> None:
        # Only connections seen and then deleted while the plugin runs: a store may be shared by
        # profiles whose connections this one does not know.
        if self._known_connections is not None:
            gone = self._known_connections - current
            for connection_id in gone:
                logger.info("Connection %s was deleted; forgetting its orders", connection_id)
                if self.store is not None and not self.store.read_only and not is_shared(self.store):
                    self.store.forget_connection(connection_id)  # a shared store's rows are the team's
                self.providers.pop(connection_id, None)
                self.errors.pop(connection_id, None)
            if gone:
                refresh_layers(self.project)
                self.reload_dock()
        self._known_connections = set(current)

    # -- the sandbox's clock ---------------------------------------------------------------------
    def _follow_sandbox_clock(self, connections) -> None:
        """The dock shows the sandbox's time while a sandbox connection exists; read once per round."""
        if not any(c.kind == ConnectionKind.SANDBOX for c in connections):
            self.sandboxPresent.emit(False)
            return
        self.sandboxPresent.emit(True)
        self._sandbox_clock_task("Reading the sandbox's clock", read_clock)

    def set_sandbox_speed(self, speed: float):
        QgsSettings().setValue(SANDBOX_SPEED_KEY, float(speed))  # the next QGIS session starts at this speed
        return self._sandbox_clock_task(f"Setting the sandbox's clock to ×{speed:g}",
                                        lambda url: set_speed(url, speed))

    def jump_sandbox_to_next_event(self):
        return self._sandbox_clock_task("Jumping the sandbox's clock to the next event", jump_to_next_event,
                                        then_sync=True)

    def _sandbox_clock_task(self, description, call, then_sync=False):
        if self._closed:
            return None
        sandbox = self.provider_factory.sandbox

        def work(task):
            try:
                return call(sandbox.url())
            except (OSError, ValueError, KeyError) as error:  # requests' errors are OSErrors; a bad answer
                logger.info("The sandbox's clock could not be reached: %s", error)
                return None

        def shown(sandbox_time):
            if self._closed or sandbox_time is None:
                return
            self.sandboxTimeRead.emit(sandbox_time)
            if then_sync:
                self.sync_all()

        return self.task_runner.start(BackgroundTask(
            description, work, on_success=shown,
            on_failure=lambda message: logger.info("The sandbox's clock could not be read: %s", message),
            cancel_without_prompt=True))

    # -- showing --------------------------------------------------------------------------------
    def connection_names(self) -> dict:
        return {c.id: c.name for c in self.provider_factory.connections()}

    def reload_dock(self):
        """Show the store in the dock. The store is read in a background task: with thousands of
        orders the read takes a second, which the GUI thread must not spend."""
        if self._closed or self.store is None:
            return
        self._reload_generation += 1
        generation, store = self._reload_generation, self.store
        self.task_runner.start(BackgroundTask(
            "Reading the tasking order store", lambda task: read_dock_snapshot(store),
            on_success=lambda snapshot: self._show_snapshot(generation, snapshot),
            on_failure=lambda message: logger.warning("The order store could not be read: %s", message),
            cancel_without_prompt=True))

    def store_changed(self) -> None:
        """Someone else changed the store (the team's sync service, another QGIS announced it): the layers and
        the dock read it again; the provider is not asked."""
        if self._closed or self.store is None:
            return
        refresh_layers(self.project)
        self.reload_dock()

    def dock_up_to_date(self) -> bool:
        """No store read under way and the last one shown (tests and scripts wait on this)."""
        busy = self.view_busy
        return self._shown_generation == self._reload_generation and not (busy is not None and busy())

    def _show_snapshot(self, generation, snapshot):
        if self._closed or generation != self._reload_generation:
            return  # a newer read is on its way
        self._shown_generation = generation
        self._ordered_products = {(order[LISTED_CONNECTION], order[LISTED_PRODUCT]) for order in snapshot[0]}
        self.storeRead.emit(snapshot, self.connection_names())
        for connection_id, (connection, provider, _recipe) in list(self.providers.items()):
            if connection_id in self._products:
                self._learn_parameter_titles(connection, provider, self._products[connection_id])
        self._show_state()

    def _show_state(self):
        if self._closed:
            return
        names = self.connection_names()
        errors = {names.get(cid, cid): text for cid, text in self.errors.items()}
        if self.store_problem:
            errors["Order store"] = self.store_problem
        self.stateChanged.emit(errors, sorted(names.get(cid, cid) for cid in self.syncing))
        self.storeSyncChanged.emit(" ".join(dict.fromkeys(
            text for cid, text in sorted(self._store_sentences.items()) if text)))

    def full_order(self, order: Order) -> Order:
        """``order`` (maybe a light one from the listing) read in full from the store, by its key; as given
        when the store no longer has it or cannot be read."""
        if self.store is None:
            return order
        try:
            return full_order(self.store, order.connection_id, order.id) or order
        except Exception as error:  # noqa: BLE001 - a store unreadable now (either kind): the listed order stays
            logger.warning("Order %s could not be read in full: %s", order.id, error)
            return order

    def details_of(self, order) -> tuple:
        if self.store is None:
            return [], []
        return (self.store.status_history(order.connection_id, order.id),
                self.store.captures(order.connection_id, order.id))

    def show_layers(self):
        """The orders and captures layers in the project (added when missing), watched for selections."""
        if self._closed or self.store is None:
            return ()
        layers = ensure_store_layers(self.project, self.store)
        self._watch_layer_selections(list(layers))
        return layers

    def _watch_existing_layers(self):
        """Follow the selections of the plugin's layers the project already has; adds none."""
        if self._closed:
            return
        self._watch_layer_selections(list(find_layers(self.project).values()))

    def show_on_map(self):
        """The user asked for the map: the layers (added when missing), zoomed to the orders."""
        layers = self.show_layers()
        orders = find_layers(self.project).get(ORDERS_ROLE)
        canvas = self.iface.mapCanvas() if self.iface is not None else None
        if orders is not None and canvas is not None and orders.featureCount():
            orders.updateExtents()
            canvas.setExtent(canvas.mapSettings().layerExtentToOutputExtent(orders, orders.extent()))
            canvas.refresh()
        return layers

    def _open_store(self) -> None:
        """The project's store; one that cannot be used (damaged, another application's) leaves the monitor
        without a store and a sentence in the dock instead of a traceback; a read-only one is shown, not synced."""
        try:
            self.store = open_project_store(self.project)  # the GeoPackage, or the shared store chosen
            self.store_problem = self.store.problem
        except StoreError as error:
            self.store = None
            self.store_problem = error.user_message
        if self.store_problem:
            logger.warning("%s", self.store_problem)
        self._store_sentences.clear()
        self.storeOpened.emit(self.store)
        self._show_state()

    def reopen_store(self) -> None:
        """The project's store was chosen again (the store dialog): open it and show it, as after a project read."""
        self._project_read()

    def _project_read(self, *_):
        self._open_store()
        self.providers.clear()
        self._watch_layer_selections([])
        self.reload_dock()
        if self.shown:
            self._watch_existing_layers()

    # -- selection, both ways -------------------------------------------------------------------
    def _watch_layer_selections(self, layers: list) -> None:
        for layer in self._selected_layers:
            if not sip.isdeleted(layer):
                layer.selectionChanged.disconnect(self._layer_selection_changed)
        self._selected_layers = [layer for layer in layers if layer is not None]
        for layer in self._selected_layers:
            layer.selectionChanged.connect(self._layer_selection_changed)

    def _layers(self) -> dict:
        return {role: layer for role, layer in find_layers(self.project).items() if layer in self._selected_layers}

    def select_on_map(self, order: Optional[Order]) -> None:
        """The order chosen in the dock (None: none) is selected on the plugin's layers."""
        if self._updating_selection:
            return
        self._updating_selection = True
        try:
            for layer in self._layers().values():
                if order is None:
                    layer.removeSelection()
                    continue
                expression = order_expression(order.connection_id, order.id)
                ids = [f.id() for f in layer.getFeatures(QgsFeatureRequest().setFilterExpression(expression)
                                                         .setNoAttributes()
                                                         .setFlags(QgsFeatureRequest.Flag.NoGeometry))]
                layer.selectByIds(ids)
        finally:
            self._updating_selection = False

    def _layer_selection_changed(self, *_):
        if self._updating_selection or self._closed:
            return
        layer = self.sender()
        if layer is None or not layer.selectedFeatureIds():
            return
        feature = next(layer.getSelectedFeatures(QgsFeatureRequest().setFlags(QgsFeatureRequest.Flag.NoGeometry)),
                       None)
        if feature is None:
            return
        self._updating_selection = True
        try:
            connection_id, order_id = str(feature["connection_id"]), str(feature["order_id"])
            self.orderPickedOnMap.emit(connection_id, order_id)  # the dock selects its row
            # The other layer follows.
            expression = order_expression(connection_id, order_id)
            for other in self._layers().values():
                if other is not layer:
                    other.selectByIds([f.id() for f in other.getFeatures(
                        QgsFeatureRequest().setFilterExpression(expression).setNoAttributes()
                        .setFlags(QgsFeatureRequest.Flag.NoGeometry))])
        finally:
            self._updating_selection = False

    def zoom_to_order(self, order):
        layer = find_layers(self.project).get(ORDERS_ROLE)
        if layer is None:
            layer = next(iter(self.show_layers()), None)
        if layer is None:
            return
        expression = order_expression(order.connection_id, order.id)
        ids = [f.id() for f in layer.getFeatures(QgsFeatureRequest().setFilterExpression(expression)
                                                 .setNoAttributes())]
        if ids:
            self.iface.mapCanvas().zoomToFeatureIds(layer, ids)
            self.iface.mapCanvas().refresh()

    # -- actions on an order --------------------------------------------------------------------
    def _connection(self, connection_id):
        return next((c for c in self.provider_factory.connections() if c.id == connection_id), None)

    def capabilities(self, order) -> tuple:
        """(can cancel, editable fields) of an order, from the provider's rules (no network)."""
        connection = self._connection(order.connection_id)
        kept = self.providers.get(order.connection_id)
        if connection is None or kept is None:
            return False, frozenset()
        provider = kept[1]
        try:
            return bool(provider.can_cancel(order)), frozenset(provider.editable_fields(order))
        except Exception:  # noqa: BLE001 - a provider that cannot tell offers nothing
            logger.debug("No capabilities for %s", order.id, exc_info=True)
            return False, frozenset()

    def _run_action(self, order, description, work, on_success):
        connection = self._connection(order.connection_id)
        provider = self.provider(connection) if connection is not None else None
        if provider is None:
            self.messages.warning(f"The connection of order “{order.name}” is not available.")
            return None

        def succeeded(result):
            if self._closed:
                return
            on_success(result)
            self.sync_connection(connection)

        def failed(message):
            if not self._closed:
                self.messages.error(message)

        task = BackgroundTask(description, lambda task: work(provider, task), on_success=succeeded,
                              on_failure=failed)
        return self.task_runner.start(task)

    def cancel_order(self, order: Order):
        """Cancel an order the user confirmed cancelling (the dock asks first)."""
        return self._run_action(order, f"Cancelling order {order.name}",
                                lambda provider, task: provider.cancel(order),
                                lambda result: self.messages.info(f"Order “{order.name}” is now "
                                                                  f"{result.status.describe()}."))

    def editable_fields(self, order: Order) -> frozenset:
        """The fields of ``order`` the dock's edit form may change now ({} when it cannot be edited)."""
        return frozenset(self.capabilities(order)[1] & EDITABLE_FIELDS)

    def edit_order(self, order: Order, changes: dict):
        """Send the changes the user made in the dock's edit form (``provider.edit``'s fields)."""
        if not changes:
            return None
        return self._run_action(order, f"Editing order {order.name}",
                                lambda provider, task: provider.edit(order, changes),
                                lambda result: self.messages.info(f"Order “{result.name}” was changed."))

    def decide_order(self, order):
        connection = self._connection(order.connection_id)
        if self.decisions_opener is not None and connection is not None:
            return self.decisions_opener(connection)
        return None

    def download_order(self, order: Order, folder):
        """Download the order's delivery into the folder the user chose (the dock asks), then add its rasters."""
        if not folder:
            return None
        QgsSettings().setValue(DOWNLOAD_FOLDER_KEY, str(folder))

        def work(provider, task):
            files = []
            deliveries = provider.deliveries(order)
            assets = [asset for delivery in deliveries for asset in delivery.assets]
            for number, asset in enumerate(assets):
                files.append(provider.download(asset, Path(folder) / _folder_name(order), cancelled=task.isCanceled))
                task.setProgress(100 * (number + 1) / max(len(assets), 1))
            return files

        return self._run_action(order, f"Downloading the delivery of {order.name}", work,
                                lambda files: self._add_imagery(order, files))

    def _add_imagery(self, order, files):
        if not files:
            self.messages.warning(f"Nothing has been delivered for order “{order.name}” yet.")
            return
        added = 0
        for path in files:
            if Path(path).suffix.lower() not in RASTER_SUFFIXES:
                continue
            layer = QgsRasterLayer(str(path), f"{order.name} — {Path(path).stem}")
            if layer.isValid():
                self.project.addMapLayer(layer)
                added += 1
            else:
                logger.warning("Downloaded file %s is not a readable raster", path)
        files_text = f"{len(files)} file" if len(files) == 1 else f"{len(files)} files"
        self.messages.success(f"Downloaded {files_text} of order “{order.name}” into "
                              f"{Path(files[0]).parent}; {added} added to the map.")


def download_folder() -> str:
    """Where the download folder picker opens: the folder chosen last, else the user's home."""
    last = QgsSettings().value(DOWNLOAD_FOLDER_KEY, "", type=str)
    return last if last and Path(last).is_dir() else str(Path.home())


def order_expression(connection_id, order_id) -> str:
    """The expression selecting one order's features. Ids come from providers: QGIS's own quoting escapes
    what would end the string early (a quote, and a backslash before the closing quote)."""
    return (f"{QgsExpression.quotedColumnRef('connection_id')} = {QgsExpression.quotedString(str(connection_id))} "
            f"AND {QgsExpression.quotedColumnRef('order_id')} = {QgsExpression.quotedString(str(order_id))}")


def _folder_name(order) -> str:
    from .providers.base import safe_file_name

    return safe_file_name(f"{order.name or order.id} {order.id[:8]}")


__all__ = ["DEFAULT_SYNC_INTERVAL_S", "DOWNLOAD_FOLDER_KEY", "EDITABLE_FIELDS", "OrderMonitor", "SYNC_INTERVAL_KEY",
           "current_user_name", "download_folder", "notice_for", "read_dock_snapshot", "read_placers", "read_snapshot",
           "sync_interval_seconds"]
