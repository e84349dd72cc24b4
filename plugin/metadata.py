"""The plugin's name and version, read from metadata.txt at run time.

metadata.txt is the single source of both: QGIS's plugin manager reads it, and so do the
user agent and the about box, so a release bumps one line.
"""
import configparser
import functools
from pathlib import Path

METADATA_PATH = Path(__file__).resolve().parent.parent / "metadata.txt"


@functools.cache
def _general_section() -> dict:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(METADATA_PATH, encoding="utf-8")
    return dict(parser["general"])


def plugin_name() -> str:
    return _general_section()["name"]


def plugin_version() -> str:
    return _general_section()["version"]


def plugin_metadata(key: str) -> str:
    return _general_section().get(key, "")


def user_agent(qgis_version: str) -> str:
    """``<plugin>/<version> QGIS/<version>``, the header every provider request carries."""
    from .http import format_user_agent

    return format_user_agent(plugin_name(), plugin_version(), qgis_version)
