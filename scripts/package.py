"""Builds the plugin zip that QGIS's "Install from ZIP" and plugins.qgis.org accept.

The zip holds one folder named like a Python package (QGIS imports the folder by name),
with exactly what the plugin needs at run time plus LICENSE: no tests, venvs, caches or
development files. CHANGELOG.md is the one source of the changelog: its release sections
are written into the packaged metadata.txt as the ``changelog=`` entry.

Standard library only, so `make package` runs with Debian's python3 and no venv. Why not qgis-plugin-ci
(opengisch, on PyPI), the usual packager: it builds with `git archive` of a plugin subfolder, whereas this
repository's root is the plugin folder; it writes metadata.txt in the working tree and then undoes uncommitted
changes (`git checkout -- .` or `git reset --hard`), which would throw away work in progress in a shared checkout;
it needs the changes committed first; and it brings GitPython, PyGithub and pyqt5ac for release steps (GitHub
uploads, .qrc compiling, translations) that this project does not use. The part it would do here, a zip of the
runtime files with CHANGELOG.md in metadata.txt, is the hundred lines below.
"""
import argparse
import configparser
import re
import stat
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCLUDED_FILES = ("metadata.txt", "__init__.py", "service.py", "README.md", "LICENSE")
INCLUDED_DIRS = ("plugin", "ui", "resources")
EXCLUDED_PARTS = {"__pycache__", ".pytest_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".part"}
# What plugins.qgis.org's upload validator requires in metadata.txt.
REQUIRED_METADATA = ("name", "description", "about", "version", "qgisMinimumVersion", "author", "email", "tracker",
                     "repository")
FILE_MODE = stat.S_IFREG | 0o644
_RELEASE_HEADING = re.compile(r"^## \[?(?P<version>[^\]\s]+)\]?(?:\s+-\s+(?P<note>.+))?$")


class PackageError(Exception):
    """The checkout cannot be packaged as it is; the message says why."""


def plugin_files():
    for name in INCLUDED_FILES:
        if (ROOT / name).is_file():
            yield ROOT / name
    for folder in INCLUDED_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if (path.is_file() and not (EXCLUDED_PARTS & set(path.parts)) and path.suffix not in EXCLUDED_SUFFIXES
                    and not path.name.startswith(".")):
                yield path


def changelog_releases(text: str) -> list:
    """CHANGELOG.md's release sections, newest first: (heading, [lines]), wrapped Markdown lines joined."""
    releases = []
    for line in text.splitlines():
        heading = _RELEASE_HEADING.match(line)
        if heading:
            releases.append((heading["version"], line[3:].strip(), []))
            continue
        if not releases or line.startswith("#"):
            continue
        entries = releases[-1][2]
        stripped = line.strip().replace("`", "")
        if not stripped:
            entries.append("")
        elif entries and entries[-1] and not stripped.startswith(("- ", "* ")):
            entries[-1] += " " + stripped
        else:
            entries.append(stripped)
    return [(version, heading, [entry for entry in entries if entry]) for version, heading, entries in releases]


def changelog_entry(changelog_text: str, version: str) -> str:
    """The ``changelog=`` entry for metadata.txt: every release, newest first, one line per item."""
    releases = changelog_releases(changelog_text)
    if not releases:
        raise PackageError("CHANGELOG.md has no release section ('## <version> - <date or note>').")
    if releases[0][0] != version:
        raise PackageError(f"CHANGELOG.md's newest release is {releases[0][0]}, metadata.txt's version is {version}: "
                           f"write the changelog of {version} first.")
    lines = []
    for _, heading, entries in releases:
        lines.append(heading)
        lines.extend(entries)
    if any("%" in line for line in lines):
        raise PackageError("CHANGELOG.md has a '%' sign, which breaks metadata.txt for readers with interpolation "
                           "(plugins.qgis.org's validator is one): write 'per cent'.")
    return "changelog=\n" + "".join(f"    {line}\n" for line in lines)


def packaged_metadata(metadata_text: str, changelog_text: str) -> str:
    """metadata.txt as packaged: the checkout's text without its comments (notes for maintainers) and with
    its ``changelog=`` entry, if any, replaced by CHANGELOG.md's."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(metadata_text)
    general = parser["general"]
    missing = [key for key in REQUIRED_METADATA if not general.get(key, "").strip()]
    if missing:
        raise PackageError(f"metadata.txt lacks {', '.join(missing)} (plugins.qgis.org requires them).")
    kept, in_changelog = [], False
    for line in metadata_text.splitlines():
        if in_changelog and line[:1] in (" ", "\t"):
            continue
        in_changelog = line.split("=", 1)[0].strip() == "changelog"
        if not in_changelog and not line.lstrip().startswith(("#", ";")):
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + "\n" + changelog_entry(changelog_text, general["version"])


def build(name: str, output: Path) -> Path:
    if not name.isidentifier():
        raise PackageError(f"{name!r} is not a folder name QGIS can import (letters, digits, underscores).")
    if not (ROOT / "LICENSE").is_file():
        raise PackageError("LICENSE is missing (plugins.qgis.org refuses a package without it).")
    metadata_text = (ROOT / "metadata.txt").read_text(encoding="utf-8")
    metadata = packaged_metadata(metadata_text, (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(metadata)
    output.mkdir(parents=True, exist_ok=True)
    archive = output / f"{name}-{parser['general']['version']}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in plugin_files():
            # Plain read/write permissions whatever the checkout has: the repository's scan flags executable files.
            info = zipfile.ZipInfo.from_file(path, f"{name}/{path.relative_to(ROOT).as_posix()}")
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = metadata.encode("utf-8") if path == ROOT / "metadata.txt" else path.read_bytes()
            zf.writestr(info, data)
    return archive


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="satellite_tasking", help="folder name inside the zip")
    parser.add_argument("--output", default=str(ROOT / "dist"), help="folder the zip is written to")
    args = parser.parse_args()
    try:
        archive = build(args.name, Path(args.output))
    except PackageError as error:
        sys.exit(str(error))
    sys.stdout.write(f"{archive}\n")


if __name__ == "__main__":
    main()
