"""The order store: orders, captures, status history and sync cursors in one GeoPackage.

Written with Python's ``sqlite3`` alone (a GeoPackage is SQLite with three metadata tables and
geometry blobs made of a small header and WKB), so the store is plain Python: it runs in a
background task, in tests without QGIS, and QGIS reads the very same file through OGR for the
map layers (``plugin/layers.py``).

Decisions this module makes:

* **Keys.** Every row is keyed by connection id + the provider's id, so two connections (or two
  accounts of one provider) never overwrite each other's orders.
* **One transaction per sync.** ``writer`` (and ``apply``, built on it) writes orders, captures,
  history rows and the sync cursors of one sync in a single ``BEGIN IMMEDIATE … COMMIT``, page by page
  as a sync reads them; any exception rolls all of it back, so an interrupted sync leaves the previous
  state exactly as it was. The write lock is held from the first page written to the commit.
* **Stable feature ids.** Rows are updated in place (``ON CONFLICT … DO UPDATE``), never deleted
  and re-inserted, so QGIS feature ids, selections and edits of the layers survive a sync. A row
  whose values did not change is not written at all: a sync with no news touches only the
  sync-state row, never the layer tables.
* **Times.** Columns shown in layers are GeoPackage DATETIME text (UTC, milliseconds). Sync
  cursors keep the provider's full precision, since they are handed back to the provider.
* **One sqlite connection per call.** Calls come from the GUI thread (reads for the dock) and from
  task threads (a sync); a short-lived connection per call needs no locking of our own, and
  ``busy_timeout`` waits for QGIS's readers instead of failing.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
import sqlite3
import struct
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Optional

from .fast.gpkg_blob import multipolygon_blob
from .listed_order import decision_value, status_value
from .model import TERMINAL_ORDER_STATUSES, Capture, Decision, Order, OrderStatus, Status
from .records import SkippedRecord, skipped_record
from .utc import as_utc, format_instant, gpkg_text, parse_instant

logger = logging.getLogger(__name__)

# SQL here is built from this module's own table and column names (constants, never input) with every value
# bound as a "?" parameter; "# nosec B608" marks each such statement, which Bandit cannot tell from injection.
ORDERS_TABLE = "tasking_orders"
CAPTURES_TABLE = "tasking_captures"
HISTORY_TABLE = "tasking_status_history"
SYNC_TABLE = "tasking_sync_state"
SCHEMA_VERSION = 1
STORE_MARKER = "satellite_tasking store, schema "  # what tells the plugin's stores from other GeoPackages
STORE_DESCRIPTION = f"{STORE_MARKER}{SCHEMA_VERSION}"

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10200
WGS84_SRS_ID = 4326
BUSY_TIMEOUT_MS = 15_000
# SQLite page cache of a sync's write connection (KiB, allocated only as used): large enough that a first
# sync of tens of thousands of captures stays in memory until its commit.
WRITER_CACHE_KIB = 256 * 1024
# SQLite's default limit of host parameters is 999 on old builds.
ID_CHUNK = 500
# A sync writes in a thread of its own, beside its page readers; the GUI thread gets Python's lock only when a
# thread lets go of it, at the latest after the interpreter's switch interval (5 ms) each time, so with three
# busy threads it could wait tens of ms. Writing a page of captures lets go every few rows (about 0.5 ms).
YIELD_EVERY_ROWS = 16
# SQLite before 3.32 allows at most 999 "?" in a statement; many-row inserts stay under it.
MAX_SQL_VARIABLES = 999
# Radius (degrees of latitude) of the small polygon drawn for a point or line AOI.
NON_AREA_AOI_RADIUS_DEG = 0.0025

WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
    'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,'
    'AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)

# Capture outcome classes the captures layer is styled by.
OUTCOME_SUCCESS = "success"
OUTCOME_INVALID = "invalid"
OUTCOME_PENDING = "pending"
OUTCOME_FAILED = "failed"

ORDER_COLUMNS = (
    ("api", "TEXT"), ("name", "TEXT"), ("status", "TEXT"), ("raw_status", "TEXT"), ("raw_sub_status", "TEXT"),
    ("status_label", "TEXT"), ("is_terminal", "BOOLEAN"), ("decision", "TEXT"), ("product_id", "TEXT"),
    ("created_at", "DATETIME"), ("updated_at", "DATETIME"), ("acquisition_start", "DATETIME"),
    ("acquisition_end", "DATETIME"), ("aoi_type", "TEXT"), ("geometry_json", "TEXT"), ("params", "TEXT"),
    ("raw", "TEXT"),
)
CAPTURE_COLUMNS = (
    ("order_id", "TEXT"), ("order_name", "TEXT"), ("status", "TEXT"), ("assessment", "TEXT"),
    ("outcome", "TEXT"), ("cloud_cover", "REAL"), ("acquired_at", "DATETIME"), ("published_at", "DATETIME"),
    ("exclusivity_days", "INTEGER"), ("exclusivity_end", "DATETIME"), ("updated_at", "DATETIME"),
    ("footprint_json", "TEXT"), ("raw", "TEXT"),
)
HISTORY_COLUMNS = (
    ("connection_id", "TEXT NOT NULL"), ("order_id", "TEXT NOT NULL"), ("changed_at", "DATETIME"),
    ("recorded_at", "DATETIME"), ("status", "TEXT"), ("raw_status", "TEXT"), ("raw_sub_status", "TEXT"),
    ("previous_status", "TEXT"), ("previous_raw_status", "TEXT"), ("previous_raw_sub_status", "TEXT"),
)
SYNC_COLUMNS = (
    ("connection_id", "TEXT NOT NULL UNIQUE"), ("orders_cursor", "TEXT"), ("captures_cursor", "TEXT"),
    ("last_attempt_at", "DATETIME"), ("last_success_at", "DATETIME"), ("last_error", "TEXT"),
)


# -- time --------------------------------------------------------------------------------------
# The names the stores use (store_postgis imports them); plugin/utc.py does the work.
_utc = as_utc
gpkg_datetime = gpkg_text


def cursor_text(moment: Optional[datetime]) -> Optional[str]:
    """Full-precision UTC text for a sync cursor (the provider compares microseconds)."""
    return None if moment is None else format_instant(moment, "micros")


def parse_stored_time(text) -> Optional[datetime]:
    """The instant of a stored DATETIME text; None for anything else (a value the database typed itself is not
    stored text)."""
    return parse_instant(text) if isinstance(text, str) else None


# -- geometry ----------------------------------------------------------------------------------
_WKB_TYPES = {"Point": 1, "LineString": 2, "Polygon": 3, "MultiPoint": 4, "MultiLineString": 5,
              "MultiPolygon": 6}


def _ring_ok(ring) -> bool:
    return isinstance(ring, (list, tuple)) and len(ring) >= 4


def _polygons_of(geometry: Optional[dict]) -> tuple:
    """(list of polygons as lists of rings, the GeoJSON type it came from) — areas only.

    A point or line AOI becomes a small octagon around each vertex / the line's bounding box,
    so every order shows on the polygon layer; ``aoi_type`` keeps what it really was.
    """
    if not isinstance(geometry, dict):
        return [], None
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    try:
        if kind == "Polygon":
            return ([coordinates] if coordinates and _ring_ok(coordinates[0]) else []), kind
        if kind == "MultiPolygon":
            return [p for p in coordinates or [] if p and _ring_ok(p[0])], kind
        if kind == "Point":
            return [_octagon(coordinates[0], coordinates[1], NON_AREA_AOI_RADIUS_DEG)], kind
        if kind == "MultiPoint":
            return [_octagon(c[0], c[1], NON_AREA_AOI_RADIUS_DEG) for c in coordinates or []], kind
        if kind in ("LineString", "MultiLineString"):
            points = coordinates if kind == "LineString" else [c for line in coordinates or [] for c in line]
            if not points:
                return [], kind
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            pad = NON_AREA_AOI_RADIUS_DEG
            ring = [[min(xs) - pad, min(ys) - pad], [max(xs) + pad, min(ys) - pad], [max(xs) + pad, max(ys) + pad],
                    [min(xs) - pad, max(ys) + pad], [min(xs) - pad, min(ys) - pad]]
            return [[ring]], kind
        if kind == "GeometryCollection":
            polygons = []
            for part in geometry.get("geometries") or []:
                polygons.extend(_polygons_of(part)[0])
            return polygons, kind
    except (TypeError, IndexError, KeyError):
        logger.debug("Unreadable %s geometry left empty", kind)
        return [], kind
    return [], kind


def _octagon(x: float, y: float, radius: float) -> list:
    stretch = 1.0 / max(math.cos(math.radians(y)), 0.05)
    ring = [[x + radius * stretch * math.cos(math.pi * k / 4), y + radius * math.sin(math.pi * k / 4)]
            for k in range(8)]
    ring.append(ring[0])
    return [ring]


def gpkg_multipolygon(geometry: Optional[dict]) -> tuple:
    """(GeoPackage geometry blob or None, GeoJSON type name) of a GeoJSON geometry, as a MultiPolygon."""
    polygons, kind = _polygons_of(geometry)
    if not polygons:
        return None, kind
    try:
        return multipolygon_blob(polygons, WGS84_SRS_ID), kind
    except (TypeError, ValueError, IndexError, OverflowError, struct.error):
        # A provider's garbled positions: the order is kept, drawn nowhere.
        logger.debug("Unreadable %s geometry left empty", kind)
        return None, kind


def gpkg_envelope(blob: Optional[bytes]) -> Optional[tuple]:
    """(minx, maxx, miny, maxy) from the header of a blob this module wrote."""
    if not blob or len(blob) < 40 or blob[:2] != b"GP":
        return None
    return struct.unpack_from("<4d", blob, 8)


# -- values ------------------------------------------------------------------------------------
# Compact JSON text through the public encoder, built once. A private shortcut (json.encoder.c_make_encoder, kept
# across calls) saved about 0.5 µs a value, some 10 ms of a 4 s first sync of 2,000 orders: not worth depending
# on an undocumented function of the standard library.
_ENCODE_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                                check_circular=False).encode


def _json(value) -> Optional[str]:
    # Key order is the provider's (stable for one provider), so equal answers give equal text.
    return None if value is None else _ENCODE_JSON(value)


def _loads(text, default):
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _shared_part(raw, part):
    """``part``, or the equal value of ``raw`` when it has one (an order's geometry is usually its answer's
    ``geometry``): one object instead of two equal ones, which halves what the dock's snapshot of thousands
    of orders gives the garbage collector to walk."""
    if isinstance(part, (dict, list)) and isinstance(raw, dict):
        for value in raw.values():
            if type(value) is type(part) and value == part:
                return value
    return part


def capture_outcome(status: Optional[str], assessment: Optional[str]) -> str:
    """The class the captures layer is styled by: success, invalid, failed or pending (not yet assessed)."""
    if str(status or "").upper() in ("FAILED", "REMOVED"):
        return OUTCOME_FAILED
    quality = str(assessment or "").upper()
    if quality == "SUCCESS":
        return OUTCOME_SUCCESS
    if quality == "INVALID":
        return OUTCOME_INVALID
    return OUTCOME_PENDING


def _order_values(order: Order) -> tuple:
    """The orders row of an order: geom, then ``ORDER_COLUMNS`` in order."""
    geometry, aoi_type = gpkg_multipolygon(order.geometry)
    return (
        geometry,
        order.api or "",
        order.name,
        order.status.code.value,
        order.status.raw,
        order.status.raw_sub,
        order.status.describe(),
        1 if order.status.is_terminal else 0,
        Decision(order.decision).value,
        order.product_id,
        gpkg_datetime(order.created_at),
        gpkg_datetime(order.updated_at),
        gpkg_datetime(order.acquisition_start),
        gpkg_datetime(order.acquisition_end),
        aoi_type,
        _part_json(order.raw, order.geometry),
        _json(order.params or {}),
        _raw_text(order),
    )


def _capture_values(capture: Capture, order_name: str) -> tuple:
    """The captures row of a capture: geom, then ``CAPTURE_COLUMNS`` in order."""
    geometry, _ = gpkg_multipolygon(capture.footprint)
    # A published capture was last changed when it was published, and without exclusivity days its exclusivity
    # ends when it was acquired: equal moments are written once (thousands of captures per sync).
    acquired_at, published_at, updated_at = capture.acquired_at, capture.published_at, capture.updated_at
    exclusivity_end = capture.exclusivity_end
    acquired = gpkg_datetime(acquired_at)
    published = gpkg_datetime(published_at)
    return (
        geometry,
        capture.order_id,
        order_name,
        capture.status,
        capture.assessment,
        capture_outcome(capture.status, capture.assessment),
        capture.cloud_cover,
        acquired,
        published,
        capture.exclusivity_days,
        acquired if exclusivity_end == acquired_at else gpkg_datetime(exclusivity_end),
        published if updated_at == published_at else gpkg_datetime(updated_at),
        _part_json(capture.raw, capture.footprint),
        _raw_text(capture),
    )


_ORDER_NAMES = [name for name, _ in ORDER_COLUMNS]
_CAPTURE_NAMES = [name for name, _ in CAPTURE_COLUMNS]
# Positions in a captures row (geom first).
_CAPTURE_ORDER_NAME = 1 + _CAPTURE_NAMES.index("order_name")
_CAPTURE_STATUS = 1 + _CAPTURE_NAMES.index("status")
_CAPTURE_ASSESSMENT = 1 + _CAPTURE_NAMES.index("assessment")
# An order's geometry and a capture's footprint are usually one of their answer's values (Planet's
# ``geometry``, ``captured_area``): their column then says where in ``raw`` they are instead of repeating
# them (the coordinates are most of the encoding work).
_RAW_KEY_PREFIX = "raw:"


def _raw_text(item) -> str:
    """An order's or a capture's ``raw`` as JSON text: as the provider sent it when known, else encoded."""
    return item.raw_json or _ENCODE_JSON(item.raw or {})


def _part_json(raw, part) -> Optional[str]:
    """JSON text of a part of a provider's answer: ``"raw:<key>"`` when it is ``raw[<key>]`` (read back by
    ``_part_from``), else the part's own JSON."""
    if part is not None and isinstance(raw, dict):
        for key, value in raw.items():
            if value is part and isinstance(key, str):
                return _raw_key_text(key)
    return _json(part)


