"""QGIS entry point of the Satellite tasking plugin.

Only classFactory lives here: the plugin class is imported when QGIS asks for it,
so importing the package does no work and needs no QGIS.
"""


def classFactory(iface):  # noqa: N802 - name fixed by QGIS
    from .plugin.plugin import TaskingPlugin

    return TaskingPlugin(iface)
