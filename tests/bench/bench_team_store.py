"""Benchmarks of the team's shared PostGIS store against the GeoPackage store, measured in the same run.

Run: .venv/bin/python tests/bench/bench_team_store.py [--orders 20000 --captures-per-order 10 --runs 3]

Starts a PostgreSQL + PostGIS of its own, as the tests do (tests/postgis_harness.py).

1. First sync of N orders and 10 N captures: the store's writes as ``sync_connection`` makes them (one transaction;
   order pages of Planet's 100 with their states read first, then the new orders' captures, a page per order), of
   the same Planet-like records into a new GeoPackage and into a new PostGIS schema. Best of ``--runs`` each,
   alternating. The provider's side (HTTP, parsing) is left out: it is the same for both stores and measured by
   bench_sync.py. Target: PostGIS <= 2x the GeoPackage.
2. The dock's read of a store that size (``monitor.read_dock_snapshot``: the order listing, capture counts and who
   placed what), the shared store through psycopg2 as the dock does. Target: < 1 s for the shared store.
"""
import argparse
import importlib.util
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path, package: bool = False):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=[str(path.parent)]
                                                  if package else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_load("satellite_tasking", REPO / "__init__.py", package=True)
postgis_harness = _load("postgis_harness", REPO / "tests" / "postgis_harness.py")

from satellite_tasking.plugin.model import Capture, Order, OrderStatus, Status  # noqa: E402
from satellite_tasking.plugin.store import TaskingStore  # noqa: E402
from satellite_tasking.plugin.store_postgis import PostgisStore  # noqa: E402

ORDER_PAGE = 100  # Planet's page (providers/planet.PAGE_SIZE)
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
STATUSES = [(OrderStatus.ACCEPTED, "PENDING"), (OrderStatus.TASKED, "IN_PROGRESS"),
            (OrderStatus.COMPLETED, "FULFILLED"), (OrderStatus.CANCELLED, "CANCELLED")]


