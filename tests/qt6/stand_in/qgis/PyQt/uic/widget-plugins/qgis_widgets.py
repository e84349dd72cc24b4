# A PyQt uic widget plugin: uic executes this file with MODULE defined and asks which module
# provides which custom widget classes.
pluginType = MODULE  # noqa: F821


def moduleInformation():
    import qgis.gui

    return "qgis.gui", tuple(qgis.gui.__all__)
