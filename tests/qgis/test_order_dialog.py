"""From selected features to placed orders, through the plugin's own actions, against the sandbox."""
import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
from qgis_harness import memory_layer

import satellite_tasking
from satellite_tasking.ui.decisions_dialog import ORDER_ROLE

OPTICAL = "Pléiades Neo"
WAIT = 30000


@pytest.fixture
def plugin(load_plugin):
    return load_plugin(seed=5, answer_yes=True)


def fields_layer():
    """Web Mercator polygons near Berlin: two plain ones, a two-part multipolygon, an invalid bow-tie."""
    return memory_layer("MultiPolygon", [
        "POLYGON((1489000 6891000, 1491000 6891000, 1491000 6893000, 1489000 6893000, 1489000 6891000))",
        "POLYGON((1495000 6891000, 1497000 6891000, 1497000 6893000, 1495000 6893000, 1495000 6891000))",
        "MULTIPOLYGON(((1500000 6891000, 1501000 6891000, 1501000 6892000, 1500000 6892000, 1500000 6891000)),"
        "((1503000 6891000, 1504000 6891000, 1504000 6892000, 1503000 6892000, 1503000 6891000)))",
        "POLYGON((1506000 6891000, 1508000 6893000, 1508000 6891000, 1506000 6893000, 1506000 6891000))",
    ], crs="EPSG:3857")


def choose_product(qtbot, dialog, title_part):
    qtbot.waitUntil(lambda: bool(dialog.products), timeout=WAIT)
    for row in range(dialog.product_model.rowCount()):
        product_id = dialog.product_model.item(row).data(satellite_tasking.ui.order_dialog.PRODUCT_ROLE)
        if product_id and title_part in (dialog.products[product_id].collection_title + dialog.products[
                product_id].title):
            dialog.productCombo.setCurrentIndex(row)
            break
    else:
        raise AssertionError(f"no product like {title_part}: {[p.title for p in dialog.products.values()]}")
    qtbot.waitUntil(lambda: dialog.form is not None and dialog.form_product is dialog.products[product_id],
                    timeout=WAIT)
    return dialog.products[product_id]


def sandbox_get(plugin, path):
    token = requests.post(f"{plugin.sandbox.url()}/oauth/token", data={
        "grant_type": "password", "username": "sandbox-user", "password": "sandbox-password",
        "client_id": "up42-sdk"}, timeout=5).json()["access_token"]
    return requests.get(f"{plugin.sandbox.url()}{path}", headers={"Authorization": f"Bearer {token}"},
                        timeout=5).json()


def window():
    start = datetime(2026, 1, 10, tzinfo=timezone.utc)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ"), (start + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_layer_action_to_placed_orders_with_feasibility_and_quote(plugin, recording_iface, qtbot):
    layer = fields_layer()
    recording_iface.layer_tree_view.setCurrentLayer(layer)
    plugin.layer_task_action.trigger()
    dialog = plugin._order_dialog
    assert dialog is not None and dialog.isVisible()
    product = choose_product(qtbot, dialog, OPTICAL)
    assert product.needs_feasibility and product.needs_quotation

    # 4 features → 5 AOIs (the multipolygon splits), the bow-tie repaired with a warning.
    assert len(dialog.draft.aois) >= 5
    assert any(aoi["warnings"] for aoi in dialog.draft.aois)
    assert "split" in dialog.aoiNotes.text().lower()

    form = dialog.form
    start, end = window()
    form.set_values({**form.values(), "acquisitionStart": start, "acquisitionEnd": end, "acquisitionMode": "mono"})
    assert "minBH" not in form.values()
    form.set_values({**form.values(), "acquisitionMode": "stereo"})
    qtbot.waitUntil(lambda: "minBH" in form.values(), timeout=WAIT)
    form.set_values({**form.values(), "maxCloudCover": 50})
    qtbot.waitUntil(lambda: not form.is_valid(), timeout=WAIT)
    assert "maxCloudCover" in " ".join(form.errors())
    assert not dialog.placeButton.isEnabled()
    form.set_values({**form.values(), "maxCloudCover": 15})
    qtbot.waitUntil(lambda: form.is_valid() and dialog.placeButton.isEnabled(), timeout=WAIT)
    dialog.nameEdit.setText("Berlin fields")

    dialog.estimateButton.click()
    qtbot.waitUntil(lambda: "Estimated total" in dialog.statusLabel.text() or not dialog.busy, timeout=WAIT)
    assert "Estimated total" in dialog.statusLabel.text(), dialog.statusLabel.text()

    dialog.placeButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and bool(dialog.draft.outcomes), timeout=WAIT)
    outcomes = dialog.draft.outcomes
    order_ids = [o["order_id"] for o in outcomes.values() if o.get("order_id")]
    assert len(order_ids) == len(dialog.draft.aois), outcomes
    orders = sandbox_get(plugin, "/v2/orders?size=100")["content"]
    ours = [o for o in orders if o["id"] in order_ids]
    assert len(ours) == len(order_ids)
    names = sorted(o["displayName"] for o in ours)
    assert names[0].startswith("Berlin fields 1")
    assert all(o["orderDetails"].get("acquisitionMode") == "stereo" for o in ours)
    assert all(o["orderDetails"].get("maxCloudCover") == 15 for o in ours)
    # The draft is done: placed drafts leave current.json and are archived.
    assert plugin.draft_store.load() is None

    # Feasibility, then the quote, from the plugin's own dialog.
    requests.post(f"{plugin.sandbox.url()}/_sandbox/clock", json={"advance_seconds": 4 * 86400}, timeout=5)
    decisions = plugin.show_decisions()
    qtbot.waitUntil(lambda: decisions.ordersList.count() > 0, timeout=WAIT)
    qtbot.waitUntil(lambda: decisions.study is not None and decisions.optionsList.count() > 0, timeout=WAIT)
    first_order = decisions.current_order()
    decisions.optionsList.setCurrentRow(0)
    decisions.confirmOptionButton.click()
    qtbot.waitUntil(lambda: "Option confirmed" in decisions.statusLabel.text()
                    or decisions.current_order() is not first_order, timeout=WAIT)
    requests.post(f"{plugin.sandbox.url()}/_sandbox/clock", json={"advance_seconds": 2 * 86400}, timeout=5)
    decisions.refresh()

    def row_of_first_order():
        rows = [row for row in range(decisions.ordersList.count())
                if decisions.ordersList.item(row).data(ORDER_ROLE) == first_order.id]
        return rows[0] if rows else None

    qtbot.waitUntil(lambda: row_of_first_order() is not None, timeout=WAIT)
    decisions.ordersList.setCurrentRow(row_of_first_order())

    def quote_ready():
        order = decisions.current_order()
        return order is not None and order.id == first_order.id and decisions.quotation is not None
    qtbot.waitUntil(quote_ready, timeout=WAIT)
    assert "Price:" in decisions.priceLabel.text()
    decisions.acceptButton.click()
    qtbot.waitUntil(lambda: sandbox_get(plugin, f"/v2/orders/{first_order.id}")["orderDetails"].get(
        "subStatus") != "QUOTATION_WAITING_RESPONSE", timeout=WAIT)
    quotes = sandbox_get(plugin, f"/v2/tasking/quotation?orderId={first_order.id}")["content"]
    assert quotes[0]["decision"] == "ACCEPTED"


