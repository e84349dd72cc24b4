"""Placing through a shared store: each AOI of a draft is placed once across the whole team (pure logic, no Qt).

The providers' one placement path (``providers/placement.PlacementPath``) has a "claim before send" step; this
module fills it from the shared store (``PostgisStore.claim_placement``, unique on draft reference + AOI):

* **Claimed before the path's look-up.** ``place_as_team`` claims every AOI asked for first, then lets the path
  look up the draft's existing orders and send. Claiming after the look-up would leave a gap: a colleague whose
  answer was unclear may release an AOI after this placer looked and found nothing, and both would send. In this
  order, whoever holds a claim looks up *after* getting it, so an order the provider made for an earlier,
  released claim is found, not made twice.
* **Held elsewhere, not sent.** An AOI another analyst — or the same analyst in another QGIS window — claimed
  first is not sent; its outcome (``held_elsewhere``) says "Already placed by anna at 2026-01-05 12:00 UTC" and
  carries her order when the provider already lists it (the team shares one account).
* **Settled.** A placed AOI records its order (which then carries who placed it); an AOI refused before it was
  sent is released at once; an AOI *sent* without an order to show keeps its claim ``CONFIRM_AFTER_S`` longer and
  is looked up again — an order the provider made after the client stopped waiting is found then (the 200-round
  team test with delay faults made 6 duplicates in 400 AOIs without this wait) — and only then released, so a
  retry (anyone's) may claim it again, and looks it up first. If the path ends with an exception,
  the claims of AOIs it was about to send stay (what was sent is unknown; the next placer's look-up decides);
  those it never reached are released.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Dict, Iterable, Optional, Set

from .http import cancellation_requested
from .model import OrderDraft, PlacementOutcome
from .providers.placement import placement_indexes
from .store_postgis import PlacementClaim, SharedStoreError, default_user_name

logger = logging.getLogger(__name__)

# How long an AOI sent without an order to show keeps its claim before it is looked up again and released: a
# provider may still handle a request after the client stopped waiting (the sessions' read timeout is 30 s), and an
# order it makes then must be found before anyone sends that AOI again.
CONFIRM_AFTER_S = 30.0


class StoreClaims:
    """``PlacementClaims`` over a shared store, for one placer and one draft. ``claim_all`` claims ahead of the
    path; the path's ``claim`` then answers from those claims, and ``settle`` records each outcome."""

    def __init__(self, store, placed_by: str):
        self.store = store
        self.placed_by = placed_by
        self.granted: Set[int] = set()
        self.held: Dict[int, PlacementClaim] = {}
        self.asked: Set[int] = set()  # AOIs the path was about to send
        self.settled: Set[int] = set()
        self.unconfirmed: Set[int] = set()  # sent, and no order to show yet (see settle, confirm)

    def claim_all(self, draft: OrderDraft, indexes: Iterable[int]) -> None:
        for index in indexes:
            self._claim(draft, index)

    def _claim(self, draft: OrderDraft, index: int) -> Optional[PlacementClaim]:
        claim = self.store.claim_placement(draft.connection_id, draft.client_reference, draft.aois[index].geometry,
                                           self.placed_by, aoi_index=index)
        if claim.granted:
            self.granted.add(index)
            return None
        self.held[index] = claim
        return claim

    # -- placement.PlacementClaims ---------------------------------------------------------------------
    def claim(self, draft: OrderDraft, index: int) -> Optional[str]:
        """None: this placer sends AOI ``index``; else who holds it, in a sentence."""
        held = self.held.get(index)
        if index not in self.granted and held is None:
            held = self._claim(draft, index)  # an AOI claim_all was not given: claimed now
        if held is not None:
            return held.message()
        self.asked.add(index)
        return None

    def settle(self, draft: OrderDraft, outcome: PlacementOutcome) -> None:
        index = outcome.aoi_index
        if index not in self.granted or index in self.settled:
            return
        if not outcome.placed and index in self.asked:
            # Sent and no order to show: the provider may still make it (a request it handles after the client
            # gave up). The claim stays until place_as_team has looked again (``unconfirmed``).
            self.unconfirmed.add(index)
            return
        geometry = draft.aois[index].geometry
        if outcome.placed:
            self.store.placement_done(draft.connection_id, draft.client_reference, geometry, outcome.order.id)
        else:
            self.store.release_placement(draft.client_reference, geometry)
        self.settled.add(index)
        self.unconfirmed.discard(index)

    def confirm(self, provider, draft: OrderDraft, outcomes: list, after_s: float) -> list:
        """The AOIs sent without an order to show: ``after_s`` later (a request still being handled by the
        provider has then made its order), the draft's orders are looked up once more; an order found is this
        AOI's, the others are released for a retry. Returns ``outcomes`` with the orders found."""
        if not self.unconfirmed:
            return outcomes
        deadline = time.monotonic() + after_s
        while time.monotonic() < deadline and not cancellation_requested():
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        try:
            found = provider.placed_orders(draft)
        except Exception as error:  # noqa: BLE001 - unknown still: the next placer looks them up before sending
            logger.warning("The orders of %s could not be looked up again (%s); their claims are released",
                           draft.client_reference, error)
            found = {}
        confirmed = []
        for outcome in outcomes:
            index = outcome.aoi_index
            if index in self.unconfirmed and index in found:
                logger.info("AOI %d of %s: the provider made its order after all (%s)", index,
                            draft.client_reference, found[index].id)
                outcome = PlacementOutcome(index, order=found[index])
            confirmed.append(outcome)
        for outcome in confirmed:
            if outcome.aoi_index in self.unconfirmed:
                self.unconfirmed.discard(outcome.aoi_index)
                self.asked.discard(outcome.aoi_index)
                self.settle(draft, outcome)
        return confirmed

    # -- after the path ----------------------------------------------------------------------------------
    def settle_rest(self, draft: OrderDraft, outcomes: Iterable[PlacementOutcome]) -> None:
        """Claims the path did not settle itself: AOIs its look-up found placed already, or refused unsent."""
        for outcome in outcomes:
            self.settle(draft, outcome)

    def release_unreached(self, draft: OrderDraft) -> None:
        """The path ended with an exception: release the claims of AOIs it never came to send."""
        for index in sorted(self.granted - self.asked - self.settled):
            try:
                self.store.release_placement(draft.client_reference, draft.aois[index].geometry)
                self.settled.add(index)
            except Exception:  # noqa: BLE001 - a claim left is safe: the next placer looks the order up first
                logger.warning("The claim of AOI %d of %s could not be released", index, draft.client_reference,
                               exc_info=True)


