"""Placement soak: 200 placements of 1-5 AOIs through the providers' place(), faults on every create request.

UP42 places a draft as one batch POST, Planet with one POST per AOI. The sandbox answers each create POST,
at random from a seed, with 500/502/503 (with and without Retry-After), 429, an answer slower than the
client's timeout (the order is created after the client gave up), a connection dropped before or after the
order was created, or malformed JSON. After each attempt the outcome the plugin reported is compared with
the sandbox; failed AOIs are retried with ``place(draft, only=failed)`` as the dialog's "Retry failed" does.

Invariants: no AOI ever has two orders (duplicates 0); an AOI reported placed has exactly the order reported
(lost 0); an AOI reported failed has no order, or one the server created after the client gave up (counted
and shown), which the retry then finds instead of placing again; after the retries every AOI has one order.

Run by ``make soak``. SOAK_PLACEMENTS and SOAK_SECONDS override the bounds.
"""
import os
import random
import time
from collections import Counter

import pytest
import requests
from sandbox_harness import control, fault_mix

from satellite_tasking.plugin.http import build_session
from satellite_tasking.plugin.model import Aoi, Connection, OrderDraft
from satellite_tasking.plugin.providers.planet import unique_order_name
from satellite_tasking.plugin.providers.sandbox import SANDBOX_USER, SandboxProvider

PLACEMENTS = int(os.environ.get("SOAK_PLACEMENTS", "200"))
MAX_SECONDS = float(os.environ.get("SOAK_SECONDS", "900"))
MAX_RETRIES = 12
SEED = 4242
CLIENT_TIMEOUT = (1.0, 0.5)
DELAY_SECONDS = 1.0
SETTINGS = {"planet_max_active_orders": 100_000, "planet_rejection_rate": 0.0, "up42_failure_rate": 0.0}
CREATE_PATHS = {"up42": r"^/v2/orders$", "planet": r"^/tasking/v2/orders/$"}
FAULT_MIX = fault_mix(status=0.04, delay=(DELAY_SECONDS, 0.03), drop_before=0.04, drop_after=0.05, malformed=0.05)
PRODUCTS = {"up42": "up42:a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11", "planet": "planet:area"}
PARAMS = {
    "up42": {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-02-10T23:59:59Z",
             "acquisitionMode": "mono", "maxCloudCover": 10, "maxIncidenceAngle": 30,
             "geometricProcessing": "ortho", "projection": "UTM", "spectralBands": "4BANDS",
             "pixelCoding": "12bits", "radiometricProcessing": "REFLECTANCE", "priority": "STANDARD"},
    "planet": {"start_time": "2026-01-05T01:00:00Z",
               "end_time": "2026-01-12T01:00:00Z"},
}


def fault_kind(rule):
    if rule["kind"] != "status":
        return rule["kind"]
    return f"{rule.get('status')}{' + Retry-After' if rule.get('retry_after') is not None else ''}"


