"""Sandbox core over real HTTP on 127.0.0.1: clock, routing, control endpoints, faults, state file, CLI."""

import http.client
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sandbox_harness import sandbox_process

from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.sandbox.core import Clock, HttpError, World, json_response, problem

REPO_ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 1, 5, tzinfo=timezone.utc)


class CounterDialect:
    """A tiny dialect: POST /counter/items creates an item, GET lists them; tick stamps items as 'old'."""

    name = "counter"
    prefix = "/counter"

    def __init__(self, world):
        self.world = world
        self.items = []

    def tick(self, now):
        for item in self.items:
            if not item["old"] and (now - datetime.fromisoformat(item["at"])).total_seconds() >= 3600:
                item["old"] = True

    def handle(self, request):
        if request.path == "/items" and request.method == "POST":
            body = request.json()
            item = {
                "id": self.world.new_id("counter"),
                "name": body.get("name"),
                "at": self.world.clock.now().isoformat(),
                "old": False,
                "luck": self.world.random("counter", len(self.items)).random(),
            }
            self.items.append(item)
            return json_response(201, item)
        if request.path == "/items" and request.method == "GET":
            return json_response(200, {"items": self.items, "base": request.base_url, "q": request.query})
        raise HttpError(404, problem(404, detail="nothing here"))

    def to_state(self):
        return {"items": self.items}

    def load_state(self, state):
        self.items = state["items"]

    def control(self, action, payload):
        return {"action": action, "payload": payload}


