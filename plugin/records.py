"""Per-record isolation: one provider record that cannot be read is skipped, counted and named, never the
reason a whole sync fails (no Qt).

A sync collects what was skipped with ``collecting_skipped()``; inside it, ``isolated`` turns a record's
parse failure into a ``SkippedRecord`` and returns None, so the listing carries on with the next record.
Outside a sync (reading one order, placing) a failure is raised as before: there is no list to hide it in.
The collector lives in a context variable, so the sync's page-reader threads (which run in a copy of the
sync's context) add to the same list.
"""
from __future__ import annotations

import contextvars
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from .http import UnreadableResponse

logger = logging.getLogger(__name__)

# What reading one record can raise: a field of the wrong type, a value out of range, a record that is not
# an object or has no id.
RECORD_ERRORS = (TypeError, ValueError, OverflowError, AttributeError, KeyError, IndexError, UnreadableResponse)
MAX_REASON_CHARS = 160

_SKIPPED: contextvars.ContextVar = contextvars.ContextVar("tasking_skipped_records", default=None)


@dataclass(frozen=True)
class SkippedRecord:
    """An order or capture left out (a field of the wrong type…); the rest of its page is kept."""

    kind: str  # "order" or "capture"
    record_id: str
    reason: str


def skipped_record(kind: str, record_id, error: BaseException) -> SkippedRecord:
    reason = str(getattr(error, "user_message", "") or error) or type(error).__name__
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS - 1] + "…"
    record_id = str(record_id or "?")
    logger.warning("The %s %s could not be read and was skipped: %s", kind, record_id, reason)
    return SkippedRecord(kind, record_id, reason)


def record_id_text(value) -> Optional[str]:
    """A record's id as text, or None when it is not one: ids are non-empty strings or integers. An id of
    another type (a list, an object, true) would be turned into text the provider never gave, and every later
    request about that record (its captures…) would fail for the whole sync instead of the record alone."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        return None
    return str(value)


@contextmanager
def collecting_skipped() -> Iterator[list]:
    """Within the block, ``isolated`` skips unreadable records into the list yielded here."""
    found: list = []
    token = _SKIPPED.set(found)
    try:
        yield found
    finally:
        _SKIPPED.reset(token)


def isolated(kind: str, raw, parse: Callable, *args):
    """``parse(*args)``, or None (the record noted as skipped) when it fails inside ``collecting_skipped``."""
    collector: Optional[list] = _SKIPPED.get()
    if collector is None:
        return parse(*args)
    try:
        return parse(*args)
    except RECORD_ERRORS as error:
        record_id = raw.get("id") if isinstance(raw, dict) else None
        collector.append(skipped_record(kind, record_id, error))
        return None
