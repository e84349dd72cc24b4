"""Incremental sync of one connection's orders and captures into the store (pure logic, no Qt).

``sync_connection`` asks the provider only for what changed since the newest ``updated_at`` the
store holds (the provider's clock, never this computer's), fetches captures only for orders that
changed or are still active, and applies the difference in one store transaction. It never
raises: a provider failure becomes a sentence in ``SyncResult.error`` and the store keeps its
previous state. ``sync_task`` wraps it in the plugin's QgsTask (the only Qt-aware part, imported
lazily so this module stays importable without QGIS).

Notifications (``SyncResult.events``) are the changes a person wants to hear about: an order
reached completed / failed / expired / rejected, a capture was published, an order now waits for
a decision. The first successful sync of a connection is the baseline: it fills the store and
announces nothing, so a fresh install does not greet the user with every order ever finished.
"""
from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

from .model import Decision, OrderStatus

logger = logging.getLogger(__name__)

NOTIFIED_END_STATUSES = {
    OrderStatus.COMPLETED: "completed",
    OrderStatus.FAILED: "failed",
    OrderStatus.EXPIRED: "expired",
    OrderStatus.REJECTED: "rejected",
}
PUBLISHED_CAPTURE_STATUSES = frozenset({"PUBLISHED"})
# "Since" is exclusive, so a change stamped with the very time of the cursor but made after the last
# read would be missed for good; reading a little before the cursor costs no request (same first page)
# and the store drops what it already holds.
SINCE_OVERLAP = timedelta(seconds=1)


class SyncEventKind(str, enum.Enum):
    ORDER_COMPLETED = "order_completed"
    ORDER_FAILED = "order_failed"
    ORDER_EXPIRED = "order_expired"
    ORDER_REJECTED = "order_rejected"
    CAPTURE_PUBLISHED = "capture_published"
    DECISION_WAITING = "decision_waiting"


_END_EVENTS = {
    OrderStatus.COMPLETED: SyncEventKind.ORDER_COMPLETED,
    OrderStatus.FAILED: SyncEventKind.ORDER_FAILED,
    OrderStatus.EXPIRED: SyncEventKind.ORDER_EXPIRED,
    OrderStatus.REJECTED: SyncEventKind.ORDER_REJECTED,
}


@dataclass(frozen=True)
class SyncEvent:
    """One change worth a notification; ``message`` is a plain sentence (provider text inside: show as plain
    text)."""

    kind: SyncEventKind
    connection_id: str
    order_id: str
    order_name: str
    message: str
    capture_id: str = ""
    decision: Decision = Decision.NONE


@dataclass
class SyncResult:
    connection_id: str
    error: str = ""
    cancelled: bool = False
    baseline: bool = False  # first successful sync of the connection: no events
    orders_read: int = 0
    orders_added: int = 0
    orders_updated: int = 0
    captures_read: int = 0
    captures_added: int = 0
    captures_updated: int = 0
    history_rows: int = 0
    events: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error and not self.cancelled

    @property
    def changed(self) -> bool:
        """True when the layer tables changed (the layers need a reload)."""
        return bool(self.orders_added or self.orders_updated or self.captures_added or self.captures_updated)

    def summary(self) -> str:
        if self.error:
            return self.error
        if self.cancelled:
            return "Sync cancelled; the orders shown are from the previous sync."
        return (f"{self.orders_added} new and {self.orders_updated} changed orders, {self.captures_added} new and "
                f"{self.captures_updated} changed captures.")


def _error_sentence(connection_name: str, error: BaseException) -> str:
    message = getattr(error, "user_message", None)
    if message:
        return str(message)
    logger.error("Sync of %s failed unexpectedly", connection_name, exc_info=error)
    return (f"Could not sync {connection_name} ({type(error).__name__}); the orders shown are from the last "
            f"successful sync, and the details are in the message log.")


