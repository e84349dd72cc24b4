"""Providers, the HTTP layer, the model and the sandbox run in a plain Python without QGIS or Qt."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Registers the checkout as the package `satellite_tasking`, with qgis and PyQt made unimportable.
PROBE = r"""
import builtins, importlib, importlib.util, sys
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split(".")[0] in ("qgis", "PyQt5", "PyQt6", "sip"):
        raise ImportError(f"{name} is not available in this interpreter")
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
root = sys.argv[1]
spec = importlib.util.spec_from_file_location("satellite_tasking", root + "/__init__.py",
                                              submodule_search_locations=[root])
module = importlib.util.module_from_spec(spec); sys.modules["satellite_tasking"] = module
spec.loader.exec_module(module)
import pkgutil
import satellite_tasking.plugin.providers as providers
names = ["satellite_tasking.plugin.model", "satellite_tasking.plugin.http",
         "satellite_tasking.plugin.sandbox", "satellite_tasking.plugin.sandbox.server"]
names += [f"{providers.__name__}.{m.name}" for m in pkgutil.iter_modules(providers.__path__)]
for name in names:
    importlib.import_module(name)
assert not [m for m in sys.modules if m.split(".")[0] in ("qgis", "PyQt5")], "Qt leaked in"
print(len(names))
"""


def test_providers_import_and_run_without_qgis():
    result = subprocess.run([sys.executable, "-c", PROBE, str(ROOT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 5


def test_a_provider_works_from_a_plain_shell_against_the_sandbox():
    # A real round trip with the sandbox, in an interpreter where qgis cannot be imported.
    script = PROBE.replace("print(len(names))", r"""
from satellite_tasking.plugin.sandbox import SandboxServer
from satellite_tasking.plugin.http import build_session
server = SandboxServer(port=0, seed=3).start()
try:
    session = build_session("plain shell", "SatelliteTasking/test")
    page = session.get(server.base_url + "/tasking/v2/orders/", headers={"Authorization": "api-key k"})
    print(page["count"])
finally:
    server.stop()
""")
    result = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
