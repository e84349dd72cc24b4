#!/usr/bin/env bash
# `make test`: every test folder in a pytest process of its own, so that a native crash (QGIS taking the
# process down) or a failure in one folder cannot hide the results of the others. Prints one line per folder
# and a total, and exits non-zero if any folder failed, crashed or ran nothing.
#
#   scripts/run_tests.sh [FOLDER ...]      (default: every folder below)
set -uo pipefail
cd "$(dirname "$0")/.."

# folder, the python that runs it, extra pytest arguments
# A test that hangs fails after TIMEOUT seconds (pytest-timeout, in .venv) instead of holding CI until its end.
TIMEOUT="--timeout=${TEST_TIMEOUT:-600}"
SUITES=(
    "tests/unit|.venv/bin/python|$TIMEOUT"
    "tests/qgis|.venv/bin/python|$TIMEOUT"
    "tests/stapi|.venv/bin/python|$TIMEOUT"
    "tests/e2e|.venv/bin/python|$TIMEOUT"
    "tests/sdk|.venv-sdk/bin/python|"
    "tests/qt6|.venv-qt6/bin/python|"
)
wanted=("$@")
# Tests marked `slow` (minutes each, e.g. issue 17's 200-round team concurrency test) run unless SLOW_TESTS=0;
# the other QGIS versions' chroots set it, so CI runs them once, on the host.
marker=()
[ "${SLOW_TESTS:-1}" = 0 ] && marker=(-m "not slow")

export QT_QPA_PLATFORM=offscreen
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT
total_passed=0 total_failed=0 total_skipped=0 total_errors=0
status=0
lines=()
started_all=$(date +%s)

count_of() {  # count_of WORD SUMMARY_LINE -> the number before WORD, or 0
    local found
    found=$(grep -oE "[0-9]+ $1" <<<"$2" | head -1 | cut -d' ' -f1)
    echo "${found:-0}"
}

for entry in "${SUITES[@]}"; do
    IFS='|' read -r folder python extra <<<"$entry"
    if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $folder "* ]]; then
        continue
    fi
    [ -d "$folder" ] || continue
    if [ ! -x "$python" ]; then
        lines+=("$(printf '%-12s NOT RUN: %s is missing (run make setup)' "$folder" "$python")")
        status=1
        continue
    fi
    log="$log_dir/$(basename "$folder").log"
    started=$(date +%s)
    echo "== $folder"
    # shellcheck disable=SC2086
    "$python" -m pytest -q -p no:randomly -p no:cacheprovider $extra "${marker[@]}" "$folder" 2>&1 | tee "$log"
    code=${PIPESTATUS[0]}
    seconds=$(( $(date +%s) - started ))
    summary=$(grep -E "^=* ?[0-9]+ (passed|failed|error|skipped|deselected)|no tests ran" "$log" | tail -1 \
        | sed -E 's/^=+ //; s/ =+$//')
    passed=$(count_of passed "$summary")
    failed=$(count_of failed "$summary")
    skipped=$(count_of skipped "$summary")
    errors=$(count_of error "$summary")
    total_passed=$((total_passed + passed)); total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped)); total_errors=$((total_errors + errors))
    if [ "$code" -gt 128 ]; then
        verdict="CRASHED (signal $((code - 128))) after $passed passed, $failed failed"
        status=1
    elif [ "$code" -eq 5 ]; then
        verdict="ran no test"
        status=1
    elif [ "$code" -ne 0 ]; then
        verdict="FAILED: ${summary:-pytest exited with $code}"
        status=1
    else
        verdict="$summary"
    fi
    lines+=("$(printf '%-12s %s (%ss)' "$folder" "$verdict" "$seconds")")
done

echo "==== test summary ($(( $(date +%s) - started_all ))s)"
for line in "${lines[@]}"; do
    echo "$line"
done
echo "total: $total_passed passed, $((total_failed + total_errors)) failed, $total_skipped skipped"
exit $status
