"""PlanetProvider under injected faults (sandbox /_sandbox/faults): reads survive, placement never duplicates."""
from datetime import datetime, timedelta, timezone

import pytest
from sandbox_harness import control, planet_provider_for

from satellite_tasking.plugin.http import CredentialsRejected, ProviderTimeout, UnreadableResponse
from satellite_tasking.plugin.model import Aoi, OrderDraft

START = datetime(2026, 1, 5, tzinfo=timezone.utc)
QUIET = {"planet_rejection_rate": 0.0, "planet_capture_failure_rate": 0.0,
         "planet_reassessment_rate": 0.0}
SQUARE = [[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]
ORDERS_PATH = r"^/tasking/v2/orders/$"


def area(dx):
    return {"type": "Polygon", "coordinates": [[[x + dx, y] for x, y in SQUARE]]}


def ts(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(seed=11, settings=QUIET)


def make_provider(server, key="sandbox-key", timeout=(2, 5)):
    return planet_provider_for(server, key, session_options={"timeout": timeout})


@pytest.fixture
def provider(sandbox):
    provider = make_provider(sandbox)
    yield provider
    provider.session.close()


def faults(server, *rules):
    return control(server, "POST", "/_sandbox/faults", list(rules))["rules"]


def logged(server, method, path_part=""):
    return [e for e in control(server, "GET", "/_sandbox/requests")["requests"]
            if e["method"] == method and path_part in e["path"]]


def three_aoi_draft(reference="qgis-faults000001"):
    params = {"start_time": ts(START + timedelta(hours=1)),
              "end_time": ts(START + timedelta(days=5))}
    return OrderDraft(connection_id="planet-1", product_id="area", name="Dam", params=params,
                      aois=[Aoi(geometry=area(0.3 * i)) for i in range(3)], client_reference=reference)


def names_in_sandbox(server):
    reader = make_provider(server)
    try:
        return sorted(o.name for o in reader.orders())
    finally:
        reader.session.close()


EXPECTED_NAMES = [f"Dam {i} [qgis-faults000001]" for i in (1, 2, 3)]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_reads_survive_passing_server_errors(sandbox, provider, status):
    provider.place(three_aoi_draft())
    faults(sandbox, {"path": ORDERS_PATH, "method": "GET", "kind": "status", "status": status, "count": 2,
                     "retry_after": 0 if status == 429 else None})
    assert len(provider.orders()) == 3
    statuses = [e["status"] for e in logged(sandbox, "GET", "/tasking/v2/orders/")]
    assert statuses[-3:] == [status, status, 200]


def test_a_slow_answer_is_retried(sandbox):
    quick = make_provider(sandbox, timeout=(1, 0.3))
    faults(sandbox, {"path": ORDERS_PATH, "method": "GET", "kind": "delay", "seconds": 2, "count": 1})
    assert quick.orders() == []
    [rule] = control(sandbox, "GET", "/_sandbox/faults")["rules"]
    assert rule["fired"] == 1 and len(logged(sandbox, "GET", "/orders/")) == 1  # the slow one is not done
    faults(sandbox, {"path": ORDERS_PATH, "method": "GET", "kind": "delay", "seconds": 2})
    with pytest.raises(ProviderTimeout, match="test Planet did not answer within 0.3 s"):
        quick.orders()
    control(sandbox, "DELETE", "/_sandbox/faults")
    quick.session.close()


def test_lost_answer_after_creation_never_duplicates(sandbox, provider):
    # The second POST creates its order, then the connection drops before the answer.
    faults(sandbox, {"path": ORDERS_PATH, "method": "POST", "kind": "drop_after", "after": 1, "count": 1})
    outcomes = provider.place(three_aoi_draft())
    assert all(o.placed for o in outcomes), [o.error for o in outcomes]
    assert names_in_sandbox(sandbox) == EXPECTED_NAMES
    assert len(logged(sandbox, "POST", "/orders/")) == 3
    # Placing again (all AOIs, or "retry failed" for one) finds the orders and posts nothing.
    again = provider.place(three_aoi_draft())
    assert [o.order.id for o in again] == [o.order.id for o in outcomes]
    assert [o.order.id for o in provider.place(three_aoi_draft(), only=[1])] == [outcomes[1].order.id]
    assert len(logged(sandbox, "POST", "/orders/")) == 3
    assert names_in_sandbox(sandbox) == EXPECTED_NAMES


def test_lost_answer_and_failed_check_reports_then_retry_finds_it(sandbox, provider):
    faults(sandbox,
           {"path": ORDERS_PATH, "method": "POST", "kind": "drop_after", "count": 1},
           # the check before placing passes; the look-up after the lost answer fails every retry
           {"path": ORDERS_PATH, "method": "GET", "kind": "status", "status": 503, "after": 1, "count": 5})
    draft = three_aoi_draft()
    draft.aois = draft.aois[:1]
    draft.name = "Dam 1"  # one AOI: the order is named "Dam 1 [ref]" like the first of three
    [outcome] = provider.place(draft)
    assert not outcome.placed
    assert "whether the order was created could not be checked" in outcome.error
    assert "never creates a second order" in outcome.error
    assert names_in_sandbox(sandbox) == EXPECTED_NAMES[:1]  # it was created
    [retried] = provider.place(draft, only=[0])
    assert retried.placed and retried.order.name == EXPECTED_NAMES[0]
    assert len(logged(sandbox, "POST", "/orders/")) == 1


@pytest.mark.parametrize("rule", [
    {"kind": "drop_before"},
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 503},
])
def test_unclear_failure_without_creation_is_reported_and_retry_places_once(sandbox, provider, rule):
    faults(sandbox, {"path": ORDERS_PATH, "method": "POST", "count": 1, **rule})
    outcomes = provider.place(three_aoi_draft())
    failed = [o for o in outcomes if not o.placed]
    assert len(failed) == 1
    assert "most likely not created" in failed[0].error and "Retry to place it" in failed[0].error
    assert len(names_in_sandbox(sandbox)) == 2
    [retried] = provider.place(three_aoi_draft(), only=[failed[0].aoi_index])
    assert retried.placed
    assert names_in_sandbox(sandbox) == EXPECTED_NAMES


def test_malformed_answer_to_a_post_is_reconciled(sandbox, provider):
    faults(sandbox, {"path": ORDERS_PATH, "method": "POST", "kind": "malformed", "count": 1})
    outcomes = provider.place(three_aoi_draft())
    assert all(o.placed for o in outcomes)
    assert names_in_sandbox(sandbox) == EXPECTED_NAMES


def test_wrong_key_is_credentials_rejected_naming_the_connection(sandbox):
    wrong = make_provider(sandbox, key="wrong")
    with pytest.raises(CredentialsRejected, match="credentials rejected by test Planet") as info:
        wrong.orders()
    assert "api-key" not in str(info.value)
    with pytest.raises(CredentialsRejected):  # the look-up before placing is refused: nothing is posted
        wrong.place(three_aoi_draft())
    assert logged(sandbox, "POST", "/orders/") == []
    wrong.session.close()


def test_malformed_json_is_unreadable_not_a_traceback(sandbox, provider):
    [outcome] = provider.place(OrderDraft("planet-1", "point", "P", {
        "start_time": ts(START + timedelta(hours=1)),
        "end_time": ts(START + timedelta(days=3))}, [Aoi({"type": "Point", "coordinates": [1, 2]})], "qgis-m"))
    faults(sandbox, {"path": r"^/tasking/v2/orders/", "method": "GET", "kind": "malformed", "count": 99})
    with pytest.raises(UnreadableResponse, match="answered something unreadable"):
        provider.order(outcome.order.id)
    with pytest.raises(UnreadableResponse):
        provider.orders()
    with pytest.raises(UnreadableResponse):
        provider.check()
