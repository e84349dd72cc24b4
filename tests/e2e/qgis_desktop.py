"""Drive the real QGIS desktop under Xvfb: start it on a fresh profile, run a scenario, collect a report.

Two halves live in this one file:

* the **harness** (runs in pytest): ``run_qgis()`` builds an isolated profile (``scripts/qgis_profile.py``),
  starts an own ``Xvfb`` on a free display, starts ``qgis`` with ``PYQGIS_STARTUP`` pointing at a small
  bootstrap, waits (bounded) and always kills both process groups. It returns a ``DesktopRun``.
* the **driver** (runs inside QGIS): the bootstrap loads this same file and calls ``start_driver()``. It hooks
  the message log before any plugin loads, then polls with a QTimer on the GUI thread: it records and closes
  modal dialogs (so nothing can block the run), waits for the main window and the plugin, writes the plugin's
  state to a JSON report, takes screenshots, runs the scenario and quits QGIS the way a user does.

A scenario is Python source run inside QGIS once the plugin is up. It sees ``iface``, ``plugin`` (the plugin
instance or None) and ``ctx`` (the ``Driver``). If it defines ``scenario(ctx)``, that is called; when it is a
generator, each ``yield`` pauses the scenario without blocking the GUI thread:

    yield 1.5                           # wait 1.5 s
    yield lambda: dialog.isVisible()    # wait until true (bounded by ctx.step_timeout, else the run fails)

``ctx.screenshot(name)`` saves a PNG of the whole screen, ``ctx.report[...] = ...`` adds to the report,
``ctx.event(name)`` tells the harness something happened (``run_qgis(kill_on_event=name)`` kills QGIS with
SIGKILL right then, e.g. in the middle of placing orders).

Nothing here may import pytest at module level: QGIS imports this file too.
"""
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_NAME = "satellite_tasking"
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts" / "e2e"
SCREEN_SIZE = (1600, 1000)
# Message log tags whose Critical messages (or, for "Python error", any message) count as errors.
# Compared case-insensitively: the plugin logs under its metadata name, "Satellite Tasking".
ERROR_TAGS = ("python error", "satellite tasking")


def _load_profile_builder():
    spec = importlib.util.spec_from_file_location("qgis_profile", REPO_ROOT / "scripts" / "qgis_profile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------------------- harness


@dataclass
class DesktopRun:
    """What one QGIS desktop run left behind."""

    report: dict
    stderr: str
    stdout: str
    returncode: Optional[int]
    timed_out: bool
    killed_on_event: Optional[str]
    run_dir: Path
    screenshots: dict = field(default_factory=dict)  # name -> Path (copied to artifacts when asked)
    duration: float = 0.0

    @property
    def screenshot(self) -> Optional[Path]:
        """The screenshot taken once the plugin was up (or the harness's own one if QGIS never got there)."""
        for name in ("startup", "final", "harness"):
            if name in self.screenshots:
                return self.screenshots[name]
        return None

    @property
    def python_errors(self) -> list:
        return list(self.report.get("python_errors", []))

    def stderr_python_errors(self, plugin_name: str = PLUGIN_NAME) -> list:
        """Tracebacks on stderr that mention the plugin (QGIS prints some Python failures only there)."""
        blocks = self.stderr.split("Traceback (most recent call last):")[1:]
        return ["Traceback (most recent call last):" + b for b in blocks if plugin_name in b]

    def describe(self) -> str:
        """A short text to put in assertion messages."""
        keys = ("finished", "plugin_loaded", "plugin_active", "python_errors", "modal_dialogs",
                "scenario_error", "driver_error")
        lines = [f"{k}: {self.report.get(k)!r}" for k in keys]
        lines.append(f"returncode={self.returncode} timed_out={self.timed_out} run_dir={self.run_dir}")
        lines.append("stderr tail:\n" + self.stderr[-3000:])
        return "\n".join(lines)


class Xvfb:
    """An own X server on a display number it picks itself (-displayfd), so parallel runs never collide."""

    # A loaded 2-core machine (CI runs suites one after another, but other work may share it) can take many
    # seconds to start an X server; one that failed to start is tried again, and its own words are kept.
    ATTEMPTS = 3

    def __init__(self, size=SCREEN_SIZE, depth=24, timeout=60.0):
        self.size, self.depth, self.timeout = size, depth, timeout
        self.process = None
        self.display = None

    def __enter__(self):
        xvfb = shutil.which("Xvfb")
        if xvfb is None:
            raise RuntimeError("Xvfb not found: apt-get install xvfb")
        failures = []
        for _attempt in range(self.ATTEMPTS):
            try:
                self._start(xvfb)
                return self
            except RuntimeError as failure:
                failures.append(str(failure))
        raise RuntimeError("Xvfb did not start: " + " | ".join(failures))

    def _start(self, xvfb):
        read_fd, write_fd = os.pipe()
        width, height = self.size
        with tempfile.TemporaryFile() as errors:
            self.process = subprocess.Popen(
                [xvfb, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x{self.depth}",
                 "-nolisten", "tcp", "-noreset"],
                pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=errors,
                start_new_session=True,
            )
            os.close(write_fd)
            try:
                self.display = ":" + self._read_display(read_fd)
            except RuntimeError as failure:
                self.stop()
                errors.seek(0)
                said = errors.read().decode(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"{failure} ({'; '.join(said) or 'it said nothing'})") from None
            except BaseException:
                self.stop()
                raise
            finally:
                os.close(read_fd)

    def _read_display(self, fd) -> str:
        import select

        deadline = time.monotonic() + self.timeout
        data = b""
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise RuntimeError("Xvfb did not start")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 64)
                if not chunk:
                    raise RuntimeError("Xvfb closed its display pipe without a display number")
                data += chunk
        return data.decode().strip()

    def stop(self):
        if self.process is not None:
            _kill_group(self.process)
            self.process = None

    def __exit__(self, *exc):
        self.stop()


