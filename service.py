"""The team's headless sync service: ``python3 -m satellite_tasking.service --store "service=tasking"``.

Run from the folder that holds the installed plugin (``.../python/plugins``), with the Python that imports
QGIS. It reads the team's connections and their credentials from a QGIS profile (``--profile``: its
settings and its authentication database; the master password from the file named by
``QGIS_AUTH_PASSWORD_FILE``), then syncs each connection into the shared PostGIS store every
``--interval`` seconds until stopped (SIGTERM/SIGINT), taking each connection's sync lock so a desktop and
the service never sync one connection at once, and announcing every applied sync to open docks
(LISTEN/NOTIFY). See docs/team-mode.md (with a systemd unit).

A program of its own, not code inside QGIS: it sets up logging to stderr (the journal under systemd).
Nothing runs when the plugin package is imported; only ``main`` does work.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

DEFAULT_INTERVAL_S = 60.0


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m satellite_tasking.service",
        description="Sync every team connection of a QGIS profile into the shared PostGIS tasking store.")
    parser.add_argument("--store", required=True,
                        help='libpq connection string of the shared store, e.g. "service=tasking" (pg_service.conf); '
                             "keep the password in pg_service.conf or ~/.pgpass, never on the command line")
    parser.add_argument("--schema", default="tasking", help="PostgreSQL schema of the store (default: tasking)")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S,
                        help=f"seconds between sync rounds (default: {DEFAULT_INTERVAL_S:g})")
    parser.add_argument("--profile", help="QGIS profile folder holding the connections and the authentication "
                                          "database (default: QGIS's default profile of this user)")
    parser.add_argument("--connection", action="append", default=[], metavar="ID",
                        help="sync only this connection id (repeatable; default: every connection but the sandbox)")
    parser.add_argument("--sandbox-url", help="base URL of a running sandbox, to sync the Sandbox connection too")
    parser.add_argument("--once", action="store_true", help="run one round and exit (status 1 if any failed)")
    parser.add_argument("--verbose", action="store_true", help="log every round in detail")
    return parser.parse_args(argv)


class _SandboxAt:
    """The sandbox the ProviderFactory asks for: one running elsewhere (the service starts none)."""

    def __init__(self, url):
        self._url = url

    def url(self):
        if not self._url:
            raise RuntimeError("The Sandbox connection needs --sandbox-url in the service.")
        return self._url


def _providers(factory, wanted: list, sandbox_url):
    from .plugin.model import ConnectionKind

    unknown_said = set()

    def source():
        providers = []
        connections = factory.connections()
        # A mistyped --connection would otherwise sync nothing, round after round, without a word: say it once.
        unknown = [w for w in wanted if w not in {c.id for c in connections} and w not in unknown_said]
        for connection_id in unknown:
            logging.getLogger(__name__).error(
                "No connection %r in this profile, so it is not synced. Its connections: %s.", connection_id,
                ", ".join(repr(c.id) for c in connections) or "none")
            unknown_said.add(connection_id)
        for connection in connections:
            if wanted and connection.id not in wanted:
                continue
            if not wanted and connection.kind == ConnectionKind.SANDBOX and not sandbox_url:
                continue
            try:
                providers.append(factory.provider_for(connection))
            except Exception as error:  # noqa: BLE001 - one connection's missing credentials stop only it
                logging.getLogger(__name__).warning("Connection %s is left out: %s", connection.name,
                                                    getattr(error, "user_message", error))
        return providers

    return source


# A QgsApplication of a program of its own takes only its authentication database from its profile folder; its
# settings (the team's connections) would come from ~/.config/Unknown Organization.conf. QGIS itself names them
# QGIS/QGIS3 and keeps them in <profile folder>/QGIS/QGIS3.ini: the service reads them from there too.
def _name_settings_as_qgis() -> None:
    from qgis.PyQt.QtCore import QCoreApplication, QSettings

    QCoreApplication.setOrganizationName("QGIS")
    QCoreApplication.setApplicationName("QGIS3")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)


def _read_settings_of(profile_folder: str) -> None:
    from qgis.PyQt.QtCore import QSettings

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, profile_folder)


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.DEBUG if arguments.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logger = logging.getLogger("satellite_tasking.service")

    from qgis.core import QgsApplication

    from .plugin.provider_factory import ProviderFactory
    from .plugin.store_postgis import PostgisStore, SharedStoreError
    from .plugin.team_service import run

    profile = str(Path(arguments.profile).resolve()) if arguments.profile else ""
    if profile:
        # QGIS 3.40 and later ignore the profile folder handed to the QgsApplication of a program of its own (3.22
        # honours it) and open the default profile: name the authentication database's folder before QGIS starts,
        # and the settings' folder after (QGIS_AUTH_DB_DIR_PATH is QGIS's own variable for it; this is the
        # service's own process, not QGIS's).
        os.environ["QGIS_AUTH_DB_DIR_PATH"] = profile
    _name_settings_as_qgis()
    application = QgsApplication([], False, profile)
    application.initQgis()
    _read_settings_of(profile or QgsApplication.qgisSettingsDirPath())
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    failed = []
    try:
        try:
            store = PostgisStore(arguments.store, schema=arguments.schema)
        except SharedStoreError as error:
            logger.error("%s", error.user_message)
            return 2
        if store.read_only:
            logger.error("%s", store.problem)
            return 2
        # The store's setting that desktops read: a service keeps it current (they stop polling the providers while
        # its heartbeat is fresh, and take over when it is not).
        store.set_service_syncs(True, changed_by=f"service on {socket.gethostname()}")
        factory = ProviderFactory(_SandboxAt(arguments.sandbox_url))

        def on_round(rounds):
            for done in rounds:
                logger.info("%s: %s", done.connection_id, done.summary())
                if done.error or (done.result is not None and done.result.error):
                    failed.append(done.connection_id)

        logger.info("Syncing into %r every %g s", store, arguments.interval)
        run(store, _providers(factory, arguments.connection, arguments.sandbox_url), arguments.interval, stop,
            rounds=1 if arguments.once else None, on_round=on_round)
    finally:
        application.exitQgis()
    return 1 if arguments.once and failed else 0


if __name__ == "__main__":
    sys.exit(main())
