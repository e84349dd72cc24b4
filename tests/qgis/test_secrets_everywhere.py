"""Secrets stay in the QGIS authentication database, whatever the plugin does and however it fails.

One test drives every flow with recognisable credentials against the sandbox on 127.0.0.1:
connections added and tested in the dialog, products, schema, estimate, placement through the
order dialog, feasibility and quote decisions, sync into the store, delivery download, and the
failures (wrong password, unreachable host, 500s). Then it searches everything the plugin could
have written or said for the markers: the settings files and the whole test profile folder, the
authentication database (encrypted: no plaintext), the message log, the Python log at DEBUG
(urllib3 and requests included), every exception and every message shown, the store, the drafts
folder and a saved project. Access tokens the sandbox issued are searched for too, so no
Authorization header can leak either.
"""
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsProject, QgsSettings
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtWidgets import QMessageBox
from qgis_harness import choose_product, fill_connection, memory_layer
from sandbox_harness import control

from satellite_tasking.plugin.drafts import DraftStore
from satellite_tasking.plugin.http import build_session
from satellite_tasking.plugin.layers import ensure_layers
from satellite_tasking.plugin.message_bar import MessageBar
from satellite_tasking.plugin.model import Aoi, ConnectionKind, OrderDraft
from satellite_tasking.plugin.provider_factory import ProviderFactory
from satellite_tasking.plugin.settings import Credentials, read_credentials
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import sync_connection
from satellite_tasking.plugin.tasks import TaskRunner
from satellite_tasking.ui.connections_dialog import ConnectionsDialog
from satellite_tasking.ui.order_dialog import OrderDialog

UP42_USER = "analyst.UP42-USER-MARKER-6161@example.org"
UP42_PASSWORD = "pw-UP42-PASSWORD-MARKER-7373"
PLANET_KEY = "PLAK-PLANET-KEY-MARKER-9191"
AGENT = "SatelliteTasking/test QGIS/test"
WAIT = 30000
DAY = 86400
OPTICAL = "a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"
BERLIN = {"type": "Polygon",
          "coordinates": [[[13.30, 52.45], [13.50, 52.45], [13.50, 52.58], [13.30, 52.58], [13.30, 52.45]]]}
SQUARE = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]]}
OPTICAL_PARAMS = {
    "acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-02-10T23:59:59Z",
    "acquisitionMode": "mono", "maxCloudCover": 10, "maxIncidenceAngle": 30, "geometricProcessing": "ortho",
    "projection": "UTM", "spectralBands": "4BANDS", "pixelCoding": "12bits",
    "radiometricProcessing": "REFLECTANCE", "priority": "STANDARD",
}


def fast_sessions(connection):
    # Few, instant retries: the 500s below must fail fast, not wait out the real backoff.
    return build_session(connection.name, AGENT, max_retries=1, sleep=lambda seconds: None)


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(seed=17, settings={"up42_failure_rate": 0.0})


class Witness:
    """Everything said or raised while the flows run: logs, messages, exceptions."""

    def __init__(self):
        self.lines = []
        self.errors = []

    def say(self, text):
        self.lines.append(str(text))

    def raised(self, error):
        self.errors.append(error)
        self.lines += [str(error), repr(error), str(getattr(error, "user_message", ""))]
        cause = error.__cause__ or error.__context__
        if cause is not None:
            self.lines += [str(cause), repr(cause)]

    def expect_error(self, kind, work):
        with pytest.raises(kind) as caught:
            work()
        self.raised(caught.value)
        return caught.value