def _kill_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``grace`` seconds."""
    try:
        pgid = os.getpgid(process.pid)
    except ProcessLookupError:
        process.poll()
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            # The leader is gone; children may linger in the group a moment longer.
            os.killpg(pgid, signal.SIGKILL)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue
        break
    process.poll()


def _screenshot_root(display: str, target: Path) -> bool:
    """The whole X screen from outside QGIS (imagemagick), for when QGIS is stuck or never showed up."""
    tool = shutil.which("import")
    if tool is None:
        return False
    result = subprocess.run([tool, "-display", display, "-window", "root", str(target)],
                            capture_output=True, timeout=30, check=False)
    return result.returncode == 0 and target.exists()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _read_events(path: Path) -> list:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            pass  # half-written last line; picked up on the next poll
    return events


# QGIS 3.22 runs PYQGIS_STARTUP twice when it is an absolute path (once "relative to" the prefix, which
# os.path.join turns into the same path); the sys.modules guard keeps it to one driver.
BOOTSTRAP = """\
# Written by tests/e2e/qgis_desktop.py; run by QGIS through PYQGIS_STARTUP before any plugin loads.
import sys as _sys
if "satellite_tasking_e2e_driver" not in _sys.modules:
    import importlib.util as _ilu
    _spec = _ilu.spec_from_file_location("satellite_tasking_e2e_driver", {driver!r})
    _driver_module = _ilu.module_from_spec(_spec)
    _sys.modules["satellite_tasking_e2e_driver"] = _driver_module
    _spec.loader.exec_module(_driver_module)
    _driver_module.start_driver({config!r})
