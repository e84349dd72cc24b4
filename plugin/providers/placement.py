"""The one placement path: one order per AOI of a draft, never two — for every provider.

Each provider's ``place`` is this path with the provider's own steps plugged in::

    the AOIs asked for ─▶ refuse those that cannot be sent (no request: bad parameters, wrong geometry)
        ─▶ look up what already exists, by the draft's reference (an earlier attempt whose answer was lost,
           "Retry failed", another window) ─▶ claim the rest (optional: team mode) ─▶ send
        ─▶ one read-back after any unclear answer ─▶ one ``PlacementOutcome`` per AOI, in shared sentences

A provider supplies only what differs: ``lookup`` (AOI index → the order that exists for it), the sending
step (UP42 sends one batch, Planet a pool of single POSTs paced by its session, STAPI one POST after the
other: ``one_batch``, ``in_parallel``, ``one_by_one``), and optionally ``refuse`` and a ``label`` for its
sentences. A sending step answers per AOI with an ``Order`` (created), a sentence (refused: nothing was
created), ``Unclear`` (the answer does not say), or the ``ProviderError`` it met; the path decides what
each means, the same way for all:

* **Unclear** is a timeout, a dropped connection, a 5xx, an unreadable, too large or too deep answer, a
  success without an order, or an AOI a batch answer does not mention. The order may exist, so the AOI
  is not reported before one read-back of the draft's orders (one for all unclear AOIs of the attempt):
  found → placed; not found → "most likely not created" (a retry looks first); read-back failed → the
  outcome says so and is marked ``unclear``.
* **Cancelled** before the request left (``RequestCancelled`` with no attempt made): "not sent".
* Any other ``ProviderError`` is a clear refusal: its sentence is the outcome.

A request that creates orders is never retried here or in the HTTP layer; nothing is sent for an AOI that
the look-up found. Progress is reported on the calling thread as outcomes become known (``PlacementProgress``).

**Claim before send** (team mode): ``place(..., claims=...)`` takes any object with the two methods of
``PlacementClaims``. Each AOI still to send after the look-up is claimed first; an AOI someone else holds is
not sent (its outcome has ``held_elsewhere`` and the holder's sentence). Every claimed AOI is settled with its
outcome once known (record the order, or release a failed AOI). If the path ends with an exception instead of
outcomes (a bug, an interrupted thread), claims are left as they are: what was sent is then unknown, and the
next placement looks the orders up before sending anything.

No Qt, no QGIS: used by the providers, and testable with a fake sending step.
"""
from __future__ import annotations

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Protocol, Union

from ..http import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    RequestCancelled,
    UnreadableResponse,
)
from ..model import Order, OrderDraft, PlacementOutcome

logger = logging.getLogger(__name__)

# (AOIs whose outcome is known, AOIs in this placement) -> None
PlacementProgressCallback = Callable[[int, int], None]

#: Failures after which an order may or may not exist (AnswerTooDeep and AnswerTooLarge are UnreadableResponse).
UNCLEAR_FAILURES = (ProviderTimeout, ProviderUnreachable, ProviderUnavailable, UnreadableResponse)


@dataclass(frozen=True)
class Unclear:
    """A sending step's answer for an AOI that does not say whether its order was created."""

    cause: Optional[ProviderError] = None  # None: the answer said nothing about this AOI


#: What a sending step answers for one AOI.
SendResult = Union[Order, str, Unclear, ProviderError]
#: A sending step: yields ``{AOI index: SendResult}`` as answers arrive, on the calling thread.
Sending = Callable[[OrderDraft, List[int]], Iterator[Dict[int, SendResult]]]


class PlacementClaims(Protocol):
    """The "claim before send" step of team mode (see the module docstring)."""

    def claim(self, draft: OrderDraft, index: int) -> Optional[str]:
        """None when this placer may send AOI ``index``; else a sentence saying who holds it."""

    def settle(self, draft: OrderDraft, outcome: PlacementOutcome) -> None:
        """The outcome of a claimed AOI: keep its order, or release it for a retry."""


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

    Called from the thread that called ``place`` (so a Qt task may forward it as it is); ``finish`` makes the
    last report ``(total, total)``. A failing callback is logged and ignored: a progress bar must never lose
    the outcome of an order placed.
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


# -- sending steps ---------------------------------------------------------------------------------

