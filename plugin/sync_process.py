"""The order sync in a process of its own, beside QGIS: QGIS's interpreter keeps its time for the map and the dock.

Why: a sync builds and drops hundreds of thousands of small Python objects (a page of 100 Planet orders is 3,500
coordinate lists). In QGIS's process those set off the garbage collector's full collections, each a pause of
20-45 ms of every Python thread, the GUI's included, over the tens of thousands of objects QGIS and its plugins
hold; and the sync's Python competes with the GUI thread for the interpreter's lock. Changing the collector would
change it for every plugin (no ``gc.freeze``: the plugin is a guest). A process of its own has none of that, and a
second core.

Two sides in this module, both without Qt (the sync process never imports QGIS: ``BOOTSTRAP`` blocks it):

* ``SyncProcess`` (QGIS's side): started at the first sync from a background task, kept for the next ones (it
  keeps each connection's provider, so its tokens and workspace ids, as the in-process sync does), ended by
  ``close`` when the monitor stops, and ending by itself when QGIS goes (its standard input closes). ``sync``
  sends one connection's ``ProviderRecipe`` (credentials and proxy included: the pipe is the only place a secret
  travels, never a command line, the environment or a file), waits for the result, forwards a cancel, and gives
  a ``SyncResult`` — or None where no process can run (no Python interpreter beside QGIS that is QGIS's own, or one
  that cannot start the plugin): the caller then syncs in its own process, as before.
* ``serve`` (the process's side): runs ``sync.sync_connection`` for each request in a thread of its own, into the
  GeoPackage named by the request, and answers with the result. Its log records reach QGIS's message log through
  its standard error.

The messages are JSON, one per line. Only a store of the user's own (a GeoPackage file) is synced here; the team's
shared PostGIS store keeps its in-process sync with its sync lock and announcements (team_service).
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import queue
import subprocess  # nosec B404 - runs this plugin's own module with QGIS's own Python, no shell
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from .model import Decision
from .provider_recipe import ProviderRecipe
from .records import SkippedRecord
from .sync import SyncEvent, SyncEventKind, SyncResult, sync_connection

logger = logging.getLogger(__name__)

PACKAGE_NAME = __name__.split(".")[0]
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# Seconds a new process has to say it is ready (importing requests and the plugin takes well under one).
START_TIMEOUT_S = 30.0
# After a cancel, how long the sync waits for the process to roll back and answer before it gives up on it.
CANCEL_GRACE_S = 60.0
# A process that ends unexpectedly this many times is not started again in this QGIS session.
MAX_UNEXPECTED_ENDS = 3
# Seconds ``close`` leaves the process to end its syncs (they roll back) before it is killed.
CLOSE_GRACE_S = 10.0

# Run with ``python -c``: imports the plugin's package from its folder (whatever the folder is named, as QGIS
# imports it), with QGIS blocked, then serves. Arguments: the package's name, its folder.
BOOTSTRAP = (
    "import importlib, importlib.util, sys\n"
    "sys.modules['qgis'] = None  # the sync runs without QGIS: an import of it fails at once\n"
    "name, root = sys.argv[1], sys.argv[2]\n"
    "spec = importlib.util.spec_from_file_location(name, root + '/__init__.py', submodule_search_locations=[root])\n"
    "package = importlib.util.module_from_spec(spec)\n"
    "sys.modules[name] = package\n"
    "spec.loader.exec_module(package)\n"
    "importlib.import_module(name + '.plugin.sync_process').main()\n"
)

ENDED_SENTENCE = ("The sync process stopped unexpectedly{detail}; the orders shown are from the last successful "
                  "sync, and the next sync starts again from there.")


# -- the messages --------------------------------------------------------------------------------------------------
def result_to_message(result: SyncResult) -> dict:
    message = dataclasses.asdict(result)
    message["events"] = [{**dataclasses.asdict(event), "kind": event.kind.value, "decision": event.decision.value}
                         for event in result.events]
    return message


def result_from_message(message: dict) -> SyncResult:
    fields = {f.name for f in dataclasses.fields(SyncResult)}
    result = SyncResult(**{k: v for k, v in message.items() if k in fields and k not in ("events", "skipped")})
    result.events = [SyncEvent(**{**event, "kind": SyncEventKind(event["kind"]),
                                  "decision": Decision(event.get("decision", Decision.NONE.value))})
                     for event in message.get("events", [])]
    result.skipped = [SkippedRecord(**record) for record in message.get("skipped", [])]
    return result


def _encoded(message: dict) -> bytes:
    return json.dumps(message, ensure_ascii=True).encode("ascii") + b"\n"


# -- QGIS's side ---------------------------------------------------------------------------------------------------
def python_candidates() -> list:
    """Interpreters that may be the one QGIS runs inside, most likely first. ``sys.executable`` is not trusted
    alone: embedded in QGIS it is whatever ``python3`` the PATH finds (seen: a pyenv shim of another Python)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    names = [f"python{version}", f"python{sys.version_info.major}", "python"]
    suffixes = (".exe", "") if os.name == "nt" else ("",)
    prefix = Path(sys.exec_prefix)
    found = []
    for folder in (prefix / "bin", prefix):  # POSIX layout; Windows (OSGeo4W, the installers): in the prefix
        for name in names:
            for suffix in suffixes:
                found.append(folder / f"{name}{suffix}")
    for executable in (getattr(sys, "_base_executable", ""), sys.executable):
        if executable and Path(executable).name.lower().startswith("python"):
            found.append(Path(executable))
    unique = []
    for path in found:
        if path.is_file() and path not in unique:
            unique.append(path)
    return unique


