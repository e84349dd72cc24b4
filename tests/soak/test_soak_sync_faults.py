"""Fault soak of the order sync: two sandbox connections, 1,000 sync cycles, random faults from a seed.

Each cycle advances both sandbox clocks by 3 hours (orders move on, captures appear), every 25 cycles places
new orders on both APIs,
and syncs both connections through ``sync.sync_connection`` while every sandbox request may meet a fault:
500/502/503 with and without Retry-After, 429, an answer slower than the client's timeout, a connection
dropped before or after the server handled it, or malformed JSON. Afterwards, with the faults cleared, one
more sync per connection must succeed, and the store must equal the sandbox's truth exactly.

Run by ``make soak`` (not by ``make test``). SOAK_CYCLES and SOAK_SECONDS override the bounds.
"""
import logging
import os
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sandbox_harness import control, fault_mix

from satellite_tasking.plugin.http import ProxyConfig, build_session
from satellite_tasking.plugin.model import Aoi, Connection, OrderDraft
from satellite_tasking.plugin.providers.planet import RatePacer
from satellite_tasking.plugin.providers.sandbox import SANDBOX_USER, SandboxProvider
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection

CYCLES = int(os.environ.get("SOAK_CYCLES", "1000"))
MAX_SECONDS = float(os.environ.get("SOAK_SECONDS", "900"))
CLIENT_TIMEOUT = (1.0, 0.5)  # connect, read: a "delay" fault answers after 0.8 s
CLOCK_STEP_SECONDS = 3 * 3600
PLACE_EVERY = 25
TIME = "%Y-%m-%dT%H:%M:%SZ"
OPTICAL = "up42:a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"
OPTICAL_PARAMS = {
    "acquisitionMode": "mono", "maxCloudCover": 10, "maxIncidenceAngle": 30, "geometricProcessing": "ortho",
    "projection": "UTM", "spectralBands": "4BANDS", "pixelCoding": "12bits",
    "radiometricProcessing": "REFLECTANCE", "priority": "STANDARD",
}
# Each rule is drawn independently per matching request (first rule that fires wins): about 15 % of
# requests meet a fault.
FAULT_MIX = fault_mix(status=0.02, delay=(0.8, 0.004), drop_before=0.015, drop_after=0.015, malformed=0.015)
SETTINGS = {"planet_max_active_orders": 10_000}
# 0 runs the same cycles without faults (to tell a fault-made mismatch from one the faults did not cause).
FAULT_SCALE = float(os.environ.get("SOAK_FAULT_SCALE", "1"))


def make_provider(server, connection_id):
    connection = Connection(id=connection_id, name=f"Soak {connection_id}", kind="sandbox")

    def sessions(conn):
        # As QGIS builds it with its proxy off: its reads take the keep-alive path.
        return build_session(conn.name, "SatelliteTasking/soak", timeout=CLIENT_TIMEOUT, sleep=lambda s: None,
                             proxy=ProxyConfig(mode="none"))

    provider = SandboxProvider(connection, sessions, server.base_url)
    # Like the sessions' retry waits, Planet's pacing and Retry-After holds are skipped (tested on their own).
    provider.parts["planet"].pace_with(RatePacer.unpaced())
    return provider


def seed(server):
    # No PENDING: the sandbox seeds those with created/updated times in its future (see the report), which
    # moves a sync cursor past every change to come. Seeded history lies in the past, so seeding happens
    # once, before the first sync; later orders are placed for real (their times are the sandbox's now).
    control(server, "POST", "/_sandbox/planet/seed_orders",
            {"count": 8, "captures_per_order": 2, "name_prefix": "soak",
             "statuses": ["IN_PROGRESS", "IN_PROGRESS", "FULFILLED", "IN_PROGRESS", "EXPIRED", "CANCELLED"]})
    control(server, "POST", "/_sandbox/up42/seed_orders", {"count": 4, "username": SANDBOX_USER})


