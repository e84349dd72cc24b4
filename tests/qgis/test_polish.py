"""Polish: plurals in words, readable amounts and moments, notes joined as sentences, the download folder picker
opening in the user's home (then the folder chosen last), and a translucent opportunities layer."""
import re
from datetime import datetime, timezone
from pathlib import Path

from qgis.core import QgsSettings, QgsVectorLayer
from qgis.PyQt.QtWidgets import QFileDialog

import satellite_tasking
from satellite_tasking.plugin.model import Order, OrderStatus, Status
from satellite_tasking.plugin.monitor import DOWNLOAD_FOLDER_KEY
from satellite_tasking.plugin.wording import amount, moment, plural, sentences
from satellite_tasking.ui.opportunities import _style_translucent

ROOT = Path(satellite_tasking.__file__).resolve().parent


def test_words_amounts_and_moments():
    assert plural(1, "order") == "1 order" and plural(6, "order") == "6 orders" and plural(0, "AOI") == "0 AOIs"
    assert amount(2252, "credits") == "2,252 credits" and amount(12.5, "USD") == "12.5 USD"
    now = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)
    assert moment("2026-12-02T14:05:00Z", now) == "today 14:05 UTC"
    assert moment("2026-12-01T09:12:00.123Z", now) == "yesterday 09:12 UTC"
    assert moment("2026-03-03T14:05:00Z", now) == "3 Mar 2026 14:05 UTC"
    assert sentences(["Bow-tie repaired.", "Multipart split into 2 AOIs"]) == (
        "Bow-tie repaired. Multipart split into 2 AOIs.")


def test_no_user_facing_text_says_order_s():
    sources = [*ROOT.glob("ui/*.py"), ROOT / "plugin" / "monitor.py", *ROOT.glob("plugin/processing/*.py")]
    found = [f"{path.name}:{number}" for path in sources
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"[a-zA-Z]\(s\)", line)]
    assert found == []


def test_the_download_folder_picker_opens_at_home_then_where_the_user_chose(recording_iface, clean_settings,
                                                                            monkeypatch, tmp_path):
    QgsSettings().remove(DOWNLOAD_FOLDER_KEY)
    plugin = satellite_tasking.classFactory(recording_iface)
    plugin.initGui()
    try:
        opened = []
        answers = [str(tmp_path), ""]
        monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                            lambda parent, title, start="", *a: opened.append(start) or answers.pop(0))
        order = Order(id="o1", connection_id="nowhere", name="Field", status=Status(OrderStatus.COMPLETED, "FULFILLED"))
        plugin.monitor_dock.ask_to_download(order)  # chosen: tmp_path (the connection is gone: nothing downloads)
        plugin.monitor_dock.ask_to_download(order)
        assert opened == [str(Path.home()), str(tmp_path)]
    finally:
        plugin.unload()
        QgsSettings().remove(DOWNLOAD_FOLDER_KEY)


def test_the_opportunities_layer_lets_the_map_show_through():
    layer = QgsVectorLayer("MultiPolygon?crs=EPSG:4326", "opportunities", "memory")
    _style_translucent(layer)
    symbol = layer.renderer().symbol()
    assert symbol.color().alpha() < 80 and layer.opacity() < 1
