"""The one placement path (plugin/providers/placement.py), provider-agnostic: a fake provider whose "server" is a
dict, a fake sending step that can create an order and lose the answer, and the path's promises — AOIs that have
an order are not sent, an unclear answer is read back once and never duplicated, a cancel sends nothing, team
mode's claims are taken before sending and settled after."""
import threading

import pytest

from satellite_tasking.plugin.http import (
    AnswerTooDeep,
    ProviderTimeout,
    ProviderUnavailable,
    RequestCancelled,
    RequestRejected,
)
from satellite_tasking.plugin.model import Aoi, Order, OrderDraft, OrderStatus, PlacementOutcome, Status
from satellite_tasking.plugin.placement_ledger import (
    PlacementLedger,
    attempt_outcomes,
    attempt_summary,
    cancelled_summary,
)
from satellite_tasking.plugin.providers.placement import (
    PlacementPath,
    Unclear,
    in_parallel,
    one_batch,
    one_by_one,
)


def draft(count=3, reference="qgis-path-test"):
    return OrderDraft(connection_id="fake", product_id="p", name="Fields", params={},
                      aois=[Aoi(geometry={"type": "Point", "coordinates": [i, i]}) for i in range(count)],
                      client_reference=reference)


class FakeProvider:
    """Orders kept per (reference, AOI index); ``answers`` scripts what each send of an AOI answers:
    "ok", "lost" (created, answer lost), "timeout" (not created, no answer), "refused", "cancelled", "5xx"."""

    def __init__(self, answers=None, lookup_fails_after=None):
        self.orders = {}
        self.answers = dict(answers or {})
        self.sent = []
        self.lookups = 0
        self.lookup_fails_after = lookup_fails_after
        self.lock = threading.Lock()

    def lookup(self, d):
        self.lookups += 1
        if self.lookup_fails_after is not None and self.lookups > self.lookup_fails_after:
            raise ProviderUnavailable("Fake", "Fake answered 503 to the listing")
        return {i: order for (ref, i), order in self.orders.items() if ref == d.client_reference}

    def _create(self, d, index):
        order = Order(id=f"o-{d.client_reference}-{index}-{len(self.orders)}", connection_id="fake",
                      name=d.order_name(index), status=Status(OrderStatus.RECEIVED, "RECEIVED"))
        key = (d.client_reference, index)
        assert key not in self.orders, f"AOI {index} ordered twice"
        self.orders[key] = order
        return order

    def send_one(self, d, index):
        with self.lock:
            self.sent.append(index)
            answer = self.answers.pop(index, "ok")
            if answer == "cancelled":
                raise RequestCancelled("Fake", "The request was not sent: cancelled.")
            if answer == "refused":
                raise RequestRejected("Fake", "Fake refused the order: bad area.", 400)
            if answer == "timeout":
                raise ProviderTimeout("Fake", "Fake did not answer within 5 s")
            order = self._create(d, index)
            if answer == "lost":
                raise ProviderTimeout("Fake", "Fake did not answer within 5 s")
            if answer == "deep":
                raise AnswerTooDeep("Fake", "Fake answered JSON nested too deep")
            if answer == "sent-then-cancelled":
                raise RequestCancelled("Fake", "cancelled while waiting for the answer", attempts=1)
            return order

    def send_batch(self, d, indexes):
        results = {}
        for index in indexes:
            answer = self.answers.pop(index, "ok")
            self.sent.append(index)
            if answer == "silent":  # created, but the batch answer does not mention it
                self._create(d, index)
                continue
            results[index] = self._create(d, index)
        return results

    def path(self, send=None, **options):
        return PlacementPath(who="Fake", lookup=self.lookup, send=send or one_by_one(self.send_one), **options)


def test_aois_that_already_have_an_order_are_not_sent():
    fake = FakeProvider()
    first = fake.path().place(draft(), only=[1])
    assert first[0].placed and fake.sent == [1]
    outcomes = fake.path().place(draft())
    assert [o.placed for o in outcomes] == [True, True, True]
    assert outcomes[1].order.id == first[0].order.id
    assert fake.sent == [1, 0, 2]  # AOI 2 (index 1) was not sent again


