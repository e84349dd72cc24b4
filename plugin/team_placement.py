"""Placing through a shared store: each AOI of a draft is placed once across the whole team (pure logic, no Qt).

Before a request leaves, its draft reference and AOI are claimed in the shared store
(``PostgisStore.claim_placement``, unique on reference + AOI). Only the AOIs this placer claimed are sent
(``provider.place(draft, only=…)``); an AOI another analyst — or the same analyst in another QGIS window —
claimed first is not sent, and its outcome says who placed it and when. A placed AOI records its order
(``placement_done``: the order then carries who placed it); an AOI the provider failed is released, so a retry
(this placer's or anyone's) may claim it again — and ``place`` looks the draft's orders up by its reference
before it creates any, so an order the provider made after the client gave up is found, not made twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Optional

from .model import OrderDraft, PlacementOutcome

logger = logging.getLogger(__name__)


@dataclass
class TeamOutcome:
    """One AOI's outcome of a team placement: the provider's outcome, or the claim someone else holds."""

    aoi_index: int
    outcome: Optional[PlacementOutcome] = None  # None: not sent (claimed by someone else)
    claimed_by: str = ""
    message: str = ""

    @property
    def placed(self) -> bool:
        return self.outcome is not None and self.outcome.placed

    @property
    def placed_elsewhere(self) -> bool:
        return self.outcome is None


def place_as_team(provider, store, draft: OrderDraft, placed_by: str,
                  only: Optional[Iterable[int]] = None) -> list:
    """Place the draft's AOIs (or ``only`` those) that nobody in the team placed or is placing; one
    ``TeamOutcome`` per AOI asked for, in order."""
    indexes = list(range(len(draft.aois))) if only is None else sorted(set(only))
    results = {}
    granted = []
    for index in indexes:
        claim = store.claim_placement(draft.connection_id, draft.client_reference, draft.aois[index].geometry,
                                      placed_by, aoi_index=index)
        if claim.granted:
            granted.append(index)
        else:
            results[index] = TeamOutcome(index, None, claim.placed_by, claim.message())
    if granted:
        try:
            outcomes = provider.place(draft, only=granted)
        except BaseException:
            # place() reports failures as outcomes; anything else (a bug, a cancel) leaves no certainty about
            # what was sent, so the claims stay: the draft's orders are looked up before anyone places again.
            logger.warning("Placement of %s ended unexpectedly; its claims are kept", draft.client_reference)
            raise
        for outcome in outcomes:
            geometry = draft.aois[outcome.aoi_index].geometry
            if outcome.placed:
                store.placement_done(draft.connection_id, draft.client_reference, geometry, outcome.order.id)
            else:
                store.release_placement(draft.client_reference, geometry)
            results[outcome.aoi_index] = TeamOutcome(outcome.aoi_index, outcome, placed_by,
                                                     "" if outcome.placed else (outcome.error or ""))
    return [results[index] for index in indexes if index in results]


__all__ = ["TeamOutcome", "place_as_team"]
