"""TaskingPlugin: what the plugin adds to QGIS, and takes away again on unload.

Every toolbar action, menu entry, dock, layer-tree action, signal connection, log handler
and translator that ``initGui`` adds is recorded here and removed by ``unload``, so the
plugin can be reloaded (Plugin Reloader, plugin manager) without leaving anything behind.
"""
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from qgis.core import Qgis, QgsApplication, QgsMapLayerType, QgsProject, QgsVectorLayer, QgsWkbTypes
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QLocale, QSettings, Qt, QTimer, QTranslator
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QMessageBox

from .drafts import DraftStore
from .log import install_log_handler, remove_log_handler
from .message_bar import MessageBar
from .metadata import plugin_metadata, plugin_name, plugin_version
from .provider_factory import ProviderFactory
from .sandbox_service import SandboxService
from .sessions import SessionFactory
from .settings import SETTINGS_PREFIX, ConnectionSettings
from .tasks import TaskRunner

logger = logging.getLogger(__name__)

PLUGIN_DIR = Path(__file__).resolve().parent.parent
ICONS_DIR = PLUGIN_DIR / "resources" / "icons"
I18N_DIR = PLUGIN_DIR / "resources" / "i18n"
TOOLBAR_OBJECT_NAME = "SatelliteTaskingToolbar"
MENU_NAME = "Satellite tasking"
TASK_ACTION_TEXT = "Task a satellite over selected features"
START_SANDBOX_ENV = "SATELLITE_TASKING_START_SANDBOX"


def icon(name: str) -> QIcon:
    return QIcon(str(ICONS_DIR / name))


def _saved_sandbox_speed():
    """The sandbox clock's speed the user chose last in the monitor (None: the environment's or the default)."""
    from qgis.core import QgsSettings

    from .monitor import SANDBOX_SPEED_KEY

    value = QgsSettings().value(SANDBOX_SPEED_KEY, None)
    try:
        return None if value in (None, "") else max(float(value), 0.0)
    except (TypeError, ValueError):
        return None


def is_taskable_layer(layer) -> bool:
    """Vector layers whose features can become AOIs: polygons (and points/lines for some products)."""
    return isinstance(layer, QgsVectorLayer) and layer.geometryType() in (
        QgsWkbTypes.GeometryType.PolygonGeometry,
        QgsWkbTypes.GeometryType.PointGeometry,
        QgsWkbTypes.GeometryType.LineGeometry,
    )


