"""`make package` builds a zip that QGIS's "Install from ZIP" accepts, that stands alone, and that passes the rules
of plugins.qgis.org's upload validator (qgis-app/plugins/validator.py of qgis/QGIS-Plugins-Website) and of the
security scan that blocks an upload there (Bandit, detect-secrets)."""
import configparser
import importlib.util
import re
import subprocess
import sys
import zipfile
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAME = "satellite_tasking"
# The validator's PLUGIN_REQUIRED_METADATA.
REQUIRED_METADATA = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about", "tracker",
                     "repository")
# The validator's PLUGIN_BOOLEAN_METADATA.
BOOLEAN_METADATA = ("experimental", "deprecated", "server", "supportsQt6")
MAX_UPLOAD_SIZE = 25_000_000
# Placeholders the validator refuses, and the names reserved for examples and tests (RFC 2606, RFC 6761).
FORBIDDEN_URLS = {"tracker": "http://bugs", "repository": "http://repo", "homepage": "http://homepage"}
RESERVED_DOMAINS = ("example.org", "example.com", "example.net", "example", "test", "invalid", "localhost")
# What the repository's scan flags as suspicious (security_scanner.py) and what is development-only here.
SUSPICIOUS_SUFFIXES = (".exe", ".dll", ".so", ".dylib", ".bat", ".sh", ".ps1", ".cmd")
DEVELOPMENT_NAMES = {"tests", "scripts", "docs", ".ci", ".venv", ".venv-sdk", ".venv-stapi", ".github", "Makefile",
                     "pyproject.toml", "setup.cfg", "conftest.py", "requirements-test.txt", "requirements-sdk.txt",
                     "requirements-stapi.txt", ".gitignore", ".bandit", ".secrets.baseline"}


def build_zip(output):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package.py"), "--output", str(output)],
        check=True, capture_output=True, text=True,
    )
    return Path(out.stdout.strip())


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"_script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def validator_metadata(text):
    """metadata.txt read as the validator reads it: ConfigParser with its default interpolation, case kept."""
    parser = configparser.ConfigParser()
    parser.optionxform = str
    parser.read_file(StringIO(text))
    return dict(parser.items("general"))


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """`scripts/package.py` run into an empty folder, and its zip unzipped into another empty one."""
    output = tmp_path_factory.mktemp("dist")
    archive = build_zip(output)
    assert sorted(output.iterdir()) == [archive]
    unzipped = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        metadata_text = zf.read(f"{NAME}/metadata.txt").decode("utf-8")
        zf.extractall(unzipped)
    return SimpleNamespace(archive=archive, names=names, folder=unzipped,
                           metadata_text=metadata_text, metadata=validator_metadata(metadata_text))


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


# -- the upload validator's rules -------------------------------------------------------------------------------