@functools.lru_cache(maxsize=64)  # a provider's field names: a handful, written for every order and capture
def _raw_key_text(key: str) -> str:
    return _ENCODE_JSON(_RAW_KEY_PREFIX + key)


def _stored_raw(text) -> tuple:
    """(raw, its JSON text) of a stored answer: the text is kept, so writing the answer again encodes nothing."""
    raw = _loads(text, None)
    return (raw, text) if isinstance(raw, dict) else ({}, "")


def _part_from(text, raw):
    part = _loads(text, None)
    if isinstance(part, str) and part.startswith(_RAW_KEY_PREFIX) and isinstance(raw, dict):
        return raw.get(part[len(_RAW_KEY_PREFIX):])
    return _shared_part(raw, part) if isinstance(part, dict) else None


# -- results -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncState:
    connection_id: str
    orders_cursor: Optional[datetime] = None
    captures_cursor: Optional[datetime] = None
    last_attempt_at: Optional[datetime] = None
    last_success_at: Optional[datetime] = None
    last_error: str = ""

    @property
    def synced_before(self) -> bool:
        return self.last_success_at is not None


@dataclass(frozen=True)
class StoredOrderState:
    """What the store knew of an order before an apply (for change detection)."""

    status: Status
    decision: Decision
    updated_at: Optional[datetime]
    name: str