def sync_connection(provider, store, connection_id: str, cancelled: Optional[Callable[[], bool]] = None,
                    now: Optional[Callable[[], datetime]] = None) -> SyncResult:
    """Bring the store up to date with one connection; never raises.

    ``provider`` is a TaskingProvider (keep one per connection between syncs: it caches tokens and
    workspace ids, which is what keeps a sync with no news at one request per API). ``cancelled``
    is polled between requests; a cancelled sync writes nothing.
    """
    started = time.monotonic()
    clock = now or (lambda: datetime.now(timezone.utc))
    name = getattr(getattr(provider, "connection", None), "name", connection_id)
    result = SyncResult(connection_id)

    def stop() -> bool:
        if cancelled is not None and cancelled():
            result.cancelled = True
            return True
        return False

    try:
        state = store.sync_state(connection_id)
        result.baseline = not state.synced_before
        orders = provider.orders(since=_overlapped(state.orders_cursor))
        result.orders_read = len(orders)
        if stop():
            return _finish(result, started)
        known = store.order_states(connection_id, [o.id for o in orders])
        # An order returned again with the same updated_at (a provider reading "since" inclusively) is no news.
        changed = [o for o in orders if o.id not in known or known[o.id].updated_at != _utc(o.updated_at)
                   or known[o.id].status != o.status or known[o.id].decision != o.decision]
        new_ids = [o.id for o in changed if o.id not in known]
        followed = [o.id for o in changed if o.id in known]
        followed += [i for i in store.active_order_ids(connection_id) if i not in set(followed)]
        captures = []
        # Orders new to the store: all their captures. The others: only captures changed since the cursor.
        if new_ids:
            captures.extend(provider.captures(new_ids, since=None))
            if stop():
                return _finish(result, started)
        if followed:
            captures.extend(provider.captures(followed, since=_overlapped(state.captures_cursor)))
            if stop():
                return _finish(result, started)
        result.captures_read = len(captures)
        applied = store.apply(connection_id, orders, captures, recorded_at=clock())
    except Exception as error:  # noqa: BLE001 - one failing connection must not stop the others
        result.error = _error_sentence(name, error)
        try:
            store.record_sync_error(connection_id, result.error, clock())
        except Exception:  # noqa: BLE001 - the store itself may be what failed
            logger.warning("Could not record the failed sync of %s", name, exc_info=True)
        return _finish(result, started)

    result.orders_added = applied.orders_added
    result.orders_updated = applied.orders_updated
    result.captures_added = applied.captures_added
    result.captures_updated = applied.captures_updated
    result.history_rows = len(applied.history)
    if not result.baseline:
        result.events = events_of(connection_id, applied)
    return _finish(result, started)


def events_of(connection_id: str, applied) -> list:
    """The notifications an apply's changes call for (store.AppliedChanges -> [SyncEvent])."""
    events = []
    for change in applied.orders:
        order, previous = change.order, change.previous
        kind = _END_EVENTS.get(order.status.code)
        if kind is not None and (previous is None or previous.status.code != order.status.code):
            events.append(SyncEvent(kind, connection_id, order.id, order.name,
                                    f"Order “{order.name}” {NOTIFIED_END_STATUSES[order.status.code]} "
                                    f"({order.status.describe()})."))
        decision = order.decision
        if decision != Decision.NONE and (previous is None or previous.decision != decision):
            what = "a feasibility option" if decision == Decision.FEASIBILITY else "a price quotation"
            events.append(SyncEvent(SyncEventKind.DECISION_WAITING, connection_id, order.id, order.name,
                                    f"Order “{order.name}” waits for you to decide on {what}.",
                                    decision=decision))
    for change in applied.captures:
        capture = change.capture
        status = str(capture.status or "").upper()
        if status in PUBLISHED_CAPTURE_STATUSES and str(change.previous_status or "").upper() != status:
            quality = f", assessed {capture.assessment}" if capture.assessment else ""
            events.append(SyncEvent(SyncEventKind.CAPTURE_PUBLISHED, connection_id, capture.order_id,
                                    change.order_name,
                                    f"A capture of “{change.order_name or capture.order_id}” was published{quality}.",
                                    capture_id=capture.id))
    return events


def _overlapped(cursor: Optional[datetime]) -> Optional[datetime]:
    return cursor - SINCE_OVERLAP if cursor is not None else None


def _utc(moment: Optional[datetime]) -> Optional[datetime]:
    """The moment as the store gives it back: UTC, milliseconds."""
    if moment is None:
        return None
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _finish(result: SyncResult, started: float) -> SyncResult:
    result.seconds = time.monotonic() - started
    return result


def sync_task(provider, store, connection_id: str, on_done: Callable[[SyncResult], None],
              description: str = ""):
    """A BackgroundTask running ``sync_connection`` off the GUI thread; ``on_done(result)`` runs on the GUI
    thread in ``finished`` (refresh layers and the dock there). Start it with ``TaskRunner.start``."""
    from .tasks import BackgroundTask

    def work(task):
        return sync_connection(provider, store, connection_id, cancelled=task.isCanceled)

    def failed(message: str) -> None:
        # A cancelled task still carries the (cancelled, unapplied) result of sync_connection.
        result = task.result if isinstance(task.result, SyncResult) else SyncResult(connection_id, error=message)
        on_done(result)

    name = getattr(getattr(provider, "connection", None), "name", connection_id)
    task = BackgroundTask(description or f"Syncing orders of {name}", work, on_success=on_done, on_failure=failed)
    return task
