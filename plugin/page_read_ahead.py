"""A provider's pages read ahead of the sync by threads of their own: I/O orchestration, kept out of the sync's
logic (``sync.py`` asks for pages and writes them; how they are fetched meanwhile is decided here).

``read_streams_ahead`` is the fast path: while the store writes one page, the provider answers the next, and
while one reader waits for an answer another decodes its page. ``read_in_turn`` is its plain reference, the same
pages read one after the other on the caller's thread. ``tests/unit/test_page_read_ahead.py`` shows that both
hand the caller the same pages (each stream's own pages in order) and the same error.
"""
from __future__ import annotations

import contextvars
import itertools
import logging
import queue
import threading
from typing import Iterable, Iterator

from .http import cancellable

logger = logging.getLogger(__name__)

# Pages read ahead of the one being written: one keeps the provider busy answering while the store writes.
READ_AHEAD_PAGES = 2
# Streams of pages (a provider's listings that do not depend on each other) read at the same time: while one
# reader waits for the provider's answer, the other decodes its page.
PARALLEL_STREAMS = 2
# How long the end of a sync waits for the page readers to notice they are no longer needed: each is inside
# one request at most (the session's read timeout; its retry waits end when the reading is closed).
READER_JOIN_SECONDS = 120.0
_PAGE, _END, _FAILED = range(3)


def read_ahead(pages: Iterator, depth: int = READ_AHEAD_PAGES) -> Iterator:
    """The pages of ``pages`` (a provider's page iterator), read by a thread of their own ``depth`` pages
    ahead of the caller: the provider answers a page while the previous one is being written to the store,
    instead of one after the other (on a first sync the two take about as long as each other)."""
    return read_streams_ahead([pages], readers=1, depth=depth)


def read_streams_ahead(streams: list, readers: int = PARALLEL_STREAMS, depth: int = READ_AHEAD_PAGES) -> Iterator:
    """The pages of several page iterators, read by up to ``readers`` threads (one stream each at a time),
    handed to the caller as they arrive (pages of different streams interleave; a stream's own pages stay
    in order).

    The readers run the iterators (and so the provider's requests) in a copy of the caller's context, so a
    ``cancellable`` scope applies to their requests too. A reader's error is raised here, at the page it
    stopped at. When the caller stops early (cancelled, failed), the readers stop at their next page, their
    requests are cancelled and their iterators closed; nothing more they read is used.
    """
    pending = list(streams)
    if not pending:
        return
    handoff: queue.Queue = queue.Queue(maxsize=max(1, depth))
    closing = threading.Event()
    taking = threading.Lock()

    def hand(item) -> bool:
        while not closing.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next_stream():
        with taking:
            return pending.pop(0) if pending and not closing.is_set() else None

    def read() -> None:
        stream = None
        try:
            with cancellable(closing.is_set):
                while (stream := next_stream()) is not None:
                    for page in stream:
                        if not hand((_PAGE, page)):
                            return
                    stream = None
            hand((_END, None))
        except BaseException as error:  # noqa: BLE001 - handed to the caller, who raises it
            hand((_FAILED, error))
        finally:
            _close(stream)  # one left half read

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(read,), daemon=True,
                                name="tasking-page-reader") for _ in range(max(1, min(readers, len(pending))))]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            try:
                kind, value = handoff.get(timeout=1.0)
            except queue.Empty:
                if not any(thread.is_alive() for thread in threads) and handoff.empty():
                    raise RuntimeError("the page readers stopped without an answer") from None
                continue
            if kind == _PAGE:
                yield value
            elif kind == _END:
                running -= 1
            else:
                raise value
    finally:
        closing.set()
        for thread in threads:
            thread.join(READER_JOIN_SECONDS)
            if thread.is_alive():
                logger.warning("A page reader is still waiting for its provider after %.0f s", READER_JOIN_SECONDS)
        with taking:
            for unread in pending:  # streams no reader started
                _close(unread)
            pending.clear()


def _close(stream) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def read_in_turn(streams: Iterable[Iterator]) -> Iterator:
    """The pages of ``streams``, one stream after the other, read on the caller's thread when asked for: the
    plain reference of ``read_streams_ahead``."""
    return itertools.chain.from_iterable(streams)
