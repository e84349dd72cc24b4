"""The order dialog on the team's shared store: each AOI is claimed in the store before its request leaves; an AOI a
colleague holds is not sent, and the dialog says who has it."""
from datetime import datetime, timedelta, timezone

import pytest
from qgis.core import QgsProject
from qgis_harness import choose_product, memory_layer

from satellite_tasking.plugin.store_choice import set_project_shared_store

pytest.importorskip("psycopg2")

WAIT = 30000
PRODUCT = "planet:area"


@pytest.fixture
def team_plugin(load_plugin, postgis_conninfo):
    set_project_shared_store(QgsProject.instance(), postgis_conninfo)  # no password in it (trust)
    try:
        plugin = load_plugin(seed=5, answer_yes=True)
        assert getattr(plugin.monitor.store, "shared", False), plugin.monitor.store_problem
        yield plugin
    finally:
        set_project_shared_store(QgsProject.instance(), None)


def test_the_dialog_claims_before_sending_and_an_aoi_held_by_a_colleague_is_not_sent(team_plugin, recording_iface,
                                                                                   qtbot):
    from satellite_tasking.plugin.store_postgis import default_user_name

    plugin, store = team_plugin, team_plugin.monitor.store
    layer = memory_layer("Polygon", [
        "POLYGON((13.40 52.50, 13.42 52.50, 13.42 52.52, 13.40 52.52, 13.40 52.50))",
        "POLYGON((13.45 52.50, 13.47 52.50, 13.47 52.52, 13.45 52.52, 13.45 52.50))",
    ])
    recording_iface.layer_tree_view.setCurrentLayer(layer)
    plugin.layer_task_action.trigger()
    dialog = plugin._order_dialog
    form = choose_product(qtbot, dialog, PRODUCT)
    start = datetime.now(timezone.utc) + timedelta(days=3)
    form.set_values({**form.values(), "start_time": start.strftime("%Y-%m-%dT01:00:00Z"),
                     "end_time": (start + timedelta(days=20)).strftime("%Y-%m-%dT01:00:00Z")})
    qtbot.waitUntil(lambda: form.is_valid() and dialog.placeButton.isEnabled(), timeout=WAIT)

    draft = dialog.current_order_draft()
    ben = store.claim_placement(draft.connection_id, draft.client_reference, draft.aois[1].geometry, "ben",
                                aoi_index=1)  # ben, in his QGIS, is placing the second field right now
    assert ben.granted
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and bool(dialog.draft.outcomes), timeout=WAIT)

    outcomes = dialog.draft.outcomes
    assert outcomes["0"].get("order_id"), outcomes
    assert not outcomes["1"].get("order_id") and outcomes["1"].get("held_elsewhere"), outcomes
    assert outcomes["1"]["error"].startswith("Already being placed by ben since ")
    assert "Area 2 not sent: Already being placed by ben since " in dialog.statusLabel.text()
    placements = store._query("SELECT aoi_index, placed_by, state, order_id FROM tasking.tasking_placements "
                              "WHERE draft_reference = %s ORDER BY aoi_index", (draft.client_reference,))
    assert placements == [(0, default_user_name(), "placed", outcomes["0"]["order_id"]), (1, "ben", "placing", None)]
