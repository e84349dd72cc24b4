"""The one interface every tasking provider fills (UP42, Planet, STAPI, the sandbox).

Providers are plain Python: no Qt, no QGIS. They take a ``Connection``, the credentials
read from the QGIS authentication database by the caller, and a ``TaskingSession`` from
``plugin.http``; they return the dataclasses of ``plugin.model``. Everything here may block
on the network, so the plugin calls providers only from background tasks.

A capability a provider lacks (Planet has no feasibility study, UP42 no order edit) raises
``NotSupported`` with a sentence naming the provider, never an AttributeError.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Optional

from ..http import ProviderError, TaskingSession
from ..model import (
    Asset,
    Connection,
    Estimate,
    FeasibilityOption,
    FeasibilityStudy,
    Order,
    OrderDraft,
    Product,
    Quotation,
)

# The placement path's parts, imported from here by older callers.
from .placement import (  # noqa: F401
    PlacementClaims,
    PlacementProgress,
    PlacementProgressCallback,
    placement_indexes,
)

logger = logging.getLogger(__name__)

DOWNLOAD_CHUNK_BYTES = 1 << 16

# (bytes done, bytes total or None) -> None
Progress = Callable[[int, Optional[int]], None]


class NotSupported(ProviderError):  # noqa: N818 - reads as a sentence at the raise site
    """The provider has no such operation (or not in the order's current state)."""


class Delivery:
    """What a provider delivered for an order: footprints and downloadable assets."""

    def __init__(self, order_id: str, footprint: Optional[dict], assets: list,
                 remaining: Optional[dict] = None, covered_km2: Optional[float] = None,
                 covered_percent: Optional[float] = None):
        self.order_id = order_id
        self.footprint = footprint
        self.assets = assets
        self.remaining = remaining
        self.covered_km2 = covered_km2
        self.covered_percent = covered_percent


class TaskingProvider:
    """Base class: shared plumbing and the default 'not supported' answers."""

    #: Human name of the provider's API, used in messages.
    api_name = "provider"

    def __init__(self, connection: Connection, credentials, session: TaskingSession):
        self.connection = connection
        self.credentials = credentials
        self.session = session

    # -- identity ---------------------------------------------------------------------------
    def check(self) -> str:
        """One cheap authenticated request; a sentence saying who the provider thinks we are."""
        raise NotImplementedError

    # -- catalogue --------------------------------------------------------------------------
    def products(self) -> list:
        raise NotImplementedError

    def order_schema(self, product: Product) -> dict:
        raise NotImplementedError

    # -- ordering ---------------------------------------------------------------------------
    def estimate(self, draft: OrderDraft) -> Estimate:
        raise self._unsupported("price estimates")

    def place(self, draft: OrderDraft, only: Optional[Iterable[int]] = None,
              progress: Optional[PlacementProgressCallback] = None,
              claims: Optional[PlacementClaims] = None) -> list:
        """One order per AOI of the draft: a ``PlacementOutcome`` per AOI index, in order.

        Every provider places through ``placement.PlacementPath`` (the one path: look up, claim, send, read
        back once after an unclear answer) and supplies only its own steps.
        ``only`` limits the attempt to those AOI indexes ("Retry failed"). A provider must
        never create a second order for an AOI that already has one: requests that create
        orders are not retried blindly, and an unclear answer is reconciled by reading back
        the orders tagged or named with ``draft.client_reference``. ``claims``: team mode's
        "claim before send" (``placement.PlacementClaims``).

        ``progress(done, total)`` is called on the calling thread as outcomes become known
        (``total``: the AOIs attempted); it may jump (a batch API answers for all AOIs at once)
        and ends with ``(total, total)`` when ``place`` returns normally (see ``PlacementProgress``).

        Inside ``http.cancellable(...)``, a cancelled placement sends no new request: AOIs not
        yet sent get an outcome saying so (or ``RequestCancelled`` is raised when nothing could
        be decided), and orders already created are returned as usual.
        """
        raise NotImplementedError

    def order_warnings(self, product, params: Mapping, now: datetime) -> list:
        """Sentences on rules of the provider that ``params`` break but that do not stop an order (the user may
        place it anyway), judged at ``now``; none by default. Pure: no request is sent."""
        return []

    def placed_orders(self, draft: OrderDraft) -> dict:
        """Orders that already exist for this draft, by AOI index, found by ``client_reference``.

        Used after a crash or a lost answer: before placing again, the plugin asks which AOIs
        the provider already has orders for, and places only the others.
        """
        raise NotImplementedError

    # -- reading ----------------------------------------------------------------------------
    def orders(self, since: Optional[datetime] = None) -> list:
        """Orders changed since ``since`` (all when None), newest change first."""
        raise NotImplementedError

    def iter_order_pages(self, since: Optional[datetime] = None) -> Iterator[list]:
        """``orders(since)`` a page at a time (lists of Order), so a sync can store each page as it arrives.
        The default is one page holding all of ``orders``; providers that page override it."""
        orders = self.orders(since=since)
        if orders:
            yield orders

    def order(self, order_id: str) -> Order:
        raise NotImplementedError

    def captures(self, order_ids: Iterable[str], since: Optional[datetime] = None) -> list:
        """Captures of those orders (changed since ``since`` when given). Providers without
        captures answer an empty list."""
        return []

    def iter_capture_pages(self, order_ids: Iterable[str], since: Optional[datetime] = None) -> Iterator[list]:
        """``captures(order_ids, since)`` a page at a time (lists of Capture); a capture is in one page only.
        The default is one page holding all of ``captures``; providers that page override it."""
        captures = self.captures(order_ids, since=since)
        if captures:
            yield captures

    def capture_page_streams(self, order_ids: Iterable[str], since: Optional[datetime] = None) -> list:
        """``iter_capture_pages`` as page iterators that depend on nothing but themselves (a provider that
        reads captures in several listings gives one per listing), so a sync may read them side by side.
        Together they give what ``iter_capture_pages`` gives; nothing is read before one is iterated."""
        return [self.iter_capture_pages(order_ids, since=since)]

    def final_orders_to_follow(self, unpublished: Callable[[], Mapping], now: datetime) -> list:
        """Of the orders in a final status whose stored captures are not all published, the ids whose captures
        a sync at ``now`` reads again. ``unpublished()`` reads them from the store (order id -> what the store
        knows of it: ``status``, ``updated_at``); call it only when following is due. By default a final status
        is final: nothing is followed."""
        return []

    # -- changing ---------------------------------------------------------------------------
    def can_cancel(self, order: Order) -> bool:
        return False

    def cancel(self, order: Order) -> Order:
        raise self._unsupported("cancelling orders")

    def editable_fields(self, order: Order) -> frozenset:
        """The fields ``edit`` accepts for this order in its current state (empty: none)."""
        return frozenset()

    def edit(self, order: Order, fields: dict) -> Order:
        raise self._unsupported("editing orders")

    # -- decisions --------------------------------------------------------------------------
    def feasibility(self, order: Order) -> Optional[FeasibilityStudy]:
        return None

    def choose_option(self, study: FeasibilityStudy, option: FeasibilityOption) -> FeasibilityStudy:
        raise self._unsupported("feasibility studies")

    def quotation(self, order: Order) -> Optional[Quotation]:
        return None

    def decide(self, quotation: Quotation, accept: bool) -> Quotation:
        raise self._unsupported("price quotations")

    # -- delivery ---------------------------------------------------------------------------
    def deliveries(self, order: Order) -> list:
        return []

    def download(self, asset: Asset, folder, progress: Optional[Progress] = None,
                 cancelled: Optional[Callable[[], bool]] = None) -> Path:
        """Stream an asset into ``folder`` under a name of its own; the file appears only when complete.

        The body goes to a fresh hidden file created here (never an existing path: a planted link is not
        followed), which is then linked under the first free name (``scene.tif``, ``scene (2).tif``...):
        no download overwrites another file. Any failure leaves nothing behind."""
        url = self.asset_download_url(asset)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = safe_file_name(asset.title or asset.id, asset.media_type)
        what = asset.title or asset.id

        def step(done: int, total: Optional[int]) -> None:
            if cancelled and cancelled():
                raise ProviderError(self.connection.name, f"Download of {what} cancelled.")
            if progress:
                progress(done, total)

        partial = _fresh_file(folder, name)
        try:
            with open(partial, "wb") as handle:
                self.session.download_to(url, handle, what=what, headers=self.download_headers(url), on_chunk=step)
            return _publish(partial, folder, name)
        finally:
            partial.unlink(missing_ok=True)

    def asset_download_url(self, asset: Asset) -> str:
        return asset.url

    def download_headers(self, url: str) -> dict:
        return {}

    # -- helpers for subclasses -------------------------------------------------------------
    def _unsupported(self, what: str) -> NotSupported:
        return NotSupported(self.connection.name, f"{self.api_name} ({self.connection.name}) does not offer {what}.")


_MEDIA_SUFFIXES = {"application/zip": ".zip", "application/json": ".json", "image/png": ".png",
                   "image/jpeg": ".jpg"}


# Names Windows keeps for devices, with any extension ("CON.tif" opens the console).
_WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
                             | {f"{port}{n}" for port in ("COM", "LPT") for n in "0123456789¹²³"})


