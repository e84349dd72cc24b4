"""The shared order store: the same orders, captures, status history and sync cursors as the GeoPackage
store (``store.py``), in one PostgreSQL/PostGIS database that a whole team reads and writes.

Same interface (``store_api.OrderStore``), same keys (connection id + the provider's id), same values:
a row is built by the GeoPackage store's own functions (``_order_values``, ``_capture_values``) and only
its encoding differs — geometries are PostGIS ``geometry(MultiPolygon, 4326)`` (the WKB inside the
GeoPackage blob), times shown in layers are ``timestamptz``, booleans are ``boolean``. JSON columns stay
text, byte for byte as the provider sent them (``raw::jsonb`` in SQL when needed), so a row that did not
change is recognised and not written, as in the GeoPackage.

Decisions this module makes:

* **Driver: psycopg2.** It is what QGIS installers already carry: Debian's ``python3-qgis`` depends on
  ``python3-psycopg2``, and the OSGeo4W and macOS QGIS bundles ship it (DB Manager and Processing use it).
  QGIS's own database-connection API (``QgsAbstractDatabaseProviderConnection``) has no transactions
  spanning calls, no advisory locks and no LISTEN/NOTIFY, and would tie the store to QGIS (the headless
  service and the tests run it without QGIS). psycopg2 is imported when a store is opened, not with the
  plugin.
* **Where the database is.** A libpq connection string, usually just ``service=<name>`` from
  ``pg_service.conf``; the password comes from there, from ``~/.pgpass`` or from QGIS's authentication
  database, never from plugin settings. ``repr`` and messages never show a password.
* **Schema.** Tables live in one PostgreSQL schema (``tasking`` unless told otherwise), created and
  migrated by the plugin: ``MIGRATIONS`` are applied in order, each in one transaction that also records
  its number in ``tasking_schema_version``; an advisory lock makes two clients starting at once migrate
  once. A store whose schema is newer than this plugin knows is refused, not written.
* **One transaction per sync**, as in the GeoPackage: ``writer`` writes one sync's pages and cursors in
  one transaction, rolled back on any exception; at its first write it takes a transaction-scoped advisory
  lock of the connection, so two writers of one connection follow each other instead of interleaving.
* **One syncer per connection across the team**: ``sync_lock`` is a session advisory lock
  (``pg_try_advisory_lock``) keyed by a hash of the schema and connection id; a desktop that does not get
  it leaves the sync to whoever holds it (the service, another desktop).
* **No duplicate across the team**: ``claim_placement`` records a draft's reference and an AOI before its
  request leaves (unique on reference + AOI); a second placer gets the first one's name and time instead.
* **One database connection per call**, like the GeoPackage store's sqlite connections: calls come from
  the GUI thread and from task threads, and a short-lived connection needs no locking of our own.
"""
from __future__ import annotations

import getpass
import hashlib
import io
import json
import logging
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator, Optional

from .model import Capture, Order
from .store import (
    _RECORD_ERRORS,
    CAPTURE_COLUMNS,
    CAPTURES_TABLE,
    HISTORY_TABLE,
    ORDER_COLUMNS,
    ORDERS_TABLE,
    OUTCOME_INVALID,
    OUTCOME_SUCCESS,
    SYNC_TABLE,
    AppliedChanges,
    CaptureChange,
    CaptureSummary,
    OrderChange,
    StatusChange,
    StoredOrderState,
    StoreError,
    SyncState,
    _capture_values,
    _checked_row,
    _decision,
    _loads,
    _newer,
    _order_values,
    _part_from,
    _skipped,
    _status,
    _stored_raw,
    _utc,
    cursor_text,
    gpkg_datetime,
    parse_stored_time,
)

logger = logging.getLogger(__name__)

# SQL here is built from this module's own table and column names and a schema name checked against
# SCHEMA_NAME (never free input), with every value bound as a parameter; "# nosec B608" marks each such
# statement, which Bandit cannot tell from injection.
DEFAULT_SCHEMA = "tasking"
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
VERSION_TABLE = "tasking_schema_version"
PLACEMENTS_TABLE = "tasking_placements"
SETTINGS_TABLE = "tasking_store_settings"
SYNCERS_TABLE = "tasking_syncers"
SERVICE_SYNCS_KEY = "service_syncs"
WGS84 = 4326
CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "satellite_tasking"
# Advisory lock classes (the first int4 of PostgreSQL's two-key advisory locks): "TSK" + a digit.
MIGRATION_LOCK_CLASS = 0x54534B30
SYNC_LOCK_CLASS = 0x54534B31
WRITE_LOCK_CLASS = 0x54534B32
PAGE_ROWS = 500
# From this many rows on, an upsert goes through COPY (see PostgisStore._upsert).
COPY_ROWS = 50
FLUSH_ROWS = 2000
COPY_BYTES = 1 << 16
# Placement states.
PLACING = "placing"
# A claim "placing" for this long belongs to a placer that stopped mid-send; another placer may take it over.
STALE_CLAIM_S = 15 * 60
PLACED = "placed"

# The GeoPackage blob this store is given (store.gpkg_multipolygon) is a 40-byte header (magic, flags,
# srs id, xy envelope) and then standard WKB.
_GPKG_HEADER_BYTES = 40