"""


def run_qgis(profiles_path, scenario_code: str = "", timeout: float = 120.0, *,
             plugin_source: Path = REPO_ROOT, plugin_name: str = PLUGIN_NAME, copy_plugin: bool = False,
             build_profile: bool = True, artifacts_dir: Optional[Path] = None, artifact_prefix: str = "",
             kill_on_event: Optional[str] = None, ready_timeout: float = 60.0, step_timeout: float = 30.0,
             extra_settings: Optional[dict] = None, extra_args=(),
             extra_env: Optional[dict] = None) -> DesktopRun:
    """Start QGIS on ``profiles_path`` (profile built afresh unless ``build_profile`` is False), run, stop.

    Always returns (never raises for QGIS misbehaving): look at ``DesktopRun.report``, ``timed_out``,
    ``returncode`` and ``stderr``. QGIS and Xvfb are killed (process groups) whatever happens.
    """
    qgis = shutil.which("qgis") or "/usr/bin/qgis"
    profiles_path = Path(profiles_path).resolve()
    profiles_path.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="qgis-run-", dir=profiles_path))
    if build_profile:
        _load_profile_builder().build_profile(profiles_path, plugin_source, plugin_name=plugin_name,
                                              copy=copy_plugin, extra_settings=extra_settings)

    scenario_path = run_dir / "scenario.py"
    scenario_path.write_text(scenario_code, encoding="utf-8")
    config = {
        "report": str(run_dir / "report.json"),
        "events": str(run_dir / "events.jsonl"),
        "screenshots": str(run_dir / "screenshots"),
        "scenario": str(scenario_path),
        "plugin_name": plugin_name,
        "ready_timeout": ready_timeout,
        "step_timeout": step_timeout,
    }
    config_path = run_dir / "driver-config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    bootstrap_path = run_dir / "bootstrap.py"
    bootstrap_path.write_text(BOOTSTRAP.format(driver=str(Path(__file__).resolve()), config=str(config_path)),
                              encoding="utf-8")

    xdg = run_dir / "xdg"
    for sub in ("config", "data", "runtime"):
        (xdg / sub).mkdir(parents=True)
    (xdg / "runtime").chmod(0o700)
    env = dict(os.environ)
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
                 "PYTHONSTARTUP", "QGIS_PREFIX_PATH"):
        env.pop(name, None)
    env.update({
        "PYQGIS_STARTUP": str(bootstrap_path),
        # Keep QGIS away from the user's own config (QGIS 2 settings that trigger migration, Qt settings).
        "XDG_CONFIG_HOME": str(xdg / "config"),
        "XDG_DATA_HOME": str(xdg / "data"),
        "XDG_RUNTIME_DIR": str(xdg / "runtime"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "PATH": "/usr/bin:/bin:" + env.get("PATH", ""),  # Debian's python3 for QGIS's subprocesses
        "NO_AT_BRIDGE": "1",
    })
    # No proxy may send 127.0.0.1 traffic elsewhere.
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra_env or {})
    args = [qgis, "--profiles-path", str(profiles_path), "--profile", "default", "--nologo",
            "--noversioncheck", *extra_args]

    stdout_path, stderr_path = run_dir / "stdout.txt", run_dir / "stderr.txt"
    timed_out, killed_on_event, returncode = False, None, None
    started = time.monotonic()
    with Xvfb() as xvfb, open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        env["DISPLAY"] = xvfb.display
        process = subprocess.Popen(args, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   cwd=run_dir, start_new_session=True)
        try:
            deadline = started + timeout
            while True:
                returncode = process.poll()
                if returncode is not None:
                    break
                events = _read_events(run_dir / "events.jsonl") if kill_on_event else []
                if any(e.get("name") == kill_on_event for e in events):
                    killed_on_event = kill_on_event
                    os.killpg(os.getpgid(process.pid), signal.SIGKILL)
                    returncode = process.wait(timeout=10)
                    break
                if time.monotonic() > deadline:
                    timed_out = True
                    _screenshot_root(xvfb.display, run_dir / "harness.png")
                    break
                time.sleep(0.1)
        finally:
            _kill_group(process)
            if returncode is None:
                returncode = process.returncode
    duration = time.monotonic() - started

    report = _read_json(run_dir / "report.json")
    report["events"] = _read_events(run_dir / "events.jsonl")
    screenshots = {p.stem: p for p in sorted((run_dir / "screenshots").glob("*.png"))}
    if (run_dir / "harness.png").exists():
        screenshots["harness"] = run_dir / "harness.png"
    if artifacts_dir is not None:
        artifacts_dir = Path(artifacts_dir)
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        copied = {}
        for name, path in screenshots.items():
            target = artifacts_dir / f"{artifact_prefix}{name}.png"
            shutil.copyfile(path, target)
            copied[name] = target
        screenshots = copied
        (artifacts_dir / f"{artifact_prefix}report.json").write_text(json.dumps(report, indent=2),
                                                                        encoding="utf-8")
        shutil.copyfile(stderr_path, artifacts_dir / f"{artifact_prefix}stderr.txt")
    return DesktopRun(
        report=report,
        stderr=stderr_path.read_text(encoding="utf-8", errors="replace"),
        stdout=stdout_path.read_text(encoding="utf-8", errors="replace"),
        returncode=returncode, timed_out=timed_out, killed_on_event=killed_on_event,
        run_dir=run_dir, screenshots=screenshots, duration=duration,
    )


# ------------------------------------------------------------------------------------------------ driver


_DRIVER = None  # keeps the driver (and its QTimer) alive inside QGIS


def start_driver(config_path: str) -> None:
    """Entry point inside QGIS (called by the PYQGIS_STARTUP bootstrap)."""
    global _DRIVER
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    _DRIVER = Driver(config)


class Driver:
    """Runs inside QGIS on the GUI thread, one QTimer tick at a time; never blocks the event loop."""

    TICK_MS = 100
    SETTLE_SECONDS = 1.0  # after the main window shows, let toolbars and docks lay out before the screenshot
    MAX_MESSAGES = 500
    MODAL_PAINT_SECONDS = 0.5

    def __init__(self, config: dict):
        from qgis.core import QgsApplication, QgsNetworkAccessManager
        from qgis.PyQt.QtCore import QTimer

        self.config = config
        self.plugin_name = config["plugin_name"]
        self.step_timeout = float(config.get("step_timeout", 30.0))
        self.screenshots_dir = Path(config["screenshots"])
        self.screenshots_dir.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.report = {
            "finished": False,
            "phase": "starting",
            "plugin_name": self.plugin_name,
            "messages": [],
            "python_errors": [],
            "modal_dialogs": [],
            "network_requests": [],
            "screenshots": [],
        }
        self._phase = "starting"
        self._window_seen_at = None
        self._steps = None
        self._waiting = None  # (predicate or None, until, started)
        self._dirty = True
        self._modal_since = None
        QgsApplication.messageLog().messageReceived.connect(self._on_message)
        QgsNetworkAccessManager.instance().requestAboutToBeCreated.connect(self._on_request)
        self._timer = QTimer()
        self._timer.setInterval(self.TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._write_report()

    # -- things a scenario uses

    # Two 2 km squares near Berlin in Web Mercator, 6 km apart: the fields most scenarios order over.
    BERLIN_FIELDS = [
        "POLYGON((1489000 6891000, 1491000 6891000, 1491000 6893000, 1489000 6893000, 1489000 6891000))",
        "POLYGON((1495000 6891000, 1497000 6891000, 1497000 6893000, 1495000 6893000, 1495000 6891000))",
    ]

    def fields_layer(self, wkts=None, kind: str = "Polygon", crs: str = "EPSG:3857", name: str = "fields"):
        """A memory layer of ``wkts`` (default: BERLIN_FIELDS) in the project, all selected, the active layer and
        the layer tree's current one, as a user leaves it before pressing "Task a satellite"."""
        import qgis.utils
        from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer

        layer = QgsVectorLayer(f"{kind}?crs={crs}", name, "memory")
        features = []
        for wkt in (self.BERLIN_FIELDS if wkts is None else wkts):
            feature = QgsFeature()
            feature.setGeometry(QgsGeometry.fromWkt(wkt))
            features.append(feature)
        layer.dataProvider().addFeatures(features)
        QgsProject.instance().addMapLayer(layer)
        layer.selectAll()
        qgis.utils.iface.setActiveLayer(layer)
        qgis.utils.iface.layerTreeView().setCurrentLayer(layer)
        return layer

    def task_from_toolbar(self):
        """Press the plugin's "Task a satellite" toolbar button; the order dialog it opens (once it lists its
        products: ``yield from``)."""
        import qgis.utils
        from qgis.PyQt.QtWidgets import QToolBar

        toolbar = qgis.utils.iface.mainWindow().findChild(QToolBar, "SatelliteTaskingToolbar")
        [a for a in toolbar.actions() if a.text().startswith("Task a satellite")][0].trigger()
        dialog = qgis.utils.plugins[self.plugin_name]._order_dialog
        yield lambda: dialog is not None and bool(dialog.products)
        return dialog

    def choose_product(self, dialog, product_id: str):
        """Choose a product in the order dialog by its id and wait for its form (``yield from``)."""
        from satellite_tasking.ui.order_dialog import PRODUCT_ROLE

        yield lambda: bool(dialog.products)
        row = next(r for r in range(dialog.product_model.rowCount())
                   if dialog.product_model.item(r).data(PRODUCT_ROLE) == product_id)
        dialog.productCombo.setCurrentIndex(row)
        yield lambda: dialog.form is not None and dialog.form_product is dialog.products[product_id]
        return dialog.form

    def screenshot(self, name: str) -> str:
        """Save the whole screen (all windows, dialogs included) as screenshots/<name>.png."""
        from qgis.PyQt.QtWidgets import QApplication

        path = self.screenshots_dir / f"{name}.png"
        screen = QApplication.primaryScreen()
        ok = screen is not None and screen.grabWindow(0).save(str(path), "PNG")
        self.report["screenshots"].append({"name": name, "path": str(path), "ok": bool(ok)})
        self._dirty = True
        return str(path)

    def event(self, name: str, **data) -> None:
        """Tell the harness something happened (flushed to disk at once: it may kill QGIS right after)."""
        record = {"name": name, "t": round(time.monotonic() - self.started, 3), **data}
        with open(self.config["events"], "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def plugin_state(self) -> dict:
        """Toolbars, docks, Web menu entries and the plugin's load status as the user would see them."""
        import qgis.utils
        from qgis.PyQt.QtWidgets import QDockWidget, QToolBar

        iface = qgis.utils.iface
        window = iface.mainWindow()
        toolbars = [
            {"objectName": tb.objectName(), "title": tb.windowTitle(), "visible": tb.isVisible(),
             "actions": [a.text() for a in tb.actions() if not a.isSeparator()]}
            for tb in window.findChildren(QToolBar)
        ]
        docks = [
            {"objectName": d.objectName(), "title": d.windowTitle(), "visible": d.isVisible(),
             "area": int(window.dockWidgetArea(d))}
            for d in window.findChildren(QDockWidget)
        ]
        web_menu = [
            {"title": a.text(), "entries": [s.text() for s in a.menu().actions()] if a.menu() else []}
            for a in iface.webMenu().actions()
        ]
        return {
            "plugin_loaded": self.plugin_name in qgis.utils.plugins,
            "plugin_active": self.plugin_name in qgis.utils.active_plugins,
            "plugin_available": self.plugin_name in qgis.utils.available_plugins,
            "plugin_version": qgis.utils.pluginMetadata(self.plugin_name, "version"),
            "plugin_class": type(qgis.utils.plugins.get(self.plugin_name)).__name__,
            "toolbars": toolbars,
            "docks": docks,
            "web_menu": web_menu,
            "main_window": {"visible": window.isVisible(), "title": window.windowTitle(),
                            "size": [window.width(), window.height()]},
        }

    # -- internals

    def _on_message(self, message, tag, level):
        from qgis.core import Qgis

        record = {"tag": tag, "level": int(level), "message": message,
                  "t": round(time.monotonic() - self.started, 3)}
        if len(self.report["messages"]) < self.MAX_MESSAGES:
            self.report["messages"].append(record)
        if tag == "Python error" or (tag.lower() in ERROR_TAGS and level == Qgis.Critical):
            self.report["python_errors"].append(record)
            self._write_report()  # at once: QGIS may be about to die
        else:
            self._dirty = True

    def _on_request(self, parameters):
        if len(self.report["network_requests"]) < self.MAX_MESSAGES:
            self.report["network_requests"].append({
                "url": parameters.request().url().toString(), "operation": int(parameters.operation()),
                "phase": self._phase, "t": round(time.monotonic() - self.started, 3)})
            self._dirty = True

    def _close_modal(self):
        from qgis.PyQt.QtWidgets import QApplication, QDialog, QMessageBox

        widget = QApplication.activeModalWidget()
        if widget is None:
            self._modal_since = None
            return False
        # Give a fresh dialog a moment to paint, or its screenshot is a black rectangle.
        now = time.monotonic()
        if self._modal_since is None or self._modal_since[0] is not widget:
            self._modal_since = (widget, now)
            return True
        if now - self._modal_since[1] < self.MODAL_PAINT_SECONDS:
            return True
        self._modal_since = None
        texts = [widget.windowTitle()]
        if isinstance(widget, QMessageBox):
            texts.append(widget.text())
        else:
            from qgis.PyQt.QtWidgets import QLabel, QTextBrowser

            texts += [w.text() for w in widget.findChildren(QLabel) if w.text()][:10]
            texts += [w.toPlainText()[:4000] for w in widget.findChildren(QTextBrowser)]
        index = len(self.report["modal_dialogs"])
        record = {"class": type(widget).__name__, "objectName": widget.objectName(), "phase": self._phase}
        self.report["modal_dialogs"].append({**record, "texts": texts})
        self.screenshot(f"modal-{index}")
        if isinstance(widget, QDialog):
            widget.reject()
        else:
            widget.close()
        self._write_report()
        return True

    def _tick(self):
        try:
            self._advance()
        except Exception:  # noqa: BLE001 - anything going wrong in the driver must end the run, not hang it
            self.report["driver_error"] = traceback.format_exc()
            self._finish()
        if self._dirty:
            self._write_report()

    def _advance(self):
        import qgis.utils

        if self._close_modal() and self._phase != "scenario":
            return
        now = time.monotonic()
        if self._phase == "starting":
            iface = qgis.utils.iface
            if iface is not None and iface.mainWindow() is not None and iface.mainWindow().isVisible():
                if self._window_seen_at is None:
                    self._window_seen_at = now
                    self._fit_main_window(iface.mainWindow())
                elif now - self._window_seen_at >= self.SETTLE_SECONDS:
                    self._on_ready()
            elif now - self.started > float(self.config.get("ready_timeout", 60)):
                self.report["driver_error"] = "QGIS main window did not show up"
                self._finish()
        elif self._phase == "scenario":
            self._step_scenario(now)

    def _fit_main_window(self, window):
        from qgis.PyQt.QtWidgets import QApplication

        # Without a window manager "maximised" means nothing; fill the screen so screenshots show everything.
        window.setGeometry(QApplication.primaryScreen().availableGeometry())

    def _on_ready(self):
        import qgis.utils

        self.report["startup_seconds"] = round(time.monotonic() - self.started, 2)
        self.report.update(self.plugin_state())
        self.screenshot("startup")
        self._set_phase("scenario")
        code = Path(self.config["scenario"]).read_text(encoding="utf-8")
        namespace = {"iface": qgis.utils.iface, "plugin": qgis.utils.plugins.get(self.plugin_name),
                     "ctx": self, "__name__": "satellite_tasking_e2e_scenario"}
        try:
            exec(compile(code, self.config["scenario"], "exec"), namespace)  # noqa: S102 - test scenario
            scenario = namespace.get("scenario")
            result = scenario(self) if callable(scenario) else None
        except Exception:  # noqa: BLE001 - reported, then the run ends
            self.report["scenario_error"] = traceback.format_exc()
            self._finish()
            return
        self._steps = result if hasattr(result, "send") else None
        if self._steps is None:
            self._finish()

    def _step_scenario(self, now):
        if self._waiting is not None:
            predicate, until, since = self._waiting
            if predicate is None:
                if now < until:
                    return
            else:
                try:
                    done = bool(predicate())
                except Exception:  # noqa: BLE001 - a failing condition fails the scenario
                    self.report["scenario_error"] = traceback.format_exc()
                    self._finish()
                    return
                if not done:
                    if now > until:
                        name = getattr(predicate, "__name__", repr(predicate))
                        self.report["scenario_error"] = f"not true within {self.step_timeout:.0f} s: {name}"
                        self._finish()
                    return
            self._waiting = None
        try:
            step = next(self._steps)
        except StopIteration:
            self._finish()
            return
        except Exception:  # noqa: BLE001 - reported, then the run ends
            self.report["scenario_error"] = traceback.format_exc()
            self._finish()
            return
        if callable(step):
            self._waiting = (step, now + self.step_timeout, now)
        else:
            self._waiting = (None, now + float(step or 0), now)

    def _set_phase(self, phase):
        self._phase = phase
        self.report["phase"] = phase
        self._dirty = True

    def _finish(self):
        import qgis.utils
        from qgis.core import QgsProject
        from qgis.PyQt.QtCore import QTimer

        if self._phase in ("quitting",):
            return
        if qgis.utils.iface is not None and "startup_seconds" in self.report:
            self.report["final_state"] = self.plugin_state()
            self.screenshot("final")
        self.report["finished"] = True
        self.report["run_seconds"] = round(time.monotonic() - self.started, 2)
        self._set_phase("quitting")
        self._write_report()
        # Quit the way a user does (File ▸ Exit: plugins are unloaded), with nothing left to ask about saving.
        # QGIS 3.22 counts files under /tmp (the test profile) as temporary layers and would ask about
        # them on exit: a user's profile is not under /tmp, so the layers go before quitting.
        QgsProject.instance().removeAllMapLayers()
        QgsProject.instance().setDirty(False)
        if qgis.utils.iface is not None:
            QTimer.singleShot(0, qgis.utils.iface.actionExit().trigger)
        else:
            QTimer.singleShot(0, __import__("qgis.core", fromlist=["QgsApplication"]).QgsApplication.exit)

    def _write_report(self):
        path = Path(self.config["report"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.report, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, path)
        self._dirty = False
