"""The team's sync service against the sandbox and a real PostGIS: the desktop's own sync, unchanged, fills the
shared store exactly as it fills a GeoPackage; one syncer per connection; listeners hear every applied sync."""
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sandbox_harness import control, sandbox_provider_for

from satellite_tasking.plugin.model import Aoi, OrderDraft
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection
from satellite_tasking.plugin.team_service import run, sync_round

pytest.importorskip("psycopg2")

QUIET = {"planet_max_active_orders": 50, "planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
         "planet_reassessment_rate": 0.0, "up42_failure_rate": 0.0}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(seed=7, settings=QUIET)


def provider_for(server, connection_id="team-1"):
    return sandbox_provider_for(server, connection_id, "Team sandbox")


def provider_requests(server) -> int:
    return sum(1 for entry in control(server, "GET", "/_sandbox/requests")["requests"]
               if not entry["path"].startswith("/_sandbox"))


def comparable(store, connection_id):
    orders = sorted((o.id, o.name, o.status, o.decision, o.updated_at, o.geometry,
                     o.params, o.raw) for o in store.orders(connection_id))
    captures = sorted((c.id, c.order_id, c.status, c.assessment, c.cloud_cover, c.acquired_at, c.footprint, c.raw)
                      for c in store.captures(connection_id))
    history = sorted((h.order_id, h.status, h.previous, h.changed_at) for h in store.status_history(connection_id))
    return orders, captures, history, store.sync_state(connection_id).orders_cursor


def test_the_service_fills_the_shared_store_as_a_desktop_fills_its_geopackage_and_announces_it(
        sandbox, postgis_conninfo, tmp_path):
    from satellite_tasking.plugin.store_postgis import PostgisStore

    control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 30, "captures_per_order": 3})
    shared = PostgisStore(postgis_conninfo)
    with shared.listen() as dock:
        first = sync_round(shared, [provider_for(sandbox)])
        assert first[0].result.ok and first[0].result.orders_added == 30, first[0].summary()
        heard = dock.wait(5)
        assert heard and heard[0]["connection_id"] == "team-1" and heard[0]["orders_added"] == 30
        second = sync_round(shared, [provider_for(sandbox)])  # no news: announced too (the dock's "synced at")
        assert second[0].result.ok and not second[0].result.changed
        assert dock.wait(5)[0]["changed"] is False

    desktop = TaskingStore(tmp_path / "desktop.gpkg")  # a desktop's own store, synced the same way
    fresh = provider_for(sandbox)
    assert sync_connection(fresh, desktop, "team-1").ok
    orders, captures, _, _ = comparable(desktop, "team-1")
    shared_orders, shared_captures, shared_history, cursor = comparable(shared, "team-1")
    assert shared_orders == orders and shared_captures == captures and len(captures) >= 30
    assert shared_history and cursor is not None


def test_a_connection_synced_elsewhere_is_left_alone_without_asking_the_provider(sandbox, postgis_conninfo):
    from satellite_tasking.plugin.store_postgis import PostgisStore

    control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 5, "captures_per_order": 1})
    desktop, service = PostgisStore(postgis_conninfo), PostgisStore(postgis_conninfo)
    before = provider_requests(sandbox)
    with desktop.sync_lock("team-1") as held:
        assert held
        rounds = sync_round(service, [provider_for(sandbox), provider_for(sandbox, "team-2")])
    assert rounds[0].locked_elsewhere and "elsewhere" in rounds[0].summary()
    assert rounds[1].result.ok  # another connection is not held up
    after_round = provider_requests(sandbox)
    assert service.counts("team-1")["tasking_orders"] == 0
    assert after_round > before  # (team-2's requests only)

    stop = threading.Event()
    seen = []
    assert run(service, lambda: [provider_for(sandbox)], 0, stop, rounds=2, on_round=seen.append) == 2
    assert len(seen) == 2 and seen[0][0].result.orders_added == 5 and not seen[1][0].result.changed