# (version, description, statements). Never edit a released migration: add the next one. "{s}" is the schema.
MIGRATIONS = (
    (1, "orders, captures, status history and sync state", (
        'CREATE TABLE {s}.tasking_orders ('
        ' fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
        ' geom geometry(MultiPolygon, 4326),'
        ' connection_id text NOT NULL, order_id text NOT NULL,'
        ' api text, name text, status text, raw_status text, raw_sub_status text, status_label text,'
        ' is_terminal boolean, decision text, product_id text, created_at timestamptz, updated_at timestamptz,'
        ' acquisition_start timestamptz, acquisition_end timestamptz, aoi_type text, geometry_json text,'
        ' params text, raw text,'
        ' UNIQUE (connection_id, order_id))',
        'CREATE INDEX tasking_orders_geom ON {s}.tasking_orders USING gist (geom)',
        'CREATE TABLE {s}.tasking_captures ('
        ' fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
        ' geom geometry(MultiPolygon, 4326),'
        ' connection_id text NOT NULL, capture_id text NOT NULL,'
        ' order_id text, order_name text, status text, assessment text, outcome text,'
        ' cloud_cover double precision, acquired_at timestamptz, published_at timestamptz,'
        ' exclusivity_days bigint, exclusivity_end timestamptz, updated_at timestamptz, footprint_json text,'
        ' raw text,'
        ' UNIQUE (connection_id, capture_id))',
        'CREATE INDEX tasking_captures_geom ON {s}.tasking_captures USING gist (geom)',
        'CREATE INDEX tasking_captures_order ON {s}.tasking_captures (connection_id, order_id)',
        'CREATE TABLE {s}.tasking_status_history ('
        ' fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
        ' connection_id text NOT NULL, order_id text NOT NULL, changed_at timestamptz, recorded_at timestamptz,'
        ' status text, raw_status text, raw_sub_status text, previous_status text, previous_raw_status text,'
        ' previous_raw_sub_status text)',
        'CREATE INDEX tasking_status_history_order ON {s}.tasking_status_history (connection_id, order_id)',
        'CREATE TABLE {s}.tasking_sync_state ('
        ' fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
        ' connection_id text NOT NULL UNIQUE, orders_cursor text, captures_cursor text,'
        ' last_attempt_at timestamptz, last_success_at timestamptz, last_error text)',
    )),
    (2, "team placements (reference + AOI placed once) and who placed each order", (
        'CREATE TABLE {s}.tasking_placements ('
        ' fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
        ' draft_reference text NOT NULL, aoi_key text NOT NULL, aoi_index integer,'
        ' connection_id text NOT NULL, placed_by text NOT NULL,'
        ' placed_at timestamptz NOT NULL DEFAULT now(), state text NOT NULL, order_id text,'
        ' CONSTRAINT tasking_placements_once UNIQUE (draft_reference, aoi_key))',
        'CREATE INDEX tasking_placements_order ON {s}.tasking_placements (connection_id, order_id)',
        'ALTER TABLE {s}.tasking_orders ADD COLUMN placed_by text, ADD COLUMN placed_at timestamptz',
    )),
    (3, "store settings and the sync service's heartbeat per connection", (
        'CREATE TABLE {s}.tasking_store_settings ('
        ' key text PRIMARY KEY, value text NOT NULL, changed_at timestamptz NOT NULL DEFAULT now(),'
        ' changed_by text)',
        'CREATE TABLE {s}.tasking_syncers ('
        ' connection_id text NOT NULL, syncer text NOT NULL, host text, interval_s double precision,'
        ' last_round_at timestamptz NOT NULL, last_error text, PRIMARY KEY (connection_id, syncer))',
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

_ORDER_NAMES = [name for name, _ in ORDER_COLUMNS]
_CAPTURE_NAMES = [name for name, _ in CAPTURE_COLUMNS]
_CAPTURE_ORDER_NAME = 1 + _CAPTURE_NAMES.index("order_name")
_CAPTURE_STATUS = 1 + _CAPTURE_NAMES.index("status")
_CAPTURE_ASSESSMENT = 1 + _CAPTURE_NAMES.index("assessment")
_IS_TERMINAL = 1 + _ORDER_NAMES.index("is_terminal")


class SharedStoreError(StoreError):
    """The shared store cannot be used; ``user_message`` is a sentence for the user (no password in it). A
    ``StoreError``, so whoever handles a store that cannot be opened handles both stores alike."""

    def __init__(self, user_message: str, kind: str = "other"):
        super().__init__(user_message, kind)


def _driver():
    try:
        import psycopg2
        import psycopg2.extensions
        import psycopg2.extras
    except ImportError as error:  # a QGIS without psycopg2
        raise SharedStoreError("The shared PostgreSQL store needs the Python module psycopg2, which this QGIS "
                               "does not have (Debian: python3-psycopg2).") from error
    return psycopg2


def redacted(conninfo: str) -> str:
    """``conninfo`` without its password (for logs, messages and ``repr``)."""
    try:
        parts = _driver().extensions.parse_dsn(conninfo)
    except Exception:  # noqa: BLE001 - an unreadable string is shown as nothing at all
        return "<unreadable connection string>"
    return " ".join(f"{key}={value}" for key, value in parts.items() if key != "password")


def lock_key(text: str) -> int:
    """A stable signed 32-bit key of ``text`` (the same in every process and on every machine)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big", signed=True)


def aoi_key(geometry) -> str:
    """A key of an AOI's GeoJSON geometry: equal AOIs (to 1e-9 degrees, whatever their key order) give equal
    keys."""
    def canonical(value):
        if isinstance(value, float):
            return 0.0 if value == 0 or not math.isfinite(value) else round(value, 9)
        if isinstance(value, dict):
            return {str(k): canonical(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [canonical(v) for v in value]
        return value

    text = json.dumps(canonical(geometry), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_user_name() -> str:
    """The operating system's user name, or "unknown" (who placed an order, when QGIS gives none)."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"


def _text(value):
    # PostgreSQL text cannot hold NUL; a provider's string with one keeps the rest.
    return value.replace("\x00", "") if isinstance(value, str) and "\x00" in value else value


def _pg_row(values: tuple, boolean_at: Optional[int] = None) -> list:
    """A GeoPackage row (geom blob first) as this store writes and reads it: WKB, booleans, text without NUL."""
    blob = values[0]
    # Inline rather than _text per value: this runs for each of a first sync's hundreds of thousands of rows.
    row = [v.replace("\x00", "") if v.__class__ is str and "\x00" in v else v for v in values]
    row[0] = bytes(blob[_GPKG_HEADER_BYTES:]) if blob else None
    if boolean_at is not None and row[boolean_at] is not None:
        row[boolean_at] = bool(row[boolean_at])
    return row


def _read(value):
    """A value as read back, in the form ``_pg_row`` gives: times as GeoPackage text, WKB as bytes."""
    if isinstance(value, datetime):
        return gpkg_datetime(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_special(value) -> str:
    """A value other than plain text in ``COPY``'s text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\\\x" + bytes(value).hex()  # bytea's hex form, its backslash escaped for COPY
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return _copy_text(str(value))


def _copy_text(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def _copy_line(row) -> str:
    """One row in ``COPY``'s text format (the rows ``_pg_row`` gives: text, numbers, booleans, WKB, None)."""
    # Plain text as it is unless it holds one of COPY's four special characters (one regex search, in C).
    return "\t".join([(v.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(v) else v) if v.__class__ is str
                       else _copy_special(v) for v in row]) + "\n"


@dataclass(frozen=True)
class PlacementClaim:
    """The answer to ``claim_placement``: ``granted`` (this placer sends the request) or who was first."""

    granted: bool
    placed_by: str
    placed_at: Optional[datetime]
    state: str = PLACING
    order_id: Optional[str] = None

    def message(self) -> str:
        when = self.placed_at.strftime("%Y-%m-%d %H:%M UTC") if self.placed_at else "an unknown time"
        if self.state == PLACED:
            return f"Already placed by {self.placed_by} at {when}."
        return f"Already being placed by {self.placed_by} since {when}."


class PostgisStore:
    """The shared store in schema ``schema`` of the database ``conninfo`` names (created/migrated on open)."""

    #: Its rows belong to the whole team: a desktop never forgets a connection's orders in it, places through
    #: its claims (``team_placement``) and leaves syncing to the service while one keeps it current.
    shared = True

    def __init__(self, conninfo: str, schema: str = DEFAULT_SCHEMA,
                 credentials: Optional[Callable[[], dict]] = None):
        """``credentials``: called at each connect for more connection parameters (the user name and password of
        a QGIS authentication config), so they are never kept here."""
        if not SCHEMA_NAME.match(schema or ""):
            raise ValueError(f"Not a plain PostgreSQL schema name: {schema!r}")
        self.conninfo = conninfo
        self.schema = schema
        self._credentials = credentials
        self.authcfg = ""  # the QGIS authentication config behind ``credentials``, if any (for QGIS's own layers)
        self.read_only = False
        self._no_staging = False  # this user may not create temporary tables (see _staged)
        if not self._current():
            self._migrate()
        self.read_only = not self._query("SELECT has_table_privilege(%s, 'INSERT')",
                                         (self._table(ORDERS_TABLE),))[0][0]
        if self.read_only:
            logger.info("Shared store %s is read-only for this user; syncing is off", self)

    @property
    def problem(self) -> str:
        """A sentence about what the store cannot do now ("" when it is fully usable)."""
        if self.read_only:
            return ("This database user may only read the shared store, so syncing and placing through it are off; "
                    "the orders shown are those stored.")
        return ""

    def _refuse_writing(self) -> None:
        if self.read_only:
            raise SharedStoreError(self.problem)

    def __repr__(self) -> str:
        return f"PostgisStore({redacted(self.conninfo)!r}, schema={self.schema!r})"

    def _table(self, name: str) -> str:
        return f"{self.schema}.{name}"

    # -- plumbing ------------------------------------------------------------------------------
    def connect(self, autocommit: bool = False):
        """A new psycopg2 connection to the store's database (the caller closes it)."""
        psycopg2 = _driver()
        extra = self._credentials() if self._credentials is not None else {}
        try:
            db = psycopg2.connect(self.conninfo, connect_timeout=CONNECT_TIMEOUT_S,
                                  application_name=APPLICATION_NAME, **extra)
        except psycopg2.Error as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise SharedStoreError(f"Cannot open the shared store ({redacted(self.conninfo)}): {first_line}") from None
        db.autocommit = autocommit
        return db

    @contextmanager
    def _connection(self) -> Iterator:
        db = self.connect()
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator:
        """One transaction's cursor: committed when the block ends, rolled back on any exception."""
        with self._connection() as db:
            try:
                with db.cursor() as cursor:
                    yield cursor
            except BaseException:
                db.rollback()
                raise
            db.commit()

    def _query(self, sql: str, args=()) -> list:
        return [tuple(_read(v) for v in row) for row in self._query_raw(sql, args)]

    def _query_raw(self, sql: str, args=()) -> list:
        """Rows as psycopg2 gives them (times as datetimes): the dock's large reads skip ``_read``."""
        with self._connection() as db, db.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()

    def _current(self) -> bool:
        """True when the schema is there at this plugin's version (nothing to migrate, nothing to create: a
        user who may only read can open it)."""
        rows = self._query("SELECT to_regclass(%s) IS NOT NULL", (self._table(VERSION_TABLE),))
        if not rows[0][0]:
            return False
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise SharedStoreError(f"The shared store's schema is version {current}, newer than this plugin knows "
                                   f"({SCHEMA_VERSION}): update the plugin to use it.")
        return current == SCHEMA_VERSION

    def _migrate(self) -> None:
        psycopg2 = _driver()
        with self._connection() as db:
            with db.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
                if cursor.fetchone() is None:
                    try:
                        cursor.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                        db.commit()
                    except psycopg2.Error:
                        db.rollback()
                        raise SharedStoreError(
                            "The shared store's database has no PostGIS, and this user may not add it: ask its "
                            "administrator to run CREATE EXTENSION postgis in it.") from None
            for version, description, statements in ((0, "", ()), *MIGRATIONS):
                try:
                    with db.cursor() as cursor:
                        # One transaction per migration; the lock makes a second client wait, then skip it.
                        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)",
                                       (MIGRATION_LOCK_CLASS, lock_key(self.schema)))
                        if version == 0:
                            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
                            cursor.execute(f"CREATE TABLE IF NOT EXISTS {self._table(VERSION_TABLE)} ("
                                           "version integer PRIMARY KEY, description text NOT NULL, "
                                           "applied_at timestamptz NOT NULL DEFAULT now())")
                            cursor.execute(f"SELECT max(version) FROM {self._table(VERSION_TABLE)}")  # nosec B608  # checked schema, constant names
                            current = cursor.fetchone()[0] or 0
                            if current > SCHEMA_VERSION:
                                raise SharedStoreError(
                                    f"The shared store's schema is version {current}, newer than this plugin knows "
                                    f"({SCHEMA_VERSION}): update the plugin to use it.")
                        else:
                            cursor.execute(f"SELECT 1 FROM {self._table(VERSION_TABLE)} WHERE version = %s",  # nosec B608  # checked schema, constant names
                                           (version,))
                            if cursor.fetchone() is None:
                                for statement in statements:
                                    cursor.execute(statement.format(s=self.schema))
                                cursor.execute(f"INSERT INTO {self._table(VERSION_TABLE)} (version, description) "  # nosec B608  # checked schema, constant names
                                               "VALUES (%s, %s)", (version, description))
                                logger.info("Shared store %s: migration %d applied (%s)", self.schema, version,
                                            description)
                except BaseException:
                    db.rollback()
                    raise
                db.commit()

    def schema_version(self) -> int:
        return self._query(f"SELECT max(version) FROM {self._table(VERSION_TABLE)}")[0][0] or 0  # nosec B608  # checked schema, constant names

    # -- reading -------------------------------------------------------------------------------
    def sync_state(self, connection_id: str) -> SyncState:
        rows = self._query(f"SELECT orders_cursor, captures_cursor, last_attempt_at, last_success_at, last_error "  # nosec B608  # checked schema, constant names
                           f"FROM {self._table(SYNC_TABLE)} WHERE connection_id = %s", (connection_id,))
        if not rows:
            return SyncState(connection_id)
        row = rows[0]
        return SyncState(connection_id, parse_stored_time(row[0]), parse_stored_time(row[1]),
                         parse_stored_time(row[2]), parse_stored_time(row[3]), row[4] or "")

    def order_states(self, connection_id: str, order_ids: Iterable[str]) -> dict:
        """order id -> StoredOrderState for those of ``order_ids`` the store holds."""
        found: dict = {}
        with self._connection() as db, db.cursor() as cursor:
            self._read_order_states(cursor, connection_id, list(dict.fromkeys(order_ids)), found)
        return found

    def _read_order_states(self, cursor, connection_id: str, ids: list, found: dict) -> None:
        if not ids:
            return
        cursor.execute(f"SELECT order_id, status, raw_status, raw_sub_status, decision, updated_at, name "  # nosec B608  # checked schema, constant names
                       f"FROM {self._table(ORDERS_TABLE)} WHERE connection_id = %s AND order_id = ANY(%s)",
                       (connection_id, ids))
        for row in cursor.fetchall():
            found[row[0]] = StoredOrderState(_status(row[1], row[2], row[3]), _decision(row[4]), _utc(row[5]),
                                             row[6] or "")

    def active_order_ids(self, connection_id: str) -> list:
        """Ids of the connection's orders whose last known status is not terminal."""
        return [row[0] for row in self._query(
            f"SELECT order_id FROM {self._table(ORDERS_TABLE)} WHERE connection_id = %s "  # nosec B608  # checked schema, constant names
            f"AND NOT coalesce(is_terminal, false) ORDER BY fid", (connection_id,))]

    def _orders(self, conditions: list, args: list) -> list:
        query = (f"SELECT connection_id, order_id, api, name, status, raw_status, raw_sub_status, decision, "  # nosec B608  # checked schema, constant names
                 f"product_id, created_at, updated_at, acquisition_start, acquisition_end, geometry_json, params, "
                 f"raw FROM {self._table(ORDERS_TABLE)}")
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        query += " ORDER BY updated_at DESC NULLS LAST, fid DESC"  # NULLS LAST: as SQLite sorts them
        orders = []
        for r in self._query_raw(query, args):
            raw, raw_json = _stored_raw(r[15])
            orders.append(Order(id=r[1], connection_id=r[0], api=r[2] or "", name=r[3] or "",
                                status=_status(r[4], r[5], r[6]), decision=_decision(r[7]), product_id=r[8] or "",
                                created_at=_utc(r[9]), updated_at=_utc(r[10]), acquisition_start=_utc(r[11]),
                                acquisition_end=_utc(r[12]), geometry=_part_from(r[13], raw),
                                params=_loads(r[14], {}), raw=raw, raw_json=raw_json))
        return orders

    def orders(self, connection_id: Optional[str] = None) -> list:
        """The stored orders (of one connection, or all), last changed first."""
        if connection_id is None:
            return self._orders([], [])
        return self._orders(["connection_id = %s"], [connection_id])

    def order(self, connection_id: str, order_id: str) -> Optional[Order]:
        found = self._orders(["connection_id = %s", "order_id = %s"], [connection_id, order_id])
        return found[0] if found else None

    def captures(self, connection_id: Optional[str] = None, order_id: Optional[str] = None) -> list:
        """Stored captures (of a connection, of one of its orders), newest acquisition first."""
        query = (f"SELECT capture_id, order_id, status, assessment, cloud_cover, footprint_json, acquired_at, "  # nosec B608  # checked schema, constant names
                 f"published_at, exclusivity_days, updated_at, raw FROM {self._table(CAPTURES_TABLE)}")
        conditions, args = [], []
        if connection_id is not None:
            conditions.append("connection_id = %s")
            args.append(connection_id)
        if order_id is not None:
            conditions.append("order_id = %s")
            args.append(order_id)
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        query += " ORDER BY acquired_at DESC NULLS LAST, fid DESC"
        captures = []
        for r in self._query_raw(query, args):
            raw, raw_json = _stored_raw(r[10])
            captures.append(Capture(id=r[0], order_id=r[1], status=r[2] or "", assessment=r[3], cloud_cover=r[4],
                                    footprint=_part_from(r[5], raw), acquired_at=_utc(r[6]),
                                    published_at=_utc(r[7]), exclusivity_days=r[8], updated_at=_utc(r[9]),
                                    raw=raw, raw_json=raw_json))
        return captures

    def capture_summaries(self) -> dict:
        """(connection id, order id) -> CaptureSummary, counted by the database."""
        return {key: CaptureSummary(*counts) for key, counts in self.capture_counts().items()}

    def capture_counts(self) -> dict:
        """``capture_summaries`` as plain tuples (see ``TaskingStore.capture_counts``)."""
        rows = self._query(
            f"SELECT connection_id, order_id, count(*) FILTER (WHERE upper(status) = 'PUBLISHED'), "  # nosec B608  # checked schema, constant names
            f"count(*) FILTER (WHERE outcome = %s), count(*) FILTER (WHERE outcome = %s), min(cloud_cover), "
            f"count(*) FROM {self._table(CAPTURES_TABLE)} GROUP BY connection_id, order_id",
            (OUTCOME_SUCCESS, OUTCOME_INVALID))
        return {(r[0], r[1]): (r[2] or 0, r[3] or 0, r[4] or 0, r[5], r[6]) for r in rows}

    def status_history(self, connection_id: str, order_id: Optional[str] = None) -> list:
        """Status changes, oldest first (of one order, or of the whole connection)."""
        query = (f"SELECT connection_id, order_id, status, raw_status, raw_sub_status, previous_status, "  # nosec B608  # checked schema, constant names
                 f"previous_raw_status, previous_raw_sub_status, changed_at, recorded_at "
                 f"FROM {self._table(HISTORY_TABLE)} WHERE connection_id = %s")
        args = [connection_id]
        if order_id is not None:
            query += " AND order_id = %s"
            args.append(order_id)
        query += " ORDER BY fid"
        return [StatusChange(r[0], r[1], _status(r[2], r[3], r[4]),
                             _status(r[5], r[6], r[7]) if r[5] else None,
                             parse_stored_time(r[8]), parse_stored_time(r[9]))
                for r in self._query(query, args)]

    def counts(self, connection_id: Optional[str] = None) -> dict:
        """Row counts per table (of one connection, or all)."""
        result = {}
        with self._connection() as db, db.cursor() as cursor:
            for table in (ORDERS_TABLE, CAPTURES_TABLE, HISTORY_TABLE):
                if connection_id is None:
                    cursor.execute(f"SELECT count(*) FROM {self._table(table)}")  # nosec B608  # checked schema, constant names
                else:
                    cursor.execute(f"SELECT count(*) FROM {self._table(table)} WHERE connection_id = %s",  # nosec B608  # checked schema, constant names
                                   (connection_id,))
                result[table] = cursor.fetchone()[0]
        return result

    # -- writing -------------------------------------------------------------------------------
    def apply(self, connection_id: str, orders: Iterable[Order], captures: Iterable[Capture],
              recorded_at: Optional[datetime] = None) -> AppliedChanges:
        """Write one sync's orders and captures, history rows and cursors, in one transaction."""
        changes = AppliedChanges()
        self._refuse_writing()
        with self.writer(connection_id, recorded_at) as writer:
            changes.merge(writer.write_orders(list(orders)))
            changes.merge(writer.write_captures(list(captures)))
        return changes

    @contextmanager
    def writer(self, connection_id: str, recorded_at: Optional[datetime] = None,
               beside_threads: bool = False) -> Iterator[PostgisStoreWriter]:
        """A writer of one sync, page by page: one transaction, committed when the block ends, rolled back on
        any exception. (``beside_threads`` is the GeoPackage store's; the database works outside Python's
        lock here, so it changes nothing.)"""
        self._refuse_writing()
        with self._connection() as db:
            writer = PostgisStoreWriter(self, db, connection_id, _utc(recorded_at) or datetime.now(timezone.utc))
            try:
                yield writer
                writer.finish()
            except BaseException:
                db.rollback()
                raise
            db.commit()

    def record_sync_error(self, connection_id: str, message: str, at: Optional[datetime] = None) -> None:
        """Remember that a sync failed (orders, captures and cursors stay as they are)."""
        self._refuse_writing()
        with self._transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {self._table(SYNC_TABLE)} (connection_id, last_attempt_at, last_error) "  # nosec B608  # checked schema, constant names
                f"VALUES (%s, %s, %s) ON CONFLICT (connection_id) DO UPDATE SET "
                f"last_attempt_at = excluded.last_attempt_at, last_error = excluded.last_error",
                (connection_id, _utc(at) or datetime.now(timezone.utc), _text(message)))

    def forget_connection(self, connection_id: str) -> None:
        """Remove every row of a connection — for the whole team: a desktop that only drops its own
        connection must not call this on a shared store."""
        with self._transaction() as cursor:
            for table in (ORDERS_TABLE, CAPTURES_TABLE, HISTORY_TABLE, SYNC_TABLE, PLACEMENTS_TABLE):
                cursor.execute(f"DELETE FROM {self._table(table)} WHERE connection_id = %s",  # nosec B608  # checked schema, constant names
                               (connection_id,))

    def _upsert(self, cursor, table: str, key: str, columns, rows: list) -> None:
        """Insert or update ``rows``: lists of WKB, connection id, key, then ``columns`` in order.

        Many rows (a first sync's pages) go through ``COPY`` into a temporary table and one set-based
        ``INSERT … SELECT … ON CONFLICT``: the server parses one statement instead of a ``VALUES`` list of
        thousands of parameters, and the client encodes the rows once instead of ``mogrify``ing each."""
        if not rows:
            return
        # One statement may not update a row twice: the last of equal keys wins, as it would in sequence.
        rows = list({row[2]: row for row in rows}.values())
        names = [name for name, _ in columns]
        updates = ", ".join(f"{name} = excluded.{name}" for name in ["geom", *names])
        target = f"{self._table(table)} (geom, connection_id, {key}, {', '.join(names)})"
        conflict = f"ON CONFLICT (connection_id, {key}) DO UPDATE SET {updates}"  # nosec B608  # constant names
        if len(rows) < COPY_ROWS or not self._staged(cursor, table, key, names):
            template = f"(ST_GeomFromWKB(%s, {WGS84}), %s, %s, {', '.join(['%s'] * len(names))})"
            _driver().extras.execute_values(
                cursor, f"INSERT INTO {target} VALUES %s {conflict}",  # nosec B608  # checked schema, constant names
                rows, template=template, page_size=PAGE_ROWS)
            return
        staging = f"tasking_staged_{table}"
        # A page at a time (at most a few thousand rows), so the text is built whole.
        cursor.copy_expert(f"COPY {staging} FROM STDIN", io.StringIO("".join(map(_copy_line, rows))), size=COPY_BYTES)
        cursor.execute(f"INSERT INTO {target} SELECT ST_GeomFromWKB(wkb, {WGS84}), connection_id, {key}, "  # nosec B608  # checked schema, constant names
                       f"{', '.join(names)} FROM {staging} {conflict}")

    def _staged(self, cursor, table: str, key: str, names: list) -> bool:
        """An empty temporary table ``tasking_staged_<table>`` for this transaction's ``COPY``: the table's own
        column types, the geometry as WKB; dropped at the commit. False when this user may not create temporary
        tables (a database that revoked TEMP): the rows then go the slower way, nothing lost."""
        if self._no_staging:
            return False
        staging = f"tasking_staged_{table}"
        try:
            cursor.execute("SAVEPOINT tasking_staging")
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS SELECT NULL::bytea AS wkb, "  # nosec B608  # checked schema, constant names
                           f"connection_id, {key}, {', '.join(names)} FROM {self._table(table)} WITH NO DATA")
            cursor.execute(f"TRUNCATE {staging}")
            cursor.execute("RELEASE SAVEPOINT tasking_staging")
        except _driver().Error as error:
            cursor.execute("ROLLBACK TO SAVEPOINT tasking_staging")
            logger.info("No temporary tables in the shared store (%s); writing rows without COPY", error)
            self._no_staging = True
            return False
        return True

    def _rows(self, cursor, table: str, key: str, connection_id: str, ids: list, columns: list) -> dict:
        if not ids:
            return {}
        cursor.execute(f"SELECT {key}, ST_AsBinary(geom, 'NDR'), {', '.join(columns)} FROM {self._table(table)} "  # nosec B608  # checked schema, constant names
                       f"WHERE connection_id = %s AND {key} = ANY(%s)", (connection_id, list(dict.fromkeys(ids))))
        return {row[0]: [_read(v) for v in row[1:]] for row in cursor.fetchall()}

    # -- one syncer per connection ------------------------------------------------------------------
    def _sync_lock_key(self, connection_id: str) -> tuple:
        return SYNC_LOCK_CLASS, lock_key(f"{self.schema}/{connection_id}")

    @contextmanager
    def sync_lock(self, connection_id: str) -> Iterator[bool]:
        """Try to become the one syncer of ``connection_id``: yields True (held until the block ends) or False
        (someone else syncs it now; do not wait)."""
        db = self.connect(autocommit=True)
        held = False
        try:
            with db.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", self._sync_lock_key(connection_id))
                held = bool(cursor.fetchone()[0])
            yield held
        finally:
            try:
                if held and not db.closed:
                    with db.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", self._sync_lock_key(connection_id))
            finally:
                db.close()  # ends the session, which lets go of its advisory locks in any case

    # -- who keeps the store current -----------------------------------------------------------------
    def service_syncs(self) -> bool:
        """The store's setting: a sync service keeps it current, so desktops read it instead of polling the
        providers (while the service is seen at work: ``team_service.desktop_sync_policy``)."""
        rows = self._query(f"SELECT value FROM {self._table(SETTINGS_TABLE)} WHERE key = %s", (SERVICE_SYNCS_KEY,))  # nosec B608  # checked schema, constant names
        return bool(rows) and rows[0][0] == "true"

    def set_service_syncs(self, on: bool, changed_by: str = "") -> None:
        self._refuse_writing()
        with self._transaction() as cursor:
            cursor.execute(f"INSERT INTO {self._table(SETTINGS_TABLE)} (key, value, changed_by) VALUES (%s, %s, %s) "  # nosec B608  # checked schema, constant names
                           f"ON CONFLICT (key) DO UPDATE SET value = excluded.value, changed_at = now(), "
                           f"changed_by = excluded.changed_by", (SERVICE_SYNCS_KEY, "true" if on else "false",
                                                                 _text(changed_by)))

    def record_syncer_round(self, connection_id: str, syncer: str, host: str, interval_s: float,
                            error: str = "", at: Optional[datetime] = None) -> None:
        """A syncer's heartbeat: it went over ``connection_id`` now (``error``: and failed)."""
        with self._transaction() as cursor:
            cursor.execute(f"INSERT INTO {self._table(SYNCERS_TABLE)} (connection_id, syncer, host, interval_s, "  # nosec B608  # checked schema, constant names
                           f"last_round_at, last_error) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (connection_id, "
                           f"syncer) DO UPDATE SET host = excluded.host, interval_s = excluded.interval_s, "
                           f"last_round_at = excluded.last_round_at, last_error = excluded.last_error",
                           (connection_id, _text(syncer), _text(host), interval_s,
                            _utc(at) or datetime.now(timezone.utc), _text(error)))

    def syncers(self, connection_id: str) -> list:
        """(syncer, host, last round at, interval s, last error) of those who sync ``connection_id``, latest first."""
        return [(r[0], r[1], parse_stored_time(r[2]), r[3], r[4] or "") for r in self._query(
            f"SELECT syncer, host, last_round_at, interval_s, last_error FROM {self._table(SYNCERS_TABLE)} "  # nosec B608  # checked schema, constant names
            f"WHERE connection_id = %s ORDER BY last_round_at DESC", (connection_id,))]

    # -- live updates ---------------------------------------------------------------------------------
    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel on which applied syncs of this store are announced."""
        return f"{self.schema}_synced"

    def notify_synced(self, connection_id: str, **details) -> None:
        """Tell every listener (open docks) that a sync of ``connection_id`` was applied."""
        payload = json.dumps({"connection_id": connection_id, **details}, default=str)
        with self._transaction() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", (self.channel, payload[:7900]))  # NOTIFY's limit: 8000 B

    def listen(self) -> SyncListener:
        """A listener of this store's applied syncs (close it when done)."""
        return SyncListener(self.connect(autocommit=True), self.channel)

    # -- no duplicate across the team ---------------------------------------------------------------
    def claim_placement(self, connection_id: str, draft_reference: str, aoi_geometry, placed_by: str,
                        aoi_index: Optional[int] = None) -> PlacementClaim:
        """Record, before its request leaves, that this draft's AOI is being placed. Granted to one placer only;
        any other gets who was first and when."""
        self._refuse_writing()
        key = aoi_key(aoi_geometry)
        for _ in range(3):  # a claim released between the two statements: try again
            with self._transaction() as cursor:
                # A claim still "placing" long after any request could have ended is a placer that stopped
                # (QGIS closed or crashed mid-send): taken over, as the new holder looks the orders up first.
                cursor.execute(
                    f"INSERT INTO {self._table(PLACEMENTS_TABLE)} AS p (draft_reference, aoi_key, aoi_index, "  # nosec B608  # checked schema, constant names
                    f"connection_id, placed_by, state) VALUES (%s, %s, %s, %s, %s, %s) "
                    f"ON CONFLICT ON CONSTRAINT tasking_placements_once DO UPDATE SET placed_by = excluded.placed_by, "
                    f"placed_at = now(), aoi_index = excluded.aoi_index, connection_id = excluded.connection_id "
                    f"WHERE p.state = %s AND p.placed_at < now() - make_interval(secs => %s) RETURNING placed_at",
                    (draft_reference, key, aoi_index, connection_id, _text(placed_by), PLACING, PLACING,
                     STALE_CLAIM_S))
                mine = cursor.fetchone()
                if mine is not None:
                    return PlacementClaim(True, placed_by, _utc(mine[0]))
                cursor.execute(f"SELECT placed_by, placed_at, state, order_id FROM {self._table(PLACEMENTS_TABLE)} "  # nosec B608  # checked schema, constant names
                               f"WHERE draft_reference = %s AND aoi_key = %s", (draft_reference, key))
                theirs = cursor.fetchone()
                if theirs is not None:
                    return PlacementClaim(False, theirs[0], _utc(theirs[1]), theirs[2], theirs[3])
        raise SharedStoreError("Could not record the placement in the shared store; try again.")

    def placement_done(self, connection_id: str, draft_reference: str, aoi_geometry, order_id: str) -> None:
        """The provider accepted the claimed placement as ``order_id``: mark it placed and the order as placed
        by the claimer (now, or when a sync brings the order)."""
        with self._transaction() as cursor:
            # After a sync writing this connection commits, or before it marks its new orders: either way
            # one of the two sees the other's row (two transactions at once would each miss the other's).
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)",
                           (WRITE_LOCK_CLASS, lock_key(f"{self.schema}/{connection_id}")))
            cursor.execute(f"UPDATE {self._table(PLACEMENTS_TABLE)} SET state = %s, order_id = %s, "  # nosec B608  # checked schema, constant names
                           f"connection_id = %s WHERE draft_reference = %s AND aoi_key = %s",
                           (PLACED, order_id, connection_id, draft_reference, aoi_key(aoi_geometry)))
            self._mark_placers(cursor, connection_id, [order_id])

    def release_placement(self, draft_reference: str, aoi_geometry) -> None:
        """The claimed placement certainly made no order (the provider refused it): another try may claim it."""
        with self._transaction() as cursor:
            cursor.execute(f"DELETE FROM {self._table(PLACEMENTS_TABLE)} WHERE draft_reference = %s "  # nosec B608  # checked schema, constant names
                           f"AND aoi_key = %s AND state = %s", (draft_reference, aoi_key(aoi_geometry), PLACING))

    def placed_by(self, connection_id: str) -> dict:
        """order id -> (user name, placed at) of the connection's orders placed through a shared store."""
        return {r[0]: (r[1], parse_stored_time(r[2])) for r in self._query(
            f"SELECT order_id, placed_by, placed_at FROM {self._table(ORDERS_TABLE)} "  # nosec B608  # checked schema, constant names
            f"WHERE connection_id = %s AND placed_by IS NOT NULL", (connection_id,))}

    def _mark_placers(self, cursor, connection_id: str, order_ids: list) -> None:
        if order_ids:
            cursor.execute(f"UPDATE {self._table(ORDERS_TABLE)} o SET placed_by = p.placed_by, "  # nosec B608  # checked schema, constant names
                           f"placed_at = p.placed_at FROM {self._table(PLACEMENTS_TABLE)} p "
                           f"WHERE o.connection_id = %s AND o.order_id = ANY(%s) AND o.placed_by IS NULL "
                           f"AND p.connection_id = o.connection_id AND p.order_id = o.order_id",
                           (connection_id, order_ids))


