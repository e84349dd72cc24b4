"""Tasking providers behind one interface (base.TaskingProvider). No Qt, no QGIS."""