@pytest.fixture
def witness(qgis_app, monkeypatch):
    seen = Witness()

    def on_message(message, tag, level):
        seen.say(f"{tag}: {message}")

    class Collect(logging.Handler):
        def emit(self, record):
            seen.say(self.format(record))
            if record.exc_info and record.exc_info[1] is not None:
                seen.raised(record.exc_info[1])

    handler = Collect(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    QgsApplication.messageLog().messageReceived.connect(on_message)

    def question(parent, title, text, *args, **kwargs):
        seen.say(f"{title}: {text}")
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    yield seen
    QgsApplication.messageLog().messageReceived.disconnect(on_message)
    root.removeHandler(handler)
    root.setLevel(previous)


def advance(sandbox, seconds):
    return control(sandbox, "POST", "/_sandbox/clock", {"advance_seconds": seconds})


def fields_layer():
    return memory_layer("Polygon", [f"POLYGON(({13.30 + dx} 52.45, {13.40 + dx} 52.45, {13.40 + dx} 52.52, "
                                    f"{13.30 + dx} 52.52, {13.30 + dx} 52.45))" for dx in (0.0, 0.2)],
                        name="secret fields")


def add_connection(qtbot, dialog, witness, name, kind, base_url, username, password=""):
    fill_connection(dialog, name, kind, base_url, username, password)
    dialog.testButton.click()
    qtbot.waitUntil(lambda: dialog.testButton.isEnabled(), timeout=WAIT)
    witness.say(dialog.resultLabel.text())
    return dialog.current_connection(), dialog.resultLabel.text()


def place_through_the_order_dialog(qtbot, iface, factory, drafts, messages, layer, witness):
    dialog = OrderDialog(iface, factory, TaskRunner(), drafts, layers=[layer], messages=messages)
    qtbot.addWidget(dialog)
    choose_product(qtbot, dialog, OPTICAL, timeout=WAIT)
    dialog.form.set_values({**dialog.form.values(), **OPTICAL_PARAMS})
    dialog.nameEdit.setText("Secret-free fields")
    qtbot.waitUntil(lambda: dialog.placeButton.isEnabled(), timeout=WAIT)
    dialog.estimateButton.click()
    qtbot.waitUntil(lambda: "Estimated total" in dialog.statusLabel.text(), timeout=WAIT)
    witness.say(dialog.statusLabel.text())
    dialog.placeButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and len(dialog.draft.outcomes) == len(dialog.draft.aois), timeout=WAIT)
    witness.say(dialog.statusLabel.text())
    order_ids = [o.get("order_id") for o in dialog.draft.outcomes.values()]
    assert all(order_ids), dialog.draft.outcomes
    # A draft that stays in current.json too: a second, unplaced one.
    dialog.done(0)
    return order_ids


def files_under(folder: Path, skip=()):
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in skip:
            yield path