@pytest.mark.parametrize("answer", ["lost", "deep", "sent-then-cancelled"])
def test_an_unclear_answer_is_read_back_once_and_never_duplicated(answer):
    fake = FakeProvider(answers={0: answer, 2: answer})
    outcomes = fake.path().place(draft())
    assert all(o.placed for o in outcomes), [o.error for o in outcomes]
    assert fake.lookups == 2  # the look-up before sending, and ONE read-back for both unclear AOIs
    assert sorted(fake.sent) == [0, 1, 2]
    again = fake.path().place(draft())
    assert [o.order.id for o in again] == [o.order.id for o in outcomes]
    assert sorted(fake.sent) == [0, 1, 2], "placing again sends nothing"


def test_an_unclear_answer_with_nothing_created_reads_most_likely_not_created_and_a_retry_places_once():
    fake = FakeProvider(answers={1: "timeout"})
    outcomes = fake.path(label=lambda d, i: f"AOI {i + 1}").place(draft())
    assert [o.placed for o in outcomes] == [True, False, True]
    error = outcomes[1].error
    assert error.startswith("AOI 2: Fake did not confirm this order (Fake did not answer within 5 s)")
    assert "most likely not created" in error and not outcomes[1].unclear
    [retried] = fake.path().place(draft(), only=[1])
    assert retried.placed and fake.sent.count(1) == 2 and len(fake.orders) == 3


def test_a_failed_read_back_is_unclear_and_the_retry_finds_the_order():
    fake = FakeProvider(answers={0: "lost"}, lookup_fails_after=1)
    [outcome] = fake.path().place(draft(1))
    assert not outcome.placed and outcome.unclear
    assert "whether the order was created could not be checked" in outcome.error
    assert "never creates a second order" in outcome.error
    fake.lookup_fails_after = None
    [retried] = fake.path().place(draft(1))
    assert retried.placed and fake.sent == [0], "found, not sent again"


def test_a_cancel_before_sending_sends_nothing_and_a_clear_refusal_is_not_read_back():
    fake = FakeProvider(answers={0: "cancelled", 1: "refused"})
    outcomes = fake.path().place(draft())
    assert outcomes[0].error == "Not placed: cancelled before the order was sent to Fake."
    assert outcomes[1].error == "Fake refused the order: bad area."
    assert outcomes[2].placed
    assert fake.lookups == 1 and len(fake.orders) == 1


def test_refused_aois_are_not_looked_up_or_sent():
    fake = FakeProvider()
    calls = []
    outcomes = fake.path(refuse=lambda d, indexes: {i: "Not a polygon." for i in indexes}).place(
        draft(2), progress=lambda done, total: calls.append((done, total)))
    assert [o.error for o in outcomes] == ["Not a polygon."] * 2
    assert fake.lookups == 0 and fake.sent == [] and calls == [(2, 2)]


def test_a_batch_answer_that_omits_an_aoi_is_read_back():
    fake = FakeProvider(answers={1: "silent"})
    calls = []
    outcomes = fake.path(send=one_batch(fake.send_batch)).place(draft(), progress=lambda *a: calls.append(a))
    assert all(o.placed for o in outcomes) and fake.lookups == 2
    assert calls == [(2, 3), (3, 3)]  # one answer settles the two it names; the third after its read-back


def test_an_error_of_the_whole_batch_is_each_aois_answer():
    fake = FakeProvider()

    def failing(d, indexes):
        raise ProviderUnavailable("Fake", "Fake answered 503")

    outcomes = fake.path(send=one_batch(failing)).place(draft(2))
    assert all("did not confirm this order (Fake answered 503)" in o.error for o in outcomes)
    assert fake.lookups == 2


def test_a_pool_reports_on_the_calling_thread_and_places_each_aoi_once():
    fake = FakeProvider(answers={3: "lost", 5: "lost"})
    threads = set()
    calls = []

    def progress(done, total):
        threads.add(threading.get_ident())
        calls.append(done)

    outcomes = fake.path(send=in_parallel(fake.send_one, 3)).place(draft(8), progress=progress)
    assert all(o.placed for o in outcomes) and len(fake.orders) == 8 and fake.lookups == 2
    assert threads == {threading.get_ident()} and calls == sorted(calls) and calls[-1] == 8


