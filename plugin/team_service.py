"""The team's sync service: keeps a shared PostGIS store current for every team connection (pure logic, no Qt).

Each round, for each connection: take the connection's sync lock (``PostgisStore.sync_lock``; a desktop or
another service syncing it now means this round leaves it alone), run the same ``sync_connection`` a desktop
runs, and after a sync that was applied ``NOTIFY`` the store's channel, so open docks refresh at once without
polling the database or the provider. The command line around it is ``satellite_tasking/service.py``.
"""
from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

from .sync import SyncResult, sync_connection

logger = logging.getLogger(__name__)


@dataclass
class ConnectionRound:
    """What one round did for one connection."""

    connection_id: str
    locked_elsewhere: bool = False  # someone else was syncing it: left alone this round
    result: Optional[SyncResult] = None
    error: str = ""  # the provider could not be built (credentials…) or the store failed

    def summary(self) -> str:
        if self.locked_elsewhere:
            return "synced elsewhere right now; left alone"
        if self.error:
            return self.error
        return self.result.summary() if self.result is not None else ""


# A service not seen at work for this many of its intervals is taken for stopped: desktops sync themselves.
STALE_AFTER_INTERVALS = 3
SERVICE_SYNCER = "service"


@dataclass(frozen=True)
class DesktopSync:
    """Whether a desktop polls the provider for a connection itself, and the sentence its dock shows."""

    poll: bool
    sentence: str


def desktop_sync_policy(store, connection_id: str, now: Optional[datetime] = None) -> DesktopSync:
    """A desktop reads a shared store kept current by a service instead of polling the provider; if the
    service has not been seen at work for a while, the desktop syncs the connection itself meanwhile."""
    if not getattr(store, "service_syncs", None) or not store.service_syncs():
        return DesktopSync(True, "")
    now = now or datetime.now(timezone.utc)
    services = [s for s in store.syncers(connection_id) if s[0] == SERVICE_SYNCER]
    if not services:
        return DesktopSync(True, "The sync service has not synced this connection yet; this QGIS syncs it "
                                 "meanwhile.")
    _, host, last, interval_s, error = services[0]
    age = (now - last).total_seconds() if last else float("inf")
    if age > STALE_AFTER_INTERVALS * max(interval_s or 60.0, 1.0):
        return DesktopSync(True, f"The sync service on {host} was last seen {_ago(age)}; this QGIS syncs the "
                                 f"connection itself until it is back.")
    sentence = f"Kept current by the sync service on {host}; last synced {_ago(age)}."
    if error:
        sentence += f" Its last sync failed: {error}"
    return DesktopSync(False, sentence)


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{max(0, int(seconds))} s ago"
    if seconds < 5400:
        return f"{int(seconds // 60)} min ago"
    return f"{seconds / 3600:.1f} h ago"


def sync_when_free(provider, store, connection_id: str, cancelled: Optional[Callable[[], bool]] = None,
                   now: Optional[Callable[[], datetime]] = None) -> Optional[SyncResult]:
    """A desktop's sync of one connection: ``sync_connection`` as ever on a store of its own; on a shared store
    only when nobody else syncs the connection right now (its sync lock), else None (nothing asked of the
    provider: the other syncer's result arrives through the store)."""
    lock = getattr(store, "sync_lock", None)
    if lock is None:
        return sync_connection(provider, store, connection_id, cancelled=cancelled, now=now)
    with lock(connection_id) as held:
        if not held:
            return None
        return sync_connection(provider, store, connection_id, cancelled=cancelled, now=now)


@dataclass
class LeftToTheTeam(SyncResult):
    """A desktop's sync that did not ask the provider: the service keeps the shared store current, or another
    syncer holds the connection right now. Its orders arrive through the store (and its announcement)."""

    sentence: str = field(default="")


BEING_SYNCED_ELSEWHERE = ("Being synced by the sync service or another QGIS right now; its orders arrive through "
                          "the shared store.")


def desktop_sync(provider, store, connection_id: str, cancelled: Optional[Callable[[], bool]] = None,
                 now: Optional[Callable[[], datetime]] = None, sync_process=None, recipe=None) -> SyncResult:
    """What a desktop's sync timer does for one connection (in a background task: it talks to the database).

    A store of its own: ``sync_connection`` as ever, in the sync process (``sync_process.SyncProcess``, from the
    provider's ``recipe``) when one is given and can run, else here. The team's shared store: nothing asked of
    the provider while a service keeps the store current (``desktop_sync_policy``) or someone else syncs the
    connection now (its sync lock) — a ``LeftToTheTeam`` saying so; otherwise this desktop syncs it and announces
    what it applied, so the other desktops' docks refresh as they do after the service's syncs."""
    if not getattr(store, "shared", False):
        if sync_process is not None and recipe is not None and now is None:
            result = sync_process.sync(recipe, store.path, connection_id, cancelled=cancelled)
            if result is not None:
                return result
        return sync_connection(provider, store, connection_id, cancelled=cancelled, now=now)
    policy = desktop_sync_policy(store, connection_id)
    if not policy.poll:
        return LeftToTheTeam(connection_id, sentence=policy.sentence)
    result = sync_when_free(provider, store, connection_id, cancelled=cancelled, now=now)
    if result is None:
        return LeftToTheTeam(connection_id, sentence=BEING_SYNCED_ELSEWHERE)
    if result.ok and result.changed:
        try:
            store.notify_synced(connection_id, changed=True, orders_added=result.orders_added,
                                orders_updated=result.orders_updated, captures_added=result.captures_added,
                                captures_updated=result.captures_updated)
        except Exception as error:  # noqa: BLE001 - the sync is applied; the others see it at their next read
            logger.warning("The sync of %s was not announced: %s", connection_id, error)
    return result


