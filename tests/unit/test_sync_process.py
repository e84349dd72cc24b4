"""The sync in a process of its own (plugin/sync_process.py): the same sync, the same store, none of its Python in
the caller's process; cancels, crashes and a missing interpreter end in a sentence or in the in-process sync."""
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from satellite_tasking.plugin.http import ProxyConfig
from satellite_tasking.plugin.model import Connection, Credentials, Decision
from satellite_tasking.plugin.provider_recipe import ProviderRecipe
from satellite_tasking.plugin.records import SkippedRecord
from satellite_tasking.plugin.store import TaskingStore
from satellite_tasking.plugin.sync import SyncEvent, SyncEventKind, SyncResult, sync_connection
from satellite_tasking.plugin.sync_process import (
    SyncProcess,
    python_candidates,
    result_from_message,
    result_to_message,
)

AGENT = "SatelliteTasking/test (sync process)"


@pytest.fixture
def sync_process():
    process = SyncProcess()
    yield process
    process.close()


def sandbox_recipe(server, connection_id="sandbox") -> ProviderRecipe:
    return ProviderRecipe(Connection(id=connection_id, name="Sandbox", kind="sandbox"), None,
                          ProxyConfig(mode="none"), AGENT, sandbox_url=server.base_url)


def seed(sandbox_control, orders=60):
    sandbox_control.seed_orders("planet", {"count": orders, "captures_per_order": 3,
                                           "statuses": ["FULFILLED", "IN_PROGRESS"]})
    sandbox_control.seed_orders("up42", {"count": 5, "status": "FULFILLED"})
    sandbox_control.advance(60)


def stored_order_ids(path: Path, connection_id: str) -> set:
    return {order.id for order in TaskingStore(path).orders(connection_id)}


def test_the_interpreter_found_is_this_python():
    candidates = python_candidates()
    assert candidates, "no interpreter found beside this Python"
    assert all(path.is_file() for path in candidates)


def test_a_sync_in_the_process_stores_what_the_same_sync_here_stores(sandbox_server, sandbox_control, tmp_path,
                                                                     sync_process):
    seed(sandbox_control)
    recipe = sandbox_recipe(sandbox_server)
    elsewhere = sync_process.sync(recipe, tmp_path / "there.gpkg", "sandbox")
    assert elsewhere is not None and elsewhere.ok, elsewhere and elsewhere.error
    assert sync_process.pid not in (None, os.getpid())
    here = sync_connection(recipe.build(), TaskingStore(tmp_path / "here.gpkg"), "sandbox")
    assert here.ok, here.error
    assert (elsewhere.orders_added, elsewhere.captures_added) == (here.orders_added, here.captures_added)
    assert elsewhere.orders_added >= 60 and elsewhere.baseline
    assert stored_order_ids(tmp_path / "there.gpkg", "sandbox") == stored_order_ids(tmp_path / "here.gpkg",
                                                                                    "sandbox")


def test_the_process_keeps_each_connection_s_provider_between_syncs(sandbox_server, sandbox_control, tmp_path,
                                                                     sync_process):
    seed(sandbox_control, orders=10)
    recipe = sandbox_recipe(sandbox_server)
    assert sync_process.sync(recipe, tmp_path / "store.gpkg", "sandbox").ok
    pid = sync_process.pid
    sandbox_control.forget_requests()
    second = sync_process.sync(recipe, tmp_path / "store.gpkg", "sandbox")
    assert second.ok and not second.changed
    assert sync_process.pid == pid
    # The UP42 token and the user's workspace were read by the first sync and are kept, as in QGIS's process.
    assert not [r for r in sandbox_control.requests() if "token" in r["path"] or r["path"].endswith("/users/me")]


def test_a_cancelled_sync_writes_nothing(sandbox_server, sandbox_control, tmp_path, sync_process):
    seed(sandbox_control, orders=30)
    sandbox_control.add_fault(path=r"^/tasking/v2/captures", kind="delay", seconds=0.2)
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    result = sync_process.sync(sandbox_recipe(sandbox_server), tmp_path / "store.gpkg", "sandbox",
                               cancelled=cancel.is_set)
    assert result.cancelled and not result.error
    assert time.monotonic() - started < 20
    assert stored_order_ids(tmp_path / "store.gpkg", "sandbox") == set()


