#!/usr/bin/env bash
# Runs the whole test suite on every supported QGIS that this machine does not have itself, each in a Debian
# chroot: bookworm -> QGIS 3.22, trixie -> QGIS 3.40, sid -> QGIS 3.44. `make test` covers the host's own QGIS.
#
#   scripts/qgis_versions.sh [--bench | --bench-only] [SUITE ...]   (default: every supported suite but the host's)
#
# A prepared chroot (debootstrap --variant=minbase, QGIS and the test tools installed by the project's own
# scripts/setup.sh) is cached as a tarball outside the clone, in $SATELLITE_TASKING_CHROOT_CACHE
# (default /var/cache/satellite-tasking), so a fresh clone on the same machine reuses what an earlier run built;
# without it, the chroot is built from cold (about ten minutes and 2 GB each). Every run unpacks a clean copy,
# copies the working tree into it and runs `make test` there (tests marked slow are left to the host; SLOW_TESTS=0) (and the AOI and sync benchmarks with --bench; only
# those with --bench-only; $QGIS_VERSIONS_BENCHES names others). Bind mounts are
# undone by a trap, whatever happens. A suite that cannot be built or reached fails the run with a sentence.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT=$(pwd)

SUPPORTED_SUITES=(bookworm trixie sid)
declare -A QGIS_OF=([bookworm]="3.22" [trixie]="3.40" [sid]="3.44")
MIRROR=${SATELLITE_TASKING_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=${SATELLITE_TASKING_CHROOT_CACHE:-/var/cache/satellite-tasking}
# Bump when the way a chroot is prepared changes, so cached tarballs of the old recipe are not reused.
RECIPE=3
# Packing is done often (whenever the set-up changes) and must be quick on two cores: fast zstd, all threads.
PACK="zstd -1 -T0"
BENCHES_IN_CHROOT=${QGIS_VERSIONS_BENCHES:-tests/bench/bench_aoi.py tests/bench/bench_sync.py}
BASE_PACKAGES=ca-certificates,make,git,procps,python3,xz-utils

run_bench=false
run_tests=true
suites=()
for arg in "$@"; do
    case "$arg" in
        --bench) run_bench=true ;;
        --bench-only) run_bench=true; run_tests=false ;;
        bookworm|trixie|sid) suites+=("$arg") ;;
        *) echo "Unknown argument '$arg'. Usage: $0 [--bench|--bench-only] [bookworm|trixie|sid ...]" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "Building and entering Debian chroots needs root (debootstrap, mount, chroot)." >&2
    exit 1
fi

host_suite=$( . /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-unknown}")
case "$host_suite" in
    forky|"") host_suite=sid ;;  # testing and unstable both carry the newest QGIS
