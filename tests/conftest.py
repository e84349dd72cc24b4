"""Test set-up shared by every test folder.

The repository root is the plugin folder, so QGIS imports it as a package under the
folder name it was installed as. Tests import it the same way, as ``satellite_tasking``,
whatever the checkout's folder is called.

Fixtures for every folder (tests/qgis/conftest.py adds the QGIS ones, among them the loaded plugin):

- ``start_sandbox(seed=1, speed=0, settings=QUIET, **options)``: starts a ``SandboxServer`` on 127.0.0.1 (a
  frozen clock unless ``speed`` is given), stopped after the test.
- ``sandbox_server``: one started with ``sandbox_options`` — a fixture a test module overrides to choose its seed
  and settings (default: seed 1, frozen clock, ``QUIET``).
- ``sandbox_control``: the ``SandboxControl`` of ``sandbox_server`` (clock, request log, faults, settings, seeds).
- ``up42_provider``, ``planet_provider``, ``stapi_provider``, ``sandbox_provider``: a provider of each kind
  connected to ``sandbox_server``, its session closed after the test.
- ``self_signed_certificate``: (cert, key) paths of a certificate for 127.0.0.1 that no public CA signed, made
  once a session by the ``openssl`` command (the test is skipped without it).
- ``postgis_server``, ``postgis_conninfo``: a real PostgreSQL with PostGIS, a new database a test.
- ``schema_server``: (its URL, the requests it saw) of a server that would hand out a schema part, for tests that
  show a schema's remote ``$ref`` is never fetched.
- ``make_form(schema, **kwargs)``: a ``SchemaForm`` of that schema, closed with the test (QGIS and PyQt6 alike).
- ``reading_way``: a test run twice, its sessions reading through requests, then through the keep-alive path
  (``sandbox_harness.reading_proxy()`` is the proxy configuration to give them).

The helpers behind them (``SandboxControl``, ``control``, ``quick_session``, ``*_provider_for``, ``QUIET``) are
importable as ``sandbox_harness`` (tests/sandbox_harness.py), registered here by name, as are ``loopback_http`` (small
HTTP servers on 127.0.0.x: a recording origin, a quiet handler) and ``ui_files`` (the .ui files built as the QGIS
and the PyQt6 tests build them) and ``qgis_harness`` (tests/qgis/qgis_harness.py: layers of given shapes, the
order dialog driven as a person would).
"""
import importlib.util
import sys
from pathlib import Path

import pytest

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


def _register_harness(name: str, folder: str = "") -> None:
    """Makes tests/<folder>/<name>.py importable by name: tests import with --import-mode=importlib, nothing on
    sys.path."""
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_register_harness("sandbox_harness")
_register_harness("loopback_http")
_register_harness("ui_files")
_register_harness("qgis_harness", "qgis")  # Qt imported inside: tests/qt6/conftest.py puts its PyQt6 first later
_register_harness("postgis_harness")

import loopback_http  # noqa: E402  (registered just above)
import postgis_harness  # noqa: E402  (registered just above)
import sandbox_harness  # noqa: E402  (registered just above)


# -- both ways a session reads ---------------------------------------------------------------------------
@pytest.fixture(params=["requests", "keep-alive"])
def reading_way(request):
    """Runs a test twice: its sessions (``sandbox_harness.reading_proxy()``) read through requests, then through the
    keep-alive path. A module takes it for every test with ``pytestmark = pytest.mark.usefixtures("reading_way")``."""
    from satellite_tasking.plugin.http import ProxyConfig

    sandbox_harness.READING["proxy"] = None if request.param == "requests" else ProxyConfig(mode="none")
    yield request.param
    sandbox_harness.READING["proxy"] = None


# -- the sandbox, its control API and providers connected to it ----------------------------------------
@pytest.fixture
def start_sandbox():
    """Starts sandboxes for a test: ``start_sandbox(seed=1, speed=0, settings=QUIET, **options)``."""
    from satellite_tasking.plugin.sandbox import SandboxServer

    started = []

    def start(seed: int = 1, speed: float = 0, settings=None, **options):
        server = SandboxServer(port=0, seed=seed, speed=speed,
                               settings=sandbox_harness.QUIET if settings is None else settings, **options)
        started.append(server.start())
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def sandbox_options() -> dict:
    """How ``sandbox_server`` is started; a test module overrides this fixture to choose its seed or settings."""
    return {}


@pytest.fixture
def sandbox_server(start_sandbox, sandbox_options):
    return start_sandbox(**sandbox_options)


@pytest.fixture
def sandbox_control(sandbox_server) -> "sandbox_harness.SandboxControl":
    return sandbox_harness.SandboxControl(sandbox_server)


def _provider_fixture(name: str, make):
    """A fixture ``name``: the provider ``make(sandbox_server)`` builds, its session closed after the test."""
    @pytest.fixture(name=name)
    def connected(sandbox_server):
        provider = make(sandbox_server)
        yield provider
        provider.session.close()

    return connected


up42_provider = _provider_fixture("up42_provider", sandbox_harness.up42_provider_for)
planet_provider = _provider_fixture("planet_provider", sandbox_harness.planet_provider_for)
stapi_provider = _provider_fixture("stapi_provider", sandbox_harness.stapi_provider_for)
sandbox_provider = _provider_fixture("sandbox_provider", sandbox_harness.sandbox_provider_for)


@pytest.fixture
def schema_server():
    """A server that would hand out a schema part (an integer of one value); yields its URL and what it was asked."""
    def schema_part(handler, body: bytes) -> None:
        loopback_http.reply(handler, 200, {"type": "integer", "enum": [1]})

    server = loopback_http.RecordingServer(script=schema_part).start()
    yield server.url, server.seen
    server.stop()


@pytest.fixture(scope="session")
def self_signed_certificate(tmp_path_factory):
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command (apt: openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


# -- a real PostgreSQL with PostGIS (the shared team store) ---------------------------------------------
# ``postgis_server`` starts a PostgreSQL of its own (tests/postgis_harness.py: Debian's ``postgresql`` and
# ``postgresql-postgis``, on 127.0.0.1 and a free port), once per session, only when a test asks for it, and
# always stops it at the end. ``postgis_conninfo`` gives each test a database of its own, with PostGIS.
@pytest.fixture(scope="session")
def postgis_server():
    try:
        with postgis_harness.running_postgis() as server:
            yield server
    except postgis_harness.PostgisMissing as missing:
        pytest.fail(str(missing))


@pytest.fixture
def postgis_conninfo(postgis_server) -> str:
    """A libpq connection string of a new, empty database with PostGIS."""
    return postgis_harness.new_database(postgis_server)


@pytest.fixture
def make_form(qtbot):
    """Builds order forms: ``make_form(schema, **kwargs)`` is a ``SchemaForm`` that qtbot closes after the test.

    Here rather than in tests/qgis/conftest.py: the schema form's suite also runs under PyQt6 (tests/qt6), where
    only Qt, not QGIS, can be imported."""
    from satellite_tasking.ui.schema_form import SchemaForm

    def make(schema, **kwargs):
        form = SchemaForm(schema, **kwargs)
        qtbot.addWidget(form)
        return form

    return make
