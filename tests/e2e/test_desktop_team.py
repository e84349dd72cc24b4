"""Issue 17, in the real desktop: two QGIS on two profiles share one PostGIS store and one sandbox.

Desktop A places two orders through the order dialog; the sync service (its command, ``python3 -m
satellite_tasking.service``, on the same PostGIS) syncs them into the shared store and NOTIFYs; desktop B's open
dock shows them within 2 s of that announcement (as heard by a LISTEN in this test), and B never asks the provider
for its orders though its own sync timer ticks every 2 s meanwhile.

Whose request is whose: the sandbox logs no client, so each client reaches the one sandbox through a loopback relay
of its own (``RecordingRelay``: A, B and the service each a port), and each relay logs the requests it carried.
The three relays' requests together are exactly the sandbox's request log (checked), so B's relay log is B's
share of the sandbox's log.

How a desktop reaches the shared sandbox: the plugin's Sandbox connection is the simulator inside that QGIS
(``SandboxService``), which cannot be pointed at one running elsewhere; each scenario replaces its ``url`` with
its relay's URL before anything asks for it. The shared store is chosen the way a user's plugin settings keep it
(``satellite_tasking/shared_store`` in the profile's QGIS3.ini, ``store_choice``).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import qgis_desktop  # registered by conftest.py

ARTIFACTS = qgis_desktop.ARTIFACTS_DIR / "desktop_team"
SERVICE_INTERVAL_S = 4.0
DESKTOP_SYNC_INTERVAL_S = 2  # B's sync timer ticks this often: each tick would poll if B did
SHOWN_WITHIN_S = 2.0

# Both scenarios: the Sandbox connection goes to this desktop's relay (see the module's text).
_COMMON = """
import os
import time
from pathlib import Path

import qgis.utils

TEAM = Path(os.environ["TASKING_E2E_TEAM_DIR"])
plugin = qgis.utils.plugins["satellite_tasking"]
plugin.sandbox.url = lambda: os.environ["TASKING_E2E_SANDBOX_URL"]
"""

PLACING_SCENARIO = _COMMON + """
def scenario(ctx):
    from datetime import datetime, timedelta, timezone

    from qgis.PyQt.QtWidgets import QMessageBox

    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes)
    ctx.report["store"] = repr(plugin.monitor.store)
    yield lambda: (TEAM / "b_ready").exists()   # B's dock is open and listening
    ctx.fields_layer()
    dialog = yield from ctx.task_from_toolbar()
    form = yield from ctx.choose_product(dialog, "planet:area")
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    form.set_values({**form.values(), "start_time": f"{soon:%Y-%m-%dT%H:00:00Z}",
                     "end_time": f"{soon + timedelta(days=7):%Y-%m-%dT%H:00:00Z}"})
    dialog.nameEdit.setText("Team fields")
    yield lambda: form.is_valid() and dialog.placeButton.isEnabled()
    ctx.report["placing_at"] = time.time()
    dialog.placeButton.click()
    yield lambda: not dialog.busy and len([o for o in dialog.draft.outcomes.values() if o.get("order_id")]) == 2
    ctx.report["placed_at"] = time.time()
    ctx.report["placed"] = sorted(o["order_id"] for o in dialog.draft.outcomes.values())
    ctx.report["status_line"] = dialog.statusLabel.text() if hasattr(dialog, "statusLabel") else ""
    ctx.screenshot("order_dialog_placed")
    dialog.close()
    (TEAM / "a_done").write_text(str(time.time()))