def square(x: float, y: float, size: float = 0.05) -> dict:
    return {"type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]}


def records(count: int, captures_per_order: int) -> tuple:
    """Planet-like orders and captures: raw JSON text kept beside the parsed record, as a listing gives them."""
    orders, captures = [], []
    for n in range(count):
        x, y = -170 + (n % 3000) * 0.1, -60 + (n // 3000) * 0.1
        code, raw_status = STATUSES[n % len(STATUSES)]
        created, updated = T0 + timedelta(minutes=n), T0 + timedelta(minutes=n, seconds=30)
        order_id = f"8a7c6b5e-{n:04x}-4d3c-9b2a-{n:012x}"
        geometry = square(x, y)
        raw = {"id": order_id, "name": f"Field {n} [qgis-bench-{n // 10}:{n % 10}]", "status": raw_status,
               "product": "Assured", "pl_number": "PL-0001234", "scheduling_type": "MONITORING",
               "start_time": "2026-01-06T00:00:00Z", "end_time": "2026-02-06T00:00:00Z",
               "created_time": created.isoformat().replace("+00:00", "Z"),
               "updated_time": updated.isoformat().replace("+00:00", "Z"), "geometry": geometry,
               "sat_elevation_angle_min": 30, "sat_elevation_angle_max": 90, "exclusivity_days": 30,
               "item_types": ["skysat_collect"], "order_type": "TASKING", "fulfillment_type": "STANDARD"}
        orders.append(Order(id=order_id, connection_id="bench", name=raw["name"], status=Status(code, raw_status),
                            product_id="planet:Assured", geometry=geometry, created_at=created, updated_at=updated,
                            acquisition_start=T0 + timedelta(days=1), acquisition_end=T0 + timedelta(days=32),
                            params={"exclusivity_days": 30}, api="planet", raw=raw, raw_json=json.dumps(raw)))
        for c in range(captures_per_order):
            acquired = created + timedelta(days=1, hours=c)
            capture_id = f"{order_id}-c{c:02d}"
            footprint = square(x + 0.005 * c, y, 0.02)
            craw = {"id": capture_id, "order_id": order_id, "status": "published" if c % 3 else "queued",
                    "assessment": "success" if c % 3 else None, "cloud_cover": (c % 10) / 10,
                    "acquired_time": acquired.isoformat().replace("+00:00", "Z"), "geometry": footprint,
                    "strip_id": f"s{c}", "item_type": "skysat_collect"}
            captures.append(Capture(id=capture_id, order_id=order_id, status=craw["status"],
                                    assessment=craw["assessment"], cloud_cover=craw["cloud_cover"],
                                    footprint=footprint, acquired_at=acquired,
                                    published_at=acquired + timedelta(hours=2) if c % 3 else None,
                                    exclusivity_days=30, updated_at=acquired, raw=craw, raw_json=json.dumps(craw)))
    return orders, captures


def first_sync(store, orders: list, captures: list, per_order: int) -> float:
    """Write them as a first sync does; the seconds it took."""
    started = time.perf_counter()
    with store.writer("bench", recorded_at=T0, beside_threads=True) as writer:
        for start in range(0, len(orders), ORDER_PAGE):
            page = orders[start:start + ORDER_PAGE]
            writer.order_states([o.id for o in page])
            writer.write_orders(page)
        # Planet lists captures one order at a time (one request, one page per order): written page by page.
        for start in range(0, len(captures), per_order):
            writer.write_captures(captures[start:start + per_order], of_new_orders=True)
    return time.perf_counter() - started


def dock_read(store) -> float:
    """What the dock reads when it opens or refreshes (monitor.read_dock_snapshot: the order listing, capture
    summaries and who placed what), in seconds."""
    from satellite_tasking.plugin import monitor

    started = time.perf_counter()
    read = getattr(monitor, "read_dock_snapshot", None) or monitor.read_snapshot  # the latter: older plugins
    snapshot = read(store)
    took = time.perf_counter() - started
    assert len(snapshot[0]) > 0 and snapshot[1]
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--captures-per-order", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    from qgis.core import QgsApplication  # the monitor module needs QGIS's Python, not a running QGIS

    QgsApplication.setPrefixPath("/usr", True)
    built = time.perf_counter()
    orders, captures = records(options.orders, options.captures_per_order)
    print(f"{len(orders):,} orders / {len(captures):,} captures built in {time.perf_counter() - built:.1f} s")

    failures = []
    with postgis_harness.running_postgis() as server, tempfile.TemporaryDirectory() as folder:
        gpkg_times, pg_times = [], []
        for run in range(options.runs):
            gpkg = TaskingStore(Path(folder) / f"run{run}.gpkg")
            gpkg_times.append(first_sync(gpkg, orders, captures, options.captures_per_order))
            shared = PostgisStore(postgis_harness.new_database(server))
            pg_times.append(first_sync(shared, orders, captures, options.captures_per_order))
            print(f"  run {run + 1}: GeoPackage {gpkg_times[-1]:.2f} s, PostGIS {pg_times[-1]:.2f} s")
        counts = shared.counts("bench")
        assert counts["tasking_orders"] == len(orders) and counts["tasking_captures"] == len(captures), counts
        gpkg_best, pg_best = min(gpkg_times), min(pg_times)
        ratio = pg_best / gpkg_best
        print(f"1. first sync of {len(orders):,} orders / {len(captures):,} captures: GeoPackage {gpkg_best:.2f} s, "
              f"PostGIS {pg_best:.2f} s = {ratio:.2f}x (target <= 2x)")
        if ratio > 2.0:
            failures.append(f"first sync into PostGIS {ratio:.2f}x the GeoPackage")

        gpkg_read = min(dock_read(gpkg) for _ in range(options.runs))
        pg_read = min(dock_read(shared) for _ in range(options.runs))
        print(f"2. dock read of that store: GeoPackage {gpkg_read:.2f} s, PostGIS {pg_read:.2f} s (target < 1 s)")
        if pg_read >= 1.0:
            failures.append(f"dock read of the shared store {pg_read:.2f} s")
    print("Measured on a shared machine: repeat a figure before trusting it.")
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