@dataclass(frozen=True)
class StatusChange:
    connection_id: str
    order_id: str
    status: Status
    previous: Optional[Status]
    changed_at: Optional[datetime]
    recorded_at: Optional[datetime]


@dataclass
class OrderChange:
    order: Order
    previous: Optional[StoredOrderState]  # None: the order is new to the store


@dataclass
class CaptureChange:
    capture: Capture
    order_name: str
    previous_status: Optional[str]
    previous_assessment: Optional[str]
    is_new: bool


@dataclass
class AppliedChanges:
    """What one ``apply`` changed. Unchanged rows appear nowhere."""

    orders: list = field(default_factory=list)  # OrderChange, new or changed
    captures: list = field(default_factory=list)  # CaptureChange, new or changed
    history: list = field(default_factory=list)  # StatusChange rows written
    skipped: list = field(default_factory=list)  # SkippedRecord: records that could not be stored
    orders_unchanged: int = 0
    captures_unchanged: int = 0

    def merge(self, other: AppliedChanges) -> None:
        self.orders.extend(other.orders)
        self.captures.extend(other.captures)
        self.history.extend(other.history)
        self.skipped.extend(other.skipped)
        self.orders_unchanged += other.orders_unchanged
        self.captures_unchanged += other.captures_unchanged

    @property
    def orders_added(self) -> int:
        return sum(1 for change in self.orders if change.previous is None)

    @property
    def orders_updated(self) -> int:
        return sum(1 for change in self.orders if change.previous is not None)

    @property
    def captures_added(self) -> int:
        return sum(1 for change in self.captures if change.is_new)

    @property
    def captures_updated(self) -> int:
        return sum(1 for change in self.captures if not change.is_new)

    @property
    def changed(self) -> bool:
        return bool(self.orders or self.captures)


@dataclass(frozen=True)
class CaptureSummary:
    published: int = 0
    successful: int = 0
    invalid: int = 0
    best_cloud_cover: Optional[float] = None
    total: int = 0


