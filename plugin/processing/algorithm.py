"""What every tasking algorithm shares: the connection parameter, the provider, help and icon."""
from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingParameterEnum
from qgis.PyQt.QtGui import QIcon

from ..http import cancellable
from .connections import connection_names, find_connection, provider_error, provider_for

ICON_PATH = Path(__file__).resolve().parent.parent.parent / "resources" / "icons" / "tasking.svg"
CONNECTION = "CONNECTION"


class TaskingAlgorithm(QgsProcessingAlgorithm):
    """Base of the plugin's algorithms; ``factory`` is the plugin's ProviderFactory."""

    algorithm_name = ""
    algorithm_title = ""
    help_text = ""

    def __init__(self, factory):
        super().__init__()
        self.factory = factory
        self._providers = []

    def processAlgorithm(self, parameters, context, feedback):
        # Cancelling the run (Processing's Cancel button) ends the provider's retry waits and sends no new
        # request (RequestCancelled), also from the worker threads a provider starts.
        try:
            with cancellable(feedback.isCanceled if feedback is not None else None):
                return self.process(parameters, context, feedback)
        finally:
            for provider in self._providers:
                close_sessions(provider)
            self._providers = []

    def process(self, parameters, context, feedback) -> dict:
        raise NotImplementedError

    def createInstance(self):
        return type(self)(self.factory)

    def name(self):
        return self.algorithm_name

    def displayName(self):
        return self.algorithm_title

    def shortHelpString(self):
        return self.help_text + (
            "<p><b>Connection</b>: one of the connections configured in the plugin, by name or id. The Sandbox "
            "(offline simulator) needs no account: it starts inside QGIS, also in <code>qgis_process</code>, and "
            "keeps its orders in the profile folder; set the environment variable "
            "<code>SATELLITE_TASKING_SANDBOX_URL</code> to use a sandbox running elsewhere.</p>")

    def icon(self):
        return QIcon(str(ICON_PATH))

    def add_connection_parameter(self):
        names = connection_names(self.factory)
        parameter = QgsProcessingParameterEnum(CONNECTION, "Connection", options=names, allowMultiple=False,
                                               defaultValue=names[0] if names else None, optional=False,
                                               usesStaticStrings=True)
        parameter.setHelp("A configured connection, by name or id.")
        self.addParameter(parameter)

    def checkParameterValues(self, parameters, context):
        # A connection may be named by its id too (models written elsewhere): the enum only lists names.
        value = parameters.get(CONNECTION)
        if value is not None and not isinstance(value, int):
            try:
                connection = find_connection(self.factory, value)
            except QgsProcessingException as error:
                return False, str(error)
            parameters = {**parameters, CONNECTION: connection.name}
        return super().checkParameterValues(parameters, context)

    def connection_and_provider(self, parameters, feedback):
        connection = find_connection(self.factory, parameters.get(CONNECTION))
        feedback.pushInfo(f"Connection: {connection.name}")
        provider = provider_for(self.factory, connection)
        self._providers.append(provider)
        return connection, provider

    @staticmethod
    def failed(connection, error) -> QgsProcessingException:
        return provider_error(connection, error)


def close_sessions(provider) -> None:
    """Close the HTTP sessions of a provider (and of the parts of the Sandbox's) once a run is over."""
    for item in [provider, *getattr(provider, "parts", {}).values()]:
        session = getattr(item, "session", None)
        if session is not None and hasattr(session, "close"):
            session.close()
