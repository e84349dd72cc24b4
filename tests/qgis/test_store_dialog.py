"""The store picker: a project's orders in its GeoPackage (the default) or in the team's shared PostGIS store,
chosen from QGIS's own PostgreSQL connections or a pg_service.conf service, kept in the project or in the plugin
settings — never a password — and opened by the monitor at once."""
import pytest
from qgis.core import QgsDataSourceUri, QgsProject, QgsProviderRegistry, QgsSettings

from satellite_tasking.plugin.store_choice import (
    SETTINGS_SCHEMA_KEY,
    SETTINGS_STORE_KEY,
    set_project_shared_store,
    store_choice,
)
from satellite_tasking.plugin.tasks import TaskRunner
from satellite_tasking.ui.store_dialog import OTHER_DATABASE, StoreDialog

pytest.importorskip("psycopg2")

CONNECTION = "Team store (picker test)"


@pytest.fixture
def team_database(postgis_server, postgis_conninfo):
    """A QGIS PostgreSQL connection to a new database (trust authentication: no password anywhere)."""
    database = postgis_conninfo.split("dbname=")[1]
    uri = QgsDataSourceUri()
    uri.setConnection(postgis_server.host, str(postgis_server.port), database, postgis_server.user, "",
                      QgsDataSourceUri.SslMode.SslDisable)
    metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
    metadata.saveConnection(metadata.createConnection(uri.uri(False), {"saveUsername": True}), CONNECTION)
    yield postgis_conninfo
    metadata.deleteConnection(CONNECTION)


@pytest.fixture
def fresh_choice():
    """Neither the project nor the plugin settings keep a store before or after the test."""
    project = QgsProject.instance()

    def forget():
        set_project_shared_store(project, None)
        QgsSettings().remove(SETTINGS_STORE_KEY)
        QgsSettings().remove(SETTINGS_SCHEMA_KEY)

    forget()
    yield project
    forget()


def test_a_project_keeps_a_qgis_connection_by_name_and_the_check_says_what_the_store_is(
        qgis_app, qtbot, team_database, fresh_choice, tmp_path):
    from satellite_tasking.plugin.store_postgis import PostgisStore

    project = fresh_choice
    assert not store_choice(project).shared  # the default: the GeoPackage
    dialog = StoreDialog(TaskRunner(), project)
    qtbot.addWidget(dialog)
    assert dialog.geopackageRadio.isChecked() and not dialog.sharedBox.isEnabled()
    assert "own GeoPackage" in dialog.statusLabel.text()
    names = [dialog.connectionCombo.itemText(i) for i in range(dialog.connectionCombo.count())]
    assert CONNECTION in names and names[-1] == OTHER_DATABASE

    dialog.sharedRadio.setChecked(True)
    dialog.connectionCombo.setCurrentIndex(names.index(CONNECTION))
    assert not dialog.serviceEdit.isEnabled()  # a QGIS connection needs no service string
    dialog.checkButton.click()
    qtbot.waitUntil(lambda: dialog._checking is None, timeout=30000)
    assert dialog.statusLabel.text().startswith("The store answers"), dialog.statusLabel.text()
    assert "No sync service keeps it current" in dialog.statusLabel.text()
    PostgisStore(team_database).set_service_syncs(True, "ops")
    dialog.checkButton.click()
    qtbot.waitUntil(lambda: "A sync service keeps it current" in dialog.statusLabel.text(), timeout=30000)

    with qtbot.waitSignal(dialog.storeChosen):
        dialog.buttonBox.accepted.emit()
    choice = store_choice(project)
    assert (choice.store, choice.schema, choice.scope) == ("qgis:" + CONNECTION, "tasking", "project")
    assert QgsSettings().value(SETTINGS_STORE_KEY, "") in ("", None)  # the settings were not touched
    saved = tmp_path / "team.qgs"
    assert project.write(str(saved))
    text = saved.read_text()
    assert "qgis:" + CONNECTION in text and "password" not in text.lower()


def test_a_password_is_refused_and_the_plugin_settings_serve_every_project_without_a_choice(
        qgis_app, qtbot, fresh_choice):
    project = fresh_choice
    dialog = StoreDialog(TaskRunner(), project)
    qtbot.addWidget(dialog)
    dialog.sharedRadio.setChecked(True)
    dialog.connectionCombo.setCurrentIndex(dialog.connectionCombo.count() - 1)  # another database
    assert dialog.serviceEdit.isEnabled()
    dialog.serviceEdit.setText("host=db.example.org dbname=tasking password=s3cret")
    dialog.buttonBox.accepted.emit()
    assert "password does not belong here" in dialog.statusLabel.text()
    assert not store_choice(project).shared and "s3cret" not in str(QgsSettings().value(SETTINGS_STORE_KEY, ""))

    dialog.serviceEdit.setText("service=tasking")
    dialog.schemaEdit.setText("Team Schema!")
    dialog.buttonBox.accepted.emit()
    assert "plain PostgreSQL name" in dialog.statusLabel.text() and not store_choice(project).shared

    dialog.schemaEdit.setText("team_a")
    dialog.settingsScopeRadio.setChecked(True)
    with qtbot.waitSignal(dialog.storeChosen):
        dialog.buttonBox.accepted.emit()
    assert QgsSettings().value(SETTINGS_STORE_KEY) == "service=tasking"
    choice = store_choice(project)
    assert (choice.store, choice.schema, choice.scope) == ("service=tasking", "team_a", "settings")
    set_project_shared_store(project, "")  # a project may still keep its own GeoPackage
    assert not store_choice(project).shared and store_choice(project).scope == "project"


def test_the_plugin_opens_the_chosen_shared_store_and_draws_its_layers_from_postgis(
        load_plugin, qtbot, team_database, fresh_choice):
    from satellite_tasking.plugin.layers import find_layers

    plugin = load_plugin()
    assert not getattr(plugin.monitor.store, "shared", False)  # the GeoPackage by default
    plugin.store_action.trigger()
    dialog = plugin._store_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.sharedRadio.setChecked(True)
    dialog.connectionCombo.setCurrentIndex(dialog.connectionCombo.findText(CONNECTION))
    dialog.buttonBox.accepted.emit()
    store = plugin.monitor.store
    assert getattr(store, "shared", False) and store.schema == "tasking", plugin.monitor.store_problem
    orders_layer, captures_layer = plugin.monitor.show_layers()
    assert orders_layer.providerType() == captures_layer.providerType() == "postgres"
    assert orders_layer.isValid() and set(find_layers(QgsProject.instance())) == {"orders", "captures"}

    set_project_shared_store(QgsProject.instance(), "")  # back to the GeoPackage: the layers follow
    plugin.monitor.reopen_store()
    assert not getattr(plugin.monitor.store, "shared", False)
    assert plugin.monitor.show_layers()[0].providerType() == "ogr"
