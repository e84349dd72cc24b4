"""What the benchmarks share: the plugin package registered by name, resident memory, a GUI-thread heartbeat.

A benchmark is a script (``python tests/bench/bench_x.py``), so this folder is first on its import path and this
module imports as ``bench_support``. Qt is imported only inside ``Heartbeat``: the package registration has to
happen before anything of QGIS or the plugin is imported.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE_NAME = "satellite_tasking"


def register_plugin_package() -> None:
    """The repository root imported as ``satellite_tasking``, as QGIS imports the installed folder."""
    if PACKAGE_NAME in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(PACKAGE_NAME, REPO / "__init__.py",
                                                  submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE_NAME] = module
    spec.loader.exec_module(module)


def rss_mb(pid=None) -> float:
    """This process's (or process ``pid``'s) resident memory in MB (Linux), NaN where /proc says nothing."""
    with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Heartbeat:
    """The longest gap between the ticks of a timer on the GUI thread beyond its own interval, overall and per
    named phase (set ``phase`` while it runs)."""

    def __init__(self, interval_ms: int):
        from qgis.PyQt.QtCore import QElapsedTimer, QTimer

        self.interval_ms = interval_ms
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.longest_ms = 0
        self.ticks = 0
        self.phase = ""
        self.longest_by_phase: dict = {}

    def start(self, phase: str = "") -> None:
        self.longest_ms, self.ticks = 0, 0
        self.phase, self.longest_by_phase = phase, {}
        self.clock.start()
        self.timer.start()

    def _tick(self) -> None:
        gap = self.clock.restart() - self.interval_ms
        self.longest_ms = max(self.longest_ms, gap)
        self.longest_by_phase[self.phase] = max(self.longest_by_phase.get(self.phase, 0), gap)
        self.ticks += 1

    def stop(self) -> None:
        self.timer.stop()
