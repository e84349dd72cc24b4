"""Runs on the plugin package the two scans that block an upload to plugins.qgis.org: Bandit and detect-secrets.

The zip that `make package` builds is unzipped into a temporary folder and scanned as the repository scans it,
only stricter: Bandit with every test at every severity and confidence (the repository filters by rules its
admins choose), detect-secrets on every file, metadata.txt included. A finding judged false is justified where
it is, in the code (``# nosec BXXX`` or ``# pragma: allowlist secret``, each with its reason), never skipped
here. Exits 1 and lists the findings if there is any.

Run with the venv's Python (`make lint`), where requirements-test.txt pins both tools.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import package  # the build script beside this one (a script's own folder is first on sys.path)


def bandit_findings(folder: Path) -> list:
    """Every Bandit finding (and every file Bandit could not read) under ``folder``, one line each."""
    result = subprocess.run([sys.executable, "-m", "bandit", "--recursive", str(folder), "--format", "json",
                             "--quiet"], capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"Bandit did not answer in JSON (exit {result.returncode}): {result.stderr}") from error
    findings = [f"{Path(issue['filename']).relative_to(folder)}:{issue['line_number']}: {issue['test_id']} "
                f"({issue['issue_severity'].lower()} severity, {issue['issue_confidence'].lower()} confidence) "
                f"{issue['issue_text']}" for issue in report["results"]]
    findings += [f"{Path(error['filename']).relative_to(folder)}: Bandit could not scan it: {error['reason']}"
                 for error in report["errors"]]
    return findings


def secrets_findings(folder: Path) -> list:
    """Every detect-secrets finding in any file under ``folder``, one line each."""
    result = subprocess.run([sys.executable, "-m", "detect_secrets", "scan", "--all-files", "."], cwd=folder,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"detect-secrets failed (exit {result.returncode}): {result.stderr}")
    report = json.loads(result.stdout)
    return [f"{path}:{secret['line_number']}: {secret['type']}"
            for path, secrets in sorted(report["results"].items()) for secret in secrets]


def scan(folder: Path) -> dict:
    """Findings of each scanner on an unzipped package: {"Bandit": [...], "detect-secrets": [...]}."""
    return {"Bandit": bandit_findings(folder), "detect-secrets": secrets_findings(folder)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="satellite_tasking", help="folder name inside the zip")
    parser.add_argument("--folder", help="scan this already unzipped package instead of building one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scan-package-") as temp:
        if args.folder:
            folder = Path(args.folder).resolve()
        else:
            try:
                archive = package.build(args.name, Path(temp) / "dist")
            except package.PackageError as error:
                sys.exit(str(error))
            folder = Path(temp) / "unzipped"
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(folder)
        findings = scan(folder)
    for scanner, lines in findings.items():
        sys.stdout.write(f"{scanner}: {len(lines)} finding(s)\n")
        sys.stdout.writelines(f"  {line}\n" for line in lines)
    if any(findings.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
