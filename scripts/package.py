"""Builds the plugin zip that QGIS's "Install from ZIP" accepts.

The zip holds one folder named like a Python package (QGIS imports the folder by name),
with exactly what the plugin needs at run time: no tests, venvs or caches.
"""
import argparse
import configparser
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCLUDED_FILES = ("metadata.txt", "__init__.py", "README.md", "LICENSE")
INCLUDED_DIRS = ("plugin", "ui", "resources")
EXCLUDED_PARTS = {"__pycache__", ".pytest_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".part"}


def plugin_files():
    for name in INCLUDED_FILES:
        if (ROOT / name).is_file():
            yield ROOT / name
    for folder in INCLUDED_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and not (EXCLUDED_PARTS & set(path.parts)) and path.suffix not in EXCLUDED_SUFFIXES:
                yield path


def build(name: str, output: Path) -> Path:
    if not name.isidentifier():
        sys.exit(f"{name!r} is not a folder name QGIS can import (letters, digits, underscores).")
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read(ROOT / "metadata.txt", encoding="utf-8")
    version = metadata["general"]["version"]
    output.mkdir(parents=True, exist_ok=True)
    archive = output / f"{name}-{version}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in plugin_files():
            zf.write(path, f"{name}/{path.relative_to(ROOT).as_posix()}")
    return archive


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="satellite_tasking", help="folder name inside the zip")
    parser.add_argument("--output", default=str(ROOT / "dist"), help="folder the zip is written to")
    args = parser.parse_args()
    archive = build(args.name, Path(args.output))
    sys.stdout.write(f"{archive}\n")


if __name__ == "__main__":
    main()
