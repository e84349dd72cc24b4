"""Placement bookkeeping shared by the order dialog and the Processing algorithm (no Qt).

A ``PlacementLedger`` keeps, per AOI of a draft, what its placement attempts came to — placed (order id and
status), failed (the reason), unclear (the provider did not say and its orders could not be read back), held
elsewhere (team mode), or not tried — and how many attempts each AOI took. It reads and writes the JSON shape
the saved draft keeps (``SavedDraft.outcomes``: AOI index as text → entry), so the dialog's draft on disk and
the algorithm's run share one record. The sentences that sum an attempt up live here too, so both front ends
say the same thing in the same words.

Running a placement attempt is the provider's (``providers/placement.py``: look up, claim, send, read back);
``attempt_outcomes`` turns what an attempt ended with — outcomes, a cancel before anything was decided, or an
error — into one outcome per AOI asked for.
"""
from __future__ import annotations

import logging
from typing import Dict, Iterable, List, Mapping, Optional

from .http import RequestCancelled
from .model import Order, PlacementOutcome
from .wording import plural

logger = logging.getLogger(__name__)

NO_REASON = "The provider gave no reason."


class PlacementLedger:
    """What each AOI of one draft has come to (see the module docstring). ``entries`` is the draft's own
    mapping, changed in place: ``{"0": {"order_id", "status"} | {"error", "unclear"?, "held_elsewhere"?},
    …}``, each with ``"attempts"``."""

    def __init__(self, count: int, entries: Optional[dict] = None):
        self.count = count
        self.entries: dict = entries if entries is not None else {}

    # -- recording --------------------------------------------------------------------------------
    def record(self, outcomes: Iterable[PlacementOutcome]) -> None:
        """Keep each outcome as its AOI's entry (the latest attempt wins; an order found is never forgotten for a
        later failure of the same AOI)."""
        for outcome in outcomes:
            key = str(outcome.aoi_index)
            previous = self.entries.get(key) or {}
            attempts = int(previous.get("attempts", 0) or 0) + 1
            if outcome.placed:
                entry = {"order_id": outcome.order.id, "status": outcome.order.status.raw}
            elif previous.get("order_id"):
                continue  # it has its order: a later refusal ("already placed") does not take it away
            else:
                entry = {"error": outcome.error or NO_REASON}
                if outcome.unclear:
                    entry["unclear"] = True
                if outcome.held_elsewhere:
                    entry["held_elsewhere"] = True
            entry["attempts"] = attempts
            self.entries[key] = entry

    def record_found(self, found: Mapping[int, Order]) -> List[PlacementOutcome]:
        """The orders a look-up found (an interrupted placement, a re-run with the same reference), recorded."""
        outcomes = [PlacementOutcome(index, order=order) for index, order in sorted(found.items())]
        self.record(outcomes)
        return outcomes

    # -- reading ----------------------------------------------------------------------------------
    def entry(self, index: int) -> dict:
        return self.entries.get(str(index)) or {}

    @property
    def placed(self) -> List[int]:
        return [i for i in range(self.count) if self.entry(i).get("order_id")]

    @property
    def unplaced(self) -> List[int]:
        return [i for i in range(self.count) if not self.entry(i).get("order_id")]

    @property
    def failed(self) -> List[int]:
        """AOIs an attempt left without an order ("Retry failed" places these)."""
        return [i for i in self.unplaced if self.entry(i).get("error")]

    @property
    def unclear(self) -> List[int]:
        return [i for i in self.unplaced if self.entry(i).get("unclear")]

    @property
    def never_tried(self) -> List[int]:
        return [i for i in range(self.count) if str(i) not in self.entries]

    @property
    def retried(self) -> List[int]:
        """AOIs that took more than one attempt."""
        return [i for i in range(self.count) if int(self.entry(i).get("attempts", 0) or 0) > 1]

    @property
    def fully_placed(self) -> bool:
        return self.count > 0 and not self.unplaced


