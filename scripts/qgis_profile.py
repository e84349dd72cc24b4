"""Build an isolated QGIS 3.22 profile with the Satellite tasking plugin installed and enabled.

The layout QGIS expects under ``--profiles-path DIR`` is::

    DIR/profiles/<profile>/QGIS/QGIS3.ini
    DIR/profiles/<profile>/python/plugins/satellite_tasking   -> the repository root (symlink or copy)
    DIR/profiles/<profile>/python/startup.py                  (optional, run by QGIS at Python start-up)

Settings are written with QSettings in QGIS's own ini format, so an existing profile (for example the one
``make run`` keeps in ``.qgis-profile/``) keeps whatever the user changed and only our keys are set again.
The keys switch off everything that would open a dialog or touch the network at start-up in QGIS 3.22:
the version check, the news feed on the welcome page, the plugin repositories check, the QGIS 2 settings
migration and its first-run dialog.

Run with Debian's Python (the one that imports ``qgis``)::

    /usr/bin/python3 scripts/qgis_profile.py --profiles-path .qgis-profile
"""
import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN_NAME = "satellite_tasking"
DEFAULT_PROFILE = "default"

# Folders of a checkout that a packaged plugin does not carry; skipped by --copy. The profile folder itself is
# among them, since it usually lives inside the repository and copying it into itself would never end.
COPY_EXCLUDES = (
    ".git",
    ".ci",
    ".venv",
    ".venv-sdk",
    ".qgis-profile",
    ".pytest_cache",
    ".ruff_cache",
    "__pycache__",
    "build",
    "dist",
    "demo",
    "test-artifacts",
    "tests",
    "scripts",
)


def start_up_settings(plugin_name: str = PLUGIN_NAME) -> dict:
    """QSettings keys (QGIS 3.22) that enable the plugin and keep start-up quiet and offline."""
    from qgis.core import Qgis, QgsNewsFeedParser

    news_feed_key = QgsNewsFeedParser.keyForFeed("https://feed.qgis.org")  # "NewsFeed/httpsfeedqgisorg"
    return {
        f"PythonPlugins/{plugin_name}": True,
        # A profile reused after QGIS was killed while loading the plugin would otherwise start with the
        # plugin switched off ("This plugin is disabled because it previously crashed QGIS").
        f"PythonPlugins/watchDog/{plugin_name}": None,
        # Version check: https://version.qgis.org at start-up (also --noversioncheck).
        "qgis/checkVersion": False,
        # News feed on the welcome page: https://feed.qgis.org (QgsSettings section Core).
        f"core/{news_feed_key}/disabled": True,
        # Plugin installer: fetching plugin repositories at start-up.
        "app/plugin_installer/checkOnStart": False,
        # QGIS 2 → 3 settings migration and the first-run dialog that offers it.
        "migration/settings": True,
        "migration/fileVersion": 2,
        "migration/firstRunVersionFlag": Qgis.QGIS_VERSION_INT,
        "qgis/hideSplash": True,
        # English interface whatever the machine's locale, so screenshots and texts are comparable.
        "locale/overrideFlag": True,
        "locale/userLocale": "en_US",
    }


def _remove_path(path: Path, inside: Path) -> None:
    resolved_parent = path.parent.resolve()
    if not resolved_parent.is_relative_to(inside.resolve()):
        raise ValueError(f"refusing to remove {path}: not inside {inside}")
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def install_plugin(plugins_dir: Path, plugin_source: Path, plugin_name: str = PLUGIN_NAME,
                   copy: bool = False) -> Path:
    """Put the plugin into ``plugins_dir/plugin_name``: a symlink to ``plugin_source`` or a fresh copy."""
    plugins_dir.mkdir(parents=True, exist_ok=True)
    target = plugins_dir / plugin_name
    plugin_source = plugin_source.resolve()
    if not (plugin_source / "metadata.txt").is_file():
        raise FileNotFoundError(f"{plugin_source} is not a QGIS plugin folder (no metadata.txt)")
    if copy:
        if target.exists() or target.is_symlink():
            _remove_path(target, plugins_dir)
        shutil.copytree(plugin_source, target, ignore=shutil.ignore_patterns(*COPY_EXCLUDES, "*.pyc"))
    else:
        if target.is_symlink() and Path(os.readlink(target)) == plugin_source:
            return target
        if target.exists() or target.is_symlink():
            _remove_path(target, plugins_dir)
        target.symlink_to(plugin_source, target_is_directory=True)
    return target


def write_settings(ini_path: Path, values: dict) -> None:
    """Set (or with value None, remove) keys in a QGIS ini file, keeping every other key it has."""
    from qgis.PyQt.QtCore import QSettings

    ini_path.parent.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(ini_path), QSettings.Format.IniFormat)
    for key, value in values.items():
        if value is None:
            settings.remove(key)
        else:
            settings.setValue(key, value)
    settings.sync()
    if settings.status() != QSettings.Status.NoError:
        raise OSError(f"could not write QGIS settings to {ini_path} (QSettings status {settings.status()})")


def build_profile(profiles_path: Path, plugin_source: Path = REPO_ROOT, *, profile: str = DEFAULT_PROFILE,
                  plugin_name: str = PLUGIN_NAME, copy: bool = False, startup_script: Path = None,
                  extra_settings: dict = None) -> Path:
    """Create or refresh an isolated profile; returns the profile folder.

    ``startup_script`` is copied to ``python/startup.py``, which QGIS runs when its Python starts (before
    plugins load); passing None removes a startup.py left by an earlier build.
    """
    profiles_path = Path(profiles_path).resolve()
    profile_dir = profiles_path / "profiles" / profile
    python_dir = profile_dir / "python"
    install_plugin(python_dir / "plugins", Path(plugin_source), plugin_name, copy=copy)

    settings = start_up_settings(plugin_name)
    settings.update(extra_settings or {})
    write_settings(profile_dir / "QGIS" / "QGIS3.ini", settings)

    startup_target = python_dir / "startup.py"
    if startup_script is not None:
        shutil.copyfile(startup_script, startup_target)
    elif startup_target.exists():
        startup_target.unlink()
    return profile_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles-path", type=Path, default=REPO_ROOT / ".qgis-profile",
                        help="folder for qgis --profiles-path (default: .qgis-profile in the repository)")
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    parser.add_argument("--plugin-source", type=Path, default=REPO_ROOT,
                        help="plugin folder to install (default: the repository root)")
    parser.add_argument("--copy", action="store_true",
                        help="copy the plugin (without tests, venvs, caches) instead of symlinking it")
    parser.add_argument("--startup-script", type=Path, help="Python file to install as python/startup.py")
    parser.add_argument("--reset", action="store_true", help="delete the profile first and start afresh")
    args = parser.parse_args(argv)

    profile_dir = args.profiles_path.resolve() / "profiles" / args.profile
    if args.reset and profile_dir.exists():
        shutil.rmtree(profile_dir)
    profile_dir = build_profile(args.profiles_path, args.plugin_source, profile=args.profile, copy=args.copy,
                                startup_script=args.startup_script)
    sys.stdout.write(f"{profile_dir}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
