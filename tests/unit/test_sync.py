"""sync_connection against the sandbox (Planet + UP42 on 127.0.0.1) into a real GeoPackage store."""
from datetime import datetime, timezone

import pytest
from sandbox_harness import UP42_OPTICAL, control, sandbox_provider_for
from sandbox_harness import UP42_OPTICAL_PARAMS as OPTICAL_PARAMS

from satellite_tasking.plugin.http import build_session
from satellite_tasking.plugin.model import Aoi, Connection, Decision, OrderDraft, OrderStatus
from satellite_tasking.plugin.providers.sandbox import SandboxProvider
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import SyncEventKind, sync_connection

DAY = 86400
QUIET = {"planet_max_active_orders": 50, "planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
         "planet_reassessment_rate": 0.0, "up42_failure_rate": 0.0}
SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}
PARIS = {"type": "Polygon",
         "coordinates": [[[2.25, 48.80], [2.42, 48.80], [2.42, 48.90], [2.25, 48.90], [2.25, 48.80]]]}
POINT = {"type": "Point", "coordinates": [13.4, 52.5]}
OPTICAL = f"up42:{UP42_OPTICAL}"
LOCK_IN = {"start_time": "2026-01-05T01:00:00Z", "end_time": "2026-01-12T01:00:00Z"}


@pytest.fixture
def server(start_sandbox):
    return start_sandbox(seed=5, settings=QUIET)


def make_provider(server_url, connection_id="sandbox-1"):
    return sandbox_provider_for(server_url, connection_id)


def requests_per_api(server):
    counts = {"up42": 0, "planet": 0}
    for entry in control(server, "GET", "/_sandbox/requests")["requests"]:
        counts["planet" if entry["path"].startswith("/tasking/v2") else "up42"] += 1
    return counts


def place_some_orders(provider):
    planet = provider.place(OrderDraft("sandbox-1", "planet:area", "Harbour", dict(LOCK_IN), [Aoi(SQUARE), Aoi(PARIS)],
                                       "ref-planet-1"))
    point = provider.place(OrderDraft("sandbox-1", "planet:point", "Tower", dict(LOCK_IN), [Aoi(POINT)],
                                      "ref-planet-2"))
    up42 = provider.place(OrderDraft("sandbox-1", OPTICAL, "Berlin", dict(OPTICAL_PARAMS), [Aoi(SQUARE)], "ref-up42"))
    placed = [o.order for o in planet + point + up42]
    assert all(placed)
    return placed


def synced_then_a_week_later(server, tmp_path):
    """A provider and a store holding the orders it placed, synced once; then the sandbox's clock moved 8 days on
    (the next sync has news to write)."""
    provider = make_provider(server.base_url)
    store = TaskingStore(tmp_path / "store.gpkg")
    place_some_orders(provider)
    assert sync_connection(provider, store, "sandbox-1").ok
    control(server, "POST", "/_sandbox/clock", {"advance_seconds": 8 * DAY})
    return provider, store


def store_contents(store):
    """The orders, captures and status history the store holds for sandbox-1."""
    return store.orders("sandbox-1"), store.captures("sandbox-1"), store.status_history("sandbox-1")


def assert_store_equals_truth(server, store):
    """Compare the store with what a fresh client reads from the sandbox now."""
    truth = make_provider(server.base_url)
    orders = {o.id: o for o in truth.orders()}
    stored = {o.id: o for o in store.orders("sandbox-1")}
    assert set(stored) == set(orders)
    for order_id, order in orders.items():
        got = stored[order_id]
        assert (got.status, got.decision, got.name, got.api) == (order.status, order.decision, order.name, order.api)
        assert abs((got.updated_at - order.updated_at).total_seconds()) < 0.001
        assert got.geometry == order.geometry
        history = store.status_history("sandbox-1", order_id)
        assert history and history[-1].status == order.status
    planet_ids = [i for i, o in orders.items() if o.api == "planet"]
    captures = {c.id: c for c in truth.captures(planet_ids)}
    stored_captures = {c.id: c for c in store.captures("sandbox-1")}
    assert set(stored_captures) == set(captures)
    for capture_id, capture in captures.items():
        got = stored_captures[capture_id]
        assert (got.order_id, got.status, got.assessment, got.cloud_cover) == (
            capture.order_id, capture.status, capture.assessment, capture.cloud_cover)
        assert got.footprint == capture.footprint
        assert (got.acquired_at is None) == (capture.acquired_at is None)
    return orders, captures