class SyncListener:
    """LISTENs on a store's channel. ``fileno()`` is the socket to watch (a ``QSocketNotifier`` in a dock, or
    ``select``), so nobody polls the database; ``take()`` returns the announcements that arrived (dicts)."""

    def __init__(self, db, channel: str):
        self._db = db
        with db.cursor() as cursor:
            cursor.execute(f'LISTEN "{channel}"')  # a channel is an identifier, not a value (checked schema)

    def fileno(self) -> int:
        return self._db.fileno()

    def take(self) -> list:
        self._db.poll()
        found = []
        while self._db.notifies:
            notify = self._db.notifies.pop(0)
            try:
                found.append(json.loads(notify.payload))
            except ValueError:
                found.append({"payload": notify.payload})
        return found

    def wait(self, timeout: float) -> list:
        """The announcements that arrive within ``timeout`` seconds (returns at the first)."""
        import select

        found = self.take()
        if not found and select.select([self], [], [], timeout)[0]:
            found = self.take()
        return found

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SyncListener:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_ORDER_STATE_AT = [1 + _ORDER_NAMES.index(name) for name in ("status", "raw_status", "raw_sub_status", "decision",
                                                              "updated_at", "name")]


def _stored_state(row: list) -> StoredOrderState:
    """An order's StoredOrderState from its row as ``_rows`` reads it (as ``_read_order_states`` builds it)."""
    status, raw, raw_sub, decision, updated_at, name = (row[i] for i in _ORDER_STATE_AT)
    return StoredOrderState(_status(status, raw, raw_sub), _decision(decision), parse_stored_time(updated_at),
                            name or "")