def test_a_process_ending_under_a_sync_gives_a_sentence_and_the_next_sync_starts_another(
        sandbox_server, sandbox_control, tmp_path, sync_process):
    seed(sandbox_control, orders=30)
    sandbox_control.add_fault(path=r"^/tasking/v2/captures", kind="delay", seconds=0.3, count=20)
    recipe = sandbox_recipe(sandbox_server)
    killed = []

    def kill_it():
        for _ in range(100):
            if sync_process.pid is not None:
                killed.append(sync_process.pid)
                os.kill(sync_process.pid, 9)
                return
            time.sleep(0.05)

    threading.Timer(1.0, kill_it).start()
    result = sync_process.sync(recipe, tmp_path / "store.gpkg", "sandbox")
    assert killed
    assert result.error.startswith("The sync process stopped unexpectedly (exit status -9)"), result.error
    assert stored_order_ids(tmp_path / "store.gpkg", "sandbox") == set()
    sandbox_control.clear_faults()
    again = sync_process.sync(recipe, tmp_path / "store.gpkg", "sandbox")
    assert again.ok, again.error
    assert sync_process.pid not in (None, killed[0])


def test_without_an_interpreter_that_starts_the_sync_none_is_given_and_said(tmp_path, sandbox_server):
    process = SyncProcess(command=lambda: [[sys.executable, "-c", "import sys; sys.exit(3)"],
                                           [str(tmp_path / "no-such-python"), "-c", "pass"]])
    try:
        assert process.sync(sandbox_recipe(sandbox_server), tmp_path / "store.gpkg", "sandbox") is None
        assert "exit status 3" in process.unavailable and "no-such-python" in process.unavailable
        assert process.sync(sandbox_recipe(sandbox_server), tmp_path / "store.gpkg", "sandbox") is None
    finally:
        process.close()


def test_an_interpreter_of_another_python_version_is_not_used(tmp_path, sandbox_server):
    fake = ("import json, sys; sys.stdout.write(json.dumps({'kind': 'ready', 'python': [2, 7]}) + '\\n'); "
            "sys.stdout.flush(); sys.stdin.read()")
    process = SyncProcess(command=lambda: [[sys.executable, "-c", fake]])
    try:
        assert process.sync(sandbox_recipe(sandbox_server), tmp_path / "store.gpkg", "sandbox") is None
        assert "is Python 2.7, not QGIS's" in process.unavailable
    finally:
        process.close()


def test_closing_ends_the_process_and_secrets_never_reach_its_command_line_or_environment(
        sandbox_server, sandbox_control, tmp_path):
    seed(sandbox_control, orders=5)
    process = SyncProcess()
    secret = "planet-key-never-on-a-command-line"
    planet = ProviderRecipe(Connection(id="planet", name="Planet", kind="planet",
                                       base_url=sandbox_server.base_url + "/tasking/v2"),
                            Credentials(secret), ProxyConfig(mode="http", host="127.0.0.9", port=9, user="u",
                                                             password="proxy-secret-never-seen",
                                                             excluded=(sandbox_server.base_url,)), AGENT)
    result = process.sync(planet, tmp_path / "store.gpkg", "planet")
    assert result.ok, result.error  # the proxy's exclusion travelled with the recipe: the sandbox was reached
    pid = process.pid
    for name in ("cmdline", "environ"):
        text = Path(f"/proc/{pid}/{name}").read_bytes()
        assert secret.encode() not in text and b"proxy-secret-never-seen" not in text
    process.close()
    for _ in range(200):
        if not Path(f"/proc/{pid}").exists() or "Z" in _state(pid):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the sync process did not end after close()")
    assert process.sync(planet, tmp_path / "store.gpkg", "planet") is None  # closed: the caller syncs itself


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


def test_the_process_s_log_records_reach_this_process_s_loggers(sandbox_server, tmp_path, sync_process, caplog):
    unreachable = ProviderRecipe(Connection(id="up42", name="UP42 nowhere", kind="up42",
                                            base_url="http://127.0.0.1:9", auth_url="http://127.0.0.1:9"),
                                 Credentials("pilot@example.com", "secret"), ProxyConfig(mode="none"), AGENT)
    with caplog.at_level("INFO", logger="satellite_tasking"):
        result = sync_process.sync(unreachable, tmp_path / "store.gpkg", "up42")
    assert result.error and "UP42 nowhere" in result.error
    assert "secret" not in result.error
    # The sync's own log line of the failure (sync.py / http.py), from the other process, under the same names.
    assert any(record.name.startswith("satellite_tasking.plugin") for record in caplog.records), caplog.text


