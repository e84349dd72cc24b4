"""Fast paths, each in a room of its own with the plain reference version beside it.

Every module here holds one optimisation that domain code (``http``, ``aoi``) calls by name, next to the obvious,
slow-but-correct implementation of the same thing; a test in ``tests/unit`` or ``tests/qgis`` shows that both
agree. The modules import nothing of the plugin, so any layer may use them.
"""
