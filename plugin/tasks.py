"""The one QgsTask base: run() does I/O and returns data, finished() touches widgets and layers.

QGIS drops a task nobody references, so every task is started through a TaskRunner that
holds it until it has finished. Errors never escape run(): a provider error becomes its
own user-facing message, anything unexpected is logged with its traceback and reported
to the user as one plain sentence.

The work runs inside ``http.cancellable(task.isCanceled)``: once the task is cancelled (by the
user in QGIS's task manager, or by ``TaskRunner.cancel_all`` when the plugin unloads), provider
requests made by the work are not sent any more and retry waits end at once.
"""
import logging
from typing import Any, Callable, Optional

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .http import cancellable

logger = logging.getLogger(__name__)


def user_message_for(error: BaseException) -> str:
    """The sentence a person sees for an error raised in the background."""
    message = getattr(error, "user_message", None)
    if message:
        return str(message)
    logger.error("Unexpected error in a background task", exc_info=error)
    return f"Something went wrong ({type(error).__name__}); the details are in the message log."


class BackgroundTask(QgsTask):
    #: (steps done, steps in all), emitted from the task's thread by ``report_progress``; connect a slot of a
    #: widget and Qt queues it to the GUI thread.
    stepsChanged = pyqtSignal(int, int)

    def __init__(
        self,
        description: str,
        work: Callable[["BackgroundTask"], Any],
        on_success: Optional[Callable[[Any], None]] = None,
        on_failure: Optional[Callable[[str], None]] = None,
        can_cancel: bool = True,
        cancel_without_prompt: bool = False,
    ):
        flags = QgsTask.Flag.CanCancel if can_cancel else QgsTask.Flag(0)
        # A task that changes nothing at the provider (a sync, a read) may end when the user closes QGIS or the
        # project; QGIS 3.26+ asks "Do you want to try canceling these active tasks?" for every other task, which a
        # background sync every minute would otherwise make a question at every exit. Placing and deciding keep it.
        quiet = getattr(QgsTask.Flag, "CancelWithoutPrompt", None)
        if cancel_without_prompt and can_cancel and quiet is not None:
            flags = flags | quiet
        super().__init__(description, flags)
        self._work = work
        self._on_success = on_success
        self._on_failure = on_failure
        self.result: Any = None
        self.error_message: str = ""

    def report_progress(self, done: int, total: int) -> None:
        """Progress in steps (AOIs placed, pages read): the task manager's percentage and ``stepsChanged``.
        Safe to call from the task's thread; a provider's ``progress`` callback can be this method."""
        self.setProgress(100.0 * done / total if total > 0 else 100.0)
        self.stepsChanged.emit(done, total)

    def run(self) -> bool:
        try:
            with cancellable(self.isCanceled):
                self.result = self._work(self)
            return not self.isCanceled()
        except Exception as error:  # noqa: BLE001 - nothing may escape into QGIS's task thread
            self.error_message = user_message_for(error)
            return False

    def finished(self, succeeded: bool) -> None:
        if succeeded:
            if self._on_success:
                self._on_success(self.result)
        elif self._on_failure:
            self._on_failure(self.error_message or "Cancelled.")


class TaskRunner:
    """Starts tasks in QGIS's task manager and keeps them referenced until they end."""

    def __init__(self):
        self._running: set = set()

    def start(self, task: BackgroundTask) -> BackgroundTask:
        self._running.add(task)
        task.taskCompleted.connect(lambda: self._running.discard(task))
        task.taskTerminated.connect(lambda: self._running.discard(task))
        QgsApplication.taskManager().addTask(task)
        return task

    @property
    def running(self) -> int:
        return len(self._running)

    def cancel_all(self) -> None:
        for task in list(self._running):
            task.cancel()
