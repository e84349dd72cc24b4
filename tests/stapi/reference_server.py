"""Starts the STAPI reference server (tests/stapi/serve.py in .venv-stapi) for tests in the plugin's venv.

Tests load this file by path (tests have no packages), e.g.::

    reference_server = load_module(REPO_ROOT / "tests/stapi/reference_server.py")
    with reference_server.running(seed_orders=15) as url: ...
"""
import contextlib
import importlib.util
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
STAPI_PYTHON = REPO_ROOT / ".venv-stapi" / "bin" / "python"
SERVE = Path(__file__).resolve().with_name("serve.py")
START_TIMEOUT = 30.0

MISSING_VENV = (f"The STAPI reference server needs its own venv, {STAPI_PYTHON.parent.parent}, which does not "
                "exist: run `make setup` (it installs requirements-stapi.txt there).")


def load_module(path, name=None):
    """Import a test helper file by path under a unique name."""
    path = Path(path)
    name = name or f"_stapi_helper_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def running(token: str = "", api_key: str = "", seed_orders: int = 0):
    """The base URL of a fresh reference server; the process is killed on exit."""
    if not STAPI_PYTHON.exists():
        raise RuntimeError(MISSING_VENV)
    command = [str(STAPI_PYTHON), str(SERVE), "--port", "0", "--seed-orders", str(seed_orders)]
    if token:
        command += ["--token", token]
    if api_key:
        command += ["--api-key", api_key]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=str(REPO_ROOT))
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True)
    reader.start()
    try:
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            first = ""
        if not first.startswith("PORT "):
            process.kill()
            _, errors = process.communicate(timeout=10)
            raise RuntimeError(f"the STAPI reference server did not start: {first!r} {errors[-2000:]}")
        url = f"http://127.0.0.1:{int(first.split()[1])}"
        headers = {"Authorization": f"Bearer {token}"} if token else {"X-API-Key": api_key} if api_key else {}
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the STAPI reference server stopped: {process.stderr.read()[-2000:]}")
            try:
                if requests.get(url + "/", headers=headers, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the STAPI reference server did not answer within "
                                   f"{START_TIMEOUT:.0f} s")
            time.sleep(0.1)
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