def _chunks(items: list, size: int = ID_CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class StoreError(Exception):
    """The store cannot be used as asked; ``user_message`` is a sentence a person can act on."""

    def __init__(self, message: str, kind: str = "other"):
        super().__init__(message)
        self.user_message = message
        self.kind = kind  # full, read_only, damaged, foreign, busy, open, other


SQLITE_HEADER = b"SQLite format 3\x00"


def store_error(path, error: BaseException) -> StoreError:
    """The sentence for an sqlite3 error met while using the store at ``path``."""
    text = str(error)
    lowered = text.lower()
    if "disk is full" in lowered or "disk i/o error" in lowered and "full" in lowered:
        return StoreError(f"The order store {path} could not be written: the disk is full. Free some space on it; "
                          f"the orders shown are those of the last complete sync.", "full")
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(f"The order store {path} is read-only, so syncing is off; the orders shown are those "
                          f"stored. Make the file (and its folder) writable to sync again.", "read_only")
    if "not a database" in lowered or "malformed" in lowered or "file is encrypted" in lowered:
        return StoreError(f"The order store {path} is damaged or is not a GeoPackage ({text}). Move it aside "
                          f"(the plugin then starts a new one there) or choose another store for this project.",
                          "damaged")
    if "locked" in lowered or "busy" in lowered:
        return StoreError(f"The order store {path} is held by another program ({text}); try again when it is done.",
                          "busy")
    if "unable to open" in lowered:
        return StoreError(f"The order store {path} cannot be opened ({text}); check that its folder exists and "
                          f"can be read.", "open")
    return StoreError(f"The order store {path} could not be used ({text}).")


def _truncated(header: bytes, size: int) -> bool:
    """True when an SQLite file is shorter than the page count its header vouches for (a check in constant
    time: reading the whole file at start-up would cost a second per few hundred MB)."""
    if len(header) < 100:
        return True
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count is valid only when the change counter and the "version valid for" number agree.
    if pages == 0 or header[24:28] != header[92:96]:
        return False
    return size < page_size * pages


class TaskingStore:
    """The GeoPackage at ``path`` (created with its tables on first use).

    A file already at ``path`` is used only when it is a store of this plugin (its tables registered in
    ``gpkg_contents`` with ``STORE_DESCRIPTION``): another application's SQLite file or GeoPackage is never
    altered, and a damaged file is refused; both raise ``StoreError`` with a sentence. A store the user may
    not write is opened read-only: ``read_only`` is True, reads work, writes raise ``StoreError`` saying that
    syncing is off. sqlite3 errors met later become ``StoreError`` sentences too (a full disk named as such).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.read_only = False
        existing = self._inspect()
        if existing == "ours" and not self._writable():
            self.read_only = True
            logger.info("Order store %s is read-only; syncing is off", self.path)
            return
        if existing == "new":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"The order store {self.path} cannot be made: {error.strerror or error}.",
                                 "open") from None
        try:
            self._create()
        except StoreError as error:
            if existing != "ours" or error.kind != "read_only":
                raise
            self.read_only = True  # read-only media, or a lock the folder's rights do not show
            logger.info("Order store %s is read-only; syncing is off", self.path)

    def __repr__(self) -> str:
        return f"TaskingStore({str(self.path)!r})"

    @property
    def problem(self) -> str:
        """A sentence about what the store cannot do now ("" when it is fully usable)."""
        if self.read_only:
            return (f"The order store {self.path} is read-only, so syncing is off; the orders shown are those "
                    f"stored. Make the file (and its folder) writable to sync again.")
        return ""

    # -- plumbing ------------------------------------------------------------------------------
    def _inspect(self) -> str:
        """"new" (nothing there, or an empty file) or "ours"; raises ``StoreError`` for anything else."""
        try:
            with open(self.path, "rb") as handle:
                first = handle.read(100)  # SQLite's database header
                size = os.fstat(handle.fileno()).st_size
            header = first[:len(SQLITE_HEADER)]
        except FileNotFoundError:
            return "new"
        except IsADirectoryError:
            raise StoreError(f"The order store {self.path} is a folder, not a file; choose a file name for the "
                             f"store.") from None
        except OSError as error:
            raise StoreError(f"The order store {self.path} cannot be read: {error.strerror or error}.") from None
        if not header:
            return "new"  # an empty file is an empty SQLite database
        if header != SQLITE_HEADER:
            raise StoreError(f"The order store {self.path} is not a GeoPackage (nor any SQLite file). The plugin "
                             f"leaves it as it is: move it aside or choose another store for this project.",
                             "damaged")
        if _truncated(first, size):
            raise StoreError(f"The order store {self.path} is damaged: it is shorter than its own header says "
                             f"(cut off while copied or written). Move it aside (the plugin then starts a new one "
                             f"there) or choose another store for this project.", "damaged")
        try:
            connection = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True,
                                         timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            try:
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                marks = (connection.execute("PRAGMA application_id").fetchone()[0],
                         connection.execute("PRAGMA user_version").fetchone()[0])
                owned = set()
                if "gpkg_contents" in tables:
                    # Any schema version of the plugin's stores (the text has been the same since the first).
                    owned = {row[0] for row in connection.execute(
                        "SELECT table_name FROM gpkg_contents WHERE description LIKE ?", (STORE_MARKER + "%",))}
                if ORDERS_TABLE not in owned and {ORDERS_TABLE, CAPTURES_TABLE, SYNC_TABLE} <= tables:
                    # A description changed by hand (QGIS can write a layer's description back): the plugin's
                    # tables with the plugin's sync cursors are the plugin's too.
                    columns = {row[1] for row in connection.execute(f"PRAGMA table_info({SYNC_TABLE})")}
                    if {"connection_id", "orders_cursor", "captures_cursor"} <= columns:
                        owned.add(ORDERS_TABLE)
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise store_error(self.path, error) from None
        if not tables and marks[0] in (0, GPKG_APPLICATION_ID) and marks[1] in (0, GPKG_USER_VERSION):
            return "new"  # an SQLite file without tables or another application's marks: nothing to alter
        if ORDERS_TABLE in owned and ORDERS_TABLE in tables:
            return "ours"
        raise StoreError(f"The order store {self.path} belongs to another application (a database without the "
                         f"plugin's order tables). The plugin does not change it: choose another store file for "
                         f"this project.", "foreign")

    def _writable(self) -> bool:
        # SQLite writes a journal beside the file, so the folder must be writable too.
        return os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            return sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None)
        return sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = self._connect()
        except sqlite3.Error as error:
            raise store_error(self.path, error) from None
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            yield connection
        except sqlite3.Error as error:
            # Only the store's own errors become sentences; anything else (a provider's) passes as it is.
            raise store_error(self.path, error) from error
        finally:
            connection.close()

    def _refuse_writing(self) -> None:
        if self.read_only:
            raise StoreError(self.problem, "read_only")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back on any exception."""
        self._refuse_writing()
        with self._connection() as connection:
            # IMMEDIATE takes the write lock now, so two syncs never interleave their reads and writes.
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:  # SQLite may have rolled back itself (a full disk)
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _create(self) -> None:
        with self._transaction() as db:
            db.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
            db.execute("""CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
                srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL,
                organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)""")
            db.executemany(
                "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
                [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate "
                  "reference system"),
                 ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate "
                  "reference system"),
                 ("WGS 84 geodetic", WGS84_SRS_ID, "EPSG", 4326, WGS84_WKT, "longitude/latitude coordinates in "
                  "decimal degrees on the WGS 84 spheroid")])
            db.execute("""CREATE TABLE IF NOT EXISTS gpkg_contents (
                table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
                description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT
                (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
                srs_id INTEGER, CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES
                gpkg_spatial_ref_sys(srs_id))""")
            db.execute("""CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
                table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
                srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
                CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
                CONSTRAINT uk_gc_table_name UNIQUE (table_name),
                CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
                CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""")
            self._create_features(db, ORDERS_TABLE, "Tasking orders", "order_id", ORDER_COLUMNS)
            self._create_features(db, CAPTURES_TABLE, "Tasking captures", "capture_id", CAPTURE_COLUMNS)
            db.execute(f"CREATE INDEX IF NOT EXISTS {CAPTURES_TABLE}_order ON {CAPTURES_TABLE} "
                       "(connection_id, order_id)")
            self._create_attributes(db, HISTORY_TABLE, "Tasking status history", HISTORY_COLUMNS)
            db.execute(f"CREATE INDEX IF NOT EXISTS {HISTORY_TABLE}_order ON {HISTORY_TABLE} "
                       "(connection_id, order_id)")
            self._create_attributes(db, SYNC_TABLE, "Tasking sync state", SYNC_COLUMNS)

    @staticmethod
    def _create_features(db, table: str, identifier: str, key: str, columns) -> None:
        body = ", ".join(f"{name} {kind}" for name, kind in columns)
        db.execute(f"""CREATE TABLE IF NOT EXISTS {table} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
            geom MULTIPOLYGON, connection_id TEXT NOT NULL, {key} TEXT NOT NULL, {body},
            UNIQUE (connection_id, {key}))""")
        db.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                   "VALUES (?, 'features', ?, ?, ?)", (table, identifier, STORE_DESCRIPTION, WGS84_SRS_ID))
        db.execute("INSERT OR IGNORE INTO gpkg_geometry_columns VALUES (?, 'geom', 'MULTIPOLYGON', ?, 0, 0)",
                   (table, WGS84_SRS_ID))

    @staticmethod
    def _create_attributes(db, table: str, identifier: str, columns) -> None:
        body = ", ".join(f"{name} {kind}" for name, kind in columns)
        db.execute(f"CREATE TABLE IF NOT EXISTS {table} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, {body})")
        db.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
                   "VALUES (?, 'attributes', ?, ?)", (table, identifier, STORE_DESCRIPTION))

    # -- reading -------------------------------------------------------------------------------
    def sync_state(self, connection_id: str) -> SyncState:
        with self._connection() as db:
            row = db.execute(f"SELECT orders_cursor, captures_cursor, last_attempt_at, last_success_at, last_error "  # nosec B608  # constant names, bound values
                             f"FROM {SYNC_TABLE} WHERE connection_id = ?", (connection_id,)).fetchone()
        if row is None:
            return SyncState(connection_id)
        return SyncState(connection_id, parse_stored_time(row[0]), parse_stored_time(row[1]),
                         parse_stored_time(row[2]), parse_stored_time(row[3]), row[4] or "")

    def order_states(self, connection_id: str, order_ids: Iterable[str]) -> dict:
        """order id -> StoredOrderState for those of ``order_ids`` the store holds."""
        ids = list(dict.fromkeys(order_ids))
        found = {}
        with self._connection() as db:
            self._read_order_states(db, connection_id, ids, found)
        return found

    @staticmethod
    def _read_order_states(db, connection_id: str, ids: list, found: dict) -> None:
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for row in db.execute(f"SELECT order_id, status, raw_status, raw_sub_status, decision, updated_at, name "  # nosec B608  # constant names, bound values
                                  f"FROM {ORDERS_TABLE} WHERE connection_id = ? AND order_id IN ({marks})",
                                  (connection_id, *chunk)):
                found[row[0]] = StoredOrderState(_status(row[1], row[2], row[3]), _decision(row[4]),
                                                 parse_stored_time(row[5]), row[6] or "")

    def active_order_ids(self, connection_id: str) -> list:
        """Ids of the connection's orders whose last known status is not terminal."""
        with self._connection() as db:
            return [row[0] for row in db.execute(
                f"SELECT order_id FROM {ORDERS_TABLE} WHERE connection_id = ? AND is_terminal = 0 ORDER BY fid",  # nosec B608  # constant names, bound values
                (connection_id,))]

    def orders(self, connection_id: Optional[str] = None) -> list:
        """The stored orders (of one connection, or all), last changed first."""
        query = (f"SELECT connection_id, order_id, api, name, status, raw_status, raw_sub_status, decision, "  # nosec B608  # constant names, bound values
                 f"product_id, created_at, updated_at, acquisition_start, acquisition_end, geometry_json, params, "
                 f"raw FROM {ORDERS_TABLE}")
        args: tuple = ()
        if connection_id is not None:
            query += " WHERE connection_id = ?"
            args = (connection_id,)
        query += " ORDER BY updated_at DESC, fid DESC"
        with self._connection() as db:
            rows = db.execute(query, args).fetchall()
        orders = []
        for r in rows:
            raw, raw_json = _stored_raw(r[15])
            orders.append(Order(id=r[1], connection_id=r[0], api=r[2] or "", name=r[3] or "",
                                status=_status(r[4], r[5], r[6]), decision=_decision(r[7]), product_id=r[8] or "",
                                created_at=parse_stored_time(r[9]), updated_at=parse_stored_time(r[10]),
                                acquisition_start=parse_stored_time(r[11]), acquisition_end=parse_stored_time(r[12]),
                                geometry=_part_from(r[13], raw), params=_loads(r[14], {}), raw=raw,
                                raw_json=raw_json))
        return orders

    def order(self, connection_id: str, order_id: str) -> Optional[Order]:
        for order in self.orders(connection_id):
            if order.id == order_id:
                return order
        return None

    def captures(self, connection_id: Optional[str] = None, order_id: Optional[str] = None) -> list:
        """Stored captures (of a connection, of one of its orders), newest acquisition first."""
        query = (f"SELECT capture_id, order_id, status, assessment, cloud_cover, footprint_json, acquired_at, "  # nosec B608  # constant names, bound values
                 f"published_at, exclusivity_days, updated_at, raw FROM {CAPTURES_TABLE}")
        conditions, args = [], []
        if connection_id is not None:
            conditions.append("connection_id = ?")
            args.append(connection_id)
        if order_id is not None:
            conditions.append("order_id = ?")
            args.append(order_id)
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        query += " ORDER BY acquired_at DESC, fid DESC"
        with self._connection() as db:
            rows = db.execute(query, args).fetchall()
        captures = []
        for r in rows:
            raw, raw_json = _stored_raw(r[10])
            captures.append(Capture(id=r[0], order_id=r[1], status=r[2] or "", assessment=r[3], cloud_cover=r[4],
                                    footprint=_part_from(r[5], raw), acquired_at=parse_stored_time(r[6]),
                                    published_at=parse_stored_time(r[7]), exclusivity_days=r[8],
                                    updated_at=parse_stored_time(r[9]), raw=raw, raw_json=raw_json))
        return captures

    def capture_summaries(self) -> dict:
        """(connection id, order id) -> CaptureSummary, counted by SQLite: the dock's capture columns
        without reading every capture into Python."""
        return {key: CaptureSummary(*counts) for key, counts in self.capture_counts().items()}

    def capture_counts(self) -> dict:
        """``capture_summaries`` as plain tuples (published, successful, invalid, best cloud cover, total): objects
        Python's collector stops following at its first look (the dock holds one per order in QGIS's process)."""
        query = (f"SELECT connection_id, order_id, SUM(UPPER(status) = 'PUBLISHED'), "  # nosec B608  # constant names, bound values
                 f"SUM(outcome = '{OUTCOME_SUCCESS}'), SUM(outcome = '{OUTCOME_INVALID}'), MIN(cloud_cover), "
                 f"COUNT(*) FROM {CAPTURES_TABLE} GROUP BY connection_id, order_id")
        with self._connection() as db:
            rows = db.execute(query).fetchall()
        return {(r[0], r[1]): (r[2] or 0, r[3] or 0, r[4] or 0, r[5], r[6]) for r in rows}

    def status_history(self, connection_id: str, order_id: Optional[str] = None) -> list:
        """Status changes, oldest first (of one order, or of the whole connection)."""
        query = (f"SELECT connection_id, order_id, status, raw_status, raw_sub_status, previous_status, "  # nosec B608  # constant names, bound values
                 f"previous_raw_status, previous_raw_sub_status, changed_at, recorded_at FROM {HISTORY_TABLE} "
                 f"WHERE connection_id = ?")
        args = [connection_id]
        if order_id is not None:
            query += " AND order_id = ?"
            args.append(order_id)
        query += " ORDER BY fid"
        with self._connection() as db:
            rows = db.execute(query, args).fetchall()
        return [StatusChange(r[0], r[1], _status(r[2], r[3], r[4]),
                             _status(r[5], r[6], r[7]) if r[5] else None,
                             parse_stored_time(r[8]), parse_stored_time(r[9]))
                for r in rows]

    def counts(self, connection_id: Optional[str] = None) -> dict:
        """Row counts per table (of one connection, or all)."""
        result = {}
        with self._connection() as db:
            for table in (ORDERS_TABLE, CAPTURES_TABLE, HISTORY_TABLE):
                if connection_id is None:
                    result[table] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # nosec B608  # constant names, bound values
                else:
                    result[table] = db.execute(f"SELECT count(*) FROM {table} WHERE connection_id = ?",  # nosec B608  # constant names, bound values
                                               (connection_id,)).fetchone()[0]
        return result

    # -- writing -------------------------------------------------------------------------------
    def apply(self, connection_id: str, orders: Iterable[Order], captures: Iterable[Capture],
              recorded_at: Optional[datetime] = None) -> AppliedChanges:
        """Write one sync's orders and captures, history rows and cursors, in one transaction.

        Orders and captures not given are left as they are. The cursors move forward only, to
        the newest ``updated_at`` among what the store holds and what is given.
        """
        changes = AppliedChanges()
        with self.writer(connection_id, recorded_at) as writer:
            changes.merge(writer.write_orders(list(orders)))
            changes.merge(writer.write_captures(list(captures)))
        return changes

    @contextmanager
    def writer(self, connection_id: str, recorded_at: Optional[datetime] = None,
               beside_threads: bool = False) -> Iterator[StoreWriter]:
        """A ``StoreWriter`` for one sync written page by page: everything it writes is one transaction,
        committed (with the extents and cursors) when the block ends, rolled back on any exception.

        The write lock is taken at the first write, not before, so the reads of a sync's first page
        do not hold it. ``beside_threads``: other busy Python threads (a sync's page readers) run meanwhile,
        so writing lets go of Python's lock now and then (``YIELD_EVERY_ROWS``); alone, that would only cost.
        """
        self._refuse_writing()
        with self._connection() as connection:
            # Pages stay in SQLite's cache until the commit: a cache spilling to the file mid-transaction
            # would take the exclusive lock early and shut QGIS's readers out for the rest of the sync.
            connection.execute(f"PRAGMA cache_size = {-WRITER_CACHE_KIB}")
            writer = StoreWriter(self, connection, connection_id, _utc(recorded_at) or datetime.now(timezone.utc),
                                 YIELD_EVERY_ROWS if beside_threads else 0)
            try:
                yield writer
                writer.finish()
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            if connection.in_transaction:
                connection.execute("COMMIT")

    def record_sync_error(self, connection_id: str, message: str, at: Optional[datetime] = None) -> None:
        """Remember that a sync failed (orders, captures and cursors stay as they are)."""
        at_text = gpkg_datetime(_utc(at) or datetime.now(timezone.utc))
        with self._transaction() as db:
            db.execute(f"INSERT INTO {SYNC_TABLE} (connection_id, last_attempt_at, last_error) VALUES (?, ?, ?) "  # nosec B608  # constant names, bound values
                       f"ON CONFLICT (connection_id) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, "
                       f"last_error = excluded.last_error", (connection_id, at_text, message))

    def forget_connection(self, connection_id: str) -> None:
        """Remove every row of a connection (when the user deletes the connection)."""
        with self._transaction() as db:
            for table in (ORDERS_TABLE, CAPTURES_TABLE, HISTORY_TABLE, SYNC_TABLE):
                db.execute(f"DELETE FROM {table} WHERE connection_id = ?", (connection_id,))  # nosec B608  # constant names, bound values

    # -- writing helpers -------------------------------------------------------------------------
    @staticmethod
    def _rows(db, table: str, key: str, connection_id: str, ids: list, columns: list) -> dict:
        found = {}
        select = ", ".join(["geom", *columns])
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            for row in db.execute(f"SELECT {key}, {select} FROM {table} WHERE connection_id = ? AND {key} IN "  # nosec B608  # constant names, bound values
                                  f"({marks})", (connection_id, *chunk)):
                found[row[0]] = row[1:]
        return found

    @staticmethod
    def _upsert(db, table: str, key: str, columns, rows: list) -> None:
        """Insert or update ``rows``: tuples of geom, connection id, key, then ``columns`` in order.

        Many rows go in one statement: SQLite runs each statement without Python's lock, and taking it back
        after every row would make the writing wait on the sync's page readers at each row.
        """
        if not rows:
            return
        names = ["geom", "connection_id", key, *(name for name, _ in columns)]
        updates = ", ".join(f"{name} = excluded.{name}" for name in names if name not in ("connection_id", key))
        row_marks = f"({', '.join('?' * len(names))})"
        per_statement = max(1, MAX_SQL_VARIABLES // len(names))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start:start + per_statement]
            db.execute(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([row_marks] * len(chunk))} "  # nosec B608  # constant names, bound values
                f"ON CONFLICT (connection_id, {key}) DO UPDATE SET {updates}",
                [value for row in chunk for value in row])


