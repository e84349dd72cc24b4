"""Text from servers is inert: markup in provider strings shows as the characters it is, everywhere.

The sandbox serves hostile text (``hostile_text`` setting): product and collection titles and
descriptions, schema titles and descriptions, feasibility option descriptions and order names
carry ``<img src=x onerror=alert(1)>``, ``<a href="http://evil">click</a>`` and ``<b>bold</b>``.
Every label that shows such text must be plain text; every tooltip (Qt guesses rich text for
tooltips) must either not look like rich text or carry the markup escaped; message boxes and the
message bar likewise.
"""
import pytest
import requests
from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer
from qgis.gui import QgsMessageBar
from qgis.PyQt import QtGui  # noqa: F401 - puts mightBeRichText into the Qt namespace
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QAbstractItemView, QComboBox, QLabel, QMessageBox, QWidget
from sandbox_harness import SandboxControl

from satellite_tasking.plugin.drafts import DraftStore
from satellite_tasking.plugin.http import build_session
from satellite_tasking.plugin.message_bar import MessageBar
from satellite_tasking.plugin.model import Connection, ConnectionKind
from satellite_tasking.plugin.provider_factory import ProviderFactory
from satellite_tasking.plugin.sandbox.up42_schemas import HOSTILE_MARKUP
from satellite_tasking.plugin.settings import new_connection_id, store_credentials
from satellite_tasking.plugin.tasks import TaskRunner
from satellite_tasking.ui.connections_dialog import ConnectionsDialog
from satellite_tasking.ui.decisions_dialog import DecisionsDialog
from satellite_tasking.ui.order_dialog import PRODUCT_ROLE, OrderDialog

WAIT = 30000
DAY = 86400
OPTICAL = "a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"
RAW_MARKUP = ("<img", "<a ", "<b>")
PARAMS = {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-02-10T23:59:59Z",
          "acquisitionMode": "mono", "maxCloudCover": 10}


def fast_sessions(connection):
    return build_session(connection.name, "SatelliteTasking/test QGIS/test", max_retries=1, sleep=lambda s: None)


def is_inert(text) -> bool:
    """Shown literally: Qt renders it as plain text, or it is rich text with the markup escaped."""
    text = str(text or "")
    if not Qt.mightBeRichText(text):
        return True
    return not any(marker in text for marker in RAW_MARKUP)


def _cells(model):
    try:
        columns = model.columnCount()
    except TypeError:  # list models keep columnCount protected: one column
        columns = 1
    return [model.index(r, c) for r in range(model.rowCount()) for c in range(max(columns, 1))]


def hostile(text) -> bool:
    return any(marker in str(text) for marker in HOSTILE_MARKUP)


def problems_in(root: QWidget) -> list:
    """Every place under ``root`` where provider markup would be rendered, described."""
    found = []
    for widget in [root, *root.findChildren(QWidget)]:
        name = f"{type(widget).__name__} {widget.objectName()!r}"
        if not is_inert(widget.toolTip()):
            found.append(f"{name} tooltip {widget.toolTip()!r}")
        if isinstance(widget, QLabel) and hostile(widget.text()) and \
                widget.textFormat() != Qt.TextFormat.PlainText:
            found.append(f"{name} label shows rich text {widget.text()!r}")
        model = widget.model() if isinstance(widget, (QComboBox, QAbstractItemView)) else None
        if model is not None:
            for index in _cells(model):
                tip = model.data(index, Qt.ItemDataRole.ToolTipRole)
                if not is_inert(tip):
                    found.append(f"{name} item {index.row()},{index.column()} tooltip {tip!r}")
    return found


def shown_texts(root: QWidget) -> str:
    texts = []
    for widget in [root, *root.findChildren(QWidget)]:
        if isinstance(widget, QLabel):
            texts.append(widget.text())
        model = widget.model() if isinstance(widget, (QComboBox, QAbstractItemView)) else None
        if model is not None:
            texts += [str(model.data(index) or "") for index in _cells(model)]
    return "\n".join(texts)


@pytest.fixture
def sandbox(start_sandbox):
    server = start_sandbox(seed=23, settings={"up42_failure_rate": 0.0})
    SandboxControl(server).settings(hostile_text=True)
    return server


@pytest.fixture
def questions(monkeypatch):
    asked = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


@pytest.fixture
def up42(clean_settings, sandbox):
    connection = Connection(id=new_connection_id(), name="UP42 <b>markup</b>", kind=ConnectionKind.UP42,
                            base_url=sandbox.base_url)
    connection.authcfg = store_credentials(connection, "inert@example.org", "inert-password")
    clean_settings.save(connection)
    clean_settings.set_default_connection(connection.id)
    return connection


def test_the_sandbox_serves_hostile_text_only_when_asked(sandbox):
    token = requests.post(sandbox.base_url + "/oauth/token", data={
        "grant_type": "password", "username": "u", "password": "p", "client_id": "up42-sdk"}, timeout=5).json()
    headers = {"Authorization": "Bearer " + token["access_token"]}
    titles = [p["title"] for c in requests.get(sandbox.base_url + "/v2/collections", headers=headers,
                                                timeout=5).json()["content"] for p in c["dataProducts"]]
    assert titles and all(hostile(t) for t in titles)
    requests.post(sandbox.base_url + "/_sandbox/settings", json={"hostile_text": False}, timeout=5)
    titles = [p["title"] for c in requests.get(sandbox.base_url + "/v2/collections", headers=headers,
                                                timeout=5).json()["content"] for p in c["dataProducts"]]
    assert titles and not any(hostile(t) for t in titles)


