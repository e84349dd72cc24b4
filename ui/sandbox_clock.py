"""The sandbox's clock in the monitor dock: its simulated time, and pause / ×1 / ×60 / ×3600 / next event.

Only shows and asks: the monitor reads and steers the sandbox (in background tasks) and calls ``show_time``.
Between readings the label runs on by itself at the sandbox's speed.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional

from qgis.PyQt import uic
from qgis.PyQt.QtCore import QTimer, pyqtSignal
from qgis.PyQt.QtGui import QHideEvent, QShowEvent
from qgis.PyQt.QtWidgets import QAbstractButton, QButtonGroup, QWidget

if TYPE_CHECKING:  # read by type checkers only: the dock is handed SandboxTime values by the monitor
    from ..plugin.sandbox_clock import SandboxTime

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("sandbox_clock.ui")))


class SandboxClockBar(QWidget, FORM_CLASS):
    speedRequested = pyqtSignal(float)
    nextEventRequested = pyqtSignal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName("sandboxClockBar")
        self.time: Optional[SandboxTime] = None  # the last reading
        self._read_at = 0.0
        self.speed_buttons: Dict[float, QAbstractButton] = {
            0.0: self.pauseButton, 1.0: self.realTimeButton, 60.0: self.minuteButton, 3600.0: self.hourButton}
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        for speed, button in self.speed_buttons.items():
            self._group.addButton(button)
            button.clicked.connect(lambda _checked=False, value=speed: self.speedRequested.emit(value))
        self.nextEventButton.clicked.connect(self.nextEventRequested)
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._show_label)

    def show_time(self, sandbox_time: SandboxTime) -> None:
        self.time = sandbox_time
        self._read_at = time.monotonic()
        button = self.speed_buttons.get(float(sandbox_time.speed))
        if button is not None:
            button.setChecked(True)
        else:
            for other in self.speed_buttons.values():
                other.setChecked(False)
        self.nextEventButton.setEnabled(sandbox_time.next_event is not None)
        upcoming = sandbox_time.next_event
        self.nextEventButton.setToolTip(
            f"Jump to the next thing that happens to an order ({upcoming:%d %b %Y %H:%M} UTC)" if upcoming
            else "Nothing is scheduled: no order is waiting for the sandbox's clock")
        self._show_label()
        if sandbox_time.speed and not self._ticker.isActive():
            self._ticker.start()
        elif not sandbox_time.speed:
            self._ticker.stop()

    def current(self) -> Optional[datetime]:
        """The sandbox's time now, run on from the last reading at its speed."""
        if self.time is None:
            return None
        return self.time.now + timedelta(seconds=(time.monotonic() - self._read_at) * self.time.speed)

    def _show_label(self) -> None:
        moment = self.current()
        if moment is None:
            self.timeLabel.setText("Sandbox time: …")
            return
        paused = " (paused)" if not self.time.speed else ""
        self.timeLabel.setText(f"Sandbox time: {moment:%a %d %b %Y %H:%M} UTC{paused}")

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt override
        self._ticker.stop()
        super().hideEvent(event)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        if self.time is not None and self.time.speed:
            self._ticker.start()
        super().showEvent(event)