def _answer(send: Callable[[], SendResult]) -> SendResult:
    """What one call of a sending function answers, its ProviderError included (as a value)."""
    try:
        return send()
    except ProviderError as error:
        return error


def one_batch(send_batch: Callable[[OrderDraft, List[int]], Dict[int, SendResult]]) -> Sending:
    """A sending step that sends every AOI in one request (UP42): one answer settles them all; an error of
    the request is the answer of each AOI."""
    def send(draft: OrderDraft, indexes: List[int]) -> Iterator[Dict[int, SendResult]]:
        answer = _answer(lambda: send_batch(draft, indexes))
        yield {i: answer for i in indexes} if isinstance(answer, ProviderError) else answer

    return send


def one_by_one(send_one: Callable[[OrderDraft, int], SendResult]) -> Sending:
    """A sending step that sends the AOIs one after the other (STAPI)."""
    def send(draft: OrderDraft, indexes: List[int]) -> Iterator[Dict[int, SendResult]]:
        for index in indexes:
            yield {index: _answer(lambda i=index: send_one(draft, i))}

    return send


def in_parallel(send_one: Callable[[OrderDraft, int], SendResult], workers: int,
                thread_name: str = "placement") -> Sending:
    """A sending step with up to ``workers`` requests in flight (Planet; its session paces them). Each job runs
    in a copy of the caller's ``contextvars`` context, so a cancelled task (``http.cancellable``) reaches the
    workers; answers are yielded on the calling thread as each job ends."""
    def send(draft: OrderDraft, indexes: List[int]) -> Iterator[Dict[int, SendResult]]:
        if not indexes:
            return
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(indexes))),
                                thread_name_prefix=thread_name) as pool:
            # One context per job: a context cannot be entered by two threads at once.
            futures = {pool.submit(contextvars.copy_context().run, _answer, lambda i=index: send_one(draft, i)): index
                       for index in indexes}
            for future in as_completed(futures):
                yield {futures[future]: future.result()}

    return send


# -- the path --------------------------------------------------------------------------------------

