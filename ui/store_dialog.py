"""Where a project's orders are kept: its own GeoPackage (the default) or the team's shared PostGIS store.

Only shows and asks; the choice itself is ``plugin/store_choice.py``: a QGIS PostgreSQL connection's *name* or a
``service=`` string (never a password), and a schema, kept in the project or in the plugin settings. "Check the
store" connects in a background task; the credentials of a QGIS connection are read here first, on the GUI thread,
because reading them may ask for QGIS's master password (a user's click may, a background thread may not).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from qgis.core import QgsProject
from qgis.PyQt import sip, uic
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox

from ..plugin.store_choice import (
    PROJECT_SCOPE_CHOICE,
    QGIS_CONNECTION_PREFIX,
    credentials_of,
    qgis_postgres_connections,
    set_default_shared_store,
    set_project_shared_store,
    source_of,
    store_choice,
)
from ..plugin.store_postgis import DEFAULT_SCHEMA, SCHEMA_NAME, PostgisStore
from ..plugin.tasks import BackgroundTask, user_message_for

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("store_dialog.ui")))

OTHER_DATABASE = "Another database (pg_service.conf service)…"


def check_store(conninfo: str, schema: str, credentials) -> str:
    """Open the store (creating or migrating its tables) and say what it is, in a sentence (a background task)."""
    store = PostgisStore(conninfo, schema=schema, credentials=credentials)
    text = f"The store answers (schema {schema}, version {store.schema_version()})."
    if store.problem:
        return f"{text} {store.problem}"
    if store.service_syncs():
        text += (" A sync service keeps it current: this QGIS reads it and leaves the providers alone while the "
                 "service is at work.")
    else:
        text += " No sync service keeps it current yet: each QGIS syncs its connections into it, one at a time."
    return text


class StoreDialog(QDialog, FORM_CLASS):
    """Choose the project's store; ``storeChosen`` fires after Save (the monitor reopens its store then)."""

    storeChosen = pyqtSignal()

    def __init__(self, task_runner, project: Optional[QgsProject] = None, parent=None):
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName("satelliteTaskingStoreDialog")
        self.task_runner = task_runner
        self.project = project or QgsProject.instance()
        self._checking = None
        self.sharedRadio.toggled.connect(self._update)
        self.connectionCombo.currentIndexChanged.connect(self._update)
        self.checkButton.clicked.connect(self.check)
        self.buttonBox.accepted.connect(self.save)
        self.buttonBox.rejected.connect(self.reject)
        self.load()

    # -- showing ------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Show the choice in force now (the project's, else the plugin settings')."""
        choice = store_choice(self.project)
        self.connectionCombo.clear()
        for name in sorted(qgis_postgres_connections(), key=str.lower):
            self.connectionCombo.addItem(name, QGIS_CONNECTION_PREFIX + name)
        self.connectionCombo.addItem(OTHER_DATABASE, "")
        if choice.store.startswith(QGIS_CONNECTION_PREFIX):
            index = self.connectionCombo.findData(choice.store)
            if index < 0:  # a connection this QGIS does not have (yet): shown, so saving keeps it
                self.connectionCombo.insertItem(0, choice.store[len(QGIS_CONNECTION_PREFIX):] + " (missing here)",
                                                choice.store)
                index = 0
            self.connectionCombo.setCurrentIndex(index)
        elif choice.store:
            self.connectionCombo.setCurrentIndex(self.connectionCombo.count() - 1)
            self.serviceEdit.setText(choice.store)
        self.schemaEdit.setText(choice.schema or DEFAULT_SCHEMA)
        self.sharedRadio.setChecked(choice.shared)
        self.geopackageRadio.setChecked(not choice.shared)
        # Where the choice in force is kept; nothing chosen anywhere yet: a new choice goes into the project.
        in_settings = choice.scope != PROJECT_SCOPE_CHOICE and choice.shared
        (self.settingsScopeRadio if in_settings else self.projectScopeRadio).setChecked(True)
        self.statusLabel.setText(choice.describe())
        self._update()

    def _update(self, *_) -> None:
        shared = self.sharedRadio.isChecked()
        self.sharedBox.setEnabled(shared)
        other = not self.connectionCombo.currentData()
        self.serviceEdit.setEnabled(shared and other)
        self.serviceLabel.setEnabled(shared and other)
        self.checkButton.setEnabled(shared and self._checking is None)

    def chosen_store(self) -> str:
        """What the project or the settings will keep: "" (the GeoPackage), ``qgis:<name>`` or a libpq string."""
        if not self.sharedRadio.isChecked():
            return ""
        return self.connectionCombo.currentData() or self.serviceEdit.text().strip()

    def _problem(self) -> str:
        """Why the choice cannot be kept as it stands, or ""."""
        if not self.sharedRadio.isChecked():
            return ""
        chosen = self.chosen_store()
        if not chosen:
            return ("Choose one of QGIS's PostgreSQL connections, or name a pg_service.conf service "
                    "(service=tasking).")
        if not chosen.startswith(QGIS_CONNECTION_PREFIX) and "password" in chosen.lower():
            return ("A password does not belong here: keep it in ~/.pgpass or in a QGIS PostgreSQL connection with "
                    "an authentication configuration.")
        if not SCHEMA_NAME.match(self.schemaEdit.text().strip()):
            return "The schema is a plain PostgreSQL name: lower-case letters, digits and _, such as tasking."
        return ""

    # -- acting -------------------------------------------------------------------------------------------
    def check(self) -> None:
        """Connect to the chosen store in the background and say what it is."""
        problem = self._problem()
        if problem:
            self.statusLabel.setText(problem)
            return
        try:
            source = source_of(self.chosen_store())
            # Read on the GUI thread: it may ask for the master password. Kept only for this one check.
            found = credentials_of(source.authcfg)() if source.authcfg else None
        except Exception as error:  # noqa: BLE001 - a missing connection, locked credentials: one sentence
            self.statusLabel.setText(user_message_for(error))
            return
        conninfo, schema = source.conninfo, self.schemaEdit.text().strip()
        credentials = (lambda: found) if found is not None else None
        self.statusLabel.setText("Connecting to the shared store…")
        task = BackgroundTask("Checking the shared order store", lambda running: check_store(conninfo, schema,
                                                                                               credentials),
                              on_success=self._checked, on_failure=self._checked, cancel_without_prompt=True)
        self._checking = task
        self._update()
        self.task_runner.start(task)

    def _checked(self, sentence: str) -> None:
        if sip.isdeleted(self):
            return
        self._checking = None
        self.statusLabel.setText(sentence)
        self._update()

    def save(self) -> None:
        """Keep the choice where asked and tell the monitor; the dialog stays open when it cannot be kept."""
        problem = self._problem()
        if problem:
            self.statusLabel.setText(problem)
            return
        chosen, schema = self.chosen_store(), self.schemaEdit.text().strip() or DEFAULT_SCHEMA
        try:
            if self.projectScopeRadio.isChecked():
                set_project_shared_store(self.project, chosen, schema)
            else:
                set_default_shared_store(chosen, schema)
                set_project_shared_store(self.project, None)  # the project follows the settings from now on
        except ValueError as error:
            self.statusLabel.setText(str(error))
            return
        self.storeChosen.emit()
        self.accept()

    def ok_button(self):
        return self.buttonBox.button(QDialogButtonBox.StandardButton.Save)


__all__ = ["StoreDialog", "check_store"]