def attempt_outcomes(indexes: Iterable[int], ended_with, reference: str,
                     cancelled: bool = False) -> Dict[int, PlacementOutcome]:
    """One outcome per AOI of ``indexes`` from what an attempt ended with: its list of outcomes (AOIs it does not
    mention are "not placed"), ``RequestCancelled`` raised before anything was decided, or another exception
    (the provider could not say what it created: the next attempt looks the orders up first)."""
    indexes = list(indexes)
    outcomes: Dict[int, PlacementOutcome] = {}
    if isinstance(ended_with, BaseException):
        if not isinstance(ended_with, RequestCancelled):
            message = getattr(ended_with, "user_message", None) or str(ended_with)
            return {index: PlacementOutcome(index, unclear=True, error=(
                f"Placement did not complete: {message} {again_sentence(reference)}")) for index in indexes}
    else:
        outcomes = {o.aoi_index: o for o in ended_with or [] if o.aoi_index in indexes}
    for index in indexes:
        if index not in outcomes:
            outcomes[index] = PlacementOutcome(index, error=(
                f"Not placed: cancelled. {again_sentence(reference)}" if cancelled else "Not placed."))
    return {index: outcomes[index] for index in indexes}


# -- sentences --------------------------------------------------------------------------------------

def again_sentence(reference: str) -> str:
    return (f"Run again with client reference {reference}: orders that were created are found, not placed "
            "twice.")


def aoi_numbers(indexes) -> str:
    """AOI indexes as 1-based numbers, runs shortened: "1–4, 7, 9–12"."""
    numbers = sorted(i + 1 for i in indexes)
    runs: list = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


def attempt_summary(outcomes: List[PlacementOutcome], cancelled: bool = False) -> str:
    """The order dialog's sentence for one attempt ("3 orders placed, 1 failed — …")."""
    placed = sum(1 for o in outcomes if o.placed)
    failed = len(outcomes) - placed
    if cancelled and failed:
        return (f"Placement cancelled: {plural(placed, 'order')} placed, {failed} not — see the Order column; "
                "“Retry failed” places only those.")
    if cancelled:
        return f"Placement cancelled after all {plural(placed, 'order')} were placed."
    return f"{plural(placed, 'order')} placed" + (f", {failed} failed — see the Order column; "
                                                 "“Retry failed” places only those." if failed else ".")


def run_summary(outcomes: Mapping[int, PlacementOutcome], connection_name: str) -> str:
    """Processing's closing line: "5 of 6 orders placed on Sandbox."."""
    placed = sum(1 for o in outcomes.values() if o.placed)
    return f"{placed} of {plural(len(outcomes), 'order')} placed on {connection_name}."


def cancelled_summary(outcomes: Mapping[int, PlacementOutcome], connection_name: str, reference: str) -> str:
    """What a cancelled placement leaves behind, in one paragraph."""
    placed = [i for i, o in outcomes.items() if o.placed]
    unplaced = [i for i, o in outcomes.items() if not o.placed]
    text = (f"Placement cancelled: {len(placed)} of {plural(len(outcomes), 'order')} placed on {connection_name}"
            + (f" (AOI {aoi_numbers(placed)})" if placed else ""))
    if unplaced:
        text += (f"; AOI {aoi_numbers(unplaced)} not placed. Run again with client reference {reference} to "
                 "place only those: the orders placed are found, not placed twice.")
    else:
        text += "; every AOI has its order."
    return text


def found_sentence(count: int, reference: str) -> str:
    return (f"{plural(count, 'AOI')} already {'has' if count == 1 else 'have'} an order with reference "
            f"{reference}; they are not placed again.")


def interrupted_summary(found: int) -> str:
    return (f"A placement was interrupted; the provider has {found} of its orders. Place the others when you "
            "are ready: nothing is placed twice.")


__all__ = ["NO_REASON", "PlacementLedger", "again_sentence", "aoi_numbers", "attempt_outcomes", "attempt_summary",
           "cancelled_summary", "found_sentence", "interrupted_summary", "run_summary"]
