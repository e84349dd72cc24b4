"""The plugin's own sandbox: started on first use, stopped on unload.

The Sandbox connection has no URL of its own; it is the simulator running inside QGIS on
127.0.0.1, on a free port (or the port named in SATELLITE_TASKING_SANDBOX_PORT, which
`make run` sets so the sandbox can be driven from a shell too). Its state lives in the
QGIS profile folder, so orders placed on it are still there after QGIS restarts.
"""
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional, Union

from .sandbox import SandboxServer

logger = logging.getLogger(__name__)

PORT_ENV = "SATELLITE_TASKING_SANDBOX_PORT"
SPEED_ENV = "SATELLITE_TASKING_SANDBOX_SPEED"
# One simulated hour per real second: an order placed now is imaged within minutes.
DEFAULT_SPEED = 3600.0


class SandboxService:
    def __init__(self, state_file: Optional[Path], speed: Optional[float] = None, port: Optional[int] = None,
                 seed: int = 1, start: Union[None, datetime, Callable[[], datetime]] = None):
        """``start``: where a new sandbox's clock begins, or what tells it when the sandbox starts (the plugin:
        the real present). A sandbox with saved state continues from the time it had. None: the simulator's
        fixed day, for reproducible tests."""
        self.start = start
        self.state_file = Path(state_file) if state_file else None
        self.speed = float(speed if speed is not None else os.environ.get(SPEED_ENV, DEFAULT_SPEED))
        self.port = int(port if port is not None else os.environ.get(PORT_ENV, 0))
        self.seed = seed
        self._server: Optional[SandboxServer] = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._server is not None

    def url(self) -> str:
        """The sandbox's base URL, starting it if it is not running yet."""
        with self._lock:
            if self._server is None:
                if self.state_file:
                    self.state_file.parent.mkdir(parents=True, exist_ok=True)
                start = self.start() if callable(self.start) else self.start
                try:
                    server = SandboxServer(port=self.port, seed=self.seed, speed=self.speed, start=start,
                                           state_file=str(self.state_file) if self.state_file else None)
                    server.start()
                except OSError as error:
                    if not self.port:
                        raise
                    # The fixed port is taken (another QGIS runs the sandbox): use a free one.
                    logger.warning("Sandbox port %s unavailable (%s); using a free port", self.port, error)
                    server = SandboxServer(port=0, seed=self.seed, speed=self.speed, start=start,
                                           state_file=str(self.state_file) if self.state_file else None)
                    server.start()
                self._server = server
                logger.info("Sandbox started at %s", server.base_url)
            return self._server.base_url

    def stop(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.stop()
                self._server = None
                logger.info("Sandbox stopped")