def desktop_sync_task(provider, store, connection_id: str, on_done: Callable[[SyncResult], None],
                      description: str = "", sync_process=None, recipe=None):
    """``sync.sync_task`` with ``desktop_sync`` inside: a BackgroundTask whose ``on_done(result)`` runs on the GUI
    thread (a ``LeftToTheTeam`` when this desktop left the connection to the team)."""
    from .sync import SyncFailed
    from .tasks import BackgroundTask

    def work(task):
        result = desktop_sync(provider, store, connection_id, cancelled=task.isCanceled, sync_process=sync_process,
                              recipe=recipe)
        if result.error:
            task.result = result
            raise SyncFailed(result.error)  # a failed sync ends as a failed task, as in sync_task
        return result

    def failed(message: str) -> None:
        on_done(task.result if isinstance(task.result, SyncResult) else SyncResult(connection_id, error=message))

    name = getattr(getattr(provider, "connection", None), "name", connection_id)
    task = BackgroundTask(description or f"Syncing orders of {name}", work, on_success=on_done, on_failure=failed,
                          cancel_without_prompt=True)
    return task


def sync_round(store, providers: Iterable, cancelled: Optional[Callable[[], bool]] = None,
               syncer: str = SERVICE_SYNCER, interval_s: float = 60.0) -> list:
    """One pass over ``providers`` (TaskingProviders, each with its ``connection``); never raises for one
    connection's failure. Each connection synced (or tried) leaves ``syncer``'s heartbeat in the store."""
    rounds = []
    host = socket.gethostname()
    for provider in providers:
        if cancelled is not None and cancelled():
            break
        connection_id = provider.connection.id
        done = ConnectionRound(connection_id)
        rounds.append(done)
        try:
            with store.sync_lock(connection_id) as held:
                if not held:
                    done.locked_elsewhere = True
                    logger.info("Connection %s is being synced elsewhere; skipped this round", connection_id)
                    continue
                done.result = result = sync_connection(provider, store, connection_id, cancelled=cancelled)
            if result.ok:
                store.notify_synced(connection_id, changed=result.changed, orders_added=result.orders_added,
                                    orders_updated=result.orders_updated, captures_added=result.captures_added,
                                    captures_updated=result.captures_updated)
            logger.info("Connection %s: %s", connection_id, result.summary())
        except Exception as error:  # noqa: BLE001 - one connection's failure must not stop the others
            done.error = getattr(error, "user_message", "") or f"{type(error).__name__}: {error}"
            logger.warning("Connection %s could not be synced: %s", connection_id, done.error)
        if not done.locked_elsewhere:
            try:
                store.record_syncer_round(connection_id, syncer, host, interval_s,
                                          done.error or (done.result.error if done.result is not None else ""))
            except Exception as error:  # noqa: BLE001 - a heartbeat lost is not a sync lost
                logger.warning("The heartbeat of %s could not be recorded: %s", connection_id, error)
    return rounds


def run(store, providers_source: Callable[[], Iterable], interval_s: float, stop: threading.Event,
        rounds: Optional[int] = None, on_round: Optional[Callable[[list], None]] = None) -> int:
    """Sync round after round, ``interval_s`` apart, until ``stop`` is set (or ``rounds`` rounds ran).
    ``providers_source`` is asked for the providers each round (connections may be added meanwhile).
    Returns the number of rounds run."""
    done = 0
    while not stop.is_set() and (rounds is None or done < rounds):
        try:
            providers = list(providers_source())
        except Exception as error:  # noqa: BLE001 - settings unreadable this round: try again next round
            logger.warning("The team connections could not be read: %s", error)
            providers = []
        results = sync_round(store, providers, cancelled=stop.is_set, interval_s=interval_s)
        done += 1
        if on_round is not None:
            on_round(results)
        if rounds is not None and done >= rounds:
            break
        stop.wait(interval_s)
    return done


__all__ = ["ConnectionRound", "DesktopSync", "LeftToTheTeam", "desktop_sync", "desktop_sync_policy",
           "desktop_sync_task", "run", "sync_round", "sync_when_free"]
