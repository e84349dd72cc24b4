"""Test set-up shared by every test folder.

The repository root is the plugin folder, so QGIS imports it as a package under the
folder name it was installed as. Tests import it the same way, as ``satellite_tasking``,
whatever the checkout's folder is called.
"""
import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_NAME = "satellite_tasking"


def _register_plugin_package():
    if PACKAGE_NAME in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        PACKAGE_NAME,
        REPO_ROOT / "__init__.py",
        submodule_search_locations=[str(REPO_ROOT)],
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE_NAME] = module
    spec.loader.exec_module(module)


_register_plugin_package()
