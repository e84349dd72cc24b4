"""Up42Provider under injected faults (POST /_sandbox/faults): retries, unclear placements, bad bodies."""
import time

import pytest
from sandbox_harness import BERLIN, PARIS, control, up42_provider_for
from sandbox_harness import UP42_OPTICAL as OPTICAL
from sandbox_harness import UP42_OPTICAL_PARAMS as PARAMS

from satellite_tasking.plugin.http import ProviderTimeout, UnreadableResponse
from satellite_tasking.plugin.model import Aoi, OrderDraft

ROME = {"type": "Polygon",
        "coordinates": [[[12.40, 41.85], [12.55, 41.85], [12.55, 41.95], [12.40, 41.95], [12.40, 41.85]]]}
UNCLOSED = {"type": "Polygon", "coordinates": [[[1.0, 1.0], [1.1, 1.0], [1.1, 1.1], [1.0, 1.2]]]}
PLACE = r"^/v2/orders$"


@pytest.fixture
def server(start_sandbox):
    return start_sandbox(seed=5, settings={})


def provider(server, timeout=(2, 5)):
    return up42_provider_for(server, "faults@example.com", page_size=5, session_options={"timeout": timeout})


def fault(server, **rule):
    control(server, "POST", "/_sandbox/faults", rule)


def log(server, method=None, path=None):
    entries = control(server, "GET", "/_sandbox/requests")["requests"]
    return [e for e in entries if (method is None or e["method"] == method) and (path is None or e["path"] == path)]


def draft(geometries, reference):
    return OrderDraft(connection_id="up42-test", product_id=OPTICAL, name="Faulty", params=dict(PARAMS),
                      aois=[Aoi(geometry=g) for g in geometries], client_reference=reference)


def tagged(up42, reference):
    return [o for o in up42.orders() if reference in o.raw["tags"]]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_reads_survive_passing_server_errors(server, status):
    up42 = provider(server)
    control(server, "POST", "/_sandbox/up42/seed_orders", {"username": "faults@example.com", "count": 12})
    fault(server, path=r"^/v2/orders$", method="GET", kind="status", status=status, count=2, after=1)
    orders = up42.orders()
    assert len(orders) == 12 and len({o.id for o in orders}) == 12
    statuses = [e["status"] for e in log(server, "GET", "/v2/orders")]
    assert statuses == [200, status, status, 200, 200]


def test_a_slow_read_is_retried_after_the_timeout(server):
    up42 = provider(server, timeout=(2, 0.5))
    up42.workspace_id()
    fault(server, path=r"^/v2/collections$", kind="delay", seconds=1.0, count=1)
    started = time.monotonic()
    assert len(up42.products()) == 4
    assert time.monotonic() - started < 4
    assert [e.get("fault") for e in log(server, "GET", "/v2/collections")][-1] is None


def test_unreadable_json_is_a_typed_error(server):
    up42 = provider(server)
    up42.workspace_id()
    # One garbled answer is read again; a read that stays garbled is a typed error.
    fault(server, path=r"^/v2/orders$", method="GET", kind="malformed", count=1)
    assert up42.orders() == []
    fault(server, path=r"^/v2/orders$", method="GET", kind="malformed", count=2)
    with pytest.raises(UnreadableResponse, match="answered something unreadable"):
        up42.orders()
    assert up42.orders() == []  # the next read is fine


def test_answer_dropped_after_creation_gives_one_order_per_aoi(server):
    up42 = provider(server)
    order_draft = draft([BERLIN, UNCLOSED, PARIS], "ref-drop-after")
    fault(server, path=PLACE, method="POST", kind="drop_after", count=1)
    outcomes = up42.place(order_draft)
    assert [o.placed for o in outcomes] == [True, False, True]
    assert outcomes[0].order.geometry == BERLIN and outcomes[2].order.geometry == PARIS
    assert "did not confirm" in outcomes[1].error
    assert len(log(server, "POST", "/v2/orders")) == 1  # never re-sent blindly
    # "Retry failed": only AOI 1 is sent again, and UP42 now says clearly why it refuses it.
    retry = up42.place(order_draft, only=[1])
    assert len(retry) == 1 and "Invalid geometry" in retry[0].error
    sent = len(log(server, "POST", "/v2/orders"))
    # Placing the whole draft again finds both orders and resends only the bad AOI.
    again = up42.place(order_draft)
    assert [o.order.id if o.placed else None for o in again] == \
        [outcomes[0].order.id, None, outcomes[2].order.id]
    assert len(log(server, "POST", "/v2/orders")) == sent + 1
    assert sorted(o.id for o in tagged(up42, "ref-drop-after")) == \
        sorted([outcomes[0].order.id, outcomes[2].order.id])