class Claims:
    def __init__(self, held=()):
        self.held = set(held)
        self.claimed = []
        self.settled = {}

    def claim(self, d, index):
        if index in self.held:
            return f"AOI {index + 1} is being placed by ana (since 10:02)."
        self.claimed.append(index)
        return None

    def settle(self, d, outcome):
        self.settled[outcome.aoi_index] = outcome.order.id if outcome.placed else None


def test_claims_are_taken_after_the_look_up_and_before_sending_then_settled():
    fake = FakeProvider(answers={2: "refused"})
    fake.path().place(draft(4), only=[0])  # AOI 1 has its order: no claim needed
    claims = Claims(held={3})
    outcomes = fake.path().place(draft(4), claims=claims)
    assert claims.claimed == [1, 2]
    assert outcomes[3].held_elsewhere and "ana" in outcomes[3].error and 3 not in fake.sent[1:]
    assert claims.settled == {1: outcomes[1].order.id, 2: None}


def test_claims_are_kept_when_the_path_ends_without_outcomes():
    fake = FakeProvider()
    claims = Claims()

    def broken(d, index):
        raise RuntimeError("a bug in a sending step")

    with pytest.raises(RuntimeError):
        fake.path(send=one_by_one(broken)).place(draft(2), claims=claims)
    assert claims.claimed == [0, 1] and claims.settled == {}


def test_a_sending_step_may_answer_unclear_itself():
    fake = FakeProvider()

    def answered_without_order(d, index):
        fake._create(d, index)
        return Unclear(None)

    [outcome] = fake.path(send=one_by_one(answered_without_order)).place(draft(1))
    assert outcome.placed and fake.lookups == 2


# -- the bookkeeping both front ends share ------------------------------------------------------------

def test_the_ledger_keeps_placed_failed_unclear_and_retried_aois():
    order = Order(id="o1", connection_id="c", name="n", status=Status(OrderStatus.RECEIVED, "CREATED"))
    entries = {}
    ledger = PlacementLedger(4, entries)
    assert ledger.never_tried == [0, 1, 2, 3] and not ledger.fully_placed
    ledger.record([PlacementOutcome(0, order=order), PlacementOutcome(1, error="refused"),
                   PlacementOutcome(2, error="no answer", unclear=True)])
    assert entries["0"] == {"order_id": "o1", "status": "CREATED", "attempts": 1}
    assert ledger.placed == [0] and ledger.failed == [1, 2] and ledger.unclear == [2] and ledger.never_tried == [3]
    ledger.record([PlacementOutcome(1, order=order), PlacementOutcome(0, error="Not placed.")])
    assert ledger.placed == [0, 1] and ledger.retried == [1]  # an order is never forgotten for a later failure
    assert PlacementLedger(4, entries).failed == [2]  # the draft's JSON is the record


def test_attempt_outcomes_and_the_sentences():
    reference = "qgis-x"
    cancelled = attempt_outcomes([0, 1], RequestCancelled("Fake", "cancelled"), reference, cancelled=True)
    assert all(o.error.startswith("Not placed: cancelled. Run again with client reference qgis-x")
               for o in cancelled.values())
    broken = attempt_outcomes([0], ProviderUnavailable("Fake", "Fake answered 503."), reference)
    assert broken[0].unclear and broken[0].error.startswith("Placement did not complete: Fake answered 503.")
    order = Order(id="o", connection_id="c", name="n", status=Status(OrderStatus.RECEIVED, "x"))
    partial = attempt_outcomes([0, 1, 2], [PlacementOutcome(1, order=order)], reference)
    assert [o.placed for o in partial.values()] == [False, True, False] and partial[0].error == "Not placed."
    assert attempt_summary(list(partial.values())) == ("1 order placed, 2 failed — see the Order column; "
                                                       "“Retry failed” places only those.")
    assert cancelled_summary(partial, "Sandbox", reference).startswith(
        "Placement cancelled: 1 of 3 orders placed on Sandbox (AOI 2); AOI 1, 3 not placed.")