def test_a_result_crosses_the_pipe_whole():
    result = SyncResult("c1", orders_read=3, orders_added=2, captures_added=5, seconds=1.5, baseline=False)
    result.events = [SyncEvent(SyncEventKind.DECISION_WAITING, "c1", "o1", "Harbour", "Order waits.",
                               decision=Decision.QUOTATION),
                     SyncEvent(SyncEventKind.CAPTURE_PUBLISHED, "c1", "o2", "Port", "Published.", capture_id="k")]
    result.skipped = [SkippedRecord("capture", "k9", "a field of the wrong type")]
    import json

    again = result_from_message(json.loads(json.dumps(result_to_message(result))))
    assert again == result
    assert isinstance(again.events[0].kind, SyncEventKind) and again.events[0].decision is Decision.QUOTATION


def test_a_recipe_crosses_the_pipe_whole(sandbox_server):
    import json

    recipe = ProviderRecipe(Connection(id="p", name="Planet", kind="planet", base_url="https://x"),
                            Credentials("key", "pw"), ProxyConfig(mode="http", host="h", port=8080, user="u",
                                                                  password="p", excluded=("https://a",)), AGENT)
    assert ProviderRecipe.from_message(json.loads(json.dumps(recipe.to_message()))) == recipe
    assert "pw" not in repr(recipe) and "'p'" not in repr(recipe.proxy)


def test_where_no_process_can_start_the_desktop_sync_runs_here_and_a_shared_store_never_goes_there(
        sandbox_server, sandbox_control, tmp_path):
    from satellite_tasking.plugin.team_service import desktop_sync

    seed(sandbox_control, orders=5)
    recipe = sandbox_recipe(sandbox_server)
    nowhere = SyncProcess(command=lambda: [])
    result = desktop_sync(recipe.build(), TaskingStore(tmp_path / "store.gpkg"), "sandbox", sync_process=nowhere,
                          recipe=recipe)
    assert result.ok and result.orders_added == 5, result.error
    assert nowhere.unavailable == "no Python interpreter found beside QGIS"

    class SharedStore:  # the team's store: its sync lock and announcements live in QGIS's process
        shared = True
        path = tmp_path / "never.gpkg"

        @staticmethod
        def service_syncs():
            return False

    class Refusing:
        def sync(self, *args, **kwargs):
            raise AssertionError("a shared store's sync was sent to the sync process")

    # Refusing raises if asked; the stand-in store has nothing else, so the in-process sync ends in a sentence.
    shared = desktop_sync(recipe.build(), SharedStore(), "sandbox", sync_process=Refusing(), recipe=recipe)
    assert shared.error and not shared.ok


def test_the_process_writes_without_letting_go_of_python_s_lock_which_only_a_gui_beside_needs(
        sandbox_server, sandbox_control, tmp_path, monkeypatch):
    """In QGIS's process the writing lets go of Python's lock every few rows so that the GUI thread runs; the sync
    process has no GUI, and there each letting go handed the lock to the page readers for up to 5 ms (7.8 s of a
    first sync of 200,000 captures): it asks the sync not to."""
    import io
    import json

    from satellite_tasking.plugin import store as store_module
    from satellite_tasking.plugin.sync_process import serve

    sandbox_control.seed_orders("planet", {"count": 3, "captures_per_order": 40, "statuses": ["FULFILLED"]})
    sandbox_control.advance(60)
    recipe = sandbox_recipe(sandbox_server)
    yields = []
    real_sleep = time.sleep
    monkeypatch.setattr(store_module.time, "sleep", lambda seconds: (yields.append(seconds), real_sleep(seconds)))
    assert sync_connection(recipe.build(), TaskingStore(tmp_path / "here.gpkg"), "sandbox").ok
    assert yields.count(0) >= 3  # in QGIS's process (the default): 120 captures let go of it every 16 rows
    yields.clear()

    answers_out = io.BytesIO()

    def requests_in():  # one sync; the input ends (as when QGIS closes it) once its result is out
        yield (json.dumps({"kind": "sync", "job": 1, "recipe": recipe.to_message(),
                           "store": str(tmp_path / "there.gpkg"), "connection_id": "sandbox"}) + "\n").encode()
        deadline = time.monotonic() + 60
        while b'"result"' not in answers_out.getvalue() and time.monotonic() < deadline:
            real_sleep(0.05)

    serve(requests_in(), answers_out)
    answers = [json.loads(line) for line in answers_out.getvalue().splitlines()]
    assert [answer["kind"] for answer in answers] == ["ready", "result"]
    assert result_from_message(answers[1]["result"]).captures_added == 120
    assert yields.count(0) == 0