class SyncProcess:
    """QGIS's handle on its sync process (thread-safe: syncs of several connections share it)."""

    def __init__(self, command: Optional[Callable[[], list]] = None, start_timeout: float = START_TIMEOUT_S):
        self._commands = command or (lambda: [[str(python), "-c", BOOTSTRAP, PACKAGE_NAME, str(PACKAGE_ROOT)]
                                              for python in python_candidates()])
        self._start_timeout = start_timeout
        self._lock = threading.Lock()  # short: the process's state and its input
        self._starting = threading.Lock()  # held while a process starts (seconds): one start at a time
        self._process: Optional[subprocess.Popen] = None
        self._answers: dict = {}  # job id -> queue.Queue of its answers
        self._jobs = itertools.count(1)
        self._ready = threading.Event()
        self._closed = False
        self.unavailable = ""  # why no process runs here (then every sync runs in QGIS's process)
        self.unexpected_ends = 0

    @property
    def pid(self) -> Optional[int]:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def sync(self, recipe: ProviderRecipe, store_path, connection_id: str,
             cancelled: Optional[Callable[[], bool]] = None) -> Optional[SyncResult]:
        """One connection's sync in the process: its SyncResult (an error sentence if the process ended under
        it), or None when no process can run here (the caller syncs in its own process instead)."""
        process = self._started()
        if process is None:
            return None
        job = next(self._jobs)
        answers: queue.Queue = queue.Queue()
        self._answers[job] = answers
        try:
            if not self._send(process, {"kind": "sync", "job": job, "recipe": recipe.to_message(),
                                        "store": str(Path(store_path).resolve()), "connection_id": connection_id}):
                return SyncResult(connection_id, error=ENDED_SENTENCE.format(detail=""))
            cancel_sent_at = None
            while True:
                try:
                    answer = answers.get(timeout=0.1)
                except queue.Empty:
                    if cancel_sent_at is None and cancelled is not None and cancelled():
                        self._send(process, {"kind": "cancel", "job": job})
                        cancel_sent_at = time.monotonic()
                    elif cancel_sent_at is not None and time.monotonic() - cancel_sent_at > CANCEL_GRACE_S:
                        return SyncResult(connection_id, cancelled=True)
                    continue
                if answer is None:  # the process ended under this sync
                    code = process.poll()
                    detail = f" (exit status {code})" if code not in (None, 0) else ""
                    return SyncResult(connection_id, error=ENDED_SENTENCE.format(detail=detail))
                return result_from_message(answer)
        finally:
            self._answers.pop(job, None)

    def close(self) -> None:
        """End the process (its syncs are cancelled and roll back); returns at once, a thread reaps it."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
        if process is not None:
            _close_input(process)
            threading.Thread(target=_reap, args=(process,), name="satellite-tasking-sync-reaper", daemon=True).start()

    # -- inside ------------------------------------------------------------------------------------------------------
    def _started(self) -> Optional[subprocess.Popen]:
        with self._starting:
            with self._lock:
                if self._closed or self.unavailable:
                    return None
                if self._process is not None and self._process.poll() is None:
                    return self._process
                self._process = None  # none yet, or it ended since the last sync
            reasons = []
            for command in self._commands():
                process, reason = self._start(command)
                if process is None:
                    reasons.append(reason)
                    continue
                with self._lock:
                    if not self._closed:
                        self._process = process
                        return process
                _close_input(process)  # the monitor stopped while this one started
                _reap(process)
                return None
            self.unavailable = "; ".join(reasons) or "no Python interpreter found beside QGIS"
            logger.info("Orders are synced inside QGIS's own process: no separate sync process could start (%s).",
                        self.unavailable)
            return None

    def _start(self, command: list):
        try:
            process = subprocess.Popen(  # nosec B603 - QGIS's own Python running this plugin's module, no shell
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        except OSError as error:
            return None, f"{command[0]}: {error.strerror or error}"
        ready: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_answers, args=(process, ready), daemon=True,
                         name="satellite-tasking-sync-answers").start()
        threading.Thread(target=_forward_log, args=(process,), daemon=True,
                         name="satellite-tasking-sync-log").start()
        try:
            hello = ready.get(timeout=self._start_timeout)
        except queue.Empty:
            hello = None
        if hello is not None and hello.get("python") == list(sys.version_info[:2]):
            logger.debug("Sync process %s started with %s", process.pid, command[0])
            return process, ""
        _close_input(process)
        _reap(process, grace=2.0)
        if hello is None:
            return None, f"{command[0]} did not start the sync (exit status {process.poll()})"
        return None, f"{command[0]} is Python {'.'.join(map(str, hello.get('python', [])))}, not QGIS's"

    def _send(self, process: subprocess.Popen, message: dict) -> bool:
        try:
            with self._lock:
                process.stdin.write(_encoded(message))
                process.stdin.flush()
            return True
        except (OSError, ValueError):  # the process has ended (a broken pipe, a closed file)
            return False

    def _read_answers(self, process: subprocess.Popen, ready: queue.Queue) -> None:
        said_ready = False
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                logger.warning("The sync process said something unexpected: %.200r", line)
                continue
            if message.get("kind") == "ready":
                said_ready = True
                ready.put(message)
            elif message.get("kind") == "result":
                answers = self._answers.get(message.get("job"))
                if answers is not None:
                    answers.put(message.get("result") or {})
        process.stdout.close()
        if not said_ready:
            ready.put(None)
            return
        process.wait()
        with self._lock:
            ended_by_close = self._closed or self._process is not process
        if not ended_by_close:
            self.unexpected_ends += 1
            logger.warning("The sync process ended unexpectedly (exit status %s).", process.returncode)
            if self.unexpected_ends >= MAX_UNEXPECTED_ENDS:
                self.unavailable = (f"the sync process ended unexpectedly {self.unexpected_ends} times; orders are "
                                    f"synced inside QGIS's process until QGIS restarts")
                logger.warning("%s.", self.unavailable[0].upper() + self.unavailable[1:])
        for answers in list(self._answers.values()):
            answers.put(None)


def _close_input(process: subprocess.Popen) -> None:
    try:
        process.stdin.close()
    except OSError:
        pass


def _reap(process: subprocess.Popen, grace: float = CLOSE_GRACE_S) -> None:
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _forward_log(process: subprocess.Popen) -> None:
    """The process's log records into this process's loggers (so into QGIS's message log, redacted there)."""
    for line in process.stderr:
        try:
            record = json.loads(line)
            logging.getLogger(str(record["name"])).log(int(record["level"]), "%s", str(record["message"]))
        except (ValueError, KeyError, TypeError):
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                logger.warning("Sync process: %s", text)
    process.stderr.close()


# -- the process's side --------------------------------------------------------------------------------------------
class _JsonLinesHandler(logging.Handler):
    """Log records as JSON lines on standard error, for ``_forward_log`` in QGIS."""

    def __init__(self, stream):
        super().__init__(level=logging.INFO)
        self.stream = stream
        self.lock_out = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            with self.lock_out:
                self.stream.write(_encoded({"name": record.name, "level": record.levelno, "message": message}))
                self.stream.flush()
        except Exception:  # noqa: BLE001 - a log handler must never raise into the code that logs
            self.handleError(record)


def serve(requests_in, answers_out, sync=sync_connection) -> None:
    """Answer sync requests read from ``requests_in`` (binary, JSON lines) on ``answers_out`` until the input
    ends; then cancel what runs, wait for it (each sync rolls back) and return."""
    from .store import TaskingStore

    out_lock = threading.Lock()
    providers: dict = {}  # connection id -> (recipe, provider): kept between syncs, as QGIS's monitor keeps them
    stores: dict = {}  # GeoPackage path -> TaskingStore
    cancels: dict = {}  # job id -> threading.Event
    running: list = []

    def answer(message: dict) -> None:
        with out_lock:
            answers_out.write(_encoded(message))
            answers_out.flush()

    def run(job, recipe: ProviderRecipe, store_path: str, connection_id: str, cancel: threading.Event) -> None:
        try:
            kept = providers.get(connection_id)
            if kept is None or kept[0] != recipe:
                providers[connection_id] = kept = (recipe, recipe.build())
            store = stores.get(store_path)
            if store is None:
                store = stores[store_path] = TaskingStore(Path(store_path))
            result = sync(kept[1], store, connection_id, cancelled=cancel.is_set, beside_gui=False)  # no GUI here
        except Exception as error:  # noqa: BLE001 - a provider that cannot be built (missing support, bad URL)
            message = getattr(error, "user_message", None)
            if not message:
                logger.error("Could not sync %s", connection_id, exc_info=error)
            result = SyncResult(connection_id, error=str(message or f"Could not sync ({type(error).__name__}); the "
                                                                     f"details are in the message log."))
        finally:
            cancels.pop(job, None)
        try:
            answer({"kind": "result", "job": job, "result": result_to_message(result)})
        except (OSError, ValueError):  # QGIS has gone: nobody to answer
            pass

    answer({"kind": "ready", "python": list(sys.version_info[:2]), "pid": os.getpid()})
    for line in requests_in:
        try:
            message = json.loads(line)
            kind = message["kind"]
            if kind == "sync":
                job = message["job"]
                cancels[job] = cancel = threading.Event()
                thread = threading.Thread(
                    target=run, name=f"sync-{job}",
                    args=(job, ProviderRecipe.from_message(message["recipe"]), message["store"],
                          message["connection_id"], cancel))
                running.append(thread)
                thread.start()
            elif kind == "cancel":
                event = cancels.get(message.get("job"))
                if event is not None:
                    event.set()
        except (ValueError, KeyError, TypeError) as error:
            logger.error("The sync process could not read a request (%s)", type(error).__name__)
        running[:] = [thread for thread in running if thread.is_alive()]
    for event in list(cancels.values()):  # QGIS has gone or closed the process: nothing may be left half-written
        event.set()
    for thread in running:
        thread.join()


def main() -> None:
    """The sync process's program (started by ``SyncProcess`` through ``BOOTSTRAP``)."""
    import signal

    # Ctrl+C in the terminal that started QGIS reaches this process too: QGIS decides, by closing the input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests_in, answers_out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not mix with the answers
    package = logging.getLogger(PACKAGE_NAME)
    package.addHandler(_JsonLinesHandler(sys.stderr.buffer))
    package.setLevel(logging.INFO)
    package.propagate = False
    serve(requests_in, answers_out)
