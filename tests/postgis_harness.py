"""A real PostgreSQL with PostGIS for the tests and the benchmarks (the team's shared store).

``running_postgis()`` starts a PostgreSQL of its own from Debian's packages and stops it when the block ends;
``new_database(server)`` gives a new, empty database with PostGIS. tests/conftest.py makes fixtures of them
(``postgis_server``, ``postgis_conninfo``); tests/bench/bench_team_store.py uses them as they are.
"""
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


class PostgisMissing(RuntimeError):
    """PostgreSQL or PostGIS is not installed, or the server did not start."""


# The server: Debian's packages (``postgresql``, ``postgresql-postgis``; ``make setup`` installs them), ``initdb``
# in a temporary folder, ``pg_ctl`` on 127.0.0.1 and a free port, as the ``postgres`` user when run as root
# (PostgreSQL refuses to run as root).
def _postgresql_bin() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin that has both initdb and PostGIS (no version hard-coded)."""
    def version(path: str) -> tuple:
        number = Path(path).parent.name
        return tuple(int(p) for p in re.findall(r"\d+", number))

    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        major = Path(folder).parent.name
        if (Path(folder) / "initdb").exists() and glob.glob(f"/usr/share/postgresql/{major}/extension/postgis.control"):
            return Path(folder)
    raise PostgisMissing("PostgreSQL with PostGIS is not installed (Debian: postgresql postgresql-postgis); run "
                         "`make setup`.")


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


@contextmanager
def running_postgis() -> Iterator[PostgisServer]:
    """A PostgreSQL with PostGIS of its own while the block runs (stopped by a watchdog if this process dies)."""
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
            said = log.read_text(errors="replace")[-2000:] if log.exists() else result.stderr.decode(errors="replace")
            raise PostgisMissing("PostgreSQL did not start: " + said)
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


def new_database(server: PostgisServer) -> str:
    """A libpq connection string of a new, empty database with PostGIS."""
    name = "t_" + uuid.uuid4().hex[:12]
    server.admin(f"CREATE DATABASE {name}")
    return server.conninfo(name)