def test_sync_brings_orders_captures_and_history_from_both_apis(server, tmp_path):
    provider = make_provider(server.base_url)
    store = TaskingStore(tmp_path / "store.gpkg")
    placed = place_some_orders(provider)

    first = sync_connection(provider, store, "sandbox-1")
    assert first.ok and first.baseline and first.events == []
    assert first.orders_added == len(placed) == 4 and first.captures_added == 0
    assert_store_equals_truth(server, store)

    control(server, "POST", "/_sandbox/clock", {"advance_seconds": 8 * DAY})
    second = sync_connection(provider, store, "sandbox-1")
    assert second.ok and not second.baseline, second.error
    orders, captures = assert_store_equals_truth(server, store)
    assert captures and second.captures_added == len(captures)
    statuses = {o.status.code for o in orders.values()}
    assert OrderStatus.COMPLETED in statuses or OrderStatus.EXPIRED in statuses
    kinds = [e.kind for e in second.events]
    ended = [o for o in orders.values() if o.api == "planet" and o.status.is_terminal]
    assert kinds.count(SyncEventKind.CAPTURE_PUBLISHED) == sum(1 for c in captures.values()
                                                              if c.status == "PUBLISHED")
    assert len([k for k in kinds if k.value.startswith("order_")]) == len(ended)
    up42_order = next(o for o in orders.values() if o.api == "up42")
    if up42_order.decision != Decision.NONE:
        assert SyncEventKind.DECISION_WAITING in kinds
    for order in orders.values():
        history = store.status_history("sandbox-1", order.id)
        assert len(history) == 2 and history[0].previous is None and history[1].previous == history[0].status
    assert second.history_rows == 4


def test_a_second_sync_without_changes_reads_at_most_two_requests_per_api(server, tmp_path):
    provider = make_provider(server.base_url)
    store = TaskingStore(tmp_path / "store.gpkg")
    place_some_orders(provider)
    control(server, "POST", "/_sandbox/planet/seed_orders", {"count": 150, "captures_per_order": 3,
                                                             "statuses": ["FULFILLED", "IN_PROGRESS", "EXPIRED"]})
    control(server, "POST", "/_sandbox/up42/seed_orders", {"count": 30, "status": "FULFILLED"})
    assert sync_connection(provider, store, "sandbox-1").ok
    control(server, "DELETE", "/_sandbox/requests")

    quiet = sync_connection(provider, store, "sandbox-1")
    assert quiet.ok and not quiet.changed and quiet.events == []
    counts = requests_per_api(server)
    # Planet's documented pattern: one order page, then the captures of each still-active order, one order per
    # request (order_id takes one value) [planet.md "Captures"].
    active_planet = sum(1 for o in store.orders("sandbox-1") if o.api == "planet" and not o.status.is_terminal)
    assert counts["planet"] <= 1 + active_planet and counts["up42"] <= 2, counts

    touched = control(server, "POST", "/_sandbox/planet/touch", {"count": 3})["touched"]
    control(server, "DELETE", "/_sandbox/requests")
    after_touch = sync_connection(provider, store, "sandbox-1")
    assert after_touch.orders_updated == 3 and after_touch.history_rows == 0
    active_planet = sum(1 for o in store.orders("sandbox-1") if o.api == "planet" and not o.status.is_terminal)
    assert requests_per_api(server)["planet"] <= 1 + active_planet + 3
    stored = {o.id: o for o in store.orders("sandbox-1")}
    assert all(stored[i].updated_at.year == 2026 for i in touched)
    assert_store_equals_truth(server, store)


