"""The Processing algorithm that syncs a connection into the shared PostGIS store (for qgis_process and models)."""
import pytest
import requests
from qgis.core import QgsProcessingException

pytest.importorskip("psycopg2")


@pytest.fixture
def tasking(processing_run):
    return processing_run, processing_run.sandbox


def test_the_algorithm_syncs_into_the_shared_store_once_at_a_time_and_announces_it(tasking, postgis_conninfo):
    from satellite_tasking.plugin.store_postgis import PostgisStore

    run, sandbox = tasking
    sandbox.url()  # started
    requests.post(f"{sandbox.url()}/_sandbox/planet/seed_orders", json={"count": 4, "captures_per_order": 2},
                  timeout=30).raise_for_status()
    store = PostgisStore(postgis_conninfo)
    with store.listen() as dock:
        synced = run("syncteamstore", STORE=postgis_conninfo)
        assert synced["ORDER_COUNT"] == 4 and synced["CAPTURE_COUNT"] == 8
        assert synced["OUTCOME"].startswith("4 new")
        assert dock.wait(5)[0]["connection_id"] == "sandbox"
    with store.sync_lock("sandbox"):
        elsewhere = run("syncteamstore", STORE=postgis_conninfo)
    assert "being synced elsewhere" in elsewhere["OUTCOME"] and elsewhere["ORDER_COUNT"] == 4
    with pytest.raises(QgsProcessingException):
        run("syncteamstore", STORE=postgis_conninfo + " password=secret")