class TaskingPlugin:
    def __init__(
        self,
        iface,
        *,
        sandbox: Optional[SandboxService] = None,
        provider_factory: Optional[ProviderFactory] = None,
        draft_store: Optional[DraftStore] = None,
        task_runner: Optional[TaskRunner] = None,
        session_factory: Optional[SessionFactory] = None,
    ):
        """QGIS calls this with ``iface`` alone (classFactory); the keyword parts are for those who build the
        plugin around other parts: a sandbox on a fixed clock, drafts in a folder of their own, sessions with
        another user agent. ``session_factory`` goes into the default provider factory (None: from QGIS's
        proxy settings when a provider is made)."""
        self.iface = iface
        self.messages = MessageBar(iface)
        self.task_runner = task_runner if task_runner is not None else TaskRunner()
        settings_dir = Path(QgsApplication.qgisSettingsDirPath()) / SETTINGS_PREFIX
        # A new sandbox lives in the real present, like the order form's dates; saved state continues its own time.
        self.sandbox = sandbox if sandbox is not None else SandboxService(
            state_file=settings_dir / "sandbox-state.json",
            start=lambda: datetime.now(timezone.utc),
            speed=_saved_sandbox_speed(),
        )
        self.actions = []
        self.toolbar = None
        self.monitor_dock = None
        self.monitor = None
        self.layer_task_action = None
        self.translator = None
        self._log_handler = None
        self._connections_dialog = None
        self._order_dialog = None
        self._decisions_dialog = None
        self._store_dialog = None
        self.provider_factory = provider_factory if provider_factory is not None else ProviderFactory(
            self.sandbox, session_factory=session_factory)
        self.draft_store = draft_store if draft_store is not None else DraftStore(settings_dir / "drafts")
        self.processing_provider = None

    # -- life cycle -----------------------------------------------------------
    def initProcessing(self):
        """Called alone by qgis_process (no GUI), and by initGui in the desktop."""
        from .processing.provider import TaskingProcessingProvider

        if self.processing_provider is None:
            self.processing_provider = TaskingProcessingProvider(self.provider_factory)
            QgsApplication.processingRegistry().addProvider(self.processing_provider)

    def initGui(self):
        self.initProcessing()
        self._log_handler = install_log_handler()
        self._install_translator()
        ConnectionSettings().ensure_sandbox_connection()

        self.toolbar = self.iface.addToolBar(MENU_NAME)
        self.toolbar.setObjectName(TOOLBAR_OBJECT_NAME)
        self.toolbar.setToolTip(MENU_NAME)

        self.task_action = self._add_action(
            "tasking.svg", TASK_ACTION_TEXT, self.task_selected_layers,
            "Place tasking orders over the selected features of the selected layers",
        )
        self.monitor_action = self._add_action(
            "monitor.svg", "Order monitor", self.toggle_monitor, "Show or hide the tasking order monitor",
            checkable=True,
        )
        self.decisions_action = self._add_action(
            "tasking.svg", "Feasibility and quotes…", self.show_decisions,
            "Choose feasibility options and accept or reject price quotes", add_to_toolbar=False,
        )
        self.connections_action = self._add_action(
            "connections.svg", "Connections…", self.show_connections, "Add, edit and test provider connections",
        )
        self.store_action = self._add_action(
            "connections.svg", "Order store…", self.show_store,
            "Keep this project's orders in its own GeoPackage or in the team's shared PostGIS store",
            add_to_toolbar=False,
        )
        self.about_action = self._add_action("tasking.svg", f"About {plugin_name()}", self.show_about,
                                             add_to_toolbar=False)

        self._create_monitor_dock()
        self._start_monitor()
        self._add_layer_tree_action()
        if os.environ.get(START_SANDBOX_ENV) == "1":
            # `make run` asks for the sandbox at once; started after QGIS has finished opening.
            QTimer.singleShot(0, self._start_sandbox)
        logger.info("%s %s loaded", plugin_name(), plugin_version())

    def _start_sandbox(self):
        if self.toolbar is None:  # unloaded before the timer fired
            return
        try:
            logger.info("Sandbox running at %s", self.sandbox.url())
        except OSError as error:
            self.messages.error(f"The sandbox could not start: {error}")

    def unload(self):
        if self.processing_provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.processing_provider)
            self.processing_provider = None
        if self.monitor is not None:
            self.monitor_dock.detach()
            self.monitor.stop()
            self.monitor.deleteLater()
            self.monitor = None
        self.task_runner.cancel_all()
        self.sandbox.stop()
        self._remove_layer_tree_action()
        for action in self.actions:
            self.iface.removePluginWebMenu(MENU_NAME, action)
            if self.toolbar is not None:
                self.toolbar.removeAction(action)
            action.deleteLater()
        self.actions = []
        if self.monitor_dock is not None:
            self.monitor_dock.visibilityChanged.disconnect(self._monitor_visibility_changed)
            self.iface.removeDockWidget(self.monitor_dock)
            self.monitor_dock.setParent(None)
            self.monitor_dock.deleteLater()
            self.monitor_dock = None
        for name in ("_connections_dialog", "_order_dialog", "_decisions_dialog", "_store_dialog"):
            dialog = getattr(self, name)
            if dialog is not None and not sip.isdeleted(dialog):
                dialog.close()
                dialog.deleteLater()
            setattr(self, name, None)
        if self.toolbar is not None:
            self.iface.mainWindow().removeToolBar(self.toolbar)
            self.toolbar.setParent(None)
            self.toolbar.deleteLater()
            self.toolbar = None
        self._remove_translator()
        if self._log_handler is not None:
            remove_log_handler(self._log_handler)
            self._log_handler = None

    # -- building blocks ------------------------------------------------------
    def _add_action(self, icon_name, text, callback, tip="", checkable=False, add_to_toolbar=True):
        action = QAction(icon(icon_name), text, self.iface.mainWindow())
        action.setObjectName(f"satelliteTasking{''.join(w.title() for w in text.split()[:3] if w.isalpha())}")
        action.setToolTip(tip or text)
        action.setStatusTip(tip or text)
        action.setCheckable(checkable)
        action.triggered.connect(callback)
        self.iface.addPluginToWebMenu(MENU_NAME, action)
        if add_to_toolbar:
            self.toolbar.addAction(action)
        self.actions.append(action)
        return action

    def _create_monitor_dock(self):
        from ..ui.monitor_dock import MonitorDock

        self.monitor_dock = MonitorDock(self.iface.mainWindow())
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.monitor_dock)
        self.monitor_dock.visibilityChanged.connect(self._monitor_visibility_changed)
        self.monitor_dock.hide()

    def _start_monitor(self):
        from .monitor import OrderMonitor

        self.monitor = OrderMonitor(self.iface, self.provider_factory, self.task_runner, self.messages,
                                    decisions_opener=self.show_decisions)
        self.monitor.setObjectName("satelliteTaskingOrderMonitor")
        self.monitor_dock.attach(self.monitor)  # the dock shows the monitor and asks before its actions
        self.monitor.start()

    def _add_layer_tree_action(self):
        # One action, offered in the layer tree's context menu of every taskable layer:
        # those already in the project and those added later.
        self.layer_task_action = QAction(icon("tasking.svg"), TASK_ACTION_TEXT, self.iface.mainWindow())
        self.layer_task_action.setObjectName("satelliteTaskingLayerAction")
        self.layer_task_action.triggered.connect(self.task_current_layer)
        self.iface.addCustomActionForLayerType(self.layer_task_action, "", QgsMapLayerType.VectorLayer, False)
        for layer in QgsProject.instance().mapLayers().values():
            self._offer_layer_action(layer)
        QgsProject.instance().layerWasAdded.connect(self._offer_layer_action)

    def _offer_layer_action(self, layer):
        if is_taskable_layer(layer):
            self.iface.addCustomActionForLayer(self.layer_task_action, layer)

    def _remove_layer_tree_action(self):
        if self.layer_task_action is None:
            return
        QgsProject.instance().layerWasAdded.disconnect(self._offer_layer_action)
        self.iface.removeCustomActionForLayerType(self.layer_task_action)
        self.layer_task_action.deleteLater()
        self.layer_task_action = None

    def _install_translator(self):
        locale = (QSettings().value("locale/userLocale", "") or QLocale().name())[:2]
        path = I18N_DIR / f"satellite_tasking_{locale}.qm"
        if path.exists():
            translator = QTranslator()
            if translator.load(str(path)):
                QCoreApplication.installTranslator(translator)
                self.translator = translator

    def _remove_translator(self):
        if self.translator is not None:
            QCoreApplication.removeTranslator(self.translator)
            self.translator = None

    # -- actions --------------------------------------------------------------
    def toggle_monitor(self, checked=None):
        visible = (not self.monitor_dock.isVisible()) if checked is None else bool(checked)
        self.monitor_dock.setUserVisible(visible)

    def _monitor_visibility_changed(self, visible):
        self.monitor_action.setChecked(visible)

    def show_connections(self):
        from ..ui.connections_dialog import ConnectionsDialog

        if self._connections_dialog is None:
            self._connections_dialog = ConnectionsDialog(self.task_runner, parent=self.iface.mainWindow(),
                                                         sandbox_url=self.sandbox.url)
        self._connections_dialog.show()
        self._connections_dialog.raise_()
        self._connections_dialog.activateWindow()

    def show_store(self):
        """Where this project's orders are kept (its GeoPackage or the team's shared store); the monitor opens
        the store chosen at once."""
        from ..ui.store_dialog import StoreDialog

        if self._store_dialog is None:
            self._store_dialog = StoreDialog(self.task_runner, parent=self.iface.mainWindow())
            self._store_dialog.storeChosen.connect(self._store_chosen)
        else:
            self._store_dialog.load()
        self._store_dialog.show()
        self._store_dialog.raise_()
        self._store_dialog.activateWindow()

    def _store_chosen(self):
        if self.monitor is not None:
            self.monitor.reopen_store()

    def show_about(self):
        text = (
            f"{plugin_name()} {plugin_version()}\n\n{plugin_metadata('about')}\n\n"
            f"QGIS {Qgis.QGIS_VERSION}\n{plugin_metadata('homepage')}"
        )
        box = QMessageBox(QMessageBox.Icon.Information, f"About {plugin_name()}", text,
                          QMessageBox.StandardButton.Ok, self.iface.mainWindow())
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.exec()

    def task_selected_layers(self):
        layers = [layer for layer in self.iface.layerTreeView().selectedLayers() if is_taskable_layer(layer)]
        self._task_layers(layers)

    def task_current_layer(self):
        layer = self.iface.layerTreeView().currentLayer() or self.iface.activeLayer()
        self._task_layers([layer] if is_taskable_layer(layer) else [])

    def _task_layers(self, layers):
        draft = self.draft_store.load()
        if not layers or not sum(layer.selectedFeatureCount() for layer in layers):
            if draft is not None and draft.aois and not draft.fully_placed:
                self.open_order_dialog([])  # nothing new selected: carry on with the saved draft
            elif not layers:
                self.messages.warning("Select a polygon layer in the Layers panel, then select features on it.")
            else:
                names = ", ".join(layer.name() for layer in layers)
                self.messages.warning(f"No features are selected in {names}. Select the areas to image first.")
            return
        self.open_order_dialog(layers)

    def open_order_dialog(self, layers):
        from ..ui.order_dialog import OrderDialog

        if self._order_dialog is not None and not sip.isdeleted(self._order_dialog):
            self._order_dialog.close()
        self._order_dialog = OrderDialog(
            self.iface, self.provider_factory, self.task_runner, self.draft_store, layers=layers,
            messages=self.messages, decisions_opener=self.show_decisions, parent=self.iface.mainWindow(),
            shared_store=lambda: self.monitor.store if self.monitor is not None else None)
        self._order_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._order_dialog.show()
        return self._order_dialog

    def show_decisions(self, connection=None):
        from ..ui.decisions_dialog import DecisionsDialog

        if connection is None or isinstance(connection, bool):
            wanted = self.provider_factory.default_connection_id()
            connection = next((c for c in self.provider_factory.connections() if c.id == wanted), None)
        if connection is None:
            self.messages.warning("Add a connection first (Connections…).")
            return None
        try:
            provider = self.provider_factory.provider_for(connection)
        except Exception as error:  # noqa: BLE001 - missing credentials etc. become one sentence
            self.messages.error(getattr(error, "user_message", None) or str(error))
            return None
        if self._decisions_dialog is not None and not sip.isdeleted(self._decisions_dialog):
            self._decisions_dialog.close()
        self._decisions_dialog = DecisionsDialog(provider, self.task_runner, messages=self.messages,
                                                 parent=self.iface.mainWindow())
        self._decisions_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if self.monitor is not None:
            self._decisions_dialog.decided.connect(self.monitor.sync_connection_by_id)
        self._decisions_dialog.show()
        return self._decisions_dialog
