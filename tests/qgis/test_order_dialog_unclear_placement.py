"""The order dialog and an unclear placement: an order created whose answer was lost while its orders cannot be
read back is kept in the draft as unclear (the shared bookkeeping, plugin/placement_ledger.py), "Retry failed"
offers it, and the retry finds the order instead of placing it twice."""
import pytest
import requests
from qgis_harness import choose_product, memory_layer, square_wkt
from sandbox_harness import control

WAIT = 30000
LOCK_IN = {"start_time": "2026-01-06T01:00:00Z", "end_time": "2026-01-12T01:00:00Z"}
ORDERS = r"^/tasking/v2/orders/$"


@pytest.fixture
def plugin(load_plugin):
    return load_plugin(seed=9, answer_yes=True)


def planet_orders_named_with(plugin, reference):
    page = requests.get(f"{plugin.sandbox.url()}/tasking/v2/orders/",
                        params={"name__icontains": reference, "limit": 1000},
                        headers={"Authorization": "api-key sandbox-api-key"}, timeout=10).json()
    return page["results"]


def test_an_unclear_answer_is_kept_unclear_and_the_retry_finds_the_order(plugin, recording_iface, qtbot):
    control(plugin.sandbox, "POST", "/_sandbox/settings", {"planet_rejection_rate": 0.0, "planet_pricing": True})
    layer = memory_layer("Polygon", [square_wkt(13.0 + index * 0.1, 52.0) for index in range(2)])
    recording_iface.layer_tree_view.setCurrentLayer(layer)
    plugin.layer_task_action.trigger()
    dialog = plugin._order_dialog
    choose_product(qtbot, dialog, "planet:area")
    dialog.form.set_values({**dialog.form.values(), **LOCK_IN})
    dialog.nameEdit.setText("Unclear")
    qtbot.waitUntil(lambda: dialog.placeButton.isEnabled(), timeout=WAIT)
    reference = dialog.draft.client_reference
    # The first order is created and its answer lost; every listing after the first (the look-up before
    # sending) fails, so the read-back cannot say whether it exists.
    control(plugin.sandbox, "POST", "/_sandbox/faults", [
        {"path": ORDERS, "method": "POST", "kind": "drop_after", "count": 1},
        {"path": ORDERS, "method": "GET", "kind": "status", "status": 503, "after": 1, "count": 20}])
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and len(dialog.draft.outcomes) == 2, timeout=WAIT)
    entries = dialog.draft.outcomes
    unclear = [i for i, e in entries.items() if e.get("unclear")]
    assert len(unclear) == 1, entries
    assert "whether the order was created could not be checked" in entries[unclear[0]]["error"]
    assert dialog.ledger().unclear == [int(unclear[0])] and dialog.ledger().failed == [int(unclear[0])]
    assert dialog.retryButton.isEnabled()

    control(plugin.sandbox, "DELETE", "/_sandbox/faults")
    assert len(planet_orders_named_with(plugin, reference)) == 2  # it was created after all
    dialog.retryButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and dialog.ledger().fully_placed, timeout=WAIT)
    assert len(planet_orders_named_with(plugin, reference)) == 2, "found, not placed twice"
    assert dialog.ledger().retried == [int(unclear[0])]
