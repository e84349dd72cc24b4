"""The plugin's Processing provider "Satellite tasking": its algorithms run in models, in the
Processing toolbox and headless in ``qgis_process``, on the same modules as the dialogs."""