class StoreWriter:
    """One sync's writes, page after page, inside the one transaction of ``TaskingStore.writer``.

    Only what the end of the transaction needs is kept between pages (order names, the extent
    of what was written, the newest ``updated_at`` of each kind), so a sync of tens of thousands
    of captures never holds more than a page of them.
    """

    def __init__(self, store: TaskingStore, db: sqlite3.Connection, connection_id: str, recorded_at: datetime,
                 yield_every_rows: int = 0):
        self._yield_every_rows = yield_every_rows  # 0: never
        self._store = store
        self._db = db
        self.connection_id = connection_id
        self.recorded_at = recorded_at
        self._recorded_text = gpkg_datetime(recorded_at)
        self._names: dict = {}  # order id -> name, of the orders written or looked up in this transaction
        self._extents: dict = {}  # table -> (min_x, max_x, min_y, max_y) of the rows written
        self._newest_order: Optional[datetime] = None
        self._newest_capture: Optional[datetime] = None

    def _begin(self) -> sqlite3.Connection:
        if not self._db.in_transaction:
            # IMMEDIATE takes the write lock now, so two syncs never interleave their reads and writes.
            self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def order_states(self, order_ids: Iterable[str]) -> dict:
        """order id -> StoredOrderState, as this transaction sees them."""
        found: dict = {}
        TaskingStore._read_order_states(self._db, self.connection_id, list(dict.fromkeys(order_ids)), found)
        return found

    def write_orders(self, orders: list) -> AppliedChanges:
        """Write these orders (and the history rows of their status changes); what changed."""
        changes = AppliedChanges()
        if not orders:
            return changes
        db = self._begin()
        connection_id, recorded_at = self.connection_id, self.recorded_at
        ids = [o.id for o in orders]
        previous_states: dict = {}
        TaskingStore._read_order_states(db, connection_id, ids, previous_states)
        previous_rows = TaskingStore._rows(db, ORDERS_TABLE, "order_id", connection_id, ids, _ORDER_NAMES)
        order_rows = []
        for order in orders:
            try:
                values = _checked_row(_order_values(order))
            except _RECORD_ERRORS as error:
                changes.skipped.append(_skipped("order", order, error))
                continue
            self._names[order.id] = order.name
            self._newest_order = _newer(self._newest_order, order.updated_at)
            if previous_rows.get(order.id) == values:
                changes.orders_unchanged += 1
                continue
            order_rows.append((values[0], connection_id, order.id, *values[1:]))
            previous = previous_states.get(order.id)
            changes.orders.append(OrderChange(order, previous))
            if previous is None or (previous.status.code, previous.status.raw, previous.status.raw_sub) != (
                    order.status.code, order.status.raw, order.status.raw_sub):
                changes.history.append(StatusChange(connection_id, order.id, order.status,
                                                    previous.status if previous else None,
                                                    _utc(order.updated_at), recorded_at))
        self._store._upsert(db, ORDERS_TABLE, "order_id", ORDER_COLUMNS, order_rows)
        self._grow(ORDERS_TABLE, order_rows)
        renamed = [c.order.id for c in changes.orders if c.previous is not None and c.previous.name != c.order.name]
        for chunk in _chunks(renamed):
            marks = ",".join("?" * len(chunk))
            db.execute(f"UPDATE {CAPTURES_TABLE} SET order_name = (SELECT o.name FROM {ORDERS_TABLE} o WHERE "  # nosec B608  # constant names, bound values
                       f"o.connection_id = {CAPTURES_TABLE}.connection_id AND o.order_id = "
                       f"{CAPTURES_TABLE}.order_id) WHERE connection_id = ? AND order_id IN ({marks})",
                       (connection_id, *chunk))
        db.executemany(
            f"INSERT INTO {HISTORY_TABLE} (connection_id, order_id, changed_at, recorded_at, status, raw_status, "  # nosec B608  # constant names, bound values
            f"raw_sub_status, previous_status, previous_raw_status, previous_raw_sub_status) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(h.connection_id, h.order_id, gpkg_datetime(h.changed_at), self._recorded_text, h.status.code.value,
              h.status.raw, h.status.raw_sub, h.previous.code.value if h.previous else None,
              h.previous.raw if h.previous else None, h.previous.raw_sub if h.previous else None)
             for h in changes.history])
        return changes

    def write_captures(self, captures: list, of_new_orders: bool = False) -> AppliedChanges:
        """Write these captures (their orders written before, in this transaction or an earlier one).

        ``of_new_orders``: the captures' orders are new to the store in this sync, so none of the captures can
        be stored yet and looking for their previous rows is skipped (a first sync writes thousands).
        """
        changes = AppliedChanges()
        if not captures:
            return changes
        db = self._begin()
        connection_id, names = self.connection_id, self._names
        missing = list({c.order_id for c in captures if c.order_id not in names})
        for chunk in _chunks(missing):
            marks = ",".join("?" * len(chunk))
            names.update(db.execute(f"SELECT order_id, name FROM {ORDERS_TABLE} WHERE connection_id = ? "  # nosec B608  # constant names, bound values
                                    f"AND order_id IN ({marks})", (connection_id, *chunk)).fetchall())
        previous_captures = {} if of_new_orders else TaskingStore._rows(
            db, CAPTURES_TABLE, "capture_id", connection_id, [c.id for c in captures], _CAPTURE_NAMES)
        capture_rows = []
        newest = self._newest_capture
        every = self._yield_every_rows
        for index, capture in enumerate(captures):
            if every and index % every == every - 1:
                time.sleep(0)  # let QGIS's GUI thread (waiting for Python's lock) run: see YIELD_EVERY_ROWS
            try:
                values = _checked_row(_capture_values(capture, names.get(capture.order_id) or ""))
            except _RECORD_ERRORS as error:
                changes.skipped.append(_skipped("capture", capture, error))
                continue
            if capture.updated_at is not None:
                newest = _newer(newest, capture.updated_at)
            old = previous_captures.get(capture.id)
            if old == values:
                changes.captures_unchanged += 1
                continue
            capture_rows.append((values[0], connection_id, capture.id, *values[1:]))
            changes.captures.append(CaptureChange(
                capture, values[_CAPTURE_ORDER_NAME], old[_CAPTURE_STATUS] if old else None,
                old[_CAPTURE_ASSESSMENT] if old else None, old is None))
        self._newest_capture = newest
        self._store._upsert(db, CAPTURES_TABLE, "capture_id", CAPTURE_COLUMNS, capture_rows)
        self._grow(CAPTURES_TABLE, capture_rows)
        return changes

    def _grow(self, table: str, rows: list) -> None:
        envelopes = [e for e in (gpkg_envelope(row[0]) for row in rows) if e is not None]
        known = self._extents.get(table)
        if known is not None:
            envelopes.append(known)
        if envelopes:
            self._extents[table] = (min(e[0] for e in envelopes), max(e[1] for e in envelopes),
                                    min(e[2] for e in envelopes), max(e[3] for e in envelopes))

    def finish(self) -> None:
        """Extents and cursors, last in the transaction (a sync with no news writes only these)."""
        db = self._begin()
        for table, extent in self._extents.items():
            row = db.execute("SELECT min_x, max_x, min_y, max_y FROM gpkg_contents WHERE table_name = ?",
                             (table,)).fetchone()
            if row and row[0] is not None:
                extent = (min(extent[0], row[0]), max(extent[1], row[1]), min(extent[2], row[2]),
                          max(extent[3], row[3]))
            db.execute("UPDATE gpkg_contents SET min_x = ?, max_x = ?, min_y = ?, max_y = ?, last_change = ? "
                       "WHERE table_name = ?", (*extent, self._recorded_text, table))
        row = db.execute(f"SELECT orders_cursor, captures_cursor FROM {SYNC_TABLE} WHERE connection_id = ?",  # nosec B608  # constant names, bound values
                         (self.connection_id,)).fetchone()
        old_orders = parse_stored_time(row[0]) if row else None
        old_captures = parse_stored_time(row[1]) if row else None
        orders_cursor = max(filter(None, (old_orders, self._newest_order)), default=None)
        captures_cursor = max(filter(None, (old_captures, self._newest_capture)), default=None)
        db.execute(
            f"INSERT INTO {SYNC_TABLE} (connection_id, orders_cursor, captures_cursor, last_attempt_at, "  # nosec B608  # constant names, bound values
            f"last_success_at, last_error) VALUES (?, ?, ?, ?, ?, '') ON CONFLICT (connection_id) DO UPDATE SET "
            f"orders_cursor = excluded.orders_cursor, captures_cursor = excluded.captures_cursor, "
            f"last_attempt_at = excluded.last_attempt_at, last_success_at = excluded.last_success_at, "
            f"last_error = ''",
            (self.connection_id, cursor_text(orders_cursor), cursor_text(captures_cursor), self._recorded_text,
             self._recorded_text))


