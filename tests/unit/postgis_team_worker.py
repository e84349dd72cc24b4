"""One team member against a shared PostGIS store, in a process of its own (run by test_store_postgis.py).

    python postgis_team_worker.py <role> <conninfo> [arguments]

Roles: ``open`` (open the store, print its schema version),
``team-placer <sandbox url> <user> <rounds>`` and ``team-syncer <sandbox url> <stop file>`` (the same, through
the sandbox's Planet API and the plugin's own placement and sync), ``try-sync-lock <connection>`` (print whether the
sync lock was free), ``placer <user> <rounds> <aois>`` (claim each round's AOIs; a granted claim sends its
request, recorded in the table ``sent``), ``syncer <rounds> <aois>`` (sync whenever holding the lock: every
order sent so far, as a provider would list them). Prints one JSON value.
"""
import importlib.util
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def _register_package():
    spec = importlib.util.spec_from_file_location("satellite_tasking", ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["satellite_tasking"] = module
    spec.loader.exec_module(module)


def _sent(conninfo) -> list:
    import psycopg2

    db = psycopg2.connect(conninfo)
    try:
        with db.cursor() as cursor:
            cursor.execute("SELECT reference, aoi FROM sent ORDER BY reference, aoi")
            return cursor.fetchall()
    finally:
        db.close()


def placer(store, conninfo, user, rounds, aois):
    import psycopg2

    granted = refused = 0
    db = psycopg2.connect(conninfo)
    db.autocommit = True
    try:
        for round_number in range(rounds):
            reference = f"qgis-round-{round_number}"
            for aoi in range(aois):
                geometry = {"type": "Point", "coordinates": [aoi, round_number]}
                claim = store.claim_placement("c1", reference, geometry, user, aoi_index=aoi)
                if not claim.granted:
                    refused += 1
                    continue
                granted += 1
                with db.cursor() as cursor:  # the request leaves
                    cursor.execute("INSERT INTO sent VALUES (%s, %s, %s)", (reference, aoi, user))
                store.placement_done("c1", reference, geometry, f"{reference}-{aoi}")
    finally:
        db.close()
    return [granted, refused]


def syncer(store, conninfo, rounds, aois):
    from satellite_tasking.plugin.model import Order, OrderStatus, Status

    runs = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with store.sync_lock("c1") as held:
            if held:
                placed = _sent(conninfo)
                orders = [Order(id=f"{reference}-{aoi}", connection_id="c1", name=reference,
                                status=Status(OrderStatus.ACCEPTED, "PENDING"), geometry=SQUARE,
                                updated_at=T0 + timedelta(seconds=index))
                          for index, (reference, aoi) in enumerate(placed)]
                store.apply("c1", orders, [])
                runs += 1
                if len(placed) == rounds * aois:
                    return runs
        time.sleep(0.01)
    return runs


TEAM_PARAMS = {"start_time": "2026-01-05T01:00:00Z", "end_time": "2026-01-12T01:00:00Z"}
TEAM_AOIS = 2
MAX_RETRIES = 8
# The sandbox's delay fault holds a request 2.5 s and then handles it: 0.5 s after the client's 2 s read timeout.
CONFIRM_AFTER_S = 1.0


def team_draft(round_number):
    """The draft both placers place in a round: the same reference, the same AOIs."""
    from satellite_tasking.plugin.model import Aoi, OrderDraft

    aois = []
    for i in range(TEAM_AOIS):
        x, y = -150 + round_number * 0.5, -40 + i * 0.5
        aois.append(Aoi({"type": "Polygon", "coordinates": [[[x, y], [x + 0.1, y], [x + 0.1, y + 0.1],
                                                              [x, y + 0.1], [x, y]]]}, label=f"A{i + 1}"))
    return OrderDraft("team-1", "planet:area", f"Team {round_number}", dict(TEAM_PARAMS), aois,
                      f"team-round-{round_number:03d}")


def sandbox_provider(url):
    from satellite_tasking.plugin.http import build_session
    from satellite_tasking.plugin.model import Connection
    from satellite_tasking.plugin.providers.sandbox import SandboxProvider

    connection = Connection(id="team-1", name="Team sandbox", kind="sandbox")
    return SandboxProvider(connection, lambda c: build_session(c.name, "SatelliteTasking/team-test",
                                                               timeout=(1.0, 2.0), sleep=lambda s: None), url)


def team_placer(store, url, user, rounds):
    from satellite_tasking.plugin.team_placement import place_as_team

    provider = sandbox_provider(url)
    figures = {"placed": 0, "placed_elsewhere": 0, "retries": 0, "unplaced": 0, "sentences": set()}
    for round_number in range(rounds):
        draft = team_draft(round_number)
        outcomes = place_as_team(provider, store, draft, user, confirm_after_s=CONFIRM_AFTER_S)
        attempt = 0
        while True:
            figures["placed"] += sum(1 for o in outcomes if o.placed and not o.held_elsewhere)
            figures["placed_elsewhere"] += sum(1 for o in outcomes if o.held_elsewhere)
            figures["sentences"].update(o.error.split(" by ")[0] for o in outcomes if o.held_elsewhere)
            failed = [o.aoi_index for o in outcomes if not o.placed and not o.held_elsewhere]
            if not failed:
                break
            attempt += 1
            if attempt > MAX_RETRIES:
                figures["unplaced"] += len(failed)
                break
            figures["retries"] += 1
            outcomes = place_as_team(provider, store, draft, user, only=failed, confirm_after_s=CONFIRM_AFTER_S)
    figures["sentences"] = sorted(figures["sentences"])
    return figures


def team_syncer(store, url, stop_file):
    from satellite_tasking.plugin.team_service import sync_round

    provider = sandbox_provider(url)
    figures = {"synced": 0, "left_alone": 0, "failed": 0}
    deadline = time.monotonic() + 300
    while not Path(stop_file).exists() and time.monotonic() < deadline:
        for done in sync_round(store, [provider]):
            if done.locked_elsewhere:
                figures["left_alone"] += 1
            elif done.result is not None and done.result.ok:
                figures["synced"] += 1
            else:
                figures["failed"] += 1
        time.sleep(0.05)
    return figures


def main(argv):
    _register_package()
    from satellite_tasking.plugin.store_postgis import PostgisStore

    role, conninfo, *rest = argv
    store = PostgisStore(conninfo)
    if role == "open":
        result = store.schema_version()
    elif role == "try-sync-lock":
        with store.sync_lock(rest[0]) as held:
            result = held
    elif role == "placer":
        result = placer(store, conninfo, rest[0], int(rest[1]), int(rest[2]))
    elif role == "team-placer":
        result = team_placer(store, rest[0], rest[1], int(rest[2]))
    elif role == "team-syncer":
        result = team_syncer(store, rest[0], rest[1])
    elif role == "syncer":
        result = syncer(store, conninfo, int(rest[0]), int(rest[1]))
    else:
        raise SystemExit(f"unknown role {role}")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
