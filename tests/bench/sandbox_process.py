"""The sandbox in a process of its own, for benchmarks.

A real provider does not run in QGIS's process. In-process, the sandbox's Python request handlers
would share the GIL with the code being measured, and a figure would measure the simulator too.
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


class SandboxProcess:
    def __init__(self, seed: int, settings: dict, timeout: float = 30.0):
        folder = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
        port_file = folder / "port"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "plugin.sandbox", "--port", "0", "--speed", "0", "--seed", str(seed),
             "--port-file", str(port_file)], cwd=REPO, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("the sandbox process did not start")
            time.sleep(0.05)
        self.base_url = f"http://127.0.0.1:{int(port_file.read_text())}"
        requests.post(f"{self.base_url}/_sandbox/settings", json=settings, timeout=10).raise_for_status()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
