"""The Connections dialog: add, edit, remove and test provider connections.

The dialog writes the connection to QgsSettings and the credentials to the QGIS
authentication database; the password field is never filled back from the database, so a
secret shown once is never shown again (leaving it empty keeps the stored one).
"""
import logging
from pathlib import Path
from typing import Callable, Optional

from qgis.PyQt import sip, uic
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QDialog, QLineEdit, QListWidgetItem, QMessageBox, QWidget

from ..plugin.connection_check import check_connection
from ..plugin.http import InsecureUrl, require_secure_url
from ..plugin.model import DEFAULT_BASE_URLS, Connection, ConnectionKind
from ..plugin.sessions import SessionFactory
from ..plugin.settings import (
    ConnectionSettings,
    CredentialsError,
    may_ask_again,
    new_connection_id,
    read_credentials,
    store_credentials,
)
from ..plugin.tasks import BackgroundTask, TaskRunner
from .schema_form_widgets import rich_tooltip

logger = logging.getLogger(__name__)

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("connections_dialog.ui")))

_CREDENTIAL_LABELS = {
    ConnectionKind.UP42: ("User name (e-mail)", "Password"),
    ConnectionKind.PLANET: ("API key", ""),
    ConnectionKind.STAPI: ("Token or API key (optional)", ""),
    ConnectionKind.SANDBOX: ("", ""),
}
# Kinds whose first credential field is itself the secret (an API key or token): typed masked, never read back.
_SECRET_FIRST_FIELD = {ConnectionKind.PLANET, ConnectionKind.STAPI}
NEW_CONNECTION_NAME = "New connection"