class PostgisStoreWriter:
    """One sync's writes, page after page, inside the one transaction of ``PostgisStore.writer``."""

    def __init__(self, store: PostgisStore, db, connection_id: str, recorded_at: datetime):
        self._store = store
        self._db = db
        self._cursor = db.cursor()
        self._locked = False
        self._written: Optional[dict] = None  # a first sync's orders: order id -> row as written (see _begin)
        self.connection_id = connection_id
        self.recorded_at = recorded_at
        self._names: dict = {}
        self._newest_order: Optional[datetime] = None
        self._newest_capture: Optional[datetime] = None
        # Captures of new orders come a page per order (ten or so rows); they are written FLUSH_ROWS at a time
        # (through COPY) instead of one statement per page. Anything that reads captures flushes them first.
        self._unwritten_captures: list = []
        self._unwritten_orders: list = []  # a first sync's orders (see write_orders)
        self._unmarked_orders: list = []  # their ids, for who placed them (_mark_placers), once written

    def _flush_orders(self) -> None:
        if self._unwritten_orders:
            rows, self._unwritten_orders = self._unwritten_orders, []
            self._store._upsert(self._cursor, ORDERS_TABLE, "order_id", ORDER_COLUMNS, rows)
        if self._unmarked_orders:
            ids, self._unmarked_orders = self._unmarked_orders, []
            self._store._mark_placers(self._cursor, self.connection_id, ids)

    def _flush_captures(self) -> None:
        if self._unwritten_captures:
            rows, self._unwritten_captures = self._unwritten_captures, []
            self._store._upsert(self._cursor, CAPTURES_TABLE, "capture_id", CAPTURE_COLUMNS, rows)

    def _begin(self):
        if not self._locked:
            # Held to the commit: a second writer of this connection waits here, as BEGIN IMMEDIATE makes
            # a second GeoPackage writer wait.
            self._cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (
                WRITE_LOCK_CLASS, lock_key(f"{self._store.schema}/{self.connection_id}")))
            # A connection with no orders yet (its first sync): the only rows this transaction can read back
            # are those it wrote, so it keeps them instead of asking for them page after page — on tables the
            # planner last saw empty, each such read took every row of the connection through the index
            # (20,000 orders: 3.5 s of 16 s).
            self._cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self._store._table(ORDERS_TABLE)} "  # nosec B608  # checked schema, constant names
                                 f"WHERE connection_id = %s)", (self.connection_id,))
            self._written = None if self._cursor.fetchone()[0] else {}
            self._locked = True
        return self._cursor

    def _previous_orders(self, ids: list) -> tuple:
        """(order id -> StoredOrderState, order id -> stored row) of those of ``ids`` the store holds."""
        cursor = self._begin()
        if self._written is not None:
            rows = {i: self._written[i] for i in ids if i in self._written}
            return {i: _stored_state(row) for i, row in rows.items()}, rows
        states: dict = {}
        self._store._read_order_states(cursor, self.connection_id, ids, states)
        return states, self._store._rows(cursor, ORDERS_TABLE, "order_id", self.connection_id, ids, _ORDER_NAMES)

    def order_states(self, order_ids: Iterable[str]) -> dict:
        ids = list(dict.fromkeys(order_ids))
        cursor = self._begin()
        if self._written is not None:
            return {i: _stored_state(self._written[i]) for i in ids if i in self._written}
        found: dict = {}
        self._store._read_order_states(cursor, self.connection_id, ids, found)
        return found

    def write_orders(self, orders: list) -> AppliedChanges:
        """Write these orders (and the history rows of their status changes); what changed."""
        changes = AppliedChanges()
        if not orders:
            return changes
        cursor = self._begin()
        store, connection_id, recorded_at = self._store, self.connection_id, self.recorded_at
        ids = list(dict.fromkeys(o.id for o in orders))
        previous_states, previous_rows = self._previous_orders(ids)
        order_rows = []
        for order in orders:
            try:
                values = _pg_row(_checked_row(_order_values(order)), _IS_TERMINAL)
            except _RECORD_ERRORS as error:  # one record the store cannot take: skipped, named, the rest kept
                changes.skipped.append(_skipped("order", order, error))
                continue
            self._names[order.id] = order.name
            self._newest_order = _newer(self._newest_order, order.updated_at)
            if previous_rows.get(order.id) == values:
                changes.orders_unchanged += 1
                continue
            order_rows.append([values[0], connection_id, order.id, *values[1:]])
            previous = previous_states.get(order.id)
            changes.orders.append(OrderChange(order, previous))
            if previous is None or (previous.status.code, previous.status.raw, previous.status.raw_sub) != (
                    order.status.code, order.status.raw, order.status.raw_sub):
                changes.history.append(StatusChange(connection_id, order.id, order.status,
                                                    previous.status if previous else None,
                                                    _utc(order.updated_at), recorded_at))
        new_ids = [c.order.id for c in changes.orders if c.previous is None]
        if self._written is not None:
            # A first sync: its reads are answered from these rows, so they are written FLUSH_ROWS at a time.
            for row in order_rows:
                self._written[row[2]] = [row[0], *row[3:]]  # as _rows reads it back
            self._unwritten_orders.extend(order_rows)
            self._unmarked_orders.extend(new_ids)
        else:
            store._upsert(cursor, ORDERS_TABLE, "order_id", ORDER_COLUMNS, order_rows)
            store._mark_placers(cursor, connection_id, new_ids)
        renamed = [c.order.id for c in changes.orders if c.previous is not None and c.previous.name != c.order.name]
        if renamed or len(self._unwritten_orders) >= FLUSH_ROWS:
            self._flush_orders()
        if renamed:
            self._flush_captures()  # the captures' order names are renamed in the database
            cursor.execute(f"UPDATE {store._table(CAPTURES_TABLE)} c SET order_name = o.name "  # nosec B608  # checked schema, constant names
                           f"FROM {store._table(ORDERS_TABLE)} o WHERE o.connection_id = c.connection_id "
                           f"AND o.order_id = c.order_id AND c.connection_id = %s AND c.order_id = ANY(%s)",
                           (connection_id, renamed))
        if changes.history:
            _driver().extras.execute_values(
                cursor,
                f"INSERT INTO {store._table(HISTORY_TABLE)} (connection_id, order_id, changed_at, recorded_at, "  # nosec B608  # checked schema, constant names
                f"status, raw_status, raw_sub_status, previous_status, previous_raw_status, "
                f"previous_raw_sub_status) VALUES %s",
                [(h.connection_id, h.order_id, gpkg_datetime(h.changed_at), gpkg_datetime(recorded_at),
                  h.status.code.value, _text(h.status.raw), _text(h.status.raw_sub),
                  h.previous.code.value if h.previous else None, _text(h.previous.raw) if h.previous else None,
                  _text(h.previous.raw_sub) if h.previous else None) for h in changes.history],
                page_size=PAGE_ROWS)
        return changes

    def write_captures(self, captures: list, of_new_orders: bool = False) -> AppliedChanges:
        """Write these captures (their orders written before, in this transaction or an earlier one)."""
        changes = AppliedChanges()
        if not captures:
            return changes
        cursor = self._begin()
        store, connection_id, names = self._store, self.connection_id, self._names
        missing = list({c.order_id for c in captures if c.order_id not in names})
        if missing:
            self._flush_orders()
            cursor.execute(f"SELECT order_id, name FROM {store._table(ORDERS_TABLE)} WHERE connection_id = %s "  # nosec B608  # checked schema, constant names
                           f"AND order_id = ANY(%s)", (connection_id, missing))
            names.update(cursor.fetchall())
        if not of_new_orders:
            self._flush_orders()
            self._flush_captures()  # the rows read next must include those not written yet
        previous_captures = {} if of_new_orders else store._rows(
            cursor, CAPTURES_TABLE, "capture_id", connection_id, [c.id for c in captures], _CAPTURE_NAMES)
        capture_rows = []
        newest = self._newest_capture
        for capture in captures:
            try:
                values = _pg_row(_checked_row(_capture_values(capture, names.get(capture.order_id) or "")))
            except _RECORD_ERRORS as error:
                changes.skipped.append(_skipped("capture", capture, error))
                continue
            if capture.updated_at is not None:
                newest = _newer(newest, capture.updated_at)
            old = previous_captures.get(capture.id)
            if old == values:
                changes.captures_unchanged += 1
                continue
            capture_rows.append([values[0], connection_id, capture.id, *values[1:]])
            changes.captures.append(CaptureChange(
                capture, values[_CAPTURE_ORDER_NAME], old[_CAPTURE_STATUS] if old else None,
                old[_CAPTURE_ASSESSMENT] if old else None, old is None))
        self._newest_capture = newest
        if of_new_orders:
            self._unwritten_captures.extend(capture_rows)
            if len(self._unwritten_captures) >= FLUSH_ROWS:
                self._flush_captures()
        else:
            store._upsert(cursor, CAPTURES_TABLE, "capture_id", CAPTURE_COLUMNS, capture_rows)
        return changes

    def finish(self) -> None:
        """The cursors, last in the transaction (a sync with no news writes only these)."""
        cursor = self._begin()
        self._flush_orders()
        self._flush_captures()
        table = self._store._table(SYNC_TABLE)
        cursor.execute(f"SELECT orders_cursor, captures_cursor FROM {table} WHERE connection_id = %s",  # nosec B608  # checked schema, constant names
                       (self.connection_id,))
        row = cursor.fetchone()
        old_orders = parse_stored_time(row[0]) if row else None
        old_captures = parse_stored_time(row[1]) if row else None
        orders_cursor = max(filter(None, (old_orders, self._newest_order)), default=None)
        captures_cursor = max(filter(None, (old_captures, self._newest_capture)), default=None)
        cursor.execute(
            f"INSERT INTO {table} (connection_id, orders_cursor, captures_cursor, last_attempt_at, "  # nosec B608  # checked schema, constant names
            f"last_success_at, last_error) VALUES (%s, %s, %s, %s, %s, '') ON CONFLICT (connection_id) DO UPDATE SET "
            f"orders_cursor = excluded.orders_cursor, captures_cursor = excluded.captures_cursor, "
            f"last_attempt_at = excluded.last_attempt_at, last_success_at = excluded.last_success_at, "
            f"last_error = ''",
            (self.connection_id, cursor_text(orders_cursor), cursor_text(captures_cursor), self.recorded_at,
             self.recorded_at))


__all__ = ["MIGRATIONS", "PlacementClaim", "PostgisStore", "PostgisStoreWriter", "SharedStoreError", "SyncListener",
           "aoi_key",
           "default_user_name", "lock_key", "redacted"]