def validator_problems(archive: Path, max_size: int = MAX_UPLOAD_SIZE) -> list:
    """What plugins.qgis.org's validator (and its upload scan's file checks) would refuse in ``archive``, plus the
    rules of this project: no tests or development files, addresses that are not examples, a changelog."""
    problems = []
    if archive.stat().st_size > max_size:
        problems.append("too big")
    with zipfile.ZipFile(archive) as zf:
        if zf.testzip() is not None:
            problems.append("bad zip")
        names = zf.namelist()
        for info in zf.infolist():
            name, parts = info.filename, info.filename.split("/")
            if ".." in name or name.startswith("/"):
                problems.append(f"path information: {name}")
            if ".pyc" in name:
                problems.append(f".pyc: {name}")
            for forbidden in {"__MACOSX", ".git", "__pycache__"} & set(parts):
                problems.append(f"{forbidden} directory: {name}")
            if parts[-1].startswith("."):
                problems.append(f"hidden file: {name}")
            if name.lower().endswith(SUSPICIOUS_SUFFIXES):
                problems.append(f"executable or binary file: {name}")
            if (info.external_attr >> 16) & 0o111:
                problems.append(f"executable: {name}")
            if DEVELOPMENT_NAMES & set(parts[1:]) or re.match(r"test_.*\.py$|.*_test\.py$|requirements", parts[-1]):
                problems.append(f"development file: {name}")
        top_levels = {name.split("/")[0] for name in names}
        if len(top_levels) != 1:
            problems.append(f"top-level entries: {sorted(top_levels)}")
        if "/" not in names[0]:
            return [*problems, f"first entry outside a folder: {names[0]}"]
        package_name = names[0][:names[0].index("/")]
        if not package_name.isidentifier() or not re.match(r"^[A-Za-z][A-Za-z0-9-_]+$", package_name):
            problems.append(f"not a Python identifier: {package_name}")
        for required in ("__init__.py", "metadata.txt", "LICENSE"):
            if f"{package_name}/{required}" not in names:
                problems.append(f"no {required}")
        if f"{package_name}/metadata.txt" not in names:
            return problems
        try:
            metadata = validator_metadata(zf.read(f"{package_name}/metadata.txt").decode("utf-8"))
        except (configparser.Error, UnicodeDecodeError) as error:
            return [*problems, f"metadata.txt does not parse: {error}"]
    problems += [f"metadata lacks {key}" for key in REQUIRED_METADATA if not metadata.get(key, "").strip()]
    if not re.match(r"^[^/]+$", metadata.get("author", "")):
        problems.append("author with a slash")
    for key in ("tracker", "repository", "homepage"):
        url = metadata.get(key, "").strip()
        parsed = urlparse(url)
        if url == FORBIDDEN_URLS[key] or parsed.scheme != "https" or not parsed.hostname:
            problems.append(f"{key} is not an https address: {url}")
        elif _reserved(parsed.hostname):
            problems.append(f"{key} is an example address: {url}")
    email = metadata.get("email", "").strip()
    if not re.match(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", email) or _reserved(email.split("@")[-1]):
        problems.append(f"email is not a real address: {email}")
    if not metadata.get("changelog", "").strip():
        problems.append("metadata carries no changelog")
    return problems


def _reserved(host: str) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in RESERVED_DOMAINS)


def test_the_package_breaks_no_validator_rule(package):
    assert validator_problems(package.archive) == []
    assert {name.split("/")[0] for name in package.names} == {NAME}
    assert package.metadata["version"] in package.archive.name
    assert f"{NAME}/{package.metadata['icon']}" in package.names


def _metadata_edit(old, new):
    def edit(entries):
        entries[f"{NAME}/metadata.txt"] = re.sub(old, new, entries[f"{NAME}/metadata.txt"].decode(), count=1,
                                                 flags=re.MULTILINE).encode()
    return edit


