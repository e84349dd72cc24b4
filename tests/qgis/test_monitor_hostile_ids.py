"""Provider text in the monitor's own sentences and expressions: names stay text, ids stay inside their quotes."""
from datetime import datetime, timezone

import pytest
from qgis.core import QgsExpression
from qgis.PyQt.QtGui import QTextDocument
from qgis.PyQt.QtWidgets import QMessageBox

from satellite_tasking.plugin.layers import ORDERS_ROLE, find_layers
from satellite_tasking.plugin.model import Order, OrderStatus, Status
from satellite_tasking.plugin.monitor import order_expression

from .test_monitor import plugin, sandbox, store_path  # noqa: F401 - the monitor's fixtures

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
# Old quoting doubled quotes only: a backslash before the closing quote ended the string, and "--" made the
# rest a comment, so this id selected every order.
HOSTILE_IDS = ["\\' OR 1=1 --", "a\\", "it's", "x\\' OR \"order_id\" <> '"]


def an_order(order_id, name="Harbour"):
    geometry = {"type": "Polygon", "coordinates": [[[13, 52], [13.1, 52], [13.1, 52.1], [13, 52.1], [13, 52]]]}
    return Order(id=order_id, connection_id="c1", name=name, status=Status(OrderStatus.ACCEPTED, "PENDING"),
                 product_id="area", geometry=geometry, updated_at=T0, raw={"id": order_id})


@pytest.mark.parametrize("order_id", HOSTILE_IDS)
def test_the_order_expression_parses_and_names_the_id_literally(order_id):
    expression = QgsExpression(order_expression("c'1\\", order_id))
    assert not expression.hasParserError(), expression.parserErrorString()


def test_selecting_an_order_with_quotes_and_backslashes_selects_that_order_only(plugin):  # noqa: F811
    monitor = plugin.monitor
    orders = [an_order("o-1"), an_order("o-2"), *(an_order(i) for i in HOSTILE_IDS)]
    monitor.store.apply("c1", orders, [])
    monitor.show_layers()
    layer = find_layers(monitor.project)[ORDERS_ROLE]
    layer.reload()
    for order in orders:
        monitor.select_on_map(order)
        assert [layer.getFeature(fid)["order_id"] for fid in layer.selectedFeatureIds()] == [order.id], order.id


def test_an_order_name_with_markup_is_plain_text_in_the_cancel_confirmation(plugin, monkeypatch):  # noqa: F811
    asked = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", question)
    name = "<b>Bold</b> <img src='file:///etc/passwd'> <a href='https://evil.example'>click</a>"
    plugin.monitor_dock.ask_to_cancel(an_order("o-9", name=name))
    document = QTextDocument()
    document.setHtml(asked[0])
    assert f"Cancel order “{name}” (o-9)?" in document.toPlainText()


def test_records_a_sync_skipped_are_named_in_the_dock_and_a_notice(plugin, qgis_iface):  # noqa: F811
    from qgis.core import Qgis

    from satellite_tasking.plugin.store import SkippedRecord
    from satellite_tasking.plugin.sync import SyncResult

    result = SyncResult("c1", orders_added=2,
                        skipped=[SkippedRecord("capture", "k1", "unsupported type for timedelta days: 'str'")])
    plugin.monitor._on_synced(result)
    shown = plugin.monitor_dock.errorLabel.text()
    assert "1 capture could not be read and was skipped (first: capture k1" in shown
    warnings = qgis_iface.messageBar().get_messages(Qgis.Warning)
    assert any("capture k1" in message for message in warnings)
    plugin.monitor._on_synced(SyncResult("c1"))
    assert "capture k1" not in plugin.monitor_dock.errorLabel.text()