def test_a_failing_connection_returns_a_sentence_and_keeps_the_store(server, tmp_path):
    provider, store = synced_then_a_week_later(server, tmp_path)
    before = store_contents(store)
    control(server, "POST", "/_sandbox/faults", {"prefix": "/", "kind": "status", "status": 503})

    failed = sync_connection(provider, store, "sandbox-1")
    assert not failed.ok and failed.error and isinstance(failed.error, str)
    assert "503" in failed.error or "unavailable" in failed.error.lower() or "not answering" in failed.error.lower()
    assert store_contents(store) == before
    assert store.sync_state("sandbox-1").last_error == failed.error

    # Another connection in the same store syncs fine meanwhile; once the faults end, this one catches up.
    control(server, "DELETE", "/_sandbox/faults")
    assert sync_connection(provider, store, "sandbox-1").ok
    assert store.sync_state("sandbox-1").last_error == ""
    assert_store_equals_truth(server, store)


def test_a_stopped_server_is_an_error_sentence_and_other_connections_still_sync(server, tmp_path):
    store = TaskingStore(tmp_path / "store.gpkg")
    gone = SandboxServer(port=0, seed=2, speed=0).start()
    gone_url = gone.base_url
    gone.stop()
    working = make_provider(server.base_url)
    place_some_orders(working)
    results = [sync_connection(make_provider(gone_url, "gone"), store, "gone"),
               sync_connection(working, store, "sandbox-1")]
    assert not results[0].ok and results[0].error and store.orders("gone") == []
    assert results[1].ok and len(store.orders("sandbox-1")) == 4


def test_a_cancelled_sync_writes_nothing(server, tmp_path):
    provider = make_provider(server.base_url)
    store = TaskingStore(tmp_path / "store.gpkg")
    place_some_orders(provider)
    result = sync_connection(provider, store, "sandbox-1", cancelled=lambda: True)
    assert result.cancelled and not result.ok and store.orders("sandbox-1") == []
    assert not store.sync_state("sandbox-1").synced_before


def test_store_failure_is_reported_not_raised(server, tmp_path):
    provider = make_provider(server.base_url)
    place_some_orders(provider)

    class BrokenStore(TaskingStore):
        @staticmethod
        def _upsert(*args, **kwargs):  # the first write of the sync, inside its transaction
            raise OSError("disk full")

    store = BrokenStore(tmp_path / "store.gpkg")
    result = sync_connection(provider, store, "sandbox-1", now=lambda: datetime(2026, 1, 6, tzinfo=timezone.utc))
    assert not result.ok and "OSError" in result.error
    assert store.sync_state("sandbox-1").last_error == result.error


def test_a_sync_failing_after_pages_were_written_leaves_the_previous_state(server, tmp_path):
    """Pages are written as they arrive, all in one transaction: a failure on a later page undoes the earlier."""
    provider, store = synced_then_a_week_later(server, tmp_path)
    before = (store_contents(store), store.sync_state("sandbox-1").orders_cursor)
    pages = []

    class FailsOnSecondPage(TaskingStore):
        @staticmethod
        def _upsert(db, table, key, columns, rows):
            pages.append(table)
            if len(pages) == 2:
                raise OSError("disk full")
            TaskingStore._upsert(db, table, key, columns, rows)

    failed = sync_connection(provider, FailsOnSecondPage(store.path), "sandbox-1")
    assert not failed.ok and "OSError" in failed.error and len(pages) == 2
    after = (store_contents(store), store.sync_state("sandbox-1").orders_cursor)
    assert after == before
    assert sync_connection(provider, store, "sandbox-1").ok
    assert_store_equals_truth(server, store)