def test_provider_markup_is_shown_as_plain_text_in_every_dialog(
        clean_settings, up42, sandbox, recording_iface, qtbot, questions, tmp_path):
    bar = QgsMessageBar()
    recording_iface.messageBar = lambda: bar
    messages = MessageBar(recording_iface)
    factory = ProviderFactory(sandbox=None, settings=clean_settings, session_factory=fast_sessions)

    # Connections dialog: the result of a test, the list.
    connections = ConnectionsDialog(TaskRunner(), settings=clean_settings, session_factory=fast_sessions)
    qtbot.addWidget(connections)
    connections.reload(select_id=up42.id)
    connections.testButton.click()
    qtbot.waitUntil(lambda: connections.testButton.isEnabled(), timeout=WAIT)
    assert "<b>markup</b>" in connections.resultLabel.text()
    assert connections.resultLabel.textFormat() == Qt.TextFormat.PlainText
    assert problems_in(connections) == []

    # Order dialog: product combo, description, schema form, AOI table, status.
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "<i>layer</i>", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt("POLYGON((13.3 52.45, 13.4 52.45, 13.4 52.52, 13.3 52.52, 13.3 52.45))"))
    layer.dataProvider().addFeatures([feature])
    QgsProject.instance().addMapLayer(layer)
    layer.selectAll()
    dialog = OrderDialog(recording_iface, factory, TaskRunner(), DraftStore(tmp_path / "drafts"), layers=[layer],
                         messages=messages)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: bool(dialog.products), timeout=WAIT)
    assert all(hostile(p.title) and hostile(p.description) for p in dialog.products.values())
    row = next(r for r in range(dialog.product_model.rowCount())
               if dialog.product_model.item(r).data(PRODUCT_ROLE) == OPTICAL)
    assert hostile(dialog.product_model.item(row).text()), "the combo shows the title as the characters it is"
    dialog.productCombo.setCurrentIndex(row)
    qtbot.waitUntil(lambda: dialog.form is not None and dialog.form_product is dialog.products[OPTICAL],
                    timeout=WAIT)
    assert hostile(dialog.productDescription.text())
    assert dialog.productDescription.textFormat() == Qt.TextFormat.PlainText
    assert hostile(shown_texts(dialog.form)), "the schema's titles and descriptions reached the form"
    dialog.form.set_values({**dialog.form.values(), **PARAMS})
    dialog.nameEdit.setText("Fields")
    qtbot.waitUntil(lambda: dialog.placeButton.isEnabled(), timeout=WAIT)
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and bool(dialog.draft.outcomes), timeout=WAIT)
    assert all(o.get("order_id") for o in dialog.draft.outcomes.values()), dialog.draft.outcomes
    assert dialog.statusLabel.textFormat() == Qt.TextFormat.PlainText
    assert dialog.aoiNotes.textFormat() == Qt.TextFormat.PlainText
    # An error in the AOI table, as a provider might phrase it.
    dialog.draft.outcomes["0"] = {"error": HOSTILE_MARKUP[0] + " refused " + HOSTILE_MARKUP[1]}
    dialog._show_aois()
    assert hostile(shown_texts(dialog.aoiTable))
    assert problems_in(dialog) == []
    assert questions and all(is_inert(text) for text in questions), questions
    assert any(hostile(q.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')) for q in questions)

    # Decisions dialog: order names, option descriptions, details; the confirmation.
    requests.post(sandbox.base_url + "/_sandbox/clock", json={"advance_seconds": 4 * DAY}, timeout=5)
    decisions = DecisionsDialog(factory.provider_for(up42), TaskRunner(), messages=messages)
    qtbot.addWidget(decisions)
    qtbot.waitUntil(lambda: decisions.ordersList.count() > 0, timeout=WAIT)
    qtbot.waitUntil(lambda: decisions.study is not None and decisions.optionsList.count() > 0, timeout=WAIT)
    assert hostile(decisions.ordersList.item(0).text()) and hostile(decisions.optionsList.item(0).text())
    assert hostile(decisions.detailsLabel.text())
    assert decisions.detailsLabel.textFormat() == Qt.TextFormat.PlainText
    assert problems_in(decisions) == []
    decisions.optionsList.setCurrentRow(0)
    asked = len(questions)
    decisions.confirmOptionButton.click()
    qtbot.waitUntil(lambda: any("Option confirmed" in item.text() for item in bar.items()), timeout=WAIT)
    assert len(questions) == asked + 1 and is_inert(questions[-1]), questions[-1]
    assert decisions.statusLabel.textFormat() == Qt.TextFormat.PlainText

    # Message bar: the plugin's one way to tell the user something escapes what it quotes.
    product = dialog.products[OPTICAL]
    messages.warning(f"{product.title} could not be ordered: {product.description}")
    texts = [f"{item.title()} {item.text()}" for item in bar.items()]
    assert texts and all(not any(m in t for m in RAW_MARKUP) for t in texts), texts
    assert any("&lt;img" in t for t in texts)
    dialog.done(0)
