"""Incremental sync of one connection's orders and captures into the store (pure logic, no Qt).

``sync_connection`` asks the provider only for what changed since the newest ``updated_at`` the
store holds (the provider's clock, never this computer's), fetches captures only for orders that
changed or are still active, and writes each page to the store as it arrives, all pages of one sync in
one store transaction (``TaskingStore.writer``): only a page of captures is alive at a time, so the
collector has little to walk, and a sync cut short leaves the previous state as it was. It never
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

from .capture_publication import final_orders_awaiting_publication
from .http import RequestCancelled, cancellable
from .model import Decision, OrderStatus
from .page_read_ahead import read_ahead, read_streams_ahead
from .records import collecting_skipped
from .utc import to_millis

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
# The longest one sync of a connection may run (each request has a deadline of its own, but a provider answering
# slowly page after page could hold a sync, and the connection's next ones, for ever). Planet's published limits
# alone make a first sync of 20,000 orders last over an hour (300 requests a minute, one per order's captures).
SYNC_DEADLINE_SECONDS = 3 * 3600.0


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
    skipped: list = field(default_factory=list)  # records.SkippedRecord: records left out, the rest stored
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
        text = (f"{self.orders_added} new and {self.orders_updated} changed orders, {self.captures_added} new and "
                f"{self.captures_updated} changed captures.")
        skipped = self.skipped_sentence()
        return f"{text} {skipped}" if skipped else text

    @property
    def skipped_orders(self) -> int:
        return sum(1 for record in self.skipped if record.kind == "order")

    @property
    def skipped_captures(self) -> int:
        return sum(1 for record in self.skipped if record.kind == "capture")

    def skipped_sentence(self) -> str:
        """What was left out and why (the first case), or "" when nothing was."""
        if not self.skipped:
            return ""
        parts = []
        for count, one, many in ((self.skipped_orders, "order", "orders"),
                                 (self.skipped_captures, "capture", "captures")):
            if count:
                parts.append(f"{count} {one if count == 1 else many}")
        first = self.skipped[0]
        return (f"{' and '.join(parts)} could not be read and {'was' if len(self.skipped) == 1 else 'were'} "
                f"skipped (first: {first.kind} {first.record_id}: {first.reason}); everything else is stored.")


def _error_sentence(connection_name: str, error: BaseException) -> str:
    message = getattr(error, "user_message", None)
    if message:
        return str(message)
    logger.error("Sync of %s failed unexpectedly", connection_name, exc_info=error)
    return (f"Could not sync {connection_name} ({type(error).__name__}); the orders shown are from the last "
            f"successful sync, and the details are in the message log.")


def sync_connection(provider, store, connection_id: str, cancelled: Optional[Callable[[], bool]] = None,
                    now: Optional[Callable[[], datetime]] = None,
                    deadline_seconds: Optional[float] = SYNC_DEADLINE_SECONDS,
                    beside_gui: bool = True) -> SyncResult:
    """Bring the store up to date with one connection; never raises.

    ``provider`` is a TaskingProvider (keep one per connection between syncs: it caches tokens and
    workspace ids, which is what keeps a sync with no news at one request per API). ``cancelled``
    is polled between requests; a cancelled sync writes nothing. A sync still running after
    ``deadline_seconds`` ends like a failed one: a sentence, and the store keeps what it held.
    ``beside_gui``: the sync shares its process with QGIS's GUI thread, so writing lets go of Python's lock every
    few rows (``store.YIELD_EVERY_ROWS``); the plugin's sync process has no GUI and passes False (there each
    letting go hands the lock to the page readers for up to 5 ms: 7.8 s of a first sync of 200,000 captures).
    """
    started = time.monotonic()
    clock = now or (lambda: datetime.now(timezone.utc))
    name = getattr(getattr(provider, "connection", None), "name", connection_id)
    result = SyncResult(connection_id)
    ends_at = None if deadline_seconds is None else started + deadline_seconds

    def past_deadline() -> bool:
        return ends_at is not None and time.monotonic() >= ends_at

    def stop() -> bool:
        if past_deadline():
            raise _DeadlinePassed
        if cancelled is not None and cancelled():
            result.cancelled = True
            return True
        return False

    def stop_requests() -> bool:  # also ends the provider's retry waits (RequestCancelled) at the deadline
        return (cancelled is not None and cancelled()) or past_deadline()

    if getattr(store, "read_only", False):
        # Nothing is asked of the provider: what it answers could not be kept.
        result.error = store.problem
        return _finish(result, started)
    try:
        state = store.sync_state(connection_id)
        result.baseline = not state.synced_before
        # Orders followed although unchanged: those still active before this sync (read before it writes), and
        # final ones whose captures are not all published yet when the provider says so.
        active = store.active_order_ids(connection_id) + final_orders_awaiting_publication(
            provider, store, connection_id, clock())
        # cancellable: a cancel also ends the provider's retry waits (RequestCancelled) instead of only being
        # seen between pages.
        # Records a provider cannot read are skipped into `unreadable` (page readers included), not raised.
        with store.writer(connection_id, recorded_at=clock(), beside_threads=beside_gui) as writer, \
                cancellable(stop_requests), collecting_skipped() as unreadable:
            new_ids: list = []
            followed: list = []
            for orders in read_ahead(provider.iter_order_pages(since=_overlapped(state.orders_cursor))):
                _check(stop)
                result.orders_read += len(orders)
                known = writer.order_states([o.id for o in orders])
                # An order returned again with the same updated_at (a provider reading "since" inclusively) is
                # no news.
                applied = writer.write_orders(orders)
                left_out = {record.record_id for record in applied.skipped}
                for o in orders:
                    if o.id in left_out:
                        continue  # not stored: its captures would have no order
                    previous = known.get(o.id)
                    if previous is None:
                        new_ids.append(o.id)
                    elif (previous.updated_at != to_millis(o.updated_at) or previous.status != o.status
                          or previous.decision != o.decision):
                        followed.append(o.id)
                _count(result, connection_id, applied)
            _check(stop)
            new_ids = list(dict.fromkeys(new_ids))
            new_set = set(new_ids)
            followed = [i for i in dict.fromkeys(followed + active) if i not in new_set]
            # Orders new to the store: all their captures. The others: only captures changed since the cursor.
            for ids, since, of_new in ((new_ids, None, True), (followed, _overlapped(state.captures_cursor), False)):
                if not ids:
                    continue
                for captures in read_streams_ahead(provider.capture_page_streams(ids, since=since)):
                    _check(stop)
                    result.captures_read += len(captures)
                    _count(result, connection_id, writer.write_captures(captures, of_new_orders=of_new))
                _check(stop)
            result.skipped[:0] = unreadable
    except (_Cancelled, RequestCancelled, _DeadlinePassed) as error:
        result.events = []
        if not (isinstance(error, _DeadlinePassed) or past_deadline()):
            result.cancelled = True
            return _finish(result, started)
        result.cancelled = False
        result.error = (f"The sync of {name} took longer than {deadline_seconds / 60:g} minutes and was stopped; the "
                        f"orders shown are from the last successful sync. The next sync starts again from there.")
        try:
            store.record_sync_error(connection_id, result.error, clock())
        except Exception:  # noqa: BLE001 - the store itself may be what failed
            logger.warning("Could not record the stopped sync of %s", name, exc_info=True)
        return _finish(result, started)
    except Exception as error:  # noqa: BLE001 - one failing connection must not stop the others
        result.error = _error_sentence(name, error)
        result.events = []
        try:
            store.record_sync_error(connection_id, result.error, clock())
        except Exception:  # noqa: BLE001 - the store itself may be what failed
            logger.warning("Could not record the failed sync of %s", name, exc_info=True)
        return _finish(result, started)
    if result.baseline:
        result.events = []
    return _finish(result, started)


class _Cancelled(Exception):  # noqa: N818 - control flow, never leaves this module
    """The sync was cancelled: leave the writer's block so that its transaction is rolled back."""