class ConnectionsDialog(QDialog, FORM_CLASS):
    def __init__(self, task_runner: TaskRunner, settings: Optional[ConnectionSettings] = None,
                 parent: Optional[QWidget] = None, sandbox_url: Optional[Callable[[], str]] = None,
                 session_factory: Optional[SessionFactory] = None):
        super().__init__(parent)
        self.setupUi(self)
        self.task_runner = task_runner
        self.settings = settings or ConnectionSettings()
        self.session_factory = session_factory
        # A callable giving the URL of the running sandbox (started on demand by the plugin).
        self.sandbox_url = sandbox_url
        self._test_task: Optional[BackgroundTask] = None
        # A connection being added: shown and edited here, written to the settings only by Save.
        self._pending: Optional[Connection] = None
        self._shown_kind: Optional[ConnectionKind] = None
        for kind in ConnectionKind:
            self.kindCombo.addItem(kind.label, kind.value)
        self.kindCombo.currentIndexChanged.connect(self._kind_changed)
        self.connectionList.currentItemChanged.connect(self._show_selected)
        self.addButton.clicked.connect(self.add_connection)
        self.removeButton.clicked.connect(self.remove_selected)
        self.saveButton.clicked.connect(self.save_current)
        self.testButton.clicked.connect(self.test_current)
        self.defaultButton.clicked.connect(self.make_current_default)
        self.settings.ensure_sandbox_connection()
        self.reload()

    # -- list -----------------------------------------------------------------
    def reload(self, select_id: str = "") -> None:
        self.connectionList.blockSignals(True)
        self.connectionList.clear()
        self.connectionList.blockSignals(False)
        default_id = self.settings.default_connection_id()
        listed = self.settings.connections()
        if self._pending is not None:
            listed.append(self._pending)
        for connection in listed:
            label = connection.name + ("  (default)" if connection.id == default_id else "") + (
                "  (not saved)" if connection is self._pending else "")
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, connection.id)
            item.setToolTip(f"{connection.kind.label}")
            self.connectionList.addItem(item)
            if connection.id == select_id or (not select_id and connection.id == default_id):
                self.connectionList.setCurrentItem(item)
        if self.connectionList.currentItem() is None and self.connectionList.count():
            self.connectionList.setCurrentRow(0)

    def current_connection(self) -> Optional[Connection]:
        item = self.connectionList.currentItem()
        if item is None:
            return None
        connection_id = item.data(Qt.ItemDataRole.UserRole)
        if self._pending is not None and connection_id == self._pending.id:
            return self._pending
        return self.settings.connection(connection_id)

    def _show_selected(self, *_: object) -> None:
        connection = self.current_connection()
        self.resultLabel.clear()
        if connection is None:
            return
        self.nameEdit.setText(connection.name)
        self._shown_kind = connection.kind
        self.kindCombo.blockSignals(True)
        self.kindCombo.setCurrentIndex(self.kindCombo.findData(connection.kind.value))
        self.kindCombo.blockSignals(False)
        self.baseUrlEdit.setText(connection.base_url)
        self.passwordEdit.clear()
        self.usernameEdit.clear()
        # A user name is shown again; an API key or token never is (left empty, the stored one is kept).
        if connection.authcfg and connection.kind not in _SECRET_FIRST_FIELD:
            try:
                self.usernameEdit.setText(read_credentials(connection.authcfg).username)
            except CredentialsError as error:
                self.resultLabel.setText(str(error))
        self.authcfgValue.setText(connection.authcfg or "none")
        self._kind_changed()

    def _kind_changed(self, *_: object) -> None:
        """Each kind brings its own base URL (unless the user typed another) and its own credential fields."""
        kind = ConnectionKind(self.kindCombo.currentData())
        previous, self._shown_kind = self._shown_kind, kind
        typed = self.baseUrlEdit.text().strip()
        if previous is not None and previous != kind and (
                not typed or typed in DEFAULT_BASE_URLS.values()):
            self.baseUrlEdit.setText(DEFAULT_BASE_URLS.get(kind, ""))
        user_label, password_label = _CREDENTIAL_LABELS[kind]
        is_sandbox = kind == ConnectionKind.SANDBOX
        self.usernameLabel.setText(user_label or "User name")
        self.usernameEdit.setEnabled(not is_sandbox)
        secret_first = kind in _SECRET_FIRST_FIELD
        self.usernameEdit.setEchoMode(QLineEdit.EchoMode.Password if secret_first else QLineEdit.EchoMode.Normal)
        connection = self.current_connection()
        self.usernameEdit.setPlaceholderText(
            "stored — leave empty to keep it" if secret_first and connection is not None and connection.authcfg
            else "")
        self.passwordLabel.setText(password_label or "Password")
        self.passwordLabel.setVisible(bool(password_label))
        self.passwordEdit.setVisible(bool(password_label))
        self.passwordEdit.setEnabled(bool(password_label))
        self.baseUrlEdit.setEnabled(not is_sandbox)
        self.baseUrlEdit.setPlaceholderText(
            "started by the plugin on this computer" if is_sandbox else DEFAULT_BASE_URLS.get(kind, "")
        )

    # -- actions --------------------------------------------------------------
    def add_connection(self) -> None:
        """A new UP42 connection in the form; nothing is written until the user saves it."""
        self._pending = Connection(id=new_connection_id(), name=NEW_CONNECTION_NAME, kind=ConnectionKind.UP42,
                                   base_url=DEFAULT_BASE_URLS[ConnectionKind.UP42])
        self.reload(select_id=self._pending.id)
        self.nameEdit.setFocus()
        self.nameEdit.selectAll()

    def remove_selected(self) -> None:
        connection = self.current_connection()
        if connection is None:
            return
        if connection is self._pending:  # never saved: nothing to remove but the form
            self._pending = None
            self.reload()
            return
        answer = QMessageBox.question(
            self, "Remove connection",
            rich_tooltip(f"Remove the connection “{connection.name}” and its stored credentials?"),
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.settings.remove(connection.id)
        self.settings.ensure_sandbox_connection()
        self.reload()

    def save_current(self) -> bool:
        connection = self.current_connection()
        if connection is None:
            return False
        name = self.nameEdit.text().strip()
        if not name:
            self.resultLabel.setText("A connection needs a name.")
            return False
        connection.name = name
        connection.kind = ConnectionKind(self.kindCombo.currentData())
        connection.base_url = self.baseUrlEdit.text().strip() or DEFAULT_BASE_URLS.get(connection.kind, "")
        if connection.kind != ConnectionKind.SANDBOX and connection.base_url:
            try:
                # Refused here, not only at the first request: credentials must never go out over http://.
                require_secure_url(connection.base_url, name)
            except InsecureUrl as error:
                self.resultLabel.setText(f"Not saved: {error.user_message}.")
                return False
        username = self.usernameEdit.text().strip()
        password = self.passwordEdit.text()
        if connection.kind != ConnectionKind.SANDBOX and username:
            may_ask_again()  # the user is saving credentials: QGIS may ask for its master password
            try:
                if password or not connection.authcfg or self._username_changed(connection, username):
                    connection.authcfg = store_credentials(connection, username, password)
            except CredentialsError as error:
                self.resultLabel.setText(str(error))
                return False
        self.passwordEdit.clear()
        if connection.kind in _SECRET_FIRST_FIELD:
            self.usernameEdit.clear()
        self.settings.save(connection)
        if connection is self._pending:
            self._pending = None
        self.reload(select_id=connection.id)
        self.resultLabel.setText(f"Saved {connection.name}.")
        return True

    def _username_changed(self, connection: Connection, username: str) -> bool:
        try:
            return read_credentials(connection.authcfg).username != username
        except CredentialsError:
            return True

    def make_current_default(self) -> None:
        connection = self.current_connection()
        if connection is not None:
            self.settings.set_default_connection(connection.id)
            self.reload(select_id=connection.id)

    def test_current(self) -> None:
        if not self.save_current():
            return
        connection = self.current_connection()
        if connection.authcfg:
            may_ask_again()  # the user asked for a test: QGIS may ask for its master password
        try:
            credentials = read_credentials(connection.authcfg) if connection.authcfg else None
        except CredentialsError as error:
            self.resultLabel.setText(str(error))
            return
        base_url = self.sandbox_url() if (connection.kind == ConnectionKind.SANDBOX and self.sandbox_url) else None
        session_factory = self.session_factory or SessionFactory.from_qgis_settings()
        self.testButton.setEnabled(False)
        self.resultLabel.setText(f"Testing {connection.name}…")
        self._test_task = self.task_runner.start(BackgroundTask(
            f"Testing connection {connection.name}",
            lambda task: check_connection(connection, credentials, session_factory, sandbox_url=base_url),
            on_success=self._test_finished,
            on_failure=self._test_finished,
        ))

    def _test_finished(self, message: str) -> None:
        if sip.isdeleted(self):  # the user closed the dialog while the test ran
            return
        self._test_task = None
        self.testButton.setEnabled(True)
        self.resultLabel.setText(message)