@pytest.mark.parametrize("kind, extra", [("drop_after", {}), ("malformed", {}), ("status", {"status": 502})])
def test_unclear_answers_never_duplicate_orders(server, kind, extra):
    up42 = provider(server)
    order_draft = draft([BERLIN, PARIS, ROME], f"ref-{kind}")
    fault(server, path=PLACE, method="POST", kind=kind, count=1, **extra)
    outcomes = up42.place(order_draft)
    created = kind != "status"  # an injected status answers before the orders are created
    assert [o.placed for o in outcomes] == [created] * 3
    assert len(log(server, "POST", "/v2/orders")) == 1
    retry = up42.place(order_draft, only=[o.aoi_index for o in outcomes if not o.placed])
    assert all(o.placed for o in retry)
    assert all(o.placed for o in up42.place(order_draft))  # nothing left to send
    assert len(log(server, "POST", "/v2/orders")) == (1 if created else 2)
    orders = tagged(up42, f"ref-{kind}")
    assert len(orders) == 3
    assert sorted(o.geometry["coordinates"][0][0][0] for o in orders) == [2.25, 12.40, 13.30]


def test_connection_dropped_before_the_server_read_it(server):
    up42 = provider(server)
    order_draft = draft([BERLIN, PARIS], "ref-drop-before")
    fault(server, path=PLACE, method="POST", kind="drop_before", count=1)
    outcomes = up42.place(order_draft)
    assert [o.placed for o in outcomes] == [False, False]
    assert all("not created" in o.error for o in outcomes)
    assert all(o.placed for o in up42.place(order_draft, only=[0, 1]))
    assert len(tagged(up42, "ref-drop-before")) == 2


def test_a_placement_that_outlives_the_timeout_is_found_by_the_retry(server):
    up42 = provider(server, timeout=(2, 0.3))
    order_draft = draft([BERLIN], "ref-slow")
    fault(server, path=PLACE, method="POST", kind="delay", seconds=2.0, count=1)
    (first,) = up42.place(order_draft)
    # The client gave up and found no order yet; the server creates it a moment later.
    assert not first.placed and "not created" in first.error
    deadline = time.monotonic() + 5
    while not [e for e in log(server, "POST", "/v2/orders") if e["status"] == 200] and time.monotonic() < deadline:
        time.sleep(0.05)
    (retry,) = up42.place(order_draft, only=[0])
    assert retry.placed
    assert len(log(server, "POST", "/v2/orders")) == 1  # the retry found it and sent nothing
    assert len(tagged(up42, "ref-slow")) == 1


def test_a_placement_with_an_expired_token_is_repeated_once(server):
    control(server, "POST", "/_sandbox/settings", {"up42_token_lifetime": 2})
    up42 = provider(server)
    up42.workspace_id()
    time.sleep(2.1)
    up42._token.renew_at = float("inf")
    outcomes = up42.place(draft([BERLIN], "ref-401"))
    assert outcomes[0].placed
    assert len(tagged(up42, "ref-401")) == 1


def test_when_the_read_back_fails_too_the_error_says_so(server):
    up42 = provider(server)
    up42.workspace_id()
    fault(server, path=PLACE, method="POST", kind="drop_after", count=1)
    fault(server, path=PLACE, method="GET", kind="status", status=503, after=1)  # the first listing passes
    outcomes = up42.place(draft([BERLIN], "ref-dark"))
    assert not outcomes[0].placed and "could not be read back" in outcomes[0].error
    control(server, "DELETE", "/_sandbox/faults")
    (retry,) = up42.place(draft([BERLIN], "ref-dark"), only=[0])
    assert retry.placed
    assert len(log(server, "POST", "/v2/orders")) == 1
    with pytest.raises(ProviderTimeout):
        fault(server, path=r"^/v2/orders$", method="GET", kind="delay", seconds=1.0)
        provider(server, timeout=(2, 0.2)).orders()
