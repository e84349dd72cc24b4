"""Sync a connection into a shared PostGIS store (the team's store), as the sync service does: for qgis_process,
models and cron jobs that prefer Processing to the service command."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterString,
)

from ..store import CAPTURES_TABLE, ORDERS_TABLE
from ..store_choice import QGIS_CONNECTION_PREFIX, SharedStoreSource, credentials_of, qgis_postgres_connections
from ..store_postgis import DEFAULT_SCHEMA, PostgisStore, SharedStoreError
from ..team_service import sync_when_free
from ..wording import plural
from .algorithm import TaskingAlgorithm

STORE = "STORE"
SCHEMA = "SCHEMA"
ORDER_COUNT = "ORDER_COUNT"
CAPTURE_COUNT = "CAPTURE_COUNT"
OUTCOME = "OUTCOME"


class SyncTeamStoreAlgorithm(TaskingAlgorithm):
    algorithm_name = "syncteamstore"
    algorithm_title = "Sync tasking orders into a shared PostGIS store"
    help_text = (
        "<p>Brings the orders and captures of a connection into the team's shared PostgreSQL/PostGIS store, as "
        "the team's sync service does: only what changed since the last sync, in one transaction, and only when "
        "nobody else (the service, a colleague's QGIS) is syncing this connection right now — then it leaves it "
        "alone and says so. Open docks are told of the sync at once.</p>"
        "<p><b>Store</b>: <code>qgis:&lt;name&gt;</code> of one of QGIS's PostgreSQL connections (its "
        "authentication configuration gives the credentials), or a libpq string such as "
        "<code>service=tasking</code> (pg_service.conf). Never a password: keep it in pg_service.conf, "
        "~/.pgpass or QGIS's authentication database. The plugin creates and migrates its tables in the "
        "<b>schema</b>.</p>")

    def initAlgorithm(self, config=None):
        self.add_connection_parameter()
        self.addParameter(QgsProcessingParameterString(STORE, "Shared store", defaultValue="service=tasking"))
        self.addParameter(QgsProcessingParameterString(SCHEMA, "Schema", defaultValue=DEFAULT_SCHEMA))
        self.addOutput(QgsProcessingOutputNumber(ORDER_COUNT, "Orders of the connection in the store"))
        self.addOutput(QgsProcessingOutputNumber(CAPTURE_COUNT, "Captures of the connection in the store"))
        self.addOutput(QgsProcessingOutputString(OUTCOME, "What the run did"))

    def process(self, parameters, context, feedback):
        chosen = (self.parameterAsString(parameters, STORE, context) or "").strip()
        schema = (self.parameterAsString(parameters, SCHEMA, context) or DEFAULT_SCHEMA).strip()
        if not chosen:
            raise QgsProcessingException("Name the shared store (qgis:<connection name> or service=<name>).")
        if not chosen.startswith(QGIS_CONNECTION_PREFIX) and "password" in chosen.lower():
            raise QgsProcessingException("A password does not belong in the parameters: keep it in pg_service.conf, "
                                         "~/.pgpass or a QGIS PostgreSQL connection's authentication.")
        if chosen.startswith(QGIS_CONNECTION_PREFIX):
            source = qgis_postgres_connections().get(chosen[len(QGIS_CONNECTION_PREFIX):])
            if source is None:
                raise QgsProcessingException(f"QGIS has no PostgreSQL connection named "
                                             f"{chosen[len(QGIS_CONNECTION_PREFIX):]!r}.")
        else:
            source = SharedStoreSource(chosen)
        connection, provider = self.connection_and_provider(parameters, feedback)
        feedback.setProgress(5)
        try:
            store = PostgisStore(source.conninfo, schema=schema,
                                 credentials=credentials_of(source.authcfg) if source.authcfg else None)
        except (SharedStoreError, ValueError) as error:
            raise QgsProcessingException(getattr(error, "user_message", str(error))) from None
        if store.read_only:
            raise QgsProcessingException(store.problem)
        feedback.setProgress(10)
        result = sync_when_free(provider, store, connection.id, cancelled=feedback.isCanceled)
        if result is None:
            outcome = (f"{connection.name} is being synced elsewhere right now (the team's sync service or another "
                       f"QGIS); left alone.")
            feedback.pushInfo(outcome)
        elif result.error:
            raise QgsProcessingException(result.error)
        elif result.cancelled:
            outcome = result.summary()
            feedback.reportError(outcome, False)
        else:
            outcome = result.summary()
            feedback.pushInfo(outcome)
            store.notify_synced(connection.id, changed=result.changed, orders_added=result.orders_added,
                                orders_updated=result.orders_updated, captures_added=result.captures_added,
                                captures_updated=result.captures_updated)
        feedback.setProgress(90)
        counts = store.counts(connection.id)
        feedback.pushInfo(f"{plural(counts[ORDERS_TABLE], 'order')} and {plural(counts[CAPTURES_TABLE], 'capture')} "
                          f"of {connection.name} in the shared store.")
        feedback.setProgress(100)
        return {ORDER_COUNT: counts[ORDERS_TABLE], CAPTURE_COUNT: counts[CAPTURES_TABLE], OUTCOME: outcome}
