"""`make setup` (scripts/setup.sh): idempotent here, and a clear message where it cannot work."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"


def test_on_a_machine_without_apt_setup_stops_and_says_what_to_install(tmp_path):
    # A PATH with the shell's basic tools but no apt-get/dpkg, as on Fedora or macOS.
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "dirname", "cat", "id", "grep", "cut", "sha256sum"):
        found = shutil.which(tool)
        if found:
            (tools / tool).symlink_to(found)
    result = subprocess.run([str(tools / "bash"), str(SETUP)], capture_output=True, text=True, timeout=60,
                            env={"PATH": str(tools), "HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "Debian-like" in result.stderr
    assert "python3-qgis" in result.stderr and "requirements-test.txt" in result.stderr


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="Debian only")
def test_a_second_setup_installs_nothing(tmp_path):
    env = dict(os.environ)
    result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Installing" not in result.stdout + result.stderr
