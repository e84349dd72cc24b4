"""The plugin's domain model: plain dataclasses, no Qt, no QGIS, no I/O.

Every provider maps its own wire format onto these classes, so the rest of the plugin
(dialogs, the monitor, the store, Processing) never sees a provider's dialect. Statuses
are normalised onto the STAPI order status codes, and the provider's raw status and
sub-status always travel beside the normalised one: the user recognises the words their
provider's console uses, and nothing the provider said is lost in translation.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Optional


class ConnectionKind(str, enum.Enum):
    SANDBOX = "sandbox"
    UP42 = "up42"
    PLANET = "planet"
    STAPI = "stapi"

    @property
    def label(self) -> str:
        return {"sandbox": "Sandbox (offline simulator)", "up42": "UP42", "planet": "Planet", "stapi": "STAPI"}[
            self.value
        ]


@dataclass(frozen=True)
class Credentials:
    """A connection's secret, read from the QGIS authentication database (settings.read_credentials) and held in
    memory only: user name and password for UP42, the API key as user name for Planet."""

    username: str
    password: str = field(default="", repr=False)

    def __repr__(self) -> str:  # never show the secret, even in a traceback's locals
        return f"Credentials(username=<{len(self.username)} chars>, password=<hidden>)"


DEFAULT_BASE_URLS = {
    ConnectionKind.UP42: "https://api.up42.com",
    ConnectionKind.PLANET: "https://api.planet.com/tasking/v2",
    ConnectionKind.STAPI: "",
    ConnectionKind.SANDBOX: "",
}


@dataclass
class Connection:
    """Where orders go. Holds no secret: ``authcfg`` is the id of a QGIS authentication config."""

    id: str
    name: str
    kind: ConnectionKind
    base_url: str = ""
    authcfg: str = ""
    # UP42 authenticates against a separate host; empty means the provider's default.
    auth_url: str = ""

    def __post_init__(self):
        self.kind = ConnectionKind(self.kind)


class OrderStatus(str, enum.Enum):
    """The normalised order status vocabulary: the STAPI order status codes."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    TASKED = "tasked"
    PROCESSING = "processing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    EXPIRED = "expired"
    HELD = "held"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_ORDER_STATUSES


TERMINAL_ORDER_STATUSES = frozenset(
    {OrderStatus.REJECTED, OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.FAILED, OrderStatus.EXPIRED}
)


@dataclass(frozen=True)
class Status:
    """A normalised status with the provider's own words kept beside it."""

    code: OrderStatus
    raw: str
    raw_sub: Optional[str] = None

    @property
    def is_terminal(self) -> bool:
        return self.code.is_terminal

    def describe(self) -> str:
        raw = f"{self.raw} / {self.raw_sub}" if self.raw_sub else self.raw
        return f"{self.code.value} ({raw})"


class Decision(str, enum.Enum):
    """What an order waits for from the user, if anything."""

    NONE = "none"
    FEASIBILITY = "feasibility"
    QUOTATION = "quotation"


@dataclass
class Product:
    id: str
    title: str
    provider_name: str
    collection: str = ""
    collection_title: str = ""
    description: str = ""
    # GeoJSON geometry type names the product accepts for an AOI.
    geometry_types: tuple = ("Polygon",)
    needs_feasibility: bool = False
    needs_quotation: bool = False
    api: str = ""
    # Provider-specific extras (e.g. Planet order kind, UP42 integrations) kept as given.
    extra: dict = field(default_factory=dict)


@dataclass
class Aoi:
    """One geometry of a draft, in EPSG:4326 GeoJSON."""

    geometry: dict
    label: str = ""
    area_km2: Optional[float] = None


@dataclass
class OrderDraft:
    """What the user is about to order: one order per AOI once placed.

    ``client_reference`` is unique per draft; providers tag or name orders with it so a
    placement whose answer was lost can be reconciled instead of repeated.
    """

    connection_id: str
    product_id: str
    name: str
    params: dict
    aois: list
    client_reference: str
    tags: tuple = ()

    def order_name(self, index: int) -> str:
        """``<name> 1``, ``<name> 2``, … when there are several AOIs."""
        return f"{self.name} {index + 1}" if len(self.aois) > 1 else self.name


@dataclass
class Order:
    id: str
    connection_id: str
    name: str
    status: Status
    product_id: str = ""
    geometry: Optional[dict] = None
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None
    acquisition_start: Optional[datetime] = None
    acquisition_end: Optional[datetime] = None
    decision: Decision = Decision.NONE
    params: dict = field(default_factory=dict)
    # Which API the order lives in ("up42", "planet", "stapi"): one connection (the sandbox)
    # may speak several.
    api: str = ""
    # The provider's order as it was read, for the details pane and for anything not modelled.
    raw: dict = field(default_factory=dict)
    # ``raw`` exactly as the provider sent it (JSON text), when it was read from a listing: the store keeps
    # this text instead of encoding ``raw`` again. Empty when unknown; whoever changes ``raw`` empties it.
    raw_json: str = field(default="", repr=False, compare=False)


@dataclass
class Capture:
    id: str
    order_id: str
    status: str
    assessment: Optional[str] = None
    # A fraction, 0–1 (Planet's unit), not a percentage.
    cloud_cover: Optional[float] = None
    footprint: Optional[dict] = None
    acquired_at: Optional[datetime] = None
    published_at: Optional[datetime] = None
    exclusivity_days: Optional[int] = None
    updated_at: Optional[datetime] = None
    raw: dict = field(default_factory=dict)
    # As Order.raw_json: ``raw`` as the provider sent it, or empty.
    raw_json: str = field(default="", repr=False, compare=False)

    @property
    def exclusivity_end(self) -> Optional[datetime]:
        """Acquisition time plus the order's exclusivity days (acquired_time is always UTC)."""
        if self.acquired_at is None or self.exclusivity_days is None:
            return None
        return self.acquired_at + timedelta(days=self.exclusivity_days)


@dataclass
class FeasibilityOption:
    id: str
    description: str
    details: dict = field(default_factory=dict)


@dataclass
class FeasibilityStudy:
    id: str
    order_id: str
    options: list
    decision: str = "NOT_DECIDED"
    chosen_option_id: Optional[str] = None


@dataclass
class Quotation:
    id: str
    order_id: str
    price: float
    unit: str = "credits"
    decision: str = "NOT_DECIDED"


@dataclass
class Estimate:
    """Price of a would-be order, per AOI and in total."""

    total: float
    unit: str
    per_aoi: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)


@dataclass
class PlacementOutcome:
    """What happened to one AOI of a placement: an order, or the reason it has none.

    ``unclear``: the provider did not say whether the order was created and its orders could not be read
    back — the next placement looks them up before sending. ``held_elsewhere``: not sent, because another
    placer claimed the AOI first (team mode; ``error`` says who).
    """

    aoi_index: int
    order: Optional[Order] = None
    error: Optional[str] = None
    unclear: bool = False
    held_elsewhere: bool = False

    @property
    def placed(self) -> bool:
        return self.order is not None


@dataclass
class Asset:
    id: str
    order_id: str
    title: str
    url: str = ""
    size: Optional[int] = None
    media_type: str = ""
    extra: Any = None