def call(server, method, path, body=None, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def jcall(server, method, path, body=None):
    status, headers, raw = call(server, method, path, body)
    return status, json.loads(raw)


@pytest.fixture
def server(start_sandbox):
    return start_sandbox(seed=7, settings={}, dialects=[CounterDialect])


def test_clock_speed_and_advance():
    clock = Clock(START, speed=3600)
    first = clock.now()
    time.sleep(0.05)
    assert (clock.now() - first).total_seconds() >= 150  # 0.05 s real * 3600
    frozen = Clock(START, speed=0)
    frozen.advance(86400)
    assert frozen.now() == datetime(2026, 1, 6, tzinfo=timezone.utc)
    assert Clock.from_state(frozen.to_state(), 0).now() == frozen.now()
    with pytest.raises(ValueError):
        frozen.advance(-1)


def test_world_randomness_and_ids_depend_on_seed_and_key():
    a, b, c = World(Clock(START, 0), 1), World(Clock(START, 0), 1), World(Clock(START, 0), 2)
    assert a.random("x", 1).random() == b.random("x", 1).random() != c.random("x", 1).random()
    assert a.random("x", 1).random() != a.random("x", 2).random()
    ids_a = [a.new_id("o") for _ in range(3)]
    assert ids_a == [b.new_id("o") for _ in range(3)]
    assert len(set(ids_a)) == 3 and ids_a[0][14] == "4"


def test_routing_ticks_and_control_endpoints(server):
    status, item = jcall(server, "POST", "/counter/items", {"name": "a"})
    assert status == 201 and item["old"] is False
    status, body = jcall(server, "GET", "/counter/items?x=1&x=2&e=")
    assert body["q"] == {"x": ["1", "2"], "e": [""]} and body["base"] == server.base_url
    status, clock = jcall(server, "POST", "/_sandbox/clock", {"advance_seconds": 3600})
    assert clock["now"] == "2026-01-05T01:00:00.000Z"
    assert jcall(server, "GET", "/_sandbox/clock")[1]["now"] == "2026-01-05T01:00:00.000Z"
    assert jcall(server, "GET", "/counter/items")[1]["items"][0]["old"] is True
    status, body = jcall(server, "POST", "/_sandbox/counter/poke", {"n": 1})
    assert body == {"action": "poke", "payload": {"n": 1}}
    status, body = jcall(server, "POST", "/_sandbox/settings", {"up42_token_lifetime": 5})
    assert body["settings"]["up42_token_lifetime"] == 5


def test_errors_are_problem_json(server):
    status, body = jcall(server, "GET", "/nowhere")
    assert status == 404 and set(body) == {"type", "title", "status", "detail", "instance"}
    status, headers, raw = call(server, "POST", "/counter/items")  # empty body
    assert status == 400 and json.loads(raw)["status"] == 400
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("POST", "/counter/items", body=b"{not json", headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 400 and "not valid JSON" in json.loads(response.read())["detail"]
    conn.close()


def test_request_log_counts_requests(server):
    jcall(server, "GET", "/counter/items")
    jcall(server, "POST", "/counter/items", {"name": "b"})
    status, log = jcall(server, "GET", "/_sandbox/requests")
    assert [(e["method"], e["path"], e["status"]) for e in log["requests"]] == [
        ("GET", "/counter/items", 200),
        ("POST", "/counter/items", 201),
    ]
    jcall(server, "DELETE", "/_sandbox/requests")
    assert jcall(server, "GET", "/_sandbox/requests")[1]["count"] == 0


def test_fault_status_with_retry_after_and_count(server):
    jcall(
        server,
        "POST",
        "/_sandbox/faults",
        {
            "rules": [
                {
                    "prefix": "/counter",
                    "method": "GET",
                    "kind": "status",
                    "status": 503,
                    "retry_after": 2,
                    "count": 1,
                },
                {"path": "items$", "method": "POST", "kind": "status", "status": 429, "count": 1},
            ]
        },
    )
    status, headers, raw = call(server, "GET", "/counter/items")
    assert status == 503 and headers["Retry-After"] == "2" and json.loads(raw)["status"] == 503
    assert call(server, "GET", "/counter/items")[0] == 200  # count exhausted
    assert call(server, "POST", "/counter/items", {"name": "x"})[0] == 429
    assert call(server, "POST", "/counter/items", {"name": "x"})[0] == 201
    rules = jcall(server, "GET", "/_sandbox/faults")[1]["rules"]
    assert [r["fired"] for r in rules] == [1, 1]
    jcall(server, "DELETE", "/_sandbox/faults")
    assert jcall(server, "GET", "/_sandbox/faults")[1]["rules"] == []


def test_fault_drop_before_does_not_handle_and_drop_after_does(server):
    for kind, name, kept in (("drop_before", "lost", []), ("drop_after", "made", ["made"])):
        jcall(server, "POST", "/_sandbox/faults", {"kind": kind, "prefix": "/counter/items", "method": "POST",
                                                   "count": 1})
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            call(server, "POST", "/counter/items", {"name": name})
        assert [i["name"] for i in jcall(server, "GET", "/counter/items")[1]["items"]] == kept


def test_fault_delay_and_malformed(server):
    jcall(
        server,
        "POST",
        "/_sandbox/faults",
        {"kind": "delay", "seconds": 1.0, "prefix": "/counter", "count": 1},
    )
    with pytest.raises(TimeoutError):
        call(server, "GET", "/counter/items", timeout=0.3)
    jcall(server, "POST", "/_sandbox/faults", {"kind": "malformed", "prefix": "/counter", "count": 1})
    status, headers, raw = call(server, "GET", "/counter/items")
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(raw)


def test_fault_probability_is_seeded():
    outcomes = []
    for _ in range(2):
        with SandboxServer(port=0, seed=3, speed=0, dialects=[CounterDialect]) as srv:
            jcall(
                srv,
                "POST",
                "/_sandbox/faults",
                {"kind": "status", "status": 500, "probability": 0.5, "prefix": "/counter"},
            )
            outcomes.append([call(srv, "GET", "/counter/items")[0] for _ in range(20)])
    assert outcomes[0] == outcomes[1] and set(outcomes[0]) == {200, 500}


def test_state_file_survives_restart(tmp_path):
    state = tmp_path / "state.json"
    srv = SandboxServer(port=0, seed=7, speed=0, state_file=state, dialects=[CounterDialect]).start()
    jcall(srv, "POST", "/counter/items", {"name": "kept"})
    jcall(srv, "POST", "/_sandbox/clock", {"advance_seconds": 60})
    srv.stop()
    assert not list(tmp_path.glob("*.part"))
    again = SandboxServer(port=0, seed=7, speed=0, state_file=state, dialects=[CounterDialect]).start()
    try:
        assert [i["name"] for i in jcall(again, "GET", "/counter/items")[1]["items"]] == ["kept"]
        assert jcall(again, "GET", "/_sandbox/clock")[1]["now"] == "2026-01-05T00:01:00.000Z"
        # ids continue from the saved counter instead of repeating
        second = jcall(again, "POST", "/counter/items", {"name": "next"})[1]
        assert second["id"] != jcall(again, "GET", "/counter/items")[1]["items"][0]["id"]
    finally:
        again.stop()


def test_state_is_saved_shortly_after_a_change(tmp_path):
    state = tmp_path / "state.json"
    with SandboxServer(port=0, speed=0, state_file=state, dialects=[CounterDialect]) as srv:
        jcall(srv, "POST", "/counter/items", {"name": "soon"})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not state.exists():
            time.sleep(0.05)
        assert json.loads(state.read_text())["dialects"]["counter"]["items"][0]["name"] == "soon"


def test_stop_closes_everything():
    srv = SandboxServer(port=0, speed=0, dialects=[CounterDialect]).start()
    port = srv.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/counter/items")
    conn.getresponse().read()  # keep-alive connection stays open
    srv.stop()
    conn.close()
    assert not [t for t in __import__("threading").enumerate() if t.name.startswith("sandbox-")]
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")


def test_only_loopback():
    with pytest.raises(ValueError):
        SandboxServer(host="0.0.0.0")
    result = subprocess.run(
        [sys.executable, "-m", "plugin.sandbox", "--host", "10.1.2.3"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and "loopback" in result.stderr


def test_cli_help_documents_every_flag():
    result = subprocess.run(
        [sys.executable, "-m", "plugin.sandbox", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    for flag in (
        "--host",
        "--port",
        "--port-file",
        "--speed",
        "--seed",
        "--start",
        "--state",
        "--dialect",
        "--setting",
        "--log-level",
    ):
        assert flag in result.stdout


def test_cli_runs_standalone_and_reports_port(tmp_path):
    port_file = tmp_path / "port"
    with sandbox_process("--speed", "0", "--port-file", str(port_file), "--state", str(tmp_path / "s.json")) as (
            proc, url):
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert int(port_file.read_text()) == port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/_sandbox/health")
        assert json.loads(conn.getresponse().read())["ok"] is True
        conn.close()
    assert proc.returncode == 0 and os.path.exists(tmp_path / "s.json")
