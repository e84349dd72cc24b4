#!/usr/bin/env bash
# Open the QGIS desktop with this plugin installed into an isolated profile under the repository
# (.qgis-profile/), never the user's own QGIS profile. Used by `make run`.
#
#   scripts/run_qgis.sh [qgis arguments...]      e.g. scripts/run_qgis.sh --project demo.qgz
#
# Environment:
#   QGIS_PROFILES_PATH=dir   profiles folder to use (default: <repo>/.qgis-profile)
#   QGIS_PROFILE_COPY=1      copy the plugin into the profile instead of symlinking the checkout
#   QGIS_PROFILE_RESET=1     throw the profile away first and start from a fresh one
#   SATELLITE_TASKING_SANDBOX_PORT=8642   port of the sandbox the plugin starts (8642 by default)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profiles="${QGIS_PROFILES_PATH:-$repo/.qgis-profile}"
qgis_bin="$(command -v qgis || true)"

if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
    cat >&2 <<MSG
make run: no display (\$DISPLAY and \$WAYLAND_DISPLAY are empty), so the QGIS desktop cannot open.
Run it on a virtual X display instead:
    xvfb-run -a make run          (apt-get install xvfb)
MSG
    exit 2
fi
if [[ -z "$qgis_bin" ]]; then
    echo "make run: qgis not found on PATH (apt-get install qgis python3-qgis)" >&2
    exit 3
fi

builder_args=(--profiles-path "$profiles" --plugin-source "$repo")
[[ "${QGIS_PROFILE_COPY:-}" == 1 ]] && builder_args+=(--copy)
[[ "${QGIS_PROFILE_RESET:-}" == 1 ]] && builder_args+=(--reset)
# Debian's python3: the only interpreter here that imports the qgis bindings.
profile_dir="$(/usr/bin/python3 "$repo/scripts/qgis_profile.py" "${builder_args[@]}")"
echo "QGIS profile: $profile_dir (plugin: $profile_dir/python/plugins/satellite_tasking)" >&2

# The plugin starts its offline sandbox (the default connection) as QGIS opens, on a fixed
# port so it can also be driven from a shell: curl http://127.0.0.1:8642/_sandbox/clock
export SATELLITE_TASKING_START_SANDBOX=1
export SATELLITE_TASKING_SANDBOX_PORT="${SATELLITE_TASKING_SANDBOX_PORT:-8642}"

exec "$qgis_bin" --profiles-path "$profiles" --profile default --nologo --noversioncheck "$@"