def test_pages_stream_into_the_store_and_events_match_a_whole_sync(server, tmp_path):
    """A provider answering many small pages gives the same store and events as one answering one page."""
    whole = make_provider(server.base_url)
    paged = make_provider(server.base_url)
    for part in paged.parts.values():
        part.page_size = 1
    place_some_orders(whole)
    stores = [TaskingStore(tmp_path / "whole.gpkg"), TaskingStore(tmp_path / "paged.gpkg")]
    for provider, store in zip((whole, paged), stores):
        assert sync_connection(provider, store, "sandbox-1").ok
    control(server, "POST", "/_sandbox/clock", {"advance_seconds": 8 * DAY})
    control(server, "DELETE", "/_sandbox/requests")
    results = [sync_connection(provider, store, "sandbox-1") for provider, store in zip((whole, paged), stores)]
    assert all(r.ok for r in results)
    assert results[1].captures_read > 1 and results[1].events
    summary = [sorted((e.kind, e.order_id, e.capture_id) for e in r.events) for r in results]
    assert summary[0] == summary[1]
    counts = [(r.orders_updated, r.captures_added, r.captures_updated, r.history_rows) for r in results]
    assert counts[0] == counts[1]
    assert [s.captures("sandbox-1") for s in stores][0] == stores[1].captures("sandbox-1")


def test_a_sync_waiting_on_a_busy_server_is_cancelled_at_once_and_keeps_the_store(server, tmp_path):
    import threading
    import time

    _, store = synced_then_a_week_later(server, tmp_path)
    before = (store_contents(store), store.sync_state("sandbox-1"))
    control(server, "POST", "/_sandbox/faults", {"prefix": "/", "kind": "status", "status": 503, "retry_after": 5})

    # Sessions that really sleep: uncancelled, this sync would wait 4 x 5 s on its first request.
    def sessions(conn):
        return build_session(conn.name, "SatelliteTasking/test", timeout=(2, 5))

    waiting = SandboxProvider(Connection(id="sandbox-1", name="Sandbox", kind="sandbox"), sessions, server.base_url)
    cancel = threading.Event()

    def press_cancel():  # the user, a moment after the first 503
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(r["fired"] for r in control(server, "GET", "/_sandbox/faults")[
                "rules"]):
            time.sleep(0.02)
        time.sleep(0.1)
        cancel.set()

    presser = threading.Thread(target=press_cancel, daemon=True)
    presser.start()
    started = time.monotonic()
    result = sync_connection(waiting, store, "sandbox-1", cancelled=cancel.is_set)
    elapsed = time.monotonic() - started
    presser.join(timeout=15)

    assert result.cancelled and not result.ok and result.error == "", result.error
    assert result.events == []
    assert elapsed < 1.5, elapsed
    fired = sum(r["fired"] for r in control(server, "GET", "/_sandbox/faults")["rules"])
    assert fired == 1, "no request was sent again after the cancel"
    after = (store_contents(store), store.sync_state("sandbox-1"))
    assert after == before
    control(server, "DELETE", "/_sandbox/faults")
    assert sync_connection(waiting, store, "sandbox-1").ok


# -- pages read ahead -------------------------------------------------------------------------------------------
def _threads_named(name):
    import threading

    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def test_read_ahead_gives_every_page_in_order_from_another_thread():
    import threading

    from satellite_tasking.plugin.page_read_ahead import read_ahead

    readers = []

    def pages():
        for number in range(7):
            readers.append(threading.current_thread().name)
            yield [number]

    assert list(read_ahead(pages(), depth=2)) == [[n] for n in range(7)]
    assert set(readers) == {"tasking-page-reader"}
    assert not _threads_named("tasking-page-reader")


def test_read_ahead_raises_the_readers_error_after_the_pages_before_it():
    from satellite_tasking.plugin.http import ProviderUnavailable
    from satellite_tasking.plugin.page_read_ahead import read_ahead

    def pages():
        yield [1]
        yield [2]
        raise ProviderUnavailable("Sandbox", "the provider is down")

    seen = []
    with pytest.raises(ProviderUnavailable, match="down"):
        for page in read_ahead(pages()):
            seen.append(page)
    assert seen == [[1], [2]]
    assert not _threads_named("tasking-page-reader")


