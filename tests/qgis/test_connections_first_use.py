"""A new user's connections: each kind brings its own URL and credential fields, secrets are typed masked, Add
writes nothing until Save, the QGIS master password is asked at most once per session (never for the sandbox),
and opening the monitor adds nothing to the project."""
import pytest
from qgis.core import QgsProject
from qgis.PyQt.QtWidgets import QLineEdit

import satellite_tasking.plugin.settings as settings_module
from satellite_tasking.plugin.layers import find_layers
from satellite_tasking.plugin.model import DEFAULT_BASE_URLS, Connection, ConnectionKind
from satellite_tasking.plugin.provider_factory import ProviderFactory
from satellite_tasking.plugin.sandbox_service import SandboxService
from satellite_tasking.plugin.sessions import SessionFactory
from satellite_tasking.plugin.settings import SANDBOX_CONNECTION_ID, CredentialsError, read_credentials
from satellite_tasking.plugin.tasks import TaskRunner
from satellite_tasking.ui.connections_dialog import ConnectionsDialog

PASSWORD = QLineEdit.EchoMode.Password


@pytest.fixture
def dialog(clean_settings, qtbot):
    shown = ConnectionsDialog(TaskRunner(), settings=clean_settings, sandbox_url=lambda: "http://127.0.0.1:1")
    qtbot.addWidget(shown)
    return shown


def choose_kind(dialog, kind):
    dialog.kindCombo.setCurrentIndex(dialog.kindCombo.findData(kind.value))


def test_add_writes_nothing_until_save_and_each_kind_brings_its_url_and_fields(dialog, clean_settings):
    dialog.add_connection()
    assert [c.kind for c in clean_settings.connections()] == [ConnectionKind.SANDBOX], "Add alone saves nothing"
    assert "not saved" in dialog.connectionList.currentItem().text()
    assert dialog.baseUrlEdit.text() == DEFAULT_BASE_URLS[ConnectionKind.UP42]
    assert dialog.usernameEdit.echoMode() == QLineEdit.EchoMode.Normal  # an e-mail address
    assert dialog.passwordEdit.echoMode() == PASSWORD

    choose_kind(dialog, ConnectionKind.PLANET)
    assert dialog.baseUrlEdit.text() == DEFAULT_BASE_URLS[ConnectionKind.PLANET]
    assert dialog.usernameLabel.text() == "API key"
    assert dialog.usernameEdit.echoMode() == PASSWORD, "the API key is typed masked"
    assert not dialog.passwordEdit.isVisibleTo(dialog)

    dialog.baseUrlEdit.setText("https://planet.example.com/tasking/v2")
    choose_kind(dialog, ConnectionKind.UP42)
    assert dialog.baseUrlEdit.text() == "https://planet.example.com/tasking/v2", "a URL the user typed stays"

    choose_kind(dialog, ConnectionKind.PLANET)
    dialog.nameEdit.setText("My Planet")
    dialog.usernameEdit.setText("PLAK-secret-key")
    assert dialog.save_current()
    saved = next(c for c in clean_settings.connections() if c.name == "My Planet")
    assert saved.kind == ConnectionKind.PLANET and saved.base_url == "https://planet.example.com/tasking/v2"
    assert read_credentials(saved.authcfg).username == "PLAK-secret-key"
    assert dialog.usernameEdit.text() == "", "an API key is never shown again"
    dialog.reload(select_id=saved.id)
    assert dialog.usernameEdit.text() == "" and dialog.usernameEdit.echoMode() == PASSWORD


def test_removing_an_unsaved_connection_only_clears_the_form(dialog, clean_settings):
    dialog.add_connection()
    dialog.removeButton.click()
    assert dialog.connectionList.count() == 1 and "not saved" not in dialog.connectionList.item(0).text()


