"""A project's shared store chosen from QGIS's own PostgreSQL connections: credentials from the QGIS
authentication database at each connect, never in the project or the settings."""
import pytest
from qgis.core import QgsAuthMethodConfig, QgsDataSourceUri, QgsProject, QgsProviderRegistry

from satellite_tasking.plugin.layers_postgis import ensure_postgis_layers
from satellite_tasking.plugin.store_choice import (
    open_shared_store,
    qgis_postgres_connections,
    set_project_shared_store,
    shared_store_source,
)

pytest.importorskip("psycopg2")

CONNECTION_NAME = "Team store (test)"


@pytest.fixture
def qgis_postgres_connection(auth_manager, postgis_server, postgis_conninfo):
    from satellite_tasking.plugin.store_postgis import PostgisStore

    PostgisStore(postgis_conninfo)  # the store exists; the analyst gets rights on it
    database = postgis_conninfo.split("dbname=")[1]
    postgis_server.admin("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analyst') THEN "
                         "CREATE ROLE analyst LOGIN; END IF; END $$")
    postgis_server.admin("GRANT USAGE ON SCHEMA tasking TO analyst; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL "
                         "TABLES IN SCHEMA tasking TO analyst", database)
    config = QgsAuthMethodConfig()
    config.setMethod("Basic")
    config.setName("Team store analyst")
    config.setConfig("username", "analyst")
    config.setConfig("password", "kept-in-the-auth-db")
    ok, config = auth_manager.storeAuthenticationConfig(config)
    assert ok
    uri = QgsDataSourceUri()
    uri.setConnection(postgis_server.host, str(postgis_server.port), database, "", "",
                      QgsDataSourceUri.SslMode.SslDisable, config.id())
    metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
    metadata.saveConnection(metadata.createConnection(uri.uri(False), {}), CONNECTION_NAME)
    yield config.id()
    metadata.deleteConnection(CONNECTION_NAME)
    auth_manager.removeAuthenticationConfig(config.id())


def test_a_project_keeps_its_orders_in_a_qgis_postgresql_connection_without_its_password(qgis_postgres_connection):
    from satellite_tasking.plugin.store_postgis import SharedStoreError

    source = qgis_postgres_connections()[CONNECTION_NAME]
    assert source.authcfg == qgis_postgres_connection
    assert "password" not in source.conninfo and "analyst" not in source.conninfo
    project = QgsProject()
    assert shared_store_source(project) is None and open_shared_store(project) is None  # the GeoPackage
    set_project_shared_store(project, "qgis:" + CONNECTION_NAME)
    store = open_shared_store(project)
    db = store.connect()
    try:
        with db.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == "analyst"  # the user name came from the auth config
    finally:
        db.close()
    assert not store.read_only
    assert "kept-in-the-auth-db" not in repr(store) + store.conninfo
    entries = [project.readEntry("satellite_tasking", key)[0] for key in ("shared_store", "shared_store_schema")]
    assert entries == ["qgis:" + CONNECTION_NAME, "tasking"]

    orders_layer, _ = ensure_postgis_layers(project, store)
    assert orders_layer.isValid() and f"authcfg={qgis_postgres_connection}" in orders_layer.source()
    assert "kept-in-the-auth-db" not in orders_layer.source()

    with pytest.raises(ValueError, match="password"):
        set_project_shared_store(project, "host=db password=secret")
    set_project_shared_store(project, "qgis:A connection this QGIS does not have")
    with pytest.raises(SharedStoreError, match="does not have"):
        open_shared_store(project)


def test_a_background_task_never_asks_for_the_master_password_it_says_so(qgis_postgres_connection, auth_manager,
                                                                         monkeypatch):
    import threading

    from satellite_tasking.plugin.store_choice import credentials_of
    from satellite_tasking.plugin.store_postgis import SharedStoreError

    read = credentials_of(qgis_postgres_connection)
    assert read()["user"] == "analyst"  # unlocked: read at each connect
    monkeypatch.setattr(auth_manager, "masterPasswordIsSet", lambda: False)  # QGIS restarted, not unlocked yet
    raised = []

    def in_a_task_thread():
        try:
            read()
        except SharedStoreError as error:
            raised.append(error.user_message)

    worker = threading.Thread(target=in_a_task_thread)
    worker.start()
    worker.join(10)
    assert raised and "locked in the QGIS authentication database" in raised[0]
