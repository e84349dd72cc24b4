"""Live updates of the shared store in a desktop: a NOTIFY sent by another connection (the sync service) makes the
listener's ``changed`` fire within 2 s, driven by its socket — the database is not polled meanwhile."""
import time

import pytest
from qgis.PyQt.QtCore import QCoreApplication, QTimer

from satellite_tasking.plugin.tasks import TaskRunner
from satellite_tasking.ui.store_listener import StoreListener

pytest.importorskip("psycopg2")


def spin_until(condition, seconds: float) -> float:
    """Process Qt events until ``condition()``; the seconds it took (or ``seconds`` when it never held)."""
    start = time.monotonic()
    while not condition() and time.monotonic() - start < seconds:
        QCoreApplication.processEvents()
        time.sleep(0.005)
    return time.monotonic() - start


class CountingListener:
    """A SyncListener whose reads are counted: every ``take`` is one look at the connection."""

    def __init__(self, listener):
        self.listener = listener
        self.takes = 0

    def fileno(self):
        return self.listener.fileno()

    def take(self):
        self.takes += 1
        return self.listener.take()

    def close(self):
        self.listener.close()


def test_a_notify_from_another_connection_fires_changed_within_two_seconds_without_polling(qgis_app,
                                                                                          postgis_conninfo):
    from satellite_tasking.plugin.store_postgis import PostgisStore

    desktop, service = PostgisStore(postgis_conninfo), PostgisStore(postgis_conninfo)
    counted = []

    def open_counted():
        counted.append(CountingListener(desktop.listen()))
        return counted[-1]

    heard = []
    listener = StoreListener(open_counted, task_runner=TaskRunner())
    listener.changed.connect(heard.append)
    try:
        listener.start()
        assert spin_until(lambda: listener.listening, 10) < 10, listener.problem  # opened in a background task
        spin_until(lambda: False, 1.0)  # a second of nothing happening
        quiet_takes = counted[0].takes
        assert quiet_takes <= 1 and heard == []  # one look after LISTEN, then nothing: no polling

        service.notify_synced("team-1", changed=True, orders_added=3)
        took = spin_until(lambda: heard, 2.0)
        assert heard, "no announcement within 2 s"
        print(f"changed fired {took * 1000:.0f} ms after the NOTIFY")
        assert heard[0][0]["connection_id"] == "team-1" and heard[0][0]["orders_added"] == 3
        assert counted[0].takes == quiet_takes + 1  # read once, because the socket had something

        service.notify_synced("team-2", changed=True)
        service.notify_synced("team-3", changed=True)
        spin_until(lambda: sum(len(h) for h in heard) >= 3, 2.0)
        assert [a["connection_id"] for h in heard for a in h] == ["team-1", "team-2", "team-3"]
    finally:
        listener.close()
    service.notify_synced("team-4", changed=True)
    spin_until(lambda: False, 0.3)
    assert [a["connection_id"] for h in heard for a in h][-1] == "team-3"  # closed: heard no more


def test_a_lost_connection_is_said_and_listening_resumes_when_the_store_is_back(qgis_app, postgis_conninfo,
                                                                              monkeypatch):
    from satellite_tasking.plugin.store_postgis import PostgisStore
    from satellite_tasking.ui import store_listener

    monkeypatch.setattr(store_listener, "RECONNECT_S", 0.2)
    store = PostgisStore(postgis_conninfo)
    opened = []

    def open_listener():
        opened.append(store.listen())
        return opened[-1]

    heard, states = [], []
    listener = StoreListener(open_listener)  # opened here, without a task runner
    listener.changed.connect(heard.append)
    listener.stateChanged.connect(states.append)
    try:
        listener.start()
        assert listener.listening
        # The server ends the LISTEN session (as a restart would).
        PostgisStore(postgis_conninfo)._query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND query LIKE 'LISTEN%%'")
        spin_until(lambda: states, 3.0)
        assert states and "lost" in states[0] and "live updates resume" in states[0]
        spin_until(lambda: len(opened) >= 2 and listener.listening, 3.0)
        assert listener.listening and states[-1] == "" and heard[-1] == []  # back: read the store again
        store.notify_synced("team-1", changed=True)
        spin_until(lambda: heard and heard[-1], 2.0)
        assert heard[-1][0]["connection_id"] == "team-1"
    finally:
        listener.close()
        QTimer.singleShot(0, lambda: None)
