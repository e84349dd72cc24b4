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
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

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

logger = logging.getLogger(__name__)

DOWNLOAD_CHUNK_BYTES = 1 << 16

# (bytes done, bytes total or None) -> None
Progress = Callable[[int, Optional[int]], None]
# (AOIs whose outcome is known, AOIs in this placement) -> None
PlacementProgressCallback = Callable[[int, int], None]


class NotSupported(ProviderError):  # noqa: N818 - reads as a sentence at the raise site
    """The provider has no such operation (or not in the order's current state)."""


def placement_indexes(draft, only: Optional[Iterable[int]] = None) -> list:
    """The AOI indexes ``place(draft, only)`` works on, sorted and once each; an index the draft does not have
    is a programming error (ValueError), not something to skip quietly."""
    count = len(draft.aois)
    wanted = sorted(set(range(count) if only is None else only))
    bad = [i for i in wanted if not isinstance(i, int) or not 0 <= i < count]
    if bad:
        raise ValueError(f"AOI indexes {bad} are not in this draft of {count} AOIs")
    return wanted


class PlacementProgress:
    """Counts the AOIs of a placement whose outcome is known and tells ``callback(done, total)``.

    Providers call ``advance`` from the thread that called ``place`` (so a Qt task may forward it as
    it is) and ``finish`` at the end, which makes the last report ``(total, total)``. A failing
    callback is logged and ignored: a progress bar must never lose the outcome of an order placed.
    """

    def __init__(self, callback: Optional[PlacementProgressCallback], total: int):
        self._callback = callback
        self.total = total
        self.done = 0

    def advance(self, count: int = 1) -> None:
        count = min(count, self.total - self.done)
        if count <= 0:
            return
        self.done += count
        if self._callback is None:
            return
        try:
            self._callback(self.done, self.total)
        except Exception:  # noqa: BLE001 - see the class docstring
            logger.warning("A placement progress callback failed", exc_info=True)

    def finish(self) -> None:
        self.advance(self.total - self.done)


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
              progress: Optional[PlacementProgressCallback] = None) -> list:
        """One order per AOI of the draft: a ``PlacementOutcome`` per AOI index, in order.

        ``only`` limits the attempt to those AOI indexes ("Retry failed"). A provider must
        never create a second order for an AOI that already has one: requests that create
        orders are not retried blindly, and an unclear answer is reconciled by reading back
        the orders tagged or named with ``draft.client_reference``.

        ``progress(done, total)`` is called on the calling thread as outcomes become known
        (``total``: the AOIs attempted); it may jump (a batch API answers for all AOIs at once)
        and ends with ``(total, total)`` when ``place`` returns normally (see ``PlacementProgress``).

        Inside ``http.cancellable(...)``, a cancelled placement sends no new request: AOIs not
        yet sent get an outcome saying so (or ``RequestCancelled`` is raised when nothing could
        be decided), and orders already created are returned as usual.
        """
        raise NotImplementedError

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
        """Stream an asset to ``folder``; a ``.part`` file becomes the real name only when complete."""
        url = self.asset_download_url(asset)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / safe_file_name(asset.title or asset.id, asset.media_type)
        partial = target.with_name(target.name + ".part")
        response = self.session.request("GET", url, expect_json=False, stream=True,
                                        headers=self.download_headers(url))
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        done = 0
        try:
            with open(partial, "wb") as handle:
                for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                    if cancelled and cancelled():
                        raise ProviderError(self.connection.name, f"Download of {asset.title} cancelled.")
                    handle.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            if total is not None and done != total:
                raise ProviderError(self.connection.name, f"The download of {asset.title} stopped after "
                                                          f"{done} of {total} bytes; try again.")
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            response.close()
        return target

    def asset_download_url(self, asset: Asset) -> str:
        return asset.url

    def download_headers(self, url: str) -> dict:
        return {}

    # -- helpers for subclasses -------------------------------------------------------------
    def _unsupported(self, what: str) -> NotSupported:
        return NotSupported(self.connection.name, f"{self.api_name} ({self.connection.name}) does not offer {what}.")


_MEDIA_SUFFIXES = {"application/zip": ".zip", "application/json": ".json", "image/png": ".png",
                   "image/jpeg": ".jpg"}


def safe_file_name(title: str, media_type: str = "") -> str:
    """A file name that is safe on every OS, keeping the provider's title recognisable."""
    name = re.sub(r"[^A-Za-z0-9._ -]+", "_", title).strip(" .") or "asset"
    name = name[:120]
    media_type = media_type.lower()
    suffix = ".tif" if media_type.startswith("image/tiff") else _MEDIA_SUFFIXES.get(media_type, "")
    if suffix and not name.lower().endswith(suffix):
        name += suffix
    return name
