"""One team member against a shared PostGIS store, in a process of its own (run by test_store_postgis.py).

    python postgis_team_worker.py <role> <conninfo> [arguments]

Roles: ``open`` (open the store, print its schema version), ``try-sync-lock <connection>`` (print whether the
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
    elif role == "syncer":
        result = syncer(store, conninfo, int(rest[0]), int(rest[1]))
    else:
        raise SystemExit(f"unknown role {role}")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