class LockedAuthManager:
    """An auth database whose master password was not entered; every unlock attempt is a prompt, cancelled."""

    def __init__(self):
        self.prompts = 0
        self.reads = 0

    def isDisabled(self):  # noqa: N802 - QgsAuthManager's name
        return False

    def masterPasswordIsSet(self):  # noqa: N802
        return False

    def setMasterPassword(self, verify=False):  # noqa: N802
        self.prompts += 1
        return False

    def loadAuthenticationConfig(self, *args):  # noqa: N802
        self.reads += 1
        self.prompts += 1  # QGIS asks for the master password on a read of a locked database
        return False, None


@pytest.fixture
def locked(monkeypatch):
    manager = LockedAuthManager()
    monkeypatch.setattr(settings_module, "_auth_manager", lambda: manager)
    settings_module.may_ask_again()
    yield manager
    settings_module.may_ask_again()


def test_the_master_password_is_asked_at_most_once_and_never_for_the_sandbox(locked, clean_settings):
    sandbox = SandboxService(state_file=None, speed=0, port=0)
    factory = ProviderFactory(sandbox, settings=clean_settings,
                              session_factory=SessionFactory(agent="SatelliteTasking/test QGIS/test"))
    sandbox_connection = Connection(id=SANDBOX_CONNECTION_ID, name="Sandbox", kind=ConnectionKind.SANDBOX)
    try:
        factory.provider_for(sandbox_connection)
        assert locked.prompts == 0, "the sandbox needs no credentials"
    finally:
        sandbox.stop()
    connections = [Connection(id=f"c{i}", name=f"UP42 {i}", kind=ConnectionKind.UP42,
                              base_url="https://api.up42.com", authcfg=f"cfg{i}") for i in range(3)]
    for _ in range(4):  # four sync rounds of three connections
        for connection in connections:
            with pytest.raises(CredentialsError, match="master password"):
                factory.provider_for(connection)
    assert locked.prompts == 1


@pytest.fixture
def plugin(load_plugin, tmp_path):
    loaded = load_plugin(seed=5, sync_interval=0.3, store_path=tmp_path / "orders.gpkg")
    QgsProject.instance().setDirty(False)
    return loaded


def test_opening_the_monitor_adds_nothing_to_the_project_until_show_on_map(plugin, recording_iface, qtbot):
    project = QgsProject.instance()
    project.setDirty(False)
    recording_iface.main_window.show()
    plugin.monitor.is_app_active = lambda: True
    rounds = []
    plugin.monitor.roundFinished.connect(rounds.append)
    plugin.monitor_dock.setUserVisible(True)
    qtbot.waitUntil(lambda: bool(rounds), timeout=20000)
    assert find_layers(project) == {} and not project.mapLayers()
    assert not project.isDirty()
    plugin.monitor_dock.mapButton.click()
    assert set(find_layers(project)) == {"orders", "captures"}


def test_the_monitor_asks_for_the_master_password_only_when_the_user_refreshes(plugin, recording_iface, qtbot,
                                                                              clean_settings, locked):
    clean_settings.save(Connection(id="up42a", name="My UP42", kind=ConnectionKind.UP42,
                                   base_url="https://api.up42.com", authcfg="cfg-a"))
    recording_iface.main_window.show()
    plugin.monitor.is_app_active = lambda: True
    rounds = []
    plugin.monitor.roundFinished.connect(rounds.append)
    plugin.monitor_dock.setUserVisible(True)
    qtbot.waitUntil(lambda: len(rounds) >= 2, timeout=20000)  # the timer's rounds
    assert locked.prompts == 0, "nothing is asked before the user does something"
    assert "Refresh now" in plugin.monitor_dock.errorLabel.text()
    plugin.monitor_dock.refreshButton.click()
    assert locked.prompts == 1
    qtbot.waitUntil(lambda: not plugin.monitor.syncing, timeout=20000)
    plugin.monitor_dock.refreshButton.click()
    assert locked.prompts == 1, "asked once per session"
