"""`make lint`'s import contracts: import-linter run on this folder as the package ``satellite_tasking``.

The contracts live in pyproject.toml (``[tool.importlinter]``). The repository root *is* the plugin package, and
its folder is named by whoever clones it (CI clones into folders like "repo-1234"), so ``satellite_tasking`` is
not importable by name. As tests/conftest.py does, the package is registered in this lint process under its real
name (its spec only: the plugin's ``__init__`` is not run), then import-linter's own command line runs, with any
arguments given here (``--contract``, ``--verbose``...).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_NAME = "satellite_tasking"


def register_package() -> None:
    """``satellite_tasking`` in ``sys.modules``, so that import-linter (grimp) finds its folder by name."""
    spec = importlib.util.spec_from_file_location(
        PACKAGE_NAME, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    sys.modules[PACKAGE_NAME] = importlib.util.module_from_spec(spec)


def main(argv: list[str]) -> int:
    register_package()
    from importlinter.cli import lint_imports_command

    return lint_imports_command.main(
        args=[str(ROOT / "pyproject.toml"), "--no-cache", *argv], prog_name="lint-imports", standalone_mode=False
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
