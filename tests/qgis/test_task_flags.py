"""Closing QGIS while the plugin reads in the background asks the user nothing; placing still asks.

QGIS 3.26+ asks "Do you want to try canceling these active tasks?" on exit for every running task without
QgsTask.Flag.CancelWithoutPrompt. The monitor syncs every minute, so without the flag nearly every exit asked
(seen on QGIS 3.40 in the desktop e2e); a placement is an order being bought, and the question stays.
"""
import pytest
from qgis.core import QgsTask

from satellite_tasking.plugin.sync import sync_task
from satellite_tasking.plugin.tasks import BackgroundTask

QUIET = getattr(QgsTask.Flag, "CancelWithoutPrompt", None)
pytestmark = pytest.mark.skipif(QUIET is None, reason="QGIS before 3.26 has no CancelWithoutPrompt")


def test_a_sync_can_be_cancelled_on_exit_without_a_question(qgis_app):
    task = sync_task(provider=None, store=None, connection_id="c1", on_done=lambda result: None)

    assert task.flags() & QUIET
    assert task.flags() & QgsTask.Flag.CanCancel


def test_a_task_that_places_orders_keeps_the_question(qgis_app):
    task = BackgroundTask("Placing 2 tasking orders", lambda running: None)

    assert not task.flags() & QUIET


def test_a_task_that_cannot_be_cancelled_is_never_cancelled_quietly(qgis_app):
    task = BackgroundTask("Reading", lambda running: None, can_cancel=False, cancel_without_prompt=True)

    assert not task.flags() & QUIET