PLANTED = {
    "two top-level folders": (lambda e: e.__setitem__("other/readme.txt", b"x"), "top-level entries"),
    "a name QGIS cannot import": (lambda e: e.update({k.replace(NAME, "satellite-tasking", 1): e.pop(k)
                                                      for k in list(e)}), "not a Python identifier"),
    "a file outside the folder first": (lambda e: e.update({"README.md": b"x", **{k: e.pop(k) for k in list(e)}}),
                                        "first entry outside a folder"),
    "no __init__.py": (lambda e: e.pop(f"{NAME}/__init__.py"), "no __init__.py"),
    "no LICENSE": (lambda e: e.pop(f"{NAME}/LICENSE"), "no LICENSE"),
    "a .pyc": (lambda e: e.__setitem__(f"{NAME}/plugin/model.cpython-311.pyc", b"x"), ".pyc"),
    "a __pycache__": (lambda e: e.__setitem__(f"{NAME}/plugin/__pycache__/x.txt", b"x"), "__pycache__ directory"),
    "a .git": (lambda e: e.__setitem__(f"{NAME}/.git/config", b"x"), ".git directory"),
    "a hidden file": (lambda e: e.__setitem__(f"{NAME}/plugin/.env", b"x"), "hidden file"),
    "a shell script": (lambda e: e.__setitem__(f"{NAME}/plugin/run.sh", b"x"), "executable or binary file"),
    "an executable Python file": (lambda e: e.__setitem__(f"{NAME}/plugin/model.py", (b"x", 0o755)), "executable:"),
    "the tests": (lambda e: e.__setitem__(f"{NAME}/tests/unit/test_model.py", b"x"), "development file"),
    "a test module elsewhere": (lambda e: e.__setitem__(f"{NAME}/plugin/test_model.py", b"x"), "development file"),
    "the Makefile": (lambda e: e.__setitem__(f"{NAME}/Makefile", b"x"), "development file"),
    "a requirements file": (lambda e: e.__setitem__(f"{NAME}/requirements-test.txt", b"x"), "development file"),
    "no tracker": (_metadata_edit(r"^tracker=.*\n", ""), "metadata lacks tracker"),
    "no about": (_metadata_edit(r"^about=.*\n", ""), "metadata lacks about"),
    "an example homepage": (_metadata_edit(r"^homepage=.*$", "homepage=https://example.org/plugin"),
                            "homepage is an example address"),
    "the placeholder tracker": (_metadata_edit(r"^tracker=.*$", "tracker=http://bugs"), "tracker is not an https"),
    "an example email": (_metadata_edit(r"^email=.*$", "email=me@example.com"), "email is not a real address"),
    "a per-cent sign": (_metadata_edit(r"^about=", "about=100% "), "metadata.txt does not parse"),
    "a slash in the author": (_metadata_edit(r"^author=.*$", "author=A/B"), "author with a slash"),
    "no changelog": (_metadata_edit(r"^changelog=\n(    .*\n)*", ""), "metadata carries no changelog"),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_each_validator_rule_refuses_what_it_should(package, tmp_path, case):
    """Each rule above fails on a copy of the package with one thing wrong, so a passing check means something."""
    entries = {}
    with zipfile.ZipFile(package.archive) as zf:
        for name in zf.namelist():
            entries[name] = zf.read(name)
    plant, expected = PLANTED[case]
    plant(entries)
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            data, mode = data if isinstance(data, tuple) else (data, 0o644)
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    problems = validator_problems(broken)
    assert any(expected in problem for problem in problems), problems


def test_the_size_limit_is_checked(package):
    assert validator_problems(package.archive, max_size=package.archive.stat().st_size - 1) == ["too big"]


def test_the_license_file_is_the_gpl2_text(package):
    license_text = (package.folder / NAME / "LICENSE").read_text(encoding="utf-8")
    assert "GNU GENERAL PUBLIC LICENSE" in license_text and "Version 2, June 1991" in license_text
    assert "or (at your option) any later version" in " ".join(license_text.split())  # how "or later" is granted
    assert license_text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    # the whole licence, not a summary (Debian's own copy of it differs between releases in small ways, e.g. the
    # FSF's postal address, so it is not compared byte for byte)
    for heading in ("TERMS AND CONDITIONS FOR COPYING, DISTRIBUTION AND MODIFICATION", "NO WARRANTY",
                    "END OF TERMS AND CONDITIONS", "How to Apply These Terms to Your New Programs"):
        assert heading in license_text
    assert len(license_text) > 17_000


def _foreign_project_addresses(text: str, metadata: dict) -> list:
    """Addresses of the project (same owner as ``repository``) in ``text`` that metadata.txt does not set."""
    owner = urlparse(metadata["repository"]).path.strip("/").split("/")[0]
    known = {metadata[key].strip() for key in ("homepage", "tracker", "repository")}
    found = re.findall(r"https?://[^\s)>\]\"'`]*/" + re.escape(owner) + r"(?:/[^\s)>\]\"'`]*)?", text)
    return [url for url in found if url.rstrip(".,;:") not in known]


def test_project_addresses_are_set_once_in_metadata(package):
    """README and the code may point at the project's addresses, but only at the ones metadata.txt sets."""
    metadata = package.metadata
    texts = {"README.md (checkout)": (ROOT / "README.md").read_text(encoding="utf-8")}
    for path in (package.folder / NAME).rglob("*"):
        if path.is_file() and path.suffix in (".py", ".md", ".ui", ".txt") and path.name != "metadata.txt":
            texts[str(path.relative_to(package.folder))] = path.read_text(encoding="utf-8")
    for where, text in texts.items():
        assert _foreign_project_addresses(text, metadata) == [], where
    checkout = validator_metadata((ROOT / "metadata.txt").read_text(encoding="utf-8"))
    for key in ("homepage", "tracker", "repository", "email"):
        assert checkout[key] == metadata[key]
    # The check does catch a second, different address.
    stray = metadata["repository"].rsplit("/", 1)[0] + "/another-repository"
    assert _foreign_project_addresses(f"See {stray}.", metadata) == [stray + "."]


def test_license_is_stated_in_metadata_and_readme(package):
    assert "GPL-2.0-or-later" in package.metadata["about"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Licen[cs]e\n(?P<body>.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert section, "README has no Licence section"
    assert "GPL-2.0-or-later" in section["body"] and "LICENSE" in section["body"]


# -- the changelog: CHANGELOG.md is its one source ------------------------------------------------------------------

def test_packaged_metadata_carries_the_changelog_of_changelog_md(package):
    changelog = package.metadata.get("changelog", "")
    assert changelog.strip(), "packaged metadata.txt has no changelog"
    lines = [line.strip() for line in changelog.strip().splitlines()]
    assert lines[0].startswith(package.metadata["version"] + " ")
    source = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[?([^\]\s]+)\]?", source, re.MULTILINE)
    assert headings and headings[0] == package.metadata["version"]
    flat = " ".join(lines)
    for item in re.findall(r"^- (.+?)(?=^- |^#|\Z)", source, re.MULTILINE | re.DOTALL):
        assert " ".join(item.replace("`", "").split()) in flat
    # One source: the checkout's metadata.txt keeps no second copy that could drift.
    checkout = validator_metadata((ROOT / "metadata.txt").read_text(encoding="utf-8"))
    assert "changelog" not in checkout
    assert not [line for line in package.metadata_text.splitlines() if line.lstrip().startswith(("#", ";"))]


def test_package_refuses_a_changelog_that_does_not_match_the_metadata(tmp_path):
    package_script = load_script("package")
    metadata = (ROOT / "metadata.txt").read_text(encoding="utf-8").replace("\nversion=", "\nversion=9.9.9\nold=", 1)
    changelog = "# Changelog\n\n## 1.0.0 - 2026-01-01\n\n- Something.\n"
    with pytest.raises(package_script.PackageError, match="write the changelog of 9.9.9 first"):
        package_script.packaged_metadata(metadata, changelog)
    with pytest.raises(package_script.PackageError, match="'%' sign"):
        package_script.packaged_metadata(metadata, "## 9.9.9 - soon\n\n- Sync is 50% faster.\n")
    with pytest.raises(package_script.PackageError, match="no release section"):
        package_script.packaged_metadata(metadata, "# Changelog\n")
    without_email = "\n".join(line for line in metadata.splitlines() if not line.startswith("email="))
    with pytest.raises(package_script.PackageError, match="lacks email"):
        package_script.packaged_metadata(without_email, "## 9.9.9 - soon\n")


def test_changelog_entries_are_unwrapped_one_line_each():
    package_script = load_script("package")
    metadata = ("[general]\nname=x\ndescription=x\nabout=x\nversion=2.0\nqgisMinimumVersion=3.22\nauthor=x\n"
                "email=a@b.org\ntracker=https://h.org/i\nrepository=https://h.org\nchangelog=\n    old text\n"
                "icon=i.svg\n")
    changelog = ("# Changelog\n\nIntro, not a release.\n\n## 2.0 - 2026-02-01\n\n- First item,\n  wrapped.\n"
                 "- Second `item`.\n\n## 1.0 - 2026-01-01\n\nFirst release.\n")
    packaged = validator_metadata(package_script.packaged_metadata(metadata, changelog))
    assert packaged["changelog"].strip().splitlines() == [
        "2.0 - 2026-02-01", "- First item, wrapped.", "- Second item.", "1.0 - 2026-01-01", "First release."]
    assert packaged["icon"] == "i.svg" and "old text" not in packaged["changelog"]


# -- the security scan that blocks an upload ---------------------------------------------------------------------

def scan(folder):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "scan_package.py"), "--folder", str(folder)],
                          capture_output=True, text=True, timeout=300)


def test_bandit_and_detect_secrets_report_nothing_on_the_package(package):
    result = scan(package.folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Bandit: 0 finding(s)" in result.stdout
    assert "detect-secrets: 0 finding(s)" in result.stdout


def test_the_scan_does_find_what_it_looks_for(tmp_path):
    """A scan that silently ran nothing would pass the test above: this one must fail on planted findings."""
    plugin = tmp_path / "planted"
    plugin.mkdir()
    (plugin / "__init__.py").write_text(
        "import subprocess\n\n\ndef run(command):\n    return subprocess.call(command, shell=True)\n",
        encoding="utf-8")
    key = "-".join(["sk", "live", "4eC39HqLyjWDarjtT1zdp7dc"])
    (plugin / "settings.txt").write_text(f"aws_secret_access_key = {key}\n", encoding="utf-8")
    result = scan(plugin)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "B602" in result.stdout
    assert re.search(r"settings\.txt:1: .*(Secret Keyword|Stripe)", result.stdout)
