"""The team's sync service: keeps a shared PostGIS store current for every team connection (pure logic, no Qt).

Each round, for each connection: take the connection's sync lock (``PostgisStore.sync_lock``; a desktop or
another service syncing it now means this round leaves it alone), run the same ``sync_connection`` a desktop
runs, and after a sync that was applied ``NOTIFY`` the store's channel, so open docks refresh at once without
polling the database or the provider. The command line around it is ``satellite_tasking/service.py``.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
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


def sync_round(store, providers: Iterable, cancelled: Optional[Callable[[], bool]] = None) -> list:
    """One pass over ``providers`` (TaskingProviders, each with its ``connection``); never raises for one
    connection's failure."""
    rounds = []
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
        results = sync_round(store, providers, cancelled=stop.is_set)
        done += 1
        if on_round is not None:
            on_round(results)
        if rounds is not None and done >= rounds:
            break
        stop.wait(interval_s)
    return done


__all__ = ["ConnectionRound", "run", "sync_round"]