def test_no_secret_reaches_settings_logs_messages_errors_store_drafts_or_projects(
        clean_settings, recording_iface, qtbot, sandbox, witness, tmp_path):
    bar = QgsMessageBar()
    recording_iface.messageBar = lambda: bar
    messages = MessageBar(recording_iface)
    original_push = MessageBar.push

    def push(self, text, level="info", title=""):
        witness.say(text)
        original_push(self, text, level, title)

    messages.push = push.__get__(messages)

    # -- connections: added and tested in the dialog -------------------------------------------------
    dialog = ConnectionsDialog(TaskRunner(), settings=clean_settings, sandbox_url=lambda: sandbox.base_url,
                               session_factory=fast_sessions)
    qtbot.addWidget(dialog)
    up42, said = add_connection(qtbot, dialog, witness, "UP42 secrets", ConnectionKind.UP42, sandbox.base_url,
                                UP42_USER, UP42_PASSWORD)
    assert said.startswith("Connected to UP42 secrets"), said
    planet, said = add_connection(qtbot, dialog, witness, "Planet secrets", ConnectionKind.PLANET,
                                  sandbox.base_url + "/tasking/v2", PLANET_KEY)
    assert said.startswith("Connected to Planet secrets"), said
    assert read_credentials(up42.authcfg).password == UP42_PASSWORD
    assert read_credentials(planet.authcfg).username == PLANET_KEY
    clean_settings.set_default_connection(up42.id)
    factory = ProviderFactory(sandbox=None, settings=clean_settings, session_factory=fast_sessions)
    up42_provider = factory.provider_for(up42)
    planet_provider = factory.provider_for(planet)

    # -- products, schema, estimate and placement through the order dialog --------------------------------
    drafts = DraftStore(tmp_path / "drafts")
    layer = fields_layer()
    recording_iface.layer_tree_view.setCurrentLayer(layer)
    placed_ids = place_through_the_order_dialog(qtbot, recording_iface, factory, drafts, messages, layer, witness)
    unplaced = OrderDialog(recording_iface, factory, TaskRunner(), drafts, layers=[layer], messages=messages)
    qtbot.addWidget(unplaced)
    qtbot.waitUntil(lambda: unplaced.form is not None, timeout=WAIT)
    unplaced.save_draft()
    unplaced.done(0)
    assert drafts.current_path.exists()
    assert up42_provider.order_schema(up42_provider.products()[0])

    # -- feasibility, quotation, delivery and download -------------------------------------------------
    advance(sandbox, 4 * DAY)
    order = up42_provider.order(placed_ids[0])
    study = up42_provider.feasibility(order)
    up42_provider.choose_option(study, study.options[0])
    advance(sandbox, DAY)
    quotation = up42_provider.quotation(up42_provider.order(order.id))
    up42_provider.decide(quotation, accept=True)
    advance(sandbox, 6 * 3600 + 1)
    advance(sandbox, 6 * DAY)
    (delivery,) = up42_provider.deliveries(up42_provider.order(order.id))
    downloaded = up42_provider.download(delivery.assets[0], tmp_path / "downloads")
    assert downloaded.stat().st_size > 0

    # -- Planet: products, schema, estimate, placement, reconciliation ---------------------------------
    now = datetime.fromisoformat(control(sandbox, "GET", "/_sandbox/clock")["now"].replace("Z", "+00:00"))
    window = {"start_time": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
              "end_time": (now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    products = {p.id: p for p in planet_provider.products()}
    assert planet_provider.order_schema(products["area"])
    planet_draft = OrderDraft(connection_id=planet.id, product_id="area", name="Harbour", params=window,
                              aois=[Aoi(geometry=SQUARE, label="square")], client_reference="qgis-secret00001")
    try:
        witness.say(repr(planet_provider.estimate(planet_draft)))
    except Exception as error:  # noqa: BLE001 - Planet may not estimate; its refusal is searched too
        witness.raised(error)
    outcomes = planet_provider.place(planet_draft)
    assert outcomes[0].placed, outcomes[0].error
    assert planet_provider.placed_orders(planet_draft)
    witness.lines += [repr(o) for o in outcomes]

    # -- sync into the store -----------------------------------------------------------------------
    store = TaskingStore(tmp_path / "store" / "tasking.gpkg")
    for provider, connection in ((up42_provider, up42), (planet_provider, planet)):
        result = sync_connection(provider, store, connection.id)
        assert result.ok, result.error
        witness.say(result.summary())
    assert store.counts()

    # -- failures: wrong password, unreachable host, 500s ----------------------------------------------
    from satellite_tasking.plugin.http import CredentialsRejected, ProviderUnavailable, ProviderUnreachable
    from satellite_tasking.plugin.providers.up42 import Up42Provider

    wrong = Up42Provider(up42, Credentials(UP42_USER, "wrong"), fast_sessions(up42))  # the sandbox refuses "wrong"
    witness.expect_error(CredentialsRejected, wrong.products)
    dialog.reload(select_id=up42.id)
    dialog.passwordEdit.setText("wrong")
    dialog.testButton.click()
    qtbot.waitUntil(lambda: dialog.testButton.isEnabled(), timeout=WAIT)
    assert "rejected" in dialog.resultLabel.text().lower(), dialog.resultLabel.text()
    witness.say(dialog.resultLabel.text())
    dialog.reload(select_id=up42.id)
    dialog.passwordEdit.setText(UP42_PASSWORD)
    assert dialog.save_current()

    nowhere = clean_settings.connection(planet.id)
    nowhere.base_url = "http://127.0.0.1:9/tasking/v2"
    unreachable = factory.provider_for(nowhere)
    witness.expect_error(ProviderUnreachable, unreachable.check)
    failed_sync = sync_connection(unreachable, store, planet.id)
    assert failed_sync.error
    witness.say(failed_sync.error)

    control(sandbox, "POST", "/_sandbox/faults", {"path": "^/v2/orders", "status": 500, "count": 20})
    fresh = factory.provider_for(clean_settings.connection(up42.id))
    witness.expect_error(ProviderUnavailable, fresh.orders)
    failed_sync = sync_connection(fresh, store, up42.id)
    assert "problem on its side" in failed_sync.error, failed_sync.error
    witness.say(failed_sync.error)
    control(sandbox, "DELETE", "/_sandbox/faults")
    control(sandbox, "POST", "/_sandbox/faults", {"path": "^/v2/orders$", "method": "POST", "status": 500,
                                                  "count": 1})
    failed = fresh.place(OrderDraft(connection_id=up42.id, product_id=OPTICAL, name="Fails", params=OPTICAL_PARAMS,
                                    aois=[Aoi(geometry=BERLIN)], client_reference="qgis-secret00002"))
    assert not failed[0].placed
    witness.lines += [repr(o) for o in failed]
    control(sandbox, "DELETE", "/_sandbox/faults")
    messages.error(failed_sync.error)
    witness.lines += [f"{item.title()} {item.text()}" for item in bar.items()]

    # -- a project with the plugin's layers, saved ------------------------------------------------------
    ensure_layers(QgsProject.instance(), store)
    project_file = tmp_path / "project.qgz"
    assert QgsProject.instance().write(str(project_file))
    project_qgs = tmp_path / "project.qgs"
    assert QgsProject.instance().write(str(project_qgs))
    QgsProject.instance().clear()

    # -- the search ---------------------------------------------------------------------------------
    tokens = list(sandbox.dialects["up42"].tokens)
    assert len(tokens) >= 2, "the flows authenticated"
    secrets = [UP42_PASSWORD, PLANET_KEY, *tokens]
    identifying = secrets + [UP42_USER]

    QgsSettings().sync()
    profile = Path(QgsApplication.qgisSettingsDirPath())
    auth_db = Path(QgsApplication.qgisAuthDatabaseFilePath())
    settings_file = Path(QgsSettings().fileName())
    assert settings_file.exists() and up42.authcfg in settings_file.read_text(encoding="utf-8", errors="replace")
    written = [settings_file, *files_under(profile, skip={auth_db.name}),
               *files_under(tmp_path / "store"), *files_under(tmp_path / "drafts"), project_file, project_qgs]
    assert len(list(files_under(tmp_path / "drafts"))) >= 2
    hits = []
    for path in written:
        data = path.read_bytes()
        for marker in identifying:
            if marker.encode() in data:
                hits.append(f"{marker[:12]}… in {path}")
    auth_bytes = auth_db.read_bytes()
    hits += [f"{m[:12]}… in plaintext in {auth_db}" for m in identifying if m.encode() in auth_bytes]

    said = "\n".join(witness.lines)
    assert "urllib3" in said, "the DEBUG logs of urllib3 were captured"
    assert len(witness.errors) >= 3
    for marker in secrets:
        if marker in said:
            hits.append(f"{marker[:12]}… in what was logged, shown or raised")
    lowered = said.lower()
    hits += [f"{word!r} in what was logged, shown or raised" for word in ("authorization:", "bearer ", "api-key ")
             if word in lowered]
    # The figure `make soak` prints for the reliability section of the README.
    print(f"secrets: {len(secrets)} secrets searched in {len(written) + 1} files and {len(witness.lines)} log, "
          f"message and error lines: {len(hits)} hits")
    assert hits == []


@pytest.mark.parametrize("base_url", ["http://api.up42.com", "http://10.1.2.3:8080", "api.up42.com"])
def test_the_connections_dialog_refuses_plain_http_to_another_host_before_storing_credentials(
        clean_settings, qtbot, sandbox, witness, base_url):
    dialog = ConnectionsDialog(TaskRunner(), settings=clean_settings, sandbox_url=lambda: sandbox.base_url,
                               session_factory=fast_sessions)
    qtbot.addWidget(dialog)
    configs_before = set(QgsApplication.authManager().configIds())
    dialog.add_connection()
    new_id = dialog.current_connection().id
    dialog.nameEdit.setText("Insecure UP42")
    dialog.baseUrlEdit.setText(base_url)
    dialog.usernameEdit.setText(UP42_USER)
    dialog.passwordEdit.setText(UP42_PASSWORD)
    assert not dialog.save_current()
    message = dialog.resultLabel.text()
    assert message.startswith("Not saved: Insecure UP42: refusing"), message
    assert "https://" in message
    dialog.testButton.click()  # the test button saves first: refused the same way, nothing sent
    assert dialog.testButton.isEnabled() and dialog.resultLabel.text() == message
    assert set(QgsApplication.authManager().configIds()) == configs_before, "no credentials were stored"
    assert clean_settings.connection(new_id) is None, "a new connection is saved only by Save"

    # Loopback stays allowed over http (the sandbox, tests).
    dialog.baseUrlEdit.setText(sandbox.base_url)
    assert dialog.save_current()
    assert clean_settings.connection(new_id).base_url == sandbox.base_url