def place_as_team(provider, store, draft: OrderDraft, placed_by: str, only: Optional[Iterable[int]] = None,
                  progress: Optional[Callable[[int, int], None]] = None,
                  confirm_after_s: float = CONFIRM_AFTER_S) -> list:
    """Place the draft's AOIs (or ``only`` those) that nobody in the team placed or is placing: one
    ``PlacementOutcome`` per AOI asked for, in index order (``held_elsewhere`` for those another placer holds).
    An AOI sent without an order to show keeps its claim ``confirm_after_s`` more, then is looked up again."""
    indexes = placement_indexes(draft, only)
    claims = StoreClaims(store, placed_by)
    claims.claim_all(draft, indexes)
    try:
        outcomes = provider.place(draft, only=indexes, progress=progress, claims=claims)
    except BaseException:
        logger.warning("Placement of %s ended unexpectedly; the claims of AOIs it sent are kept",
                       draft.client_reference)
        claims.release_unreached(draft)
        raise
    outcomes = claims.confirm(provider, draft, outcomes, confirm_after_s)
    claims.settle_rest(draft, outcomes)
    for outcome in outcomes:
        held = claims.held.get(outcome.aoi_index)
        if held is not None and not outcome.held_elsewhere:
            # The path's look-up found the holder's order (the team shares the provider account): it is kept as
            # this AOI's order, and the outcome says whose it is.
            outcome.held_elsewhere = True
            outcome.error = held.message()
    return outcomes


def placement_for(store, placed_by: str = "") -> Callable:
    """How this QGIS places: ``place(provider, draft, only, progress)`` through the shared store's claims when
    the project's store is the team's (``place_as_team``), else straight through the provider's own path. A
    shared store this user may only read refuses to place (its claims cannot be written) with its sentence."""
    if store is None or not getattr(store, "shared", False):
        return lambda provider, draft, only, progress: provider.place(draft, only=only, progress=progress)
    if store.read_only:
        def refused(provider, draft, only, progress):
            raise SharedStoreError(store.problem)

        return refused
    name = placed_by or default_user_name()
    return lambda provider, draft, only, progress: place_as_team(provider, store, draft, name, only, progress)


def held_elsewhere_sentence(outcomes: Iterable[PlacementOutcome]) -> str:
    """What the order dialog adds after a team placement: the AOIs a colleague placed (or is placing) first and
    that were therefore not sent — "" when there were none."""
    held = [o for o in outcomes if o.held_elsewhere]
    if not held:
        return ""
    numbers = ", ".join(str(o.aoi_index + 1) for o in held)
    noun = "Area" if len(held) == 1 else "Areas"
    return f"{noun} {numbers} not sent: {held[0].error}" + (" (and the others alike)" if len(held) > 1 else "")


__all__ = ["StoreClaims", "held_elsewhere_sentence", "place_as_team", "placement_for"]
