"""Connections: added, edited, tested and removed in the dialog; secrets only in the auth database."""
import logging
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsSettings
from qgis.PyQt.QtWidgets import QMessageBox
from qgis_harness import fill_connection

from satellite_tasking.plugin.model import Connection, ConnectionKind
from satellite_tasking.plugin.sessions import SessionFactory
from satellite_tasking.plugin.settings import read_credentials
from satellite_tasking.plugin.tasks import TaskRunner
from satellite_tasking.ui.connections_dialog import ConnectionsDialog

UP42_USER = "analyst.SECRET-USER-4242@example.org"
UP42_PASSWORD = "pw-SECRET-PASSWORD-9797"
PLANET_KEY = "PLAK-SECRET-KEY-31337"
SECRETS = (UP42_PASSWORD, PLANET_KEY)


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(seed=7, speed=1.0, settings={})


@pytest.fixture
def captured_logs(qgis_app):
    """Everything the message log and Python logging received while the test ran."""
    lines = []

    def on_message(message, tag, level):
        lines.append(f"{tag}: {message}")

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    QgsApplication.messageLog().messageReceived.connect(on_message)
    yield lines
    QgsApplication.messageLog().messageReceived.disconnect(on_message)
    root.removeHandler(handler)
    root.setLevel(previous_level)


def make_dialog(qtbot, sandbox, settings):
    dialog = ConnectionsDialog(TaskRunner(), settings=settings, sandbox_url=lambda: sandbox.base_url,
                               session_factory=SessionFactory(agent="SatelliteTasking/test QGIS/test"))
    qtbot.addWidget(dialog)
    return dialog


def run_test_button(qtbot, dialog):
    dialog.testButton.click()
    qtbot.waitUntil(lambda: dialog.testButton.isEnabled(), timeout=20000)
    return dialog.resultLabel.text()


def test_new_user_gets_the_sandbox_as_default_connection(clean_settings, qtbot, sandbox):
    dialog = make_dialog(qtbot, sandbox, clean_settings)
    connections = clean_settings.connections()
    assert [(c.name, c.kind) for c in connections] == [("Sandbox", ConnectionKind.SANDBOX)]
    assert clean_settings.default_connection_id() == connections[0].id
    assert "(default)" in dialog.connectionList.item(0).text()
    message = run_test_button(qtbot, dialog)
    assert message.startswith(f"The sandbox answers at {sandbox.base_url}")


def test_add_edit_test_and_remove_connections_keeping_secrets_out_of_settings_and_logs(
        clean_settings, qtbot, sandbox, captured_logs, monkeypatch):
    dialog = make_dialog(qtbot, sandbox, clean_settings)

    fill_connection(dialog, "UP42 via sandbox", ConnectionKind.UP42, sandbox.base_url, UP42_USER, UP42_PASSWORD)
    assert dialog.save_current()
    up42 = dialog.current_connection()
    assert up42.authcfg, "credentials went to an auth config"
    assert read_credentials(up42.authcfg).password == UP42_PASSWORD
    assert dialog.passwordEdit.text() == "", "a stored secret is never shown again"
    message = run_test_button(qtbot, dialog)
    assert message.startswith("Connected to UP42 via sandbox"), message

    fill_connection(dialog, "Planet via sandbox", ConnectionKind.PLANET, f"{sandbox.base_url}/tasking/v2", PLANET_KEY)
    assert dialog.save_current()
    planet = dialog.current_connection()
    assert read_credentials(planet.authcfg).username == PLANET_KEY
    message = run_test_button(qtbot, dialog)
    assert message.startswith("Connected to Planet via sandbox"), message

    # Edit: rename and give a wrong password; the same auth config is updated, not a new one.
    dialog.reload(select_id=up42.id)
    dialog.nameEdit.setText("UP42 renamed")
    dialog.passwordEdit.setText("wrong")
    message = run_test_button(qtbot, dialog)
    assert "UP42 renamed" in message and "rejected" in message.lower(), message
    assert clean_settings.connection(up42.id).name == "UP42 renamed"
    assert clean_settings.connection(up42.id).authcfg == up42.authcfg

    # Settings keep the connection and the auth config id, never the secret.
    QgsSettings().sync()
    settings_text = Path(QgsSettings().fileName()).read_text(encoding="utf-8", errors="replace")
    assert up42.authcfg in settings_text
    for secret in SECRETS + ("wrong",):
        assert secret not in settings_text
    auth_db = Path(QgsApplication.qgisAuthDatabaseFilePath()).read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in auth_db, "the auth database stores secrets encrypted"
    for line in captured_logs:
        for secret in SECRETS:
            assert secret not in line, line

    # Remove: the connection and its auth config go; the sandbox stays the default.
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
    dialog.reload(select_id=planet.id)
    dialog.remove_selected()
    assert clean_settings.connection(planet.id) is None
    assert planet.authcfg not in QgsApplication.authManager().configIds()
    QgsSettings().sync()
    assert planet.id not in Path(QgsSettings().fileName()).read_text(encoding="utf-8", errors="replace")
    names = [c.name for c in clean_settings.connections()]
    assert names == ["Sandbox", "UP42 renamed"]


def test_unreachable_connection_gives_a_sentence_not_a_traceback(clean_settings, qtbot, sandbox):
    dialog = make_dialog(qtbot, sandbox, clean_settings)
    fill_connection(dialog, "Nowhere", ConnectionKind.PLANET, "http://127.0.0.1:9/tasking/v2", PLANET_KEY)
    dialog.session_factory = SessionFactory(agent="t")
    message = run_test_button(qtbot, dialog)
    assert "Nowhere" in message and "Traceback" not in message


def test_connection_round_trips_through_settings(clean_settings):
    connection = Connection(id="abc123", name="Planet prod", kind=ConnectionKind.PLANET,
                            base_url="https://api.planet.com/tasking/v2", authcfg="x1y2z3a")
    clean_settings.save(connection)
    assert clean_settings.connection("abc123") == connection
    with pytest.raises(ValueError):
        clean_settings.save(Connection(id="n", name="  ", kind=ConnectionKind.UP42))
