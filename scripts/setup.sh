#!/usr/bin/env bash
# Installs what `make run` and `make test` need, and nothing twice: the Debian packages
# that are missing, the venv made from Debian's python (the only one that imports qgis),
# the pinned test tools, and the separate venv in which the real UP42 SDK runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# postgresql + postgresql-postgis: the shared team store's tests start a PostgreSQL of their own (initdb/pg_ctl);
# both names follow the release's PostgreSQL (15 on bookworm, 17 on trixie, 18 on sid). python3-psycopg2, its
# driver, comes with python3-qgis.
DEB_PACKAGES=(python3-qgis qgis qgis-providers python3-gdal python3-venv xvfb xauth imagemagick tinyproxy openssl
              postgresql postgresql-postgis python3-psycopg2)
SYSTEM_PYTHON=/usr/bin/python3

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    cat >&2 <<'MSG'
This set-up needs a Debian-like system (apt-get and dpkg), and this one is not.
Install by hand:
  - QGIS 3.22 or newer with its Python bindings (Debian/Ubuntu: python3-qgis qgis qgis-providers)
  - Xvfb, xauth, ImageMagick and tinyproxy (for the desktop and proxy tests)
  - PostgreSQL with PostGIS and psycopg2 (for the team store tests: postgresql postgresql-postgis python3-psycopg2)
then run:
  <python that imports qgis> -m venv --system-site-packages .venv
  .venv/bin/pip install -r requirements-test.txt
MSG
    exit 1
fi

missing=()
for package in "${DEB_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "Installing ${missing[*]} needs root (or sudo)." >&2; exit 1; }
        sudo_cmd=(sudo)
    fi
    echo "Installing Debian packages: ${missing[*]}"
    # A mirror of Debian unstable (or a snapshot of one) can serve a Release file whose Valid-Until date has
    # passed; apt then refuses it. Only in that case is the list read again without the date check: the
    # signatures are still verified, and nothing else is relaxed.
    if ! update_output=$("${sudo_cmd[@]}" apt-get update -qq 2>&1) || grep -qE "is no longer valid|is expired" <<<"$update_output"; then
        if grep -qE "is no longer valid|is expired" <<<"$update_output"; then
            echo "The mirror's Release file has expired; reading it again without its validity date (signatures still checked)."
            "${sudo_cmd[@]}" apt-get -o Acquire::Check-Valid-Until=false update -qq
        else
            echo "$update_output" >&2
            echo "apt-get update failed: the Debian mirror could not be read (see above)." >&2
            exit 1
        fi
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! "$SYSTEM_PYTHON" -c "import qgis.core" 2>/dev/null; then
    echo "$SYSTEM_PYTHON cannot import qgis although python3-qgis is installed; check the QGIS installation." >&2
    exit 1
fi

stamp() { sha256sum "$1" | cut -c1-16; }

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import qgis.core" 2>/dev/null; then
    rm -rf .venv
    "$SYSTEM_PYTHON" -m venv --system-site-packages .venv
fi
if [ "$(cat .venv/.requirements-stamp 2>/dev/null)" != "$(stamp requirements-test.txt)" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-test.txt
    stamp requirements-test.txt > .venv/.requirements-stamp
fi

# The real UP42 SDK needs newer requests/urllib3 than QGIS ships, so it gets a venv of its
# own; the plugin's venv keeps testing the libraries QGIS really has.
if [ ! -x .venv-sdk/bin/python ]; then
    "$SYSTEM_PYTHON" -m venv .venv-sdk
fi
if [ "$(cat .venv-sdk/.requirements-stamp 2>/dev/null)" != "$(stamp requirements-sdk.txt)" ]; then
    .venv-sdk/bin/python -m pip install -q --disable-pip-version-check -r requirements-sdk.txt
    stamp requirements-sdk.txt > .venv-sdk/.requirements-stamp
fi

# PyQt6 from PyPI, without QGIS (QGIS 4 is not packaged for Debian): tests/qt6 build every .ui file and run
# the Qt-only code on Qt6 through a stand-in qgis.PyQt (`make test-qt6`).
if [ ! -x .venv-qt6/bin/python ]; then
    "$SYSTEM_PYTHON" -m venv .venv-qt6
fi
if [ "$(cat .venv-qt6/.requirements-stamp 2>/dev/null)" != "$(stamp requirements-qt6.txt)" ]; then
    .venv-qt6/bin/python -m pip install -q --disable-pip-version-check -r requirements-qt6.txt
    stamp requirements-qt6.txt > .venv-qt6/.requirements-stamp
fi

# The STAPI reference server (stapi-fastapi) needs pydantic 2 and FastAPI: a venv of its own too.
if [ ! -x .venv-stapi/bin/python ]; then
    "$SYSTEM_PYTHON" -m venv .venv-stapi
fi
if [ "$(cat .venv-stapi/.requirements-stamp 2>/dev/null)" != "$(stamp requirements-stapi.txt)" ]; then
    .venv-stapi/bin/python -m pip install -q --disable-pip-version-check -r requirements-stapi.txt
    stamp requirements-stapi.txt > .venv-stapi/.requirements-stamp
fi
