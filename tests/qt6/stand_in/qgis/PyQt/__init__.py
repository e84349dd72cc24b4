"""``qgis.PyQt`` as QGIS 4 builds it: each module re-exports the PyQt6 module of the same name."""