"""

WATCHING_SCENARIO = _COMMON + """
def scenario(ctx):
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtGui import QGuiApplication

    ctx.report["store"] = repr(plugin.monitor.store)
    # B's own sync rounds (its timer runs while the dock shows and QGIS is the active application).
    rounds = []
    plugin.monitor.roundFinished.connect(lambda results: rounds.append(
        [[type(r).__name__, r.connection_id, getattr(r, "sentence", ""), r.error] for r in results]))
    iface.mainWindow().activateWindow()
    yield lambda: QGuiApplication.applicationState() == Qt.ApplicationState.ApplicationActive
    plugin.monitor_action.trigger()
    dock = plugin.monitor_dock
    yield lambda: dock.isVisible()
    yield lambda: dock.store_listener is not None and dock.store_listener.listening
    yield lambda: plugin.monitor.dock_up_to_date()
    ctx.report["rows_before"] = dock.rows()
    ctx.report["team_label_before"] = dock.teamLabel.text()
    ctx.screenshot("dock_before")

    # The moment the dock's model holds both orders, taken from the model's own signals (not the driver's ticks).
    seen = {}
    model = dock.orders_model

    def look(*_):
        if model.rowCount() >= 2 and "rows_shown_at" not in seen:
            seen["rows_shown_at"] = time.time()

    for signal in (model.modelReset, model.rowsInserted, model.layoutChanged, model.dataChanged):
        signal.connect(look)
    (TEAM / "b_ready").write_text(str(time.time()))
    yield lambda: "rows_shown_at" in seen or model.rowCount() >= 2
    look()
    ctx.report["rows_shown_at"] = seen["rows_shown_at"]
    yield lambda: (TEAM / "a_done").exists()
    yield lambda: plugin.monitor.dock_up_to_date()
    # Several of B's own sync ticks after the orders arrived: none of them may ask the provider.
    yield 3 * """ + str(DESKTOP_SYNC_INTERVAL_S) + """
    ctx.report["sync_rounds"] = rounds
    ctx.report["sync_timer_active"] = plugin.monitor.timer.isActive()
    ctx.report["rows"] = dock.rows()
    ctx.report["team_label"] = dock.teamLabel.text()
    ctx.report["errors_label"] = dock.errorLabel.text()
    ctx.report["mine_filter_visible"] = dock.mineFilter.isVisible()
    ctx.screenshot("dock_with_team_orders")
