# Two commands do all the set-up: `make run` and `make test`. Both run `make setup` first,
# which installs only what is missing.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
PLUGIN_NAME := satellite_tasking

.PHONY: setup run test test-qgis-versions bench-qgis-versions test-unit test-qgis test-e2e test-sdk test-stapi test-qt6 lint package bench soak demo clean clean-profile

setup:
	@scripts/setup.sh

run: setup
	@scripts/run_qgis.sh $(ARGS)

# Each test folder runs in a pytest process of its own (a native crash cannot hide the other folders), then a
# summary per folder and a total; the exit status is non-zero if any folder failed, crashed or ran nothing.
test: setup
	@scripts/run_tests.sh

# The whole suite again on every supported QGIS that this machine does not have itself (3.22, 3.40, 3.44), each
# in a Debian chroot built by scripts/qgis_versions.sh and cached under /var/cache/satellite-tasking.
test-qgis-versions:
	@scripts/qgis_versions.sh $(SUITES)

# The AOI and sync benchmarks on each of those versions (the suite is not run again).
bench-qgis-versions:
	@scripts/qgis_versions.sh --bench-only $(SUITES)

test-unit: setup
	$(PYTHON) -m pytest -q tests/unit

test-qgis: setup
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest -q tests/qgis

test-e2e: setup
	$(PYTHON) -m pytest -q -m e2e tests/e2e

# The real UP42 SDK against the sandbox, in the SDK's own venv.
test-sdk: setup
	.venv-sdk/bin/python -m pytest -q -p no:cacheprovider tests/sdk

test-stapi: setup
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest -q tests/unit/test_provider_stapi.py tests/unit/test_sandbox_stapi.py tests/stapi

# Qt6 (QGIS 4) without QGIS: every .ui file built and the Qt-only code tested under PyQt6, in .venv-qt6.
test-qt6: setup
	QT_QPA_PLATFORM=offscreen .venv-qt6/bin/python -m pytest -q -p no:cacheprovider -W ignore::pytest.PytestConfigWarning tests/qt6

# Headless, offline: the sandbox, orders for the sample AOIs, decisions, sync -> demo/tasking.gpkg and demo/map.png
demo: setup
	QT_QPA_PLATFORM=offscreen $(PYTHON) scripts/demo.py --output demo

# Long reliability runs (minutes): fault soaks of sync and placement, and the fuzzers at full size.
soak: setup
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest -q -s -p no:randomly tests/soak tests/qgis/test_secrets_everywhere.py
	FUZZ_EXAMPLES=500 QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest -q -s -p no:randomly \
		tests/unit/test_provider_parsers_fuzz.py tests/unit/test_poisoned_listings_fuzz.py \
		tests/qgis/test_aoi_properties.py tests/qgis/test_schema_form_properties.py

# ruff, the Qt6 check, the import contracts of pyproject.toml (import-linter: the layers of docs/architecture.md),
# and the scans plugins.qgis.org runs on an upload.
lint: setup
	$(VENV)/bin/ruff check .
	$(PYTHON) scripts/lint_imports.py --no-logo
	$(PYTHON) scripts/check_qt6.py
	$(PYTHON) scripts/scan_package.py

package:
	@/usr/bin/python3 scripts/package.py --name $(PLUGIN_NAME) --output dist

BENCHES ?= tests/bench/bench_*.py
bench: setup
	@set -e; for bench in $(BENCHES); do \
		[ -e "$$bench" ] || { echo "no benchmarks yet"; break; }; \
		echo "== $$bench"; QT_QPA_PLATFORM=offscreen $(PYTHON) "$$bench"; \
	done

clean:
	rm -rf dist build demo test-artifacts .qgis-settings .pytest_cache .ruff_cache

# Throws away the isolated QGIS profile that `make run` uses.
clean-profile:
	rm -rf .qgis-profile