def test_toolbar_action_restores_an_unplaced_draft(plugin, recording_iface, qtbot):
    layer = fields_layer()
    recording_iface.layer_tree_view.setCurrentLayer(layer)
    recording_iface.layer_tree_view.selectionModel().clear()
    recording_iface.layer_tree_view.setCurrentLayer(layer)
    plugin.task_action.trigger()
    dialog = plugin._order_dialog
    choose_product(qtbot, dialog, OPTICAL)
    dialog.nameEdit.setText("Kept draft")
    dialog.nameEdit.textEdited.emit("Kept draft")
    start, end = window()
    dialog.form.set_values({**dialog.form.values(), "acquisitionStart": start, "acquisitionEnd": end})
    dialog.save_draft()
    dialog.close()

    saved = json.loads((plugin.draft_store.current_path).read_text())
    assert saved["name"] == "Kept draft" and len(saved["aois"]) >= 5
    assert saved["params"]["acquisitionStart"] == start

    # Nothing selected any more: the toolbar action reopens the saved draft.
    layer.removeSelection()
    plugin.task_action.trigger()
    again = plugin._order_dialog
    assert again is not dialog
    assert again.nameEdit.text() == "Kept draft"
    qtbot.waitUntil(lambda: again.form is not None and again.form_product is not None, timeout=WAIT)
    assert again.form.values()["acquisitionStart"] == start
    assert len(again.draft.aois) == len(saved["aois"])


def test_no_selection_and_no_draft_says_so(plugin, recording_iface):
    layer = fields_layer()
    layer.removeSelection()
    recording_iface.layer_tree_view.setCurrentLayer(layer)
    plugin.layer_task_action.trigger()
    assert plugin._order_dialog is None


def test_an_interrupted_placement_is_reconciled_and_never_placed_twice(plugin, recording_iface, qtbot):
    layer = fields_layer()
    recording_iface.layer_tree_view.setCurrentLayer(layer)
    plugin.layer_task_action.trigger()
    dialog = plugin._order_dialog
    choose_product(qtbot, dialog, "SAR")
    start, end = window()
    dialog.form.set_values({**dialog.form.values(), "acquisitionStart": start, "acquisitionEnd": end})
    dialog.nameEdit.setText("Interrupted")
    qtbot.waitUntil(lambda: dialog.placeButton.isEnabled(), timeout=WAIT)
    # QGIS "dies" after the request left: the provider created the first AOI's order, the
    # draft still says a placement was under way and knows no outcome.
    draft = dialog.current_order_draft()
    outcome = dialog.provider.place(draft, only=[0])[0]
    assert outcome.placed, outcome.error
    created = outcome.order
    dialog.draft.placing = list(range(len(dialog.draft.aois)))
    dialog.draft.name = "Interrupted"
    plugin.draft_store.save(dialog.draft)
    dialog.done(0)

    plugin.open_order_dialog([])
    again = plugin._order_dialog
    qtbot.waitUntil(lambda: again.draft.outcomes.get("0", {}).get("order_id") == created.id, timeout=WAIT)
    assert again.draft.placing == []
    qtbot.waitUntil(lambda: again.form is not None and again.placeButton.isEnabled(), timeout=WAIT)
    again.placeButton.click()
    qtbot.waitUntil(lambda: not again.busy and len(again.draft.outcomes) == len(again.draft.aois), timeout=WAIT)
    ids = [o.get("order_id") for o in again.draft.outcomes.values()]
    assert all(ids) and ids[0] == created.id
    orders = sandbox_get(plugin, "/v2/orders?size=200")["content"]
    ours = [o for o in orders if draft.client_reference in o["tags"]]
    assert len(ours) == len(again.draft.aois), "one order per AOI, the first not placed twice"
