"""`make package` builds a zip that QGIS's "Install from ZIP" accepts and that stands alone."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_zip(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package.py"), "--output", str(tmp_path)],
        check=True, capture_output=True, text=True,
    )
    return Path(out.stdout.strip())


def test_zip_holds_one_importable_folder_with_only_runtime_files(tmp_path):
    archive = build_zip(tmp_path)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "plugins")
    top_levels = {name.split("/")[0] for name in names}
    assert top_levels == {"satellite_tasking"}
    for required in ("metadata.txt", "__init__.py", "plugin/plugin.py", "ui/monitor_dock.ui",
                     "resources/icons/tasking.svg"):
        assert f"satellite_tasking/{required}" in names
    assert not [n for n in names if "/tests/" in n or ".venv" in n or "__pycache__" in n or n.endswith(".pyc")]
    # The unzipped folder imports on its own, as QGIS imports it, without anything from the checkout.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import satellite_tasking as p; "
        "from satellite_tasking.plugin import model, metadata; "
        "assert callable(p.classFactory); print(metadata.plugin_version())"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "plugins")], capture_output=True,
                            text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in archive.name


def test_package_refuses_a_folder_name_qgis_cannot_import(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package.py"), "--name", "satellite-tasking", "--output",
         str(tmp_path)], capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "not a folder name QGIS can import" in result.stderr