def square(index):
    x, y = -60 + (index % 100) * 1.2, -40 + (index // 100) * 1.2
    return {"type": "Polygon", "coordinates": [[[x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x, y + 0.1], [x, y]]]}


def place_new_orders(server, connection_id, round_number):
    """New orders on both APIs, placed without faults (fault rules are paused meanwhile)."""
    now = datetime.fromisoformat(control(server, "GET", "/_sandbox/clock")["now"].replace("Z", "+00:00"))
    provider = make_provider(server, connection_id)
    planet = {"start_time": (now + timedelta(hours=2)).strftime(TIME),
              "end_time": (now + timedelta(days=6)).strftime(TIME)}
    up42 = {**OPTICAL_PARAMS, "acquisitionStart": (now + timedelta(days=1)).strftime(TIME),
            "acquisitionEnd": (now + timedelta(days=20)).strftime(TIME)}
    placed = []
    for product, params, count in (("planet:area", planet, 2), (OPTICAL, up42, 1)):
        aois = [Aoi(square(round_number * 3 + len(placed) + i)) for i in range(count)]
        draft = OrderDraft(connection_id, product, f"Soak {round_number}", params, aois,
                           f"soak-{connection_id}-{round_number}-{product[:6]}")
        placed += provider.place(draft)
    assert all(outcome.placed for outcome in placed), [outcome.error for outcome in placed]


def pause_faults(server, fired):
    for rule in control(server, "GET", "/_sandbox/faults")["rules"]:
        fired[fault_kind(rule)] += rule["fired"]
    control(server, "DELETE", "/_sandbox/faults")


def start_faults(server):
    rules = [{"prefix": "/", **rule, "probability": rule["probability"] * FAULT_SCALE} for rule in FAULT_MIX]
    control(server, "POST", "/_sandbox/faults", {"rules": rules})


def fault_kind(rule):
    if rule["kind"] != "status":
        return rule["kind"]
    retry_after = " + Retry-After" if rule.get("retry_after") is not None else ""
    return f"{rule.get('status')}{retry_after}"


def _close(a, b):
    if a is None or b is None:
        return a is b
    return abs((a - b) / timedelta(milliseconds=1)) < 1


def differences(what, truth, stored, fields, instants):
    """Where ``stored`` (id -> row) differs from ``truth``: rows on one side only, unequal ``fields``, ``instants``
    over a millisecond apart."""
    problems = []
    for row_id in set(truth) ^ set(stored):
        problems.append(f"{what} {row_id}: {'missing from the store' if row_id in truth else 'not in sandbox'}")
    for row_id in set(truth) & set(stored):
        want, got = truth[row_id], stored[row_id]
        for name in fields:
            if getattr(want, name) != getattr(got, name):
                problems.append(f"{what} {row_id} {name}: store {getattr(got, name)!r}, "
                                f"sandbox {getattr(want, name)!r}")
        for name in instants:
            if not _close(getattr(want, name), getattr(got, name)):
                problems.append(f"{what} {row_id} {name}: store {getattr(got, name)}, sandbox {getattr(want, name)}")
    return problems


def mismatches(server, store, connection_id):
    """Differences between the store and the sandbox's truth, read by a fresh client without faults."""
    truth = make_provider(server, connection_id)
    orders = {o.id: o for o in truth.orders()}
    stored = {o.id: o for o in store.orders(connection_id)}
    problems = differences("order", orders, stored,
                           ("status", "decision", "name", "api", "geometry", "product_id"), ("updated_at",))
    for order_id in set(orders) & set(stored):
        history = store.status_history(connection_id, order_id)
        if not history or history[-1].status != orders[order_id].status:
            problems.append(f"order {order_id}: last history row {history[-1].status if history else None}")
    planet_ids = [i for i, o in orders.items() if o.api == "planet"]
    captures = {c.id: c for c in truth.captures(planet_ids)}
    problems += differences("capture", captures, {c.id: c for c in store.captures(connection_id)},
                            ("order_id", "status", "assessment", "cloud_cover", "footprint", "exclusivity_days"),
                            ("acquired_at", "published_at", "updated_at"))
    return problems, len(orders), len(captures)


class _Unexpected(logging.Handler):
    """Errors logged by the plugin: sync logs an exception that is not a ProviderError at ERROR."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def servers(start_sandbox):
    return [start_sandbox(seed=seed, settings=SETTINGS) for seed in (1001, 2002)]


def test_sync_soak_under_faults_ends_equal_to_the_sandbox(servers, tmp_path):
    deadline = time.monotonic() + MAX_SECONDS
    connections = {"soak-a": servers[0], "soak-b": servers[1]}
    providers = {cid: make_provider(server, cid) for cid, server in connections.items()}
    store = TaskingStore(tmp_path / "soak.gpkg")
    unexpected = _Unexpected()
    plugin_logger = logging.getLogger("satellite_tasking")
    plugin_logger.addHandler(unexpected)
    fired = Counter()
    for server in servers:
        seed(server)
        start_faults(server)

    results = {cid: [] for cid in connections}
    started = time.monotonic()
    cycles = placed_rounds = 0
    try:
        for cycles in range(1, CYCLES + 1):
            for cid, server in connections.items():
                control(server, "POST", "/_sandbox/clock", {"advance_seconds": CLOCK_STEP_SECONDS})
                if cycles % PLACE_EVERY == 0:
                    pause_faults(server, fired)
                    place_new_orders(server, cid, cycles // PLACE_EVERY)
                    start_faults(server)
                    placed_rounds += 1
            for cid, provider in providers.items():
                results[cid].append(sync_connection(provider, store, cid))  # must not raise
            if time.monotonic() > deadline:
                break
        for server in servers:
            pause_faults(server, fired)
        final = {cid: sync_connection(provider, store, cid) for cid, provider in providers.items()}
    finally:
        plugin_logger.removeHandler(unexpected)
    seconds = time.monotonic() - started

    problems, order_count, capture_count = [], 0, 0
    for cid, server in connections.items():
        found, orders, captures = mismatches(server, store, cid)
        problems += found
        order_count += orders
        capture_count += captures
    failed_cycles = {cid: sum(1 for r in rs if r.error) for cid, rs in results.items()}
    errors = Counter(r.error.split(" (")[0][:90] for rs in results.values() for r in rs if r.error)
    generic = [r.error for rs in results.values() for r in rs if "Could not sync" in r.error]
    print(f"\n[soak 1] sync fault soak: {cycles} cycles x {len(connections)} connections in {seconds:.0f} s "
          f"({placed_rounds} rounds of 3 new orders placed between cycles); "
          f"faults injected {sum(fired.values())}: " + ", ".join(f"{k} {v}" for k, v in sorted(fired.items())))
    print(f"[soak 1] syncs that ended in an error sentence (transient): {failed_cycles}; "
          f"final sync errors: {[r.error for r in final.values() if r.error]}")
    for message, count in errors.most_common(6):
        print(f"[soak 1]   {count:4d} x {message}")
    print(f"[soak 1] truth: {order_count} orders, {capture_count} captures; mismatches: {len(problems)}; "
          f"unexpected exceptions: {len(generic) + len(unexpected.records)}")
    for problem in problems[:20]:
        print(f"[soak 1]   MISMATCH {problem}")

    assert cycles == CYCLES, f"the soak stopped after {cycles} cycles: time budget of {MAX_SECONDS} s"
    assert sum(fired.values()) > 0 and len(fired) == len({fault_kind(r) for r in FAULT_MIX})
    assert not generic and not unexpected.records, (generic[:3], [r.getMessage() for r in unexpected.records[:3]])
    assert all(r.ok for r in final.values()), [r.error for r in final.values()]
    assert not problems
    # Orders are placed every 25 cycles: the truth grows with the number of cycles run.
    assert order_count > CYCLES // 10 and capture_count > CYCLES // 20