def safe_file_name(title: str, media_type: str = "") -> str:
    """A file name that is safe on every OS, keeping the provider's title recognisable: ASCII letters,
    digits, ``._ -`` only, no leading or trailing dots and spaces, no Windows device name."""
    name = re.sub(r"[^A-Za-z0-9._ -]+", "_", title).strip(" .") or "asset"
    name = name[:120].rstrip(" .")
    media_type = media_type.lower()
    suffix = ".tif" if media_type.startswith("image/tiff") else _MEDIA_SUFFIXES.get(media_type, "")
    if suffix and not name.lower().endswith(suffix):
        name += suffix
    if name.split(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        name = "_" + name
    return name


_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def _fresh_file(folder: Path, name: str) -> Path:
    """A new, empty hidden file in ``folder`` (O_CREAT|O_EXCL: an existing file or link there is never opened)."""
    for _attempt in range(100):
        path = folder / f".{name}.{secrets.token_hex(6)}.part"
        try:
            os.close(os.open(path, _CREATE_NEW, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"could not create a temporary file in {folder}")


def _publish(partial: Path, folder: Path, name: str) -> Path:
    """``partial`` under the first free name in ``folder``: ``name``, then ``stem (2).ext``... — never
    replacing a file or link already there."""
    stem, dot, extension = name.partition(".")
    for number in range(1, 1000):
        target = folder / (name if number == 1 else f"{stem} ({number}){dot}{extension}")
        if os.path.lexists(target):
            continue
        try:
            os.link(partial, target)  # fails if the name was taken meanwhile, unlike a rename
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: rename, the name being free a moment ago
            os.replace(partial, target)
        return target
    raise FileExistsError(f"no free name for {name} in {folder}")
