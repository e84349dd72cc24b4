"""Benchmark: how long building the schema form takes (target: < 100 ms for the largest schema).

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_schema_form.py [--repeat N]``

Each time is the median of N builds. Beside it stands a floor measured in the same run:
building as many bare QLabels as the form has widgets. The ratio form/floor is what to
compare between machines; the milliseconds are what a user waits.

Schemas measured: tests/data/schemas/*.json, any JSON schema under resources/ and
plugin/sandbox/ (the sandbox's products, once they exist), and two made here: an enum of
10,000 values and a wide form of 120 properties.
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET_MS = 100.0


def _register_package():
    # Same registration as tests/conftest.py: the repository root is the plugin package.
    if "satellite_tasking" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        "satellite_tasking", REPO_ROOT / "__init__.py", submodule_search_locations=[str(REPO_ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["satellite_tasking"] = module
    spec.loader.exec_module(module)


def _looks_like_form_schema(data):
    return isinstance(data, dict) and isinstance(data.get("properties"), dict) and data["properties"]


def collect_schemas():
    found = {}
    places = [REPO_ROOT / "tests" / "data" / "schemas", REPO_ROOT / "resources", REPO_ROOT / "plugin" / "sandbox"]
    for place in places:
        for path in sorted(place.rglob("*.json")) if place.exists() else []:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            candidates = [data] if _looks_like_form_schema(data) else []
            if isinstance(data, dict) and not candidates:
                # a products file may hold schemas inside: take any nested form schema
                candidates = [v for v in data.values() if _looks_like_form_schema(v)]
            for index, schema in enumerate(candidates):
                found[f"{path.relative_to(REPO_ROOT)}{'#' + str(index) if len(candidates) > 1 else ''}"] = schema
    found["(made) enum of 10,000"] = {
        "type": "object", "required": ["big"],
        "properties": {"big": {"title": "Big", "enum": [f"value-{i}" for i in range(10_000)]}},
    }
    optical = json.loads((REPO_ROOT / "tests" / "data" / "schemas" / "up42_optical.json").read_text("utf-8"))
    wide = dict(optical, properties={}, required=[])
    for copy in range(12):
        for name, prop in optical["properties"].items():
            wide["properties"][f"{name}{copy}"] = prop
    found["(made) 12 x up42_optical properties"] = wide
    return found


def median_ms(action, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _register_package()
    from qgis.PyQt.QtWidgets import QApplication, QLabel, QWidget

    from satellite_tasking.ui.schema_form import SchemaForm

    app = QApplication.instance() or QApplication(sys.argv[:1])
    results = []
    for name, schema in collect_schemas().items():
        probe = SchemaForm(schema)
        widgets = len(probe.findChildren(QWidget))
        probe.deleteLater()

        def build_form(schema=schema):
            form = SchemaForm(schema)
            form.deleteLater()

        def build_floor(count=widgets):
            parent = QWidget()
            for _ in range(count):
                QLabel("x", parent)
            parent.deleteLater()

        form_ms = median_ms(build_form, args.repeat)
        floor_ms = median_ms(build_floor, args.repeat)
        app.processEvents()
        results.append((name, widgets, form_ms, floor_ms))

    width = max(len(name) for name, *_ in results)
    print(f"{'schema':<{width}}  widgets  form ms  floor ms  ratio")
    for name, widgets, form_ms, floor_ms in results:
        print(f"{name:<{width}}  {widgets:7d}  {form_ms:7.1f}  {floor_ms:8.2f}  {form_ms / max(floor_ms, 1e-3):5.1f}")
    largest = max(results, key=lambda r: r[1])
    slowest = max(results, key=lambda r: r[2])
    print(f"largest form: {largest[0]} — {largest[2]:.1f} ms for {largest[1]} widgets "
          f"({largest[2] / max(largest[3], 1e-3):.1f}x the bare-widget floor)")
    verdict = "within" if slowest[2] < TARGET_MS else "OVER"
    print(f"slowest: {slowest[0]} — {slowest[2]:.1f} ms, {verdict} the {TARGET_MS:.0f} ms target")
    return 0 if slowest[2] < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