esac
if [ ${#suites[@]} -eq 0 ]; then
    for suite in "${SUPPORTED_SUITES[@]}"; do
        [ "$suite" = "$host_suite" ] || suites+=("$suite")
    done
fi

missing=()
for tool in debootstrap zstd; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing ${missing[*]} on the host"
    apt-get update -qq || apt-get -o Acquire::Check-Valid-Until=false update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mkdir -p "$CACHE_DIR"
WORK_DIR="$CACHE_DIR/work"
mounted=()

unmount_all() {
    local i
    for (( i=${#mounted[@]}-1; i>=0; i-- )); do
        umount -l "${mounted[$i]}" 2>/dev/null || true
    done
    mounted=()
}
trap unmount_all EXIT
trap 'unmount_all; exit 130' INT TERM

remove_root() {
    # Never delete through a bind mount into the host's /dev or /sys: refuse while anything is mounted below.
    local root=$1 mountpoint
    # a run that was killed outright (no trap) can leave its mounts behind: undo them first, deepest first
    for mountpoint in $(awk -v prefix="$root/" 'index($2, prefix) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$mountpoint" 2>/dev/null || true
    done
    if grep -q " $root/" /proc/mounts; then
        echo "Not removing $root: something is still mounted below it." >&2
        return 1
    fi
    rm -rf "$root"
}

mount_into() {
    local root=$1 target
    for target in proc sys dev dev/pts dev/shm; do
        mkdir -p "$root/$target"
        case "$target" in
            proc) mount -t proc proc "$root/proc" ;;
            sys) mount --bind /sys "$root/sys" ;;
            dev) mount --bind /dev "$root/dev" ;;
            dev/pts) mount --bind /dev/pts "$root/dev/pts" ;;
            # a shared memory of its own (Xvfb, Qt and multiprocessing use it), not the host's
            dev/shm) mount -t tmpfs -o mode=1777,size=2g shm "$root/dev/shm" ;;
        esac
        mounted+=("$root/$target")
    done
    # pip inside reaches the package registry the way the host does (same CA bundle and pip settings).
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    [ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
    mkdir -p "$root/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
}

in_chroot() {
    local root=$1; shift
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 CI=true \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        PIP_DEFAULT_TIMEOUT=180 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        bash -c "$*"
}

copy_tree_into() {
    # The working tree as it is (committed or not), without venvs, caches or artefacts of the host.
    local root=$1
    mkdir -p "$root/src"
    tar -C "$REPO_ROOT" -c \
        --exclude=./.venv --exclude=./.venv-sdk --exclude=./.venv-stapi --exclude=./.venv-qt6 \
        --exclude=./.qgis-profile --exclude=./.qgis-settings --exclude=./test-artifacts --exclude=./dist \
        --exclude=./demo --exclude=./.chroots --exclude=__pycache__ --exclude=.pytest_cache \
        --exclude=.ruff_cache --exclude=.hypothesis . | tar -C "$root/src" -x
}

build_chroot() {
    local suite=$1 tarball=$2 root="$WORK_DIR/build-$suite"
    echo "[$suite] building a Debian $suite chroot from $MIRROR (cold start: about ten minutes)"
    remove_root "$root"
    mkdir -p "$root"
    if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "$suite" "$root" "$MIRROR" \
            > "$WORK_DIR/debootstrap-$suite.log" 2>&1; then
        echo "[$suite] debootstrap failed; the last lines of $WORK_DIR/debootstrap-$suite.log:" >&2
        tail -20 "$WORK_DIR/debootstrap-$suite.log" >&2
        return 1
    fi
    echo "deb $MIRROR $suite main" > "$root/etc/apt/sources.list"
    mount_into "$root"
    copy_tree_into "$root"
    # The project's own set-up installs QGIS and the test tools, as on any fresh Debian machine.
    if ! in_chroot "$root" "cd /src && scripts/setup.sh"; then
        unmount_all
        echo "[$suite] scripts/setup.sh failed inside the chroot." >&2
        return 1
    fi
    in_chroot "$root" "apt-get clean"
    unmount_all
    echo "[$suite] packing the prepared chroot into $tarball"
    tar -C "$root" -I "$PACK" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    remove_root "$root"
}

# The whole run is one function, called on the last line: bash has then read every line before it runs
# any, so editing this file while a run is under way cannot change what that run does.
main() {
    declare -gA result_of
    declare -gA seconds_of
    overall=0
    for suite in "${suites[@]}"; do
        started=$(date +%s)
        tarball="$CACHE_DIR/qgis-$suite-r$RECIPE.tar.zst"
        root="$WORK_DIR/$suite"
        echo "==== QGIS ${QGIS_OF[$suite]} (Debian $suite)"
        if [ ! -f "$tarball" ] && ! build_chroot "$suite" "$tarball"; then
            result_of[$suite]="could not be built (see above): NOT TESTED"
            seconds_of[$suite]=$(( $(date +%s) - started ))
            overall=1
            continue
        fi
        remove_root "$root"
        mkdir -p "$root"
        tar -C "$root" --zstd -xf "$tarball"
        # the venvs built inside stay; everything else of the tree is copied anew (deleted files must not linger)
        find "$root/src" -mindepth 1 -maxdepth 1 ! -name '.venv*' -exec rm -rf {} +
        mount_into "$root"
        copy_tree_into "$root"
        # The project's set-up as it is now: packages or test tools added since the tarball was packed are
        # installed, and the tarball is packed again so that the next run starts from them.
        fingerprint='cat /var/lib/dpkg/status /src/.venv*/.requirements-stamp 2>/dev/null | md5sum'
        before=$(in_chroot "$root" "$fingerprint")
        if ! in_chroot "$root" "cd /src && scripts/setup.sh"; then
            unmount_all
            result_of[$suite]="set-up failed inside the chroot: NOT TESTED"
            seconds_of[$suite]=$(( $(date +%s) - started ))
            overall=1
            continue
        fi
        if [ "$(in_chroot "$root" "$fingerprint")" != "$before" ]; then
            echo "[$suite] the set-up changed; packing the chroot again into $tarball"
            in_chroot "$root" "apt-get clean"
            unmount_all
            tar -C "$root" -I "$PACK" -cf "$tarball.tmp" --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* . \
                && mv "$tarball.tmp" "$tarball"
            mount_into "$root"
        fi
        version=$(in_chroot "$root" "/usr/bin/python3 -c 'from qgis.core import Qgis; print(Qgis.QGIS_VERSION)'" 2>/dev/null \
            || echo "unknown")
        echo "[$suite] QGIS $version, $(in_chroot "$root" "/usr/bin/python3 --version" 2>&1)"
        status=0
        result_of[$suite]="QGIS $version: benchmarks only"
        if $run_tests; then
            in_chroot "$root" "cd /src && SLOW_TESTS=0 make test" 2>&1 | tee "$WORK_DIR/test-$suite.log" || status=$?
            summary=$(grep -E '^total: ' "$WORK_DIR/test-$suite.log" | tail -1 || true)
            if [ "$status" -ne 0 ]; then
                overall=1
                result_of[$suite]="QGIS $version: FAILED (${summary:-no summary: the run stopped early})"
            else
                result_of[$suite]="QGIS $version: ${summary:-passed}"
            fi
        fi
        if $run_bench; then
            in_chroot "$root" "cd /src && make bench BENCHES='$BENCHES_IN_CHROOT'" 2>&1 | tee "$WORK_DIR/bench-$suite.log" || {
                overall=1; result_of[$suite]+=" (benchmarks failed)"; }
        fi
        # Artefacts (screenshots of the desktop tests) come back to the clone, under the suite's name.
        if [ -d "$root/src/test-artifacts" ]; then
            mkdir -p "test-artifacts/$suite"
            cp -r "$root/src/test-artifacts/." "test-artifacts/$suite/"
        fi
        unmount_all
        remove_root "$root" || true
        seconds_of[$suite]=$(( $(date +%s) - started ))
    done

    echo "==== QGIS versions"
    for suite in "${suites[@]}"; do
        printf '%-9s %s (%ss)\n' "$suite" "${result_of[$suite]}" "${seconds_of[$suite]}"
    done
    return $overall
}

main "$@"; exit $?