"""


class RecordingRelay:
    """A loopback TCP relay in front of the sandbox that logs each HTTP request it carries (method, path, time).

    One client per relay, so its log is that client's requests. Bytes pass through unchanged both ways; the
    client's stream is only read along (request head, then ``Content-Length`` bytes of body)."""

    def __init__(self, name: str, target_port: int):
        self.name = name
        self.target_port = target_port
        self.requests: list = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.5)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"relay-{name}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._carry, args=(client,), daemon=True).start()

    def _carry(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        pending = b""
        try:
            client.settimeout(None)
            while not self._stop.is_set():
                data = client.recv(65536)
                if not data:
                    break
                pending = self._note(pending + data)
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            for end in (client, upstream):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def _note(self, pending: bytes) -> bytes:
        """Log every complete request in ``pending``; the incomplete rest is returned."""
        while True:
            end = pending.find(b"\r\n\r\n")
            if end < 0:
                return pending
            head = pending[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                key, _, value = line.partition(":")
                if key.strip().lower() == "content-length":
                    length = int(value.strip() or 0)
            if len(pending) < end + 4 + length:
                return pending
            method, target = head[0].split(" ")[:2]
            with self._lock:
                self.requests.append({"method": method, "path": target.split("?")[0], "t": time.time()})
            pending = pending[end + 4 + length:]

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def logged(self) -> list:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)


def is_control(request: dict) -> bool:
    """The simulator's own control API (its clock, shown in the dock): no provider's, and not in its request log."""
    return request["path"].startswith("/_sandbox")


# What a sync asks the sandbox's providers (UP42 orders, Planet orders and captures, STAPI orders): listings and
# single orders. UP42's ``/orders/schema/<product>`` is its catalogue's order form, read once for product titles.
ORDER_READS = re.compile(r"^/(v2/orders|tasking/v2/orders|tasking/v2/captures|stapi/orders)(/|$)")


def is_order_listing(request: dict) -> bool:
    """A request that reads orders or captures from a provider: what a desktop's sync (or the service's) sends."""
    return request["method"] == "GET" and bool(ORDER_READS.match(request["path"]))


class SyncService:
    """The team's sync service as an operations team runs it: ``python3 -m satellite_tasking.service --store …
    --interval … --profile …`` (Debian's python3, as the systemd unit in docs/team-mode.md), from a folder holding
    the plugin as ``satellite_tasking``, its profile keeping the Sandbox connection, the sandbox at ``--sandbox-url``.

    Its announcements are heard here the way a dock hears them (a LISTEN on the store's channel, ``select`` on the
    socket), each noted with the time it arrived."""

    def __init__(self, folder: Path, conninfo: str, sandbox_url: str, interval_s: float):
        from satellite_tasking.plugin.settings import CONNECTIONS_GROUP, SANDBOX_CONNECTION_ID

        self.conninfo = conninfo
        self.announced: list = []  # (time it arrived, payload)
        self.failure = ""
        plugins = folder / "plugins"
        plugins.mkdir(parents=True)
        (plugins / "satellite_tasking").symlink_to(qgis_desktop.REPO_ROOT, target_is_directory=True)
        profile = qgis_desktop._load_profile_builder().build_profile(folder / "profiles", extra_settings={
            f"{CONNECTIONS_GROUP}/{SANDBOX_CONNECTION_ID}/name": "Sandbox",
            f"{CONNECTIONS_GROUP}/{SANDBOX_CONNECTION_ID}/kind": "sandbox"})
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="team-listener", daemon=True)
        self._listener.start()
        assert self._listening.wait(60), self.failure or "the test's LISTEN did not start"
        env = {key: value for key, value in os.environ.items()
               if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "QGIS_PREFIX_PATH")}
        env.update({"QT_QPA_PLATFORM": "offscreen", "PYTHONDONTWRITEBYTECODE": "1",
                    "XDG_RUNTIME_DIR": str(folder), "no_proxy": "127.0.0.1,localhost",
                    "NO_PROXY": "127.0.0.1,localhost"})
        self.log_path = folder / "service.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        python = shutil.which("python3", path="/usr/bin:/bin") or "python3"
        self.process = subprocess.Popen(
            [python, "-m", "satellite_tasking.service", "--store", conninfo, "--interval", f"{interval_s:g}",
             "--profile", str(profile), "--connection", SANDBOX_CONNECTION_ID, "--sandbox-url", sandbox_url,
             "--verbose"],
            cwd=plugins, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def _listen(self) -> None:
        import select

        from satellite_tasking.plugin.store_postgis import PostgisStore

        try:
            listener = PostgisStore(self.conninfo).listen()
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.failure = f"{type(error).__name__}: {error}"
            return
        self._listening.set()
        try:
            while not self._stop.is_set():
                if select.select([listener], [], [], 0.25)[0]:
                    arrived = time.time()
                    self.announced.extend((arrived, found) for found in listener.take())
        finally:
            listener.close()

    def said(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM (the service stops cleanly), SIGKILL after 30 s; then the LISTEN."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()
        self._stop.set()
        self._listener.join(timeout=10)


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def team_run(tmp_path_factory):
    import postgis_harness
    import sandbox_harness

    from satellite_tasking.plugin.sandbox import SandboxServer
    from satellite_tasking.plugin.settings import SANDBOX_CONNECTION_ID
    from satellite_tasking.plugin.store_postgis import PostgisStore

    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    try:
        server_context = postgis_harness.running_postgis()
        server = server_context.__enter__()
    except postgis_harness.PostgisMissing as missing:
        pytest.skip(str(missing))
    sandbox = SandboxServer(port=0, seed=1, speed=0, settings=sandbox_harness.QUIET,
                            start=datetime.now(timezone.utc))
    sandbox.start()
    relays = {name: RecordingRelay(name, int(sandbox.base_url.rsplit(":", 1)[1])) for name in ("A", "B", "service")}
    service = None
    try:
        conninfo = postgis_harness.new_database(server)
        store = PostgisStore(conninfo)  # the schema, created once before anyone else opens it
        service = SyncService(tmp_path_factory.mktemp("service"), conninfo, relays["service"].url,
                              SERVICE_INTERVAL_S)
        # Desktops opened before the service's first round would sync themselves meanwhile (and say so).
        _wait(lambda: store.syncers(SANDBOX_CONNECTION_ID) or not service.alive(), 120,
              "the service's first round")
        assert service.alive(), service.said()
        team_dir = tmp_path_factory.mktemp("team")
        settings = {"satellite_tasking/shared_store": conninfo, "satellite_tasking/shared_store_schema": "tasking",
                    "satellite_tasking/sync_interval_s": DESKTOP_SYNC_INTERVAL_S}
        runs: dict = {}

        def desktop(name: str, scenario: str) -> None:
            runs[name] = qgis_desktop.run_qgis(
                tmp_path_factory.mktemp(f"qgis-profiles-{name}"), scenario, timeout=420,
                artifacts_dir=ARTIFACTS, artifact_prefix=f"{name.lower()}_", step_timeout=240,
                extra_settings=settings,
                extra_env={"TASKING_E2E_TEAM_DIR": str(team_dir), "TASKING_E2E_SANDBOX_URL": relays[name].url})

        threads = [threading.Thread(target=desktop, args=("B", WATCHING_SCENARIO)),
                   threading.Thread(target=desktop, args=("A", PLACING_SCENARIO))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=480)
        assert not any(t.is_alive() for t in threads), "a desktop run did not end"
        service_alive = service.alive()
        service.stop()
        sandbox_log = [e for e in sandbox.requests_log() if not e["path"].startswith("/_sandbox")]
        result = {"A": runs["A"], "B": runs["B"], "service": service, "service_alive": service_alive,
                  "sandbox_log": sandbox_log,
                  "relays": {name: relay.logged() for name, relay in relays.items()}}
        (ARTIFACTS / "requests.json").write_text(json.dumps(
            {"sandbox_log": sandbox_log, "relays": result["relays"], "service_announcements": service.announced},
            indent=1, default=str), encoding="utf-8")
        (ARTIFACTS / "service.log").write_text(service.said(), encoding="utf-8")
        yield result
    finally:
        if service is not None:
            service.stop()
        for relay in relays.values():
            relay.close()
        sandbox.stop()
        server_context.__exit__(None, None, None)


def _runs_ok(team_run) -> None:
    a, b, service = team_run["A"], team_run["B"], team_run["service"]
    for run in (a, b):
        assert run.report.get("scenario_error") is None, run.describe()
        assert run.python_errors == [], run.describe()
    assert not service.failure, service.failure
    assert team_run["service_alive"], service.said()
    assert "PostgisStore" in a.report["store"] and "PostgisStore" in b.report["store"], (a.report["store"],
                                                                                        b.report["store"])
    assert len(a.report["placed"]) == 2


def test_b_asks_the_provider_for_no_order_while_the_service_keeps_the_store_current(team_run):
    _runs_ok(team_run)
    b = team_run["B"]
    # Whose requests: the three relays together carried exactly what the sandbox logged.
    relays, sandbox_log = team_run["relays"], team_run["sandbox_log"]
    carried = sorted((r["method"], r["path"]) for log in relays.values() for r in log if not is_control(r))
    assert carried == sorted((e["method"], e["path"]) for e in sandbox_log)
    assert any(r["method"] == "POST" for r in relays["A"]), "A placed through its relay"
    # B's share of the sandbox's log: not one order or capture read, though B's own sync timer ran its rounds
    # meanwhile (B reads the simulator's clock, which its dock shows, through the control API each round).
    assert [r for r in relays["B"] if is_order_listing(r)] == [], relays["B"]
    service_sync_requests = {(r["method"], r["path"]) for r in relays["service"] if is_order_listing(r)}
    assert service_sync_requests, "the service synced through its relay"
    asked = [(r["method"], r["path"]) for r in relays["B"] if not is_control(r)]
    assert not service_sync_requests & set(asked), asked
    # What B did ask (the product catalogue, for the dock's titles) it asked once: nothing of it is polled.
    assert len(asked) == len(set(asked)), asked
    rounds = b.report["sync_rounds"]
    assert len(rounds) >= 3 and b.report["sync_timer_active"], rounds
    assert all(r[0] == "LeftToTheTeam" and r[1] == "sandbox" for results in rounds for r in results), rounds
    assert "Kept current by the sync service" in b.report["team_label"], b.report["team_label"]


def test_b_s_dock_shows_a_s_orders_within_2_s_of_the_service_s_sync(team_run):
    _runs_ok(team_run)
    b, service = team_run["B"], team_run["service"]
    # B's dock: empty before, A's two orders after.
    assert b.report["rows_before"] == []
    rows = b.report["rows"]
    assert sorted(r["Name"].split(" [")[0] for r in rows) == ["Team fields 1", "Team fields 2"], rows
    assert b.report["errors_label"] == ""

    # Within 2 s of the announcement (NOTIFY) of the service's sync that brought the second order into the store.
    added, synced_at = 0, None
    for at, payload in service.announced:
        added += payload.get("orders_added", 0)
        if added >= 2:
            synced_at = at
            break
    assert synced_at is not None, service.announced
    delay = b.report["rows_shown_at"] - synced_at
    print(f"B's dock showed A's orders {delay:.2f} s after the service's sync announced them")
    assert 0 <= delay <= SHOWN_WITHIN_S, (delay, service.announced)


def test_screenshots_of_b_s_dock_are_saved(team_run):
    b = team_run["B"]
    for name in ("dock_before", "dock_with_team_orders"):
        shot = b.screenshots.get(name)
        assert shot is not None and shot.stat().st_size > 20_000, b.describe()