def test_read_ahead_stopped_early_closes_the_provider_iterator_and_its_thread():
    import time

    from satellite_tasking.plugin.page_read_ahead import read_ahead

    closed, produced = [], []

    def pages():
        try:
            for number in range(1000):
                produced.append(number)
                yield [number]
        finally:
            closed.append(True)

    started = time.monotonic()
    for page in read_ahead(pages(), depth=2):
        if page == [3]:
            break
    assert time.monotonic() - started < 2
    assert closed == [True]
    assert len(produced) <= 3 + 2 + 2  # read at most a couple of pages ahead of the one in hand
    assert not _threads_named("tasking-page-reader")


def test_read_ahead_carries_the_callers_cancel_scope_into_the_reader():
    from satellite_tasking.plugin.http import cancellable, cancellation_requested
    from satellite_tasking.plugin.page_read_ahead import read_ahead

    def pages(seen):
        for number in range(3):
            seen.append(cancellation_requested())
            yield [number]

    outside, inside = [], []
    assert len(list(read_ahead(pages(outside)))) == 3
    with cancellable(lambda: True):
        assert len(list(read_ahead(pages(inside)))) == 3
    assert outside == [False] * 3
    assert inside == [True] * 3


def test_a_first_sync_of_many_pages_is_read_ahead_and_complete(server, tmp_path):
    # More orders and captures than one page each: pages are handed over by the reader thread one by one.
    control(server, "POST", "/_sandbox/planet/seed_orders",
            {"count": 230, "captures_per_order": 3, "statuses": ["FULFILLED", "IN_PROGRESS"]})
    provider = make_provider(server.base_url)
    store = TaskingStore(tmp_path / "store.gpkg")
    result = sync_connection(provider, store, "sandbox-1")
    assert result.ok, result.error
    counts = store.counts("sandbox-1")
    assert result.orders_added == counts["tasking_orders"] >= 230
    assert result.captures_added == counts["tasking_captures"] == 690
    assert not _threads_named("tasking-page-reader")
    # Every capture's footprint is found again (stored once, inside the capture's answer).
    captures = store.captures("sandbox-1")
    assert all(c.footprint and c.footprint == c.raw.get("captured_area") for c in captures)


def test_streams_read_ahead_in_parallel_give_every_page_once_and_each_stream_in_order():
    import threading

    from satellite_tasking.plugin.page_read_ahead import read_streams_ahead

    gate = threading.Barrier(2, timeout=5)  # both readers must be inside a stream at the same time

    def stream(name, count, wait):
        for number in range(count):
            if wait and number == 0:
                gate.wait()
            yield [(name, number)]

    streams = [stream("a", 5, True), stream("b", 4, True), stream("c", 3, False), stream("d", 0, False)]
    pages = list(read_streams_ahead(streams, readers=2, depth=1))
    items = [item for page in pages for item in page]
    assert sorted(items) == sorted([("a", n) for n in range(5)] + [("b", n) for n in range(4)]
                                   + [("c", n) for n in range(3)])
    for name in "abc":
        assert [n for s, n in items if s == name] == sorted(n for s, n in items if s == name)
    assert not _threads_named("tasking-page-reader")


def test_streams_stopped_early_close_the_ones_half_read_and_never_started():
    from satellite_tasking.plugin.http import ProviderUnavailable
    from satellite_tasking.plugin.page_read_ahead import read_streams_ahead

    closed, started = [], []

    def stream(name, fail_at=None):
        started.append(name)
        try:
            for number in range(100):
                if number == fail_at:
                    raise ProviderUnavailable("Sandbox", f"{name} is down")
                yield [number]
        finally:
            closed.append(name)

    streams = [stream("a", fail_at=2), stream("b"), stream("c"), stream("d")]
    with pytest.raises(ProviderUnavailable, match="is down"):
        list(read_streams_ahead(streams, readers=2))
    # The failed stream and the one read beside it are closed; the two never started have nothing open.
    assert sorted(closed) == sorted(started) == ["a", "b"]
    assert not _threads_named("tasking-page-reader")