# What turning one provider record into a row can raise: a field of the wrong type ("30" days), a number out
# of range, a garbled nested value. One such record is skipped and reported; it never fails the whole sync.
_RECORD_ERRORS = (TypeError, ValueError, OverflowError, AttributeError, KeyError, IndexError, struct.error)
_SQL_INT_RANGE = (-(2**63), 2**63 - 1)


_STORED_AS_THEY_ARE = {str, float, bytes, type(None)}


def _checked_row(values: tuple) -> tuple:
    """``values`` when SQLite can store each of them; a ``TypeError``/``OverflowError`` naming the first it
    cannot (found here, per record, rather than when a statement of hundreds of rows is bound)."""
    if set(map(type, values)) <= _STORED_AS_THEY_ARE:  # the usual row, seen in one pass of C
        return values
    for value in values:
        kind = type(value)
        if kind is str or value is None or kind is float or kind is bytes:
            continue
        if kind is int or kind is bool:
            if not _SQL_INT_RANGE[0] <= value <= _SQL_INT_RANGE[1]:
                raise OverflowError(f"the number {value} is too large to store")
            continue
        raise TypeError(f"a value of type {kind.__name__} where text or a number belongs")
    return values


def _skipped(kind: str, record, error: BaseException) -> SkippedRecord:
    return skipped_record(kind, getattr(record, "id", ""), error)


def _newer(newest: Optional[datetime], moment: Optional[datetime]) -> Optional[datetime]:
    moment = _utc(moment)
    if moment is None:
        return newest
    return moment if newest is None or moment > newest else newest

def _status(code, raw, raw_sub) -> Status:
    return Status(OrderStatus(status_value(code)), raw or "", raw_sub)  # unknown stored states read as received


def _decision(value) -> Decision:
    return Decision(decision_value(value))


__all__ = [
    "AppliedChanges", "CaptureChange", "OrderChange", "SkippedRecord", "StatusChange", "StoreError",
    "StoredOrderState", "SyncState",
    "TaskingStore", "TERMINAL_ORDER_STATUSES", "capture_outcome",
]