def test_the_service_command_says_how_it_is_used(tmp_path):
    (tmp_path / "satellite_tasking").symlink_to(ROOT)  # as installed: a folder named after the plugin
    done = subprocess.run([sys.executable, "-m", "satellite_tasking.service", "--help"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--store" in done.stdout and "--interval" in done.stdout


# -- the team at work: two placers and two syncers at once, faults on -----------------------------------------
WORKER = Path(__file__).with_name("postgis_team_worker.py")
TEAM_ROUNDS = 25
TEAM_AOIS = 2  # as postgis_team_worker.TEAM_AOIS
PLANET_CREATE = r"^/tasking/v2/orders/$"
FAULTS = [
    {"method": "POST", "path": PLANET_CREATE, "kind": "status", "status": 500, "probability": 0.06},
    {"method": "POST", "path": PLANET_CREATE, "kind": "status", "status": 503, "retry_after": 0, "probability": 0.04},
    {"method": "POST", "path": PLANET_CREATE, "kind": "status", "status": 429, "probability": 0.04},
    {"method": "POST", "path": PLANET_CREATE, "kind": "drop_before", "probability": 0.05},
    {"method": "POST", "path": PLANET_CREATE, "kind": "drop_after", "probability": 0.06},
    {"method": "POST", "path": PLANET_CREATE, "kind": "malformed", "probability": 0.05},
    {"method": "GET", "path": r"^/tasking/v2/orders/$", "kind": "status", "status": 502, "probability": 0.05},
]


# The long run adds delays past the client's read timeout (2 s): a request that may or may not have been
# handled, the case a duplicate comes from.
DELAY_FAULTS = [
    {"method": "POST", "path": PLANET_CREATE, "kind": "delay", "seconds": 2.5, "probability": 0.02},
    {"method": "GET", "path": r"^/tasking/v2/orders/$", "kind": "delay", "seconds": 2.5, "probability": 0.02},
]


def test_two_placers_and_two_syncers_place_each_aoi_once_and_the_store_ends_equal_to_the_provider(
        sandbox, postgis_conninfo, tmp_path):
    team_at_work(sandbox, postgis_conninfo, tmp_path, TEAM_ROUNDS, FAULTS)


@pytest.mark.slow
def test_200_rounds_of_two_placers_and_two_syncers_with_faults_and_delays(postgis_conninfo, tmp_path):
    """Issue 17's concurrency test: four processes, 200 rounds, the sandbox's faults on (delays too)."""
    server = SandboxServer(port=0, seed=17, speed=0, settings={**QUIET, "planet_max_active_orders": 1000}).start()
    try:
        team_at_work(server, postgis_conninfo, tmp_path, 200, FAULTS + DELAY_FAULTS)
    finally:
        server.stop()


def team_at_work(sandbox, postgis_conninfo, tmp_path, rounds: int, faults: list) -> None:
    """Two placers place the same drafts' AOIs (``rounds`` drafts) while two syncers sync, all against one
    PostGIS and the sandbox with ``faults``; then: no AOI ordered twice, none lost, the store equal to the
    sandbox's truth."""
    from satellite_tasking.plugin.providers.planet import unique_order_name
    from satellite_tasking.plugin.store_postgis import PostgisStore

    PostgisStore(postgis_conninfo)  # created before the team arrives
    control(sandbox, "POST", "/_sandbox/faults", {"rules": faults})
    stop = tmp_path / "stop"

    def start(*arguments):
        return subprocess.Popen([sys.executable, str(WORKER), arguments[0], postgis_conninfo, *arguments[1:]],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    started = time.monotonic()
    placers = [start("team-placer", sandbox.base_url, user, str(rounds)) for user in ("anna", "ben")]
    syncers = [start("team-syncer", sandbox.base_url, str(stop)) for _ in range(2)]
    figures = []
    try:
        for process in placers:
            out, err = process.communicate(timeout=300 + 6 * rounds)
            assert process.returncode == 0, err[-3000:]
            figures.append(json.loads(out.strip().splitlines()[-1]))
        stop.touch()
        syncing = []
        for process in syncers:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err[-3000:]
            syncing.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        stop.touch()
        for process in placers + syncers:
            if process.poll() is None:
                process.kill()
                process.wait()
    seconds = time.monotonic() - started

    fired = sum(rule.get("fired", 0) for rule in control(sandbox, "GET", "/_sandbox/faults").get("rules", []))
    control(sandbox, "DELETE", "/_sandbox/faults")  # faults off for reading the truth (POST only adds rules)
    assert control(sandbox, "GET", "/_sandbox/faults")["rules"] == []
    truth = {}  # (reference, AOI index) -> the sandbox's order ids
    for round_number in range(rounds):
        reference = f"team-round-{round_number:03d}"
        draft = OrderDraft("team-1", "planet:area", f"Team {round_number}", {},
                           [Aoi({"type": "Point", "coordinates": [0, 0]})] * TEAM_AOIS, reference)
        names = {unique_order_name(draft, index): index for index in range(TEAM_AOIS)}
        page = requests.get(sandbox.base_url + "/tasking/v2/orders/", headers={"Authorization": "api-key truth"},
                            params={"name__icontains": f"[{reference}]", "limit": 500}, timeout=30).json()
        for order in page["results"]:
            truth.setdefault((reference, names[order["name"]]), []).append(order["id"])
    duplicates = sum(len(ids) - 1 for ids in truth.values())
    lost = rounds * TEAM_AOIS - len(truth)
    placed = figures[0]["placed"] + figures[1]["placed"]
    print(f"team placement, {rounds} rounds in {seconds:.0f} s, {fired} faults fired: {placed} placed, "
          f"{figures[0]['placed_elsewhere'] + figures[1]['placed_elsewhere']} refused as placed by the other, "
          f"{figures[0]['retries'] + figures[1]['retries']} retries; syncs {syncing}; duplicates {duplicates}, "
          f"lost {lost}")
    assert (duplicates, lost) == (0, 0)
    assert placed == rounds * TEAM_AOIS and figures[0]["unplaced"] == figures[1]["unplaced"] == 0
    # What the second analyst is told, in the outcome the order dialog shows:
    assert set(figures[0]["sentences"] + figures[1]["sentences"]) <= {"Already placed", "Already being placed"}
    assert sum(s["synced"] for s in syncing) >= 1

    store = PostgisStore(postgis_conninfo)
    final = sync_round(store, [provider_for(sandbox)])  # one more sync, faults off: the store equals the truth
    assert final[0].result.ok, final[0].summary()
    every_order = {ids[0] for ids in truth.values()}
    assert {o.id for o in store.orders("team-1")} == every_order
    assert set(store.placed_by("team-1")) == every_order
    assert {who for who, _ in store.placed_by("team-1").values()} <= {"anna", "ben"}
    # Equal to the sandbox's truth field by field, not just by id: a GeoPackage synced from scratch now agrees.
    fresh = TaskingStore(tmp_path / "truth.gpkg")
    assert sync_connection(provider_for(sandbox), fresh, "team-1").ok
    assert comparable(store, "team-1")[:2] == comparable(fresh, "team-1")[:2]


def test_desktops_read_a_store_the_service_keeps_current_and_take_over_when_it_stops(sandbox, postgis_conninfo):
    from datetime import datetime, timedelta, timezone

    from satellite_tasking.plugin.store_postgis import PostgisStore
    from satellite_tasking.plugin.team_service import DesktopSync, desktop_sync_policy

    store = PostgisStore(postgis_conninfo)
    assert desktop_sync_policy(store, "team-1") == DesktopSync(True, "")  # no service: each desktop syncs
    store.set_service_syncs(True, "ops")
    assert store.service_syncs()
    waiting = desktop_sync_policy(store, "team-1")
    assert waiting.poll and "not synced this connection yet" in waiting.sentence
    sync_round(store, [provider_for(sandbox)], interval_s=60)
    now = datetime.now(timezone.utc)
    current = desktop_sync_policy(store, "team-1", now)
    assert not current.poll and current.sentence.startswith("Kept current by the sync service on ")
    assert not desktop_sync_policy(store, "team-1", now + timedelta(seconds=150)).poll
    gone = desktop_sync_policy(store, "team-1", now + timedelta(seconds=400))
    assert gone.poll and "last seen 6 min ago" in gone.sentence
    assert desktop_sync_policy(store, "team-2", now).poll  # a connection the service does not sync
    store.set_service_syncs(False, "ops")
    assert desktop_sync_policy(store, "team-1", now) == DesktopSync(True, "")


def test_a_desktop_syncs_a_connection_only_when_nobody_else_does(sandbox, postgis_conninfo, tmp_path):
    from satellite_tasking.plugin.store_postgis import PostgisStore
    from satellite_tasking.plugin.team_service import sync_when_free

    control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 3, "captures_per_order": 1})
    own = sync_when_free(provider_for(sandbox), TaskingStore(tmp_path / "own.gpkg"), "team-1")
    assert own.ok and own.orders_added == 3  # a store of its own: no lock to take
    shared, service = PostgisStore(postgis_conninfo), PostgisStore(postgis_conninfo)
    asked = provider_requests(sandbox)
    with service.sync_lock("team-1"):
        assert sync_when_free(provider_for(sandbox), shared, "team-1") is None
    assert provider_requests(sandbox) == asked
    assert sync_when_free(provider_for(sandbox), shared, "team-1").orders_added == 3


def test_a_desktops_sync_timer_leaves_the_provider_alone_while_the_service_keeps_the_store_current(
        sandbox, postgis_conninfo, tmp_path):
    from satellite_tasking.plugin.store_postgis import PostgisStore
    from satellite_tasking.plugin.team_service import LeftToTheTeam, desktop_sync

    control(sandbox, "POST", "/_sandbox/planet/seed_orders", {"count": 4, "captures_per_order": 1})
    own = desktop_sync(provider_for(sandbox), TaskingStore(tmp_path / "own.gpkg"), "team-1")
    assert own.ok and own.orders_added == 4 and not isinstance(own, LeftToTheTeam)  # its own store: as ever

    shared = PostgisStore(postgis_conninfo)
    with shared.listen() as listener:
        first = desktop_sync(provider_for(sandbox), shared, "team-1")  # no service: this desktop syncs…
        assert first.ok and first.orders_added == 4
        heard = listener.wait(2.0)  # …and tells the other desktops, as the service would
        assert [h["connection_id"] for h in heard] == ["team-1"] and heard[0]["orders_added"] == 4

    shared.set_service_syncs(True, "ops")
    sync_round(shared, [provider_for(sandbox)], interval_s=60)  # the service at work
    asked = provider_requests(sandbox)
    left = desktop_sync(provider_for(sandbox), shared, "team-1")
    assert isinstance(left, LeftToTheTeam) and left.ok and not left.changed
    assert left.sentence.startswith("Kept current by the sync service on ")
    assert provider_requests(sandbox) == asked  # the provider was not asked

    shared.set_service_syncs(False, "ops")
    with PostgisStore(postgis_conninfo).sync_lock("team-1"):  # another desktop syncing it right now
        busy = desktop_sync(provider_for(sandbox), shared, "team-1")
    assert isinstance(busy, LeftToTheTeam) and "right now" in busy.sentence
    assert provider_requests(sandbox) == asked


# -- the claim before send, plugged into the providers' one placement path ---------------------------------
class RecordingProvider:
    """A provider on the real PlacementPath with a provider-side order book; records what its look-ups saw of the
    store's claims, and can lose the answer of a create (the order made, the client told nothing)."""

    def __init__(self, store, book: dict, lose_answers: bool = False, lookup_fails_after_send: bool = False,
                 sent_to=None):
        """``sent_to``: where creates land (default ``book``, what look-ups read): elsewhere, they are not listed
        yet."""
        self.store, self.book, self.lose_answers = store, book, lose_answers
        self.sent_to = book if sent_to is None else sent_to
        self.lookup_fails_after_send = lookup_fails_after_send
        self.sent: list = []
        self.claims_at_lookup: list = []

    def place(self, draft, only=None, progress=None, claims=None):
        from satellite_tasking.plugin.providers.placement import PlacementPath, Unclear, one_by_one

        def send_one(draft, index):
            from satellite_tasking.plugin.model import Order, OrderStatus, Status

            self.sent.append(index)
            order = Order(id=f"{draft.client_reference}-{index}-{len(self.sent)}", connection_id="team-1",
                          name="x", status=Status(OrderStatus.ACCEPTED, "PENDING"))
            self.sent_to.setdefault((draft.client_reference, index), []).append(order)
            return Unclear() if self.lose_answers else order

        def lookup(draft):
            from satellite_tasking.plugin.http import ProviderUnavailable

            if self.lookup_fails_after_send and self.sent:
                raise ProviderUnavailable("Fake", "The orders could not be read back.")
            self.claims_at_lookup.append(sorted(
                r[0] for r in self.store._query("SELECT aoi_index FROM tasking.tasking_placements "
                                                "WHERE draft_reference = %s", (draft.client_reference,))))
            return {index: orders[0] for (reference, index), orders in self.book.items()
                    if reference == draft.client_reference}

        self._lookup = lookup
        return PlacementPath("Fake", lookup=lookup, send=one_by_one(send_one)).place(draft, only, progress, claims)

    def placed_orders(self, draft):
        return self._lookup(draft)


def two_aoi_draft():
    aois = [Aoi({"type": "Polygon", "coordinates": [[[x, 0], [x + 1, 0], [x + 1, 1], [x, 1], [x, 0]]]})
            for x in (0, 2)]
    return OrderDraft("team-1", "planet:area", "Two fields", {}, aois, "qgis-team-two")


def test_a_team_placement_claims_before_the_paths_look_up_and_the_second_analyst_hears_who_placed(
        postgis_conninfo):
    from satellite_tasking.plugin.store_postgis import PostgisStore
    from satellite_tasking.plugin.team_placement import held_elsewhere_sentence, place_as_team

    store, book = PostgisStore(postgis_conninfo), {}
    anna = RecordingProvider(store, book)
    placed = place_as_team(anna, store, two_aoi_draft(), "anna")
    assert [o.placed for o in placed] == [True, True] and anna.sent == [0, 1]
    assert anna.claims_at_lookup[0] == [0, 1]  # both AOIs were hers before the path looked anything up

    ben = RecordingProvider(store, book)
    second = place_as_team(ben, store, two_aoi_draft(), "ben")
    assert ben.sent == [] and all(o.held_elsewhere for o in second)
    assert all(o.error.startswith("Already placed by anna at ") and o.error.endswith(" UTC.") for o in second)
    assert [o.order.id for o in second] == [o.order.id for o in placed]  # her orders, listed for the team
    assert sum(len(orders) for orders in book.values()) == 2
    assert held_elsewhere_sentence(second).startswith("Areas 1, 2 not sent: Already placed by anna at ")

    carl_book = {}  # anna's orders not listed yet (her requests still under way): not sent, no order
    carl = RecordingProvider(store, carl_book)
    third = place_as_team(carl, store, two_aoi_draft(), "carl")
    assert carl.sent == [] and all(o.held_elsewhere and not o.placed for o in third)


def test_an_unclear_answer_released_is_found_by_the_next_placer_not_placed_again(postgis_conninfo):
    from satellite_tasking.plugin.store_postgis import PostgisStore
    from satellite_tasking.plugin.team_placement import place_as_team

    store, book = PostgisStore(postgis_conninfo), {}
    anna = RecordingProvider(store, book, lose_answers=True, lookup_fails_after_send=True)
    lost = place_as_team(anna, store, two_aoi_draft(), "anna", confirm_after_s=0)
    assert all(o.unclear and not o.placed for o in lost) and anna.sent == [0, 1]  # made, but nobody knows
    ben = RecordingProvider(store, book)
    found = place_as_team(ben, store, two_aoi_draft(), "ben", confirm_after_s=0)  # claims, then looks up: found
    assert ben.sent == [] and [o.placed for o in found] == [True, True]
    assert {len(orders) for orders in book.values()} == {1}  # one order per AOI at the provider
    assert {o.order.id for o in found} == {orders[0].id for orders in book.values()}


def test_a_placement_that_ends_with_an_exception_releases_only_the_aois_it_never_reached(postgis_conninfo):
    from satellite_tasking.plugin.store_postgis import PostgisStore
    from satellite_tasking.plugin.team_placement import place_as_team

    store = PostgisStore(postgis_conninfo)

    class Broken:
        def place(self, draft, only=None, progress=None, claims=None):
            assert claims.claim(draft, 0) is None  # about to send AOI 0 …
            raise RuntimeError("thread interrupted")  # … and then nothing is known

    with pytest.raises(RuntimeError):
        place_as_team(Broken(), store, two_aoi_draft(), "anna")
    draft = two_aoi_draft()
    assert not store.claim_placement("team-1", draft.client_reference, draft.aois[0].geometry, "ben").granted
    assert store.claim_placement("team-1", draft.client_reference, draft.aois[1].geometry, "ben").granted


def test_an_order_the_provider_makes_after_the_client_gave_up_is_found_before_the_claim_is_released(
        postgis_conninfo):
    from satellite_tasking.plugin.store_postgis import PostgisStore
    from satellite_tasking.plugin.team_placement import place_as_team

    store, book, late = PostgisStore(postgis_conninfo), {}, {}

    class LateProvider(RecordingProvider):
        """Its creates are answered by nothing and listed only later: the read-back right after sees none."""

        def placed_orders(self, draft):
            for key, orders in late.items():  # by the time anyone looks again, the provider has made them
                book.setdefault(key, []).extend(orders)
            late.clear()
            return super().placed_orders(draft)

    anna = LateProvider(store, book, lose_answers=True, sent_to=late)
    released = []
    real_release = store.release_placement
    store.release_placement = lambda *args: (released.append(args), real_release(*args))
    outcomes = place_as_team(anna, store, two_aoi_draft(), "anna", confirm_after_s=0.3)
    assert anna.sent == [0, 1] and released == []  # nothing released: the orders were found
    assert [o.placed for o in outcomes] == [True, True]
    assert {o.order.id for o in outcomes} == {orders[0].id for orders in book.values()}
    ben = RecordingProvider(store, book)
    assert all(o.held_elsewhere for o in place_as_team(ben, store, two_aoi_draft(), "ben", confirm_after_s=0))
    assert ben.sent == [] and sum(len(orders) for orders in book.values()) == 2
