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
- ``postgis_server``, ``postgis_conninfo``: a real PostgreSQL with PostGIS, a new database a test.

The helpers behind them (``SandboxControl``, ``control``, ``quick_session``, ``*_provider_for``, ``QUIET``) are
importable as ``sandbox_harness`` (tests/sandbox_harness.py), registered here by name.
"""
import glob
import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
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


def _register_harness(name: str) -> None:
    """Makes tests/<name>.py importable by name: tests import with --import-mode=importlib, nothing on sys.path."""
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_register_harness("sandbox_harness")

import sandbox_harness  # noqa: E402  (registered just above)


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


def _closing(provider):
    yield provider
    provider.session.close()


@pytest.fixture
def up42_provider(sandbox_server):
    yield from _closing(sandbox_harness.up42_provider_for(sandbox_server))


@pytest.fixture
def planet_provider(sandbox_server):
    yield from _closing(sandbox_harness.planet_provider_for(sandbox_server))


@pytest.fixture
def stapi_provider(sandbox_server):
    yield from _closing(sandbox_harness.stapi_provider_for(sandbox_server))


@pytest.fixture
def sandbox_provider(sandbox_server):
    yield from _closing(sandbox_harness.sandbox_provider_for(sandbox_server))


# -- a real PostgreSQL with PostGIS (the shared team store) ---------------------------------------------
# ``postgis_server`` starts a PostgreSQL of its own from Debian's packages (``postgresql``,
# ``postgresql-postgis``; ``make setup`` installs them): ``initdb`` in a temporary folder, ``pg_ctl`` on
# 127.0.0.1 and a free port, as the ``postgres`` user when the tests run as root (PostgreSQL refuses to run as
# root). Started once per session, only when a test asks for it, and always stopped at the end.
# ``postgis_conninfo`` gives each test a database of its own, with PostGIS.
def _postgresql_bin() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin that has both initdb and PostGIS (no version hard-coded)."""
    def version(path: str) -> tuple:
        number = Path(path).parent.name
        return tuple(int(p) for p in re.findall(r"\d+", number))

    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        major = Path(folder).parent.name
        if (Path(folder) / "initdb").exists() and glob.glob(f"/usr/share/postgresql/{major}/extension/postgis.control"):
            return Path(folder)
    pytest.fail("PostgreSQL with PostGIS is not installed (Debian: postgresql postgresql-postgis); run `make setup`.")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgisServer:
    host: str
    port: int
    user: str
    folder: Path

    def conninfo(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"

    def admin(self, sql: str, database: str = "postgres") -> None:
        import psycopg2

        db = psycopg2.connect(self.conninfo(database))
        try:
            db.autocommit = True
            with db.cursor() as cursor:
                cursor.execute(sql)
        finally:
            db.close()


# Stops the server when the test process is gone without its finaliser (killed by a timeout): a process of its
# own session, so the signal that ends the tests' process group does not end it too.
_WATCHDOG = '''
import os, subprocess, sys, time
parent, command = int(sys.argv[1]), sys.argv[2:]
while True:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    except PermissionError:
        pass
    time.sleep(1)
subprocess.run(command, capture_output=True, timeout=60)
'''


@pytest.fixture(scope="session")
def postgis_server():
    binaries = _postgresql_bin()
    as_root = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="tasking-postgis-"))
    run_as: list = []
    if as_root:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    log = folder / "server.log"
    started = False
    try:
        subprocess.run([*run_as, str(binaries / "initdb"), "-D", str(data), "-U", "tasking", "--auth=trust",
                        "-E", "UTF8", "--no-locale"], check=True, capture_output=True, timeout=120)
        for _attempt in range(3):  # the free port may be taken between the probe and the start
            port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
                       f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
            result = subprocess.run([*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o",
                                     options, "-w", "-t", "60", "start"], capture_output=True, timeout=90)
            if result.returncode == 0:
                started = True
                break
        if not started:
            pytest.fail("PostgreSQL did not start: " + (log.read_text(errors="replace")[-2000:] if log.exists()
                                                         else result.stderr.decode(errors="replace")))
        stop = [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), *stop], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = PostgisServer("127.0.0.1", port, "tasking", folder)
        server.admin("CREATE EXTENSION postgis", "template1")  # every test database gets PostGIS
        yield server
    finally:
        if started:
            subprocess.run([*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgis_conninfo(postgis_server) -> str:
    """A libpq connection string of a new, empty database with PostGIS."""
    name = "t_" + uuid.uuid4().hex[:12]
    postgis_server.admin(f"CREATE DATABASE {name}")
    return postgis_server.conninfo(name)