class _DeadlinePassed(Exception):  # noqa: N818 - control flow, never leaves this module
    """The sync ran past its deadline: leave the writer's block so that its transaction is rolled back."""


def _check(stop: Callable[[], bool]) -> None:
    if stop():
        raise _Cancelled


def _count(result: SyncResult, connection_id: str, applied) -> None:
    """Add one page's changes to the result; the page itself is not kept."""
    result.orders_added += applied.orders_added
    result.orders_updated += applied.orders_updated
    result.captures_added += applied.captures_added
    result.captures_updated += applied.captures_updated
    result.history_rows += len(applied.history)
    result.skipped.extend(getattr(applied, "skipped", ()))
    if not result.baseline:
        result.events.extend(events_of(connection_id, applied))


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


def _finish(result: SyncResult, started: float) -> SyncResult:
    result.seconds = time.monotonic() - started
    return result


class SyncFailed(Exception):
    """A sync that did not get through; its SyncResult (with the reason) is the task's result."""

    @property
    def user_message(self) -> str:
        return str(self)


def sync_task(provider, store, connection_id: str, on_done: Callable[[SyncResult], None],
              description: str = ""):
    """A BackgroundTask running ``sync_connection`` off the GUI thread; ``on_done(result)`` runs on the GUI
    thread in ``finished`` (refresh layers and the dock there). Start it with ``TaskRunner.start``."""
    from .tasks import BackgroundTask

    def work(task):
        result = sync_connection(provider, store, connection_id, cancelled=task.isCanceled)
        if result.error:
            # A failed sync ends as a failed task: QGIS must not announce it as "Task complete".
            task.result = result
            raise SyncFailed(result.error)
        return result

    def failed(message: str) -> None:
        # A cancelled task still carries the (cancelled, unapplied) result of sync_connection.
        result = task.result if isinstance(task.result, SyncResult) else SyncResult(connection_id, error=message)
        on_done(result)

    name = getattr(getattr(provider, "connection", None), "name", connection_id)
    task = BackgroundTask(description or f"Syncing orders of {name}", work, on_success=on_done, on_failure=failed,
                          cancel_without_prompt=True)
    return task