@dataclass
class PlacementPath:
    """A provider's placement: its steps, and the one way they are put together (``place``)."""

    #: The provider as the sentences name it ("UP42", "Planet", a STAPI connection's name).
    who: str
    #: AOI index -> the order that already exists for it, found by the draft's reference.
    lookup: Callable[[OrderDraft], dict]
    send: Sending
    #: AOI index -> why it cannot be sent (checked before any request); None: every AOI can be sent.
    refuse: Optional[Callable[[OrderDraft, List[int]], Dict[int, str]]] = None
    #: Put before the path's own sentences about an AOI ("AOI 2 (Field): "); None: nothing.
    label: Optional[Callable[[OrderDraft, int], str]] = None

    def place(self, draft: OrderDraft, only: Optional[Iterable[int]] = None,
              progress: Optional[PlacementProgressCallback] = None,
              claims: Optional[PlacementClaims] = None) -> list:
        """One ``PlacementOutcome`` per AOI asked for, in index order (see the module docstring). Errors of the
        look-up before sending (nothing was sent) are raised, ``RequestCancelled`` included."""
        wanted = placement_indexes(draft, only)
        if not wanted:
            return []
        steps = PlacementProgress(progress, len(wanted))
        outcomes: Dict[int, PlacementOutcome] = {}

        refused = self.refuse(draft, wanted) if self.refuse is not None else {}
        for index in wanted:
            if refused.get(index):
                outcomes[index] = PlacementOutcome(index, error=refused[index])
        steps.advance(len(outcomes))
        pending = [i for i in wanted if i not in outcomes]

        if pending:
            existing = self.lookup(draft)
            for index in pending:
                if index in existing:
                    logger.info("AOI %d of %s already has %s order %s; not placing it again",
                                index, draft.client_reference, self.who, existing[index].id)
                    outcomes[index] = PlacementOutcome(index, order=existing[index])
            steps.advance(sum(1 for i in pending if i in outcomes))
            pending = [i for i in pending if i not in outcomes]

        claimed: List[int] = []
        if pending and claims is not None:
            for index in pending:
                holder = claims.claim(draft, index)
                if holder is None:
                    claimed.append(index)
                else:
                    outcomes[index] = PlacementOutcome(index, error=holder, held_elsewhere=True)
            steps.advance(len(pending) - len(claimed))
            pending = claimed

        if pending:
            unclear = self._send(draft, pending, outcomes, steps)
            if unclear:
                outcomes.update(self._read_back(draft, unclear))
        steps.finish()
        for index in claimed:
            try:
                claims.settle(draft, outcomes[index])
            except Exception:  # noqa: BLE001 - an unsettled claim is safe (the look-up finds the order); the
                # outcome of an order placed must not be lost to it
                logger.warning("The claim of AOI %d of %s could not be settled", index, draft.client_reference,
                               exc_info=True)
        return [outcomes[i] for i in wanted]

    # -- steps of place ---------------------------------------------------------------------------
    def _send(self, draft: OrderDraft, pending: List[int], outcomes: dict, steps: PlacementProgress) -> dict:
        """Send ``pending``; fill ``outcomes`` with clear answers and return the unclear ones (index → Unclear)."""
        unclear: Dict[int, Unclear] = {}
        for answers in self.send(draft, list(pending)):
            new = 0
            for index, result in answers.items():
                if index not in pending or index in outcomes or index in unclear:
                    continue  # not asked for, or answered already: the first answer stands
                new += 1
                if isinstance(result, Order):
                    outcomes[index] = PlacementOutcome(index, order=result)
                elif isinstance(result, Unclear):
                    unclear[index] = result
                elif isinstance(result, RequestCancelled) and not result.attempts:
                    outcomes[index] = PlacementOutcome(index, error=self._labelled(
                        draft, index, f"Not placed: cancelled before the order was sent to {self.who}."))
                elif isinstance(result, UNCLEAR_FAILURES) or isinstance(result, RequestCancelled):
                    unclear[index] = Unclear(result)  # a request sent and then cancelled: it may have arrived
                elif isinstance(result, ProviderError):
                    outcomes[index] = PlacementOutcome(index, error=self._labelled(draft, index, result.user_message))
                else:
                    outcomes[index] = PlacementOutcome(index, error=str(result) or "The provider gave no reason.")
            steps.advance(new)
        for index in pending:
            if index not in outcomes and index not in unclear:
                unclear[index] = Unclear(None)  # the answer did not mention it
        if unclear:
            logger.warning("Placing %d AOI(s) of %s on %s gave no clear answer (%s); reading back its orders",
                           len(unclear), draft.client_reference, self.who,
                           ", ".join(sorted({type(u.cause).__name__ for u in unclear.values() if u.cause})) or
                           "no answer for them")
        return unclear

    def _read_back(self, draft: OrderDraft, unclear: Dict[int, Unclear]) -> dict:
        """After unclear answers: one look-up; the orders found, and sentences for the rest."""
        try:
            found = self.lookup(draft)
        except ProviderError as error:
            return {index: PlacementOutcome(index, unclear=True, error=self._labelled(draft, index, (
                f"{self.who} gave no clear answer{_why(cause)}, and whether the order was created could not be "
                f"checked: its orders could not be read back ({error.user_message}). Placing it again checks "
                "first, so it never creates a second order.")))
                for index, cause in unclear.items()}
        outcomes = {}
        for index, cause in unclear.items():
            if index in found:
                logger.info("AOI %d of %s: the order exists after all (%s)", index, draft.client_reference,
                            found[index].id)
                outcomes[index] = PlacementOutcome(index, order=found[index])
            else:
                outcomes[index] = PlacementOutcome(index, error=self._labelled(draft, index, (
                    f"{self.who} did not confirm this order{_why(cause)} and shows no order for this area, so it "
                    "was most likely not created. Retry to place it: the retry looks for it first, so it is never "
                    "ordered twice.")))
        return outcomes

    def _labelled(self, draft: OrderDraft, index: int, sentence: str) -> str:
        prefix = self.label(draft, index) if self.label is not None else ""
        return f"{prefix}: {sentence}" if prefix else sentence


def _why(unclear: Unclear) -> str:
    return f" ({unclear.cause.user_message})" if unclear.cause is not None else ""


__all__ = ["PlacementClaims", "PlacementPath", "PlacementProgress", "PlacementProgressCallback", "SendResult",
           "Sending", "UNCLEAR_FAILURES", "Unclear", "in_parallel", "one_batch", "one_by_one", "placement_indexes"]
