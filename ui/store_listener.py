"""Live updates of the team's shared store: ``changed`` fires as soon as a sync of the store is announced.

The service (and a desktop that synced a connection itself) ``NOTIFY``s the store's channel after each applied
sync. ``StoreListener`` keeps one ``LISTEN`` connection (``PostgisStore.listen``) and watches its socket with a
``QSocketNotifier`` on the GUI thread: nothing polls the database, and nothing blocks — when the socket is readable
the connection's ``poll()`` reads what arrived, which is already there. Opening the connection (a network round
trip) happens in a background task when a task runner is given. A lost connection (the database restarted) is
reopened after ``RECONNECT_S``, and ``changed`` fires then too: what was announced meanwhile was not heard.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from qgis.PyQt import sip
from qgis.PyQt.QtCore import QObject, QSocketNotifier, QTimer, pyqtSignal

logger = logging.getLogger(__name__)

RECONNECT_S = 30.0


class StoreListener(QObject):
    """Announces the shared store's applied syncs. Create and use it on the GUI thread; ``close()`` it when done."""

    #: The announcements heard at once (a list of dicts: ``connection_id`` and what changed); an empty list after
    #: a reconnection (something may have been missed: read the store again).
    changed = pyqtSignal(list)
    #: A sentence when listening stopped (the connection was lost), "" when it works again.
    stateChanged = pyqtSignal(str)

    def __init__(self, open_listener: Callable, task_runner=None, parent: Optional[QObject] = None):
        """``open_listener``: gives a ``store_postgis.SyncListener`` (``store.listen``). ``task_runner``: a
        ``tasks.TaskRunner`` that opens it off the GUI thread (None: opened here, for scripts and tests)."""
        super().__init__(parent)
        self._open_listener = open_listener
        self._task_runner = task_runner
        self._listener = None
        self._notifier: Optional[QSocketNotifier] = None
        self._closed = False
        self._opening = False
        self.problem = ""
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self._open)

    @property
    def listening(self) -> bool:
        return self._notifier is not None

    def start(self) -> StoreListener:
        self._open()
        return self

    def close(self) -> None:
        """Stop listening (idempotent); the LISTEN connection is closed."""
        self._closed = True
        self._retry.stop()
        self._drop()

    # -- opening ------------------------------------------------------------------------------------------
    def _open(self) -> None:
        if self._closed or self._opening or self._listener is not None:
            return
        if self._task_runner is None:
            try:
                listener = self._open_listener()
            except Exception as error:  # noqa: BLE001 - a store that cannot be reached now: try again later
                self._failed(getattr(error, "user_message", "") or str(error))
                return
            self._attach(listener)
            return
        from ..plugin.tasks import BackgroundTask

        self._opening = True
        self._task_runner.start(BackgroundTask(
            "Listening to the shared order store", lambda task: self._open_listener(),
            on_success=self._opened, on_failure=self._open_failed, cancel_without_prompt=True))

    def _opened(self, listener) -> None:
        self._opening = False
        if self._closed or sip.isdeleted(self):
            listener.close()
            return
        self._attach(listener)

    def _open_failed(self, message: str) -> None:
        self._opening = False
        if not self._closed and not sip.isdeleted(self):
            self._failed(message)

    def _attach(self, listener) -> None:
        reconnected = bool(self.problem)
        self._listener = listener
        self._notifier = QSocketNotifier(listener.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._readable)
        if reconnected:
            self.problem = ""
            self.stateChanged.emit("")
            self.changed.emit([])  # announcements made while away were not heard
        # Anything that arrived with the LISTEN itself is in the connection's buffer, not on the socket.
        QTimer.singleShot(0, self._readable)

    # -- hearing ------------------------------------------------------------------------------------------
    def _readable(self, *_) -> None:
        if self._listener is None:
            return
        try:
            heard = self._listener.take()  # poll(): reads what the socket holds, never waits
        except Exception as error:  # noqa: BLE001 - psycopg2's OperationalError: the connection is gone
            self._drop()
            self._failed(f"The connection to the shared store was lost ({type(error).__name__})")
            return
        if heard:
            self.changed.emit(heard)

    def _failed(self, message: str) -> None:
        self.problem = (f"{message}; live updates resume when it is back (tried again every "
                        f"{RECONNECT_S:g} s).")
        logger.warning("%s", self.problem)
        self.stateChanged.emit(self.problem)
        if not self._closed:
            self._retry.start(int(RECONNECT_S * 1000))

    def _drop(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.activated.disconnect(self._readable)
            self._notifier.deleteLater()
            self._notifier = None
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:  # noqa: BLE001 - closing a connection already gone
                logger.debug("Listener already closed", exc_info=True)
            self._listener = None


__all__ = ["StoreListener"]
