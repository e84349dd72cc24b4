"""The order store's interface, shared by its two backends.

``TaskingStore`` (``store.py``, a GeoPackage: the default, embedded, zero-set-up store) and
``PostgisStore`` (``store_postgis.py``, one PostgreSQL/PostGIS database shared by a team) both give
these methods, with the same meaning and the same result types (the dataclasses of ``store.py``).
Sync (``sync.py``), the monitor dock and the Processing algorithms ask only for this, so either
store can stand behind them.

Plain typing, no Qt, no database driver.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Iterable, Optional, Protocol, runtime_checkable

from .model import Capture, Order


@runtime_checkable
class StoreWriterProtocol(Protocol):
    """One sync's writes, page by page, inside one transaction (``OrderStore.writer``)."""

    connection_id: str
    recorded_at: datetime

    def order_states(self, order_ids: Iterable[str]) -> dict: ...

    def write_orders(self, orders: list): ...  # -> AppliedChanges

    def write_captures(self, captures: list, of_new_orders: bool = False): ...  # -> AppliedChanges

    def finish(self) -> None: ...


@runtime_checkable
class OrderStore(Protocol):
    """Orders, captures, status history and sync cursors, keyed by connection id + the provider's id."""

    # -- reading
    def sync_state(self, connection_id: str): ...  # -> SyncState

    def order_states(self, connection_id: str, order_ids: Iterable[str]) -> dict: ...

    def active_order_ids(self, connection_id: str) -> list: ...

    def orders(self, connection_id: Optional[str] = None) -> list: ...

    def order(self, connection_id: str, order_id: str) -> Optional[Order]: ...

    def captures(self, connection_id: Optional[str] = None, order_id: Optional[str] = None) -> list: ...

    def capture_summaries(self) -> dict: ...

    def capture_counts(self) -> dict: ...

    def status_history(self, connection_id: str, order_id: Optional[str] = None) -> list: ...

    def counts(self, connection_id: Optional[str] = None) -> dict: ...

    # -- writing
    def apply(self, connection_id: str, orders: Iterable[Order], captures: Iterable[Capture],
              recorded_at: Optional[datetime] = None): ...  # -> AppliedChanges

    def writer(self, connection_id: str, recorded_at: Optional[datetime] = None,
               beside_threads: bool = False) -> AbstractContextManager: ...  # of a StoreWriterProtocol

    def record_sync_error(self, connection_id: str, message: str, at: Optional[datetime] = None) -> None: ...

    def forget_connection(self, connection_id: str) -> None: ...


__all__ = ["OrderStore", "StoreWriterProtocol"]