def square(index):
    x, y = -150 + (index % 250) * 1.2, -50 + (index // 250) * 1.2
    return {"type": "Polygon", "coordinates": [[[x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x, y + 0.1], [x, y]]]}


class Truth:
    """Orders of a draft as the sandbox has them, read straight from its APIs (not through the provider)."""

    def __init__(self, server):
        self.server = server
        form = {"grant_type": "password", "username": SANDBOX_USER, "password": "x", "client_id": "up42-sdk"}
        answer = requests.post(server.base_url + "/oauth/token", data=form, timeout=30)
        answer.raise_for_status()
        self.up42_headers = {"Authorization": "Bearer " + answer.json()["access_token"]}
        self.workspace = control(server, "POST", "/_sandbox/up42/user",
                                 {"username": SANDBOX_USER})["workspaceId"]
        self.planet_headers = {"Authorization": "api-key soak-truth"}

    def orders_by_aoi(self, api, draft):
        found = {i: [] for i in range(len(draft.aois))}
        if api == "up42":
            page = control(self.server, "GET", "/v2/orders", headers=self.up42_headers,
                           params={"workspaceId": self.workspace, "tags": draft.client_reference, "size": 500})
            for order in page["content"]:
                geometry = order["orderDetails"]["geometry"]
                matches = [i for i, aoi in enumerate(draft.aois) if aoi.geometry == geometry]
                assert len(matches) == 1, f"UP42 order {order['id']} matches AOIs {matches}"
                found[matches[0]].append(order["id"])
        else:
            page = control(self.server, "GET", "/tasking/v2/orders/", headers=self.planet_headers,
                           params={"name__icontains": f"[{draft.client_reference}]", "limit": 500})
            names = {unique_order_name(draft, i): i for i in range(len(draft.aois))}
            for order in page["results"]:
                assert order["name"] in names, f"Planet order {order['id']} named {order['name']!r}"
                found[names[order["name"]]].append(order["id"])
        return found


@pytest.fixture
def server(start_sandbox):
    return start_sandbox(seed=SEED, settings=SETTINGS)


def test_placement_soak_never_duplicates_nor_loses_an_order(server):
    deadline = time.monotonic() + MAX_SECONDS
    connection = Connection(id="soak-place", name="Soak placement", kind="sandbox")
    provider = SandboxProvider(connection, lambda c: build_session(
        c.name, "SatelliteTasking/soak", timeout=CLIENT_TIMEOUT, sleep=lambda s: None), server.base_url)
    rules = [{"method": "POST", "path": path, **rule} for path in CREATE_PATHS.values() for rule in FAULT_MIX]
    control(server, "POST", "/_sandbox/faults", {"rules": rules})
    truth = Truth(server)
    rng = random.Random(SEED)

    figures = Counter()
    problems = []
    delays_seen = 0

    def settle():
        """Let a delayed create request finish on the server before the sandbox is compared."""
        nonlocal delays_seen
        delays = sum(r["fired"] for r in control(server, "GET", "/_sandbox/faults")["rules"] if r["kind"] == "delay")
        if delays > delays_seen:
            time.sleep(DELAY_SECONDS + 0.3)
            delays_seen = delays

    def check(api, draft, outcomes, attempt, late):
        settle()
        found = truth.orders_by_aoi(api, draft)
        for outcome in outcomes:
            ids = found[outcome.aoi_index]
            figures["duplicates"] += max(0, len(ids) - 1)
            if len(ids) > 1:
                problems.append(f"{draft.client_reference} AOI {outcome.aoi_index}: {len(ids)} orders {ids}")
            if outcome.placed:
                if ids != [outcome.order.id]:
                    figures["lost"] += 1
                    problems.append(f"{draft.client_reference} AOI {outcome.aoi_index} reported placed as "
                                    f"{outcome.order.id}, sandbox has {ids} (attempt {attempt})")
            else:
                assert isinstance(outcome.error, str) and outcome.error.strip()
                if ids:
                    # The server created it after the client gave up: allowed, if the retry then finds it.
                    figures["reported failed, created after the client gave up"] += 1
                    late.add(outcome.aoi_index)
        return found

    started = time.monotonic()
    placements = 0
    for placements in range(1, PLACEMENTS + 1):
        api = "up42" if placements % 2 else "planet"
        count = rng.randint(1, 5)
        aois = [Aoi(square(figures["aois"] + i), label=f"A{i + 1}") for i in range(count)]
        figures["aois"] += count
        figures[f"aois {api}"] += count
        draft = OrderDraft(connection.id, PRODUCTS[api], f"Soak {placements}", dict(PARAMS[api]), aois,
                           f"soak-place-{placements:04d}")
        late = set()
        outcomes = provider.place(draft)  # must not raise
        assert [o.aoi_index for o in outcomes] == list(range(count))
        figures["reported failed at first"] += sum(1 for o in outcomes if not o.placed)
        check(api, draft, outcomes, 0, late)
        placed = {o.aoi_index: o.order.id for o in outcomes if o.placed}
        attempt = 0
        while len(placed) < count and attempt < MAX_RETRIES:
            attempt += 1
            failed = [i for i in range(count) if i not in placed]
            retry = provider.place(draft, only=failed)
            figures["retries"] += 1
            assert [o.aoi_index for o in retry] == failed
            check(api, draft, retry, attempt, late)
            placed.update({o.aoi_index: o.order.id for o in retry if o.placed})
        found = truth.orders_by_aoi(api, draft)
        for index in range(count):
            if index not in placed:
                figures["unplaced after retries"] += 1
                problems.append(f"{draft.client_reference} AOI {index}: still failed after {MAX_RETRIES} retries")
            elif found[index] != [placed[index]]:
                figures["lost"] += 1
                problems.append(f"{draft.client_reference} AOI {index}: placed {placed[index]}, sandbox {found[index]}")
        figures["late orders found by the retry"] += sum(1 for i in late if found[i] == [placed.get(i)])
        # Crash recovery reads back the same orders.
        recovered = {i: o.id for i, o in provider.placed_orders(draft).items()}
        if recovered != placed:
            problems.append(f"{draft.client_reference}: placed_orders {recovered} != placed {placed}")
        if time.monotonic() > deadline:
            break

    fired = Counter()
    for rule in control(server, "GET", "/_sandbox/faults")["rules"]:
        fired[fault_kind(rule)] += rule["fired"]
    seconds = time.monotonic() - started
    print(f"\n[soak 2] placement soak: {placements} placements, {figures['aois']} AOIs "
          f"(UP42 batch {figures['aois up42']}, Planet per-AOI {figures['aois planet']}) in {seconds:.0f} s; "
          f"faults on create requests {sum(fired.values())}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(fired.items())))
    print(f"[soak 2] AOIs reported failed at first {figures['reported failed at first']}, retries "
          f"(place(only=failed)) {figures['retries']}, reported failed but created after the client gave up "
          f"{figures['reported failed, created after the client gave up']} (all found by the retry: "
          f"{figures['late orders found by the retry']}), unplaced after retries {figures['unplaced after retries']}")
    print(f"[soak 2] duplicates: {figures['duplicates']}; lost: {figures['lost']}; problems: {len(problems)}")
    for problem in problems[:20]:
        print(f"[soak 2]   PROBLEM {problem}")

    assert placements == PLACEMENTS, f"stopped after {placements} placements: time budget of {MAX_SECONDS} s"
    assert len(fired) == len(FAULT_MIX) and all(fired.values()), fired
    assert figures["duplicates"] == 0 and figures["lost"] == 0 and not problems
    assert figures["late orders found by the retry"] == figures["reported failed, created after the client gave up"]
