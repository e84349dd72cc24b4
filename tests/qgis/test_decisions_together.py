"""Several orders decided at once: one feasibility option confirmed for all selected orders, all their prices
accepted after one question naming the total (default No), and the list keeping its order meanwhile."""
import requests
from qgis.PyQt.QtCore import QItemSelectionModel
from qgis.PyQt.QtWidgets import QMessageBox

from satellite_tasking.plugin.model import Aoi, Connection, ConnectionKind, OrderDraft
from satellite_tasking.plugin.provider_factory import ProviderFactory
from satellite_tasking.plugin.sandbox_service import SandboxService
from satellite_tasking.plugin.sessions import SessionFactory
from satellite_tasking.plugin.settings import SANDBOX_CONNECTION_ID
from satellite_tasking.plugin.tasks import TaskRunner
from satellite_tasking.ui.decisions_dialog import ORDER_ROLE, DecisionsDialog

WAIT = 30000
PLEIADES = "up42:a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"
WINDOW = {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-01-30T00:00:00Z"}


def square(x):
    return {"type": "Polygon", "coordinates": [[[x, 52], [x + 0.05, 52], [x + 0.05, 52.05], [x, 52.05], [x, 52]]]}


def ids_in_list(dialog):
    return [dialog.ordersList.item(row).data(ORDER_ROLE) for row in range(dialog.ordersList.count())]


def select_all(dialog):
    model = dialog.ordersList.selectionModel()
    for row in range(dialog.ordersList.count()):
        model.select(dialog.ordersList.model().index(row, 0), QItemSelectionModel.SelectionFlag.Select)


def test_one_option_and_one_price_question_for_several_orders(qgis_app, qtbot, monkeypatch):
    sandbox = SandboxService(state_file=None, speed=0, port=0, seed=7)
    asked = []

    def answer(parent, title, text, buttons=None, default=None):
        asked.append((title, text, default))
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    try:
        connection = Connection(id=SANDBOX_CONNECTION_ID, name="Sandbox", kind=ConnectionKind.SANDBOX)
        provider = ProviderFactory(sandbox, session_factory=SessionFactory(agent="SatelliteTasking/test QGIS/test")
                                   ).provider_for(connection)
        from satellite_tasking.plugin.processing.order_params import with_defaults

        product = next(p for p in provider.products() if p.id == PLEIADES)
        params = with_defaults(provider.order_schema(product), {**WINDOW, "maxCloudCover": 10})
        draft = OrderDraft(SANDBOX_CONNECTION_ID, PLEIADES, "Same", params,
                           [Aoi(square(13 + i * 0.1)) for i in range(3)], "ref-together")
        outcomes = provider.place(draft)
        assert all(outcome.placed for outcome in outcomes), [o.error for o in outcomes]
        requests.post(f"{sandbox.url()}/_sandbox/clock", json={"advance_seconds": 4 * 86400}, timeout=5)

        said = []
        messages = type("Messages", (), {"success": lambda self, text: said.append(text)})()
        dialog = DecisionsDialog(provider, TaskRunner(), messages=messages)
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: dialog.ordersList.count() == 3, timeout=WAIT)
        order_ids = ids_in_list(dialog)
        qtbot.waitUntil(lambda: dialog.study is not None and dialog.optionsList.count() > 0, timeout=WAIT)
        select_all(dialog)
        assert dialog.confirmOptionButton.text() == "Confirm chosen option for 3 orders"
        dialog.optionsList.setCurrentRow(0)
        dialog.confirmOptionButton.click()
        qtbot.waitUntil(lambda: any("Option confirmed for 3 orders" in text for text in said), timeout=WAIT)
        assert len(asked) == 1 and asked[0][2] == QMessageBox.StandardButton.No

        requests.post(f"{sandbox.url()}/_sandbox/clock", json={"advance_seconds": 2 * 86400}, timeout=5)
        dialog.refresh()
        qtbot.waitUntil(lambda: dialog.ordersList.count() == 3 and all(
            o.decision.value == "quotation" for o in dialog.orders.values()), timeout=WAIT)
        assert ids_in_list(dialog) == order_ids, "the list keeps its order"
        select_all(dialog)
        qtbot.waitUntil(lambda: dialog.acceptButton.isEnabled(), timeout=WAIT)
        assert dialog.acceptButton.text() == "Accept 3 prices…"
        dialog.acceptButton.click()
        qtbot.waitUntil(lambda: any("3 prices accepted" in text for text in said), timeout=WAIT)
        title, text, default = asked[-1]
        assert title == "Accept prices" and "3 prices" in text and "in all" in text and "credits" in text
        assert default == QMessageBox.StandardButton.No
        assert len(asked) == 2
        for order in provider.orders():
            if order.id in order_ids:
                quotation = provider.quotation(order)
                assert quotation is None or quotation.decision == "ACCEPTED", quotation
    finally:
        sandbox.stop()
