"""A sync of one connection has a deadline as a whole: past it the sync ends with a sentence and the store keeps
what it held (each request's own deadline cannot bound a provider answering slowly page after page)."""
import time

import pytest
from sandbox_harness import control, sandbox_provider_for

from satellite_tasking.plugin.providers.planet import RatePacer
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection

QUIET = {"planet_max_active_orders": 50, "planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
         "planet_reassessment_rate": 0.0, "up42_failure_rate": 0.0}


class SlowPages:
    """The sandbox provider, with its order pages coming ``pause`` seconds apart (a slow provider)."""

    def __init__(self, provider, pause: float):
        self._provider, self._pause = provider, pause

    def __getattr__(self, name):
        return getattr(self._provider, name)

    def iter_order_pages(self, since=None):
        for page in self._provider.iter_order_pages(since=since):
            time.sleep(self._pause)
            yield page


def unpaced_provider(server):
    provider = sandbox_provider_for(server.base_url, "sandbox-1")
    provider.parts["planet"].pace_with(RatePacer.unpaced())  # local sandbox: no need to keep Planet's pace
    return provider


@pytest.fixture
def server(start_sandbox):
    sandbox = start_sandbox(seed=7, settings=QUIET)
    control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 300, "captures_per_order": 1,
                                                              "statuses": ["FULFILLED"]})
    control(sandbox, "POST", "/_sandbox/clock", {"advance_seconds": 60})
    return sandbox


def test_a_sync_past_its_deadline_ends_with_a_sentence_and_keeps_the_store_as_it_was(server, tmp_path):
    store = TaskingStore(tmp_path / "tasking.gpkg")
    provider = SlowPages(unpaced_provider(server), pause=0.3)
    started = time.monotonic()
    result = sync_connection(provider, store, "sandbox-1", deadline_seconds=0.5)
    assert time.monotonic() - started < 5
    assert not result.ok and not result.cancelled
    assert "took longer than" in result.error and "last successful sync" in result.error
    assert store.orders("sandbox-1") == []  # nothing half written
    assert store.sync_state("sandbox-1").last_error == result.error
    # Without the slow pages the next sync gets through, from where the store was.
    again = sync_connection(unpaced_provider(server), store, "sandbox-1")
    assert again.ok, again.error
    assert len([o for o in store.orders("sandbox-1") if o.api == "planet"]) == 300
