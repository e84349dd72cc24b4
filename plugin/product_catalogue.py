"""The products each connection offered when it was last asked, kept in the profile folder.

Processing's algorithms are built without the network (QGIS builds them at start-up and for every dialog), so
their product list comes from here: filled whenever a connection's products are read (the order dialog, the
monitor, "List tasking products"). Each entry is shown as "<title> (<provider>) — <id>"; an id or a title given
by a model or ``qgis_process`` still works.

Plain Python and QGIS's profile path; written atomically, from any thread.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from .drafts import write_json_atomically

logger = logging.getLogger(__name__)

SEPARATOR = " — "
_lock = threading.Lock()


def catalogue_path() -> Path:
    from qgis.core import QgsApplication

    return Path(QgsApplication.qgisSettingsDirPath()) / "satellite_tasking" / "products.json"


def _read() -> dict:
    path = catalogue_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        logger.info("The product catalogue %s could not be read (%s); it is rebuilt", path, error)
        return {}
    return data if isinstance(data, dict) else {}


def remember(connection_id: str, products, label) -> None:
    """Keep the products of a connection; ``label(product)`` is how a product is named on screen."""
    entries = [{"id": product.id, "label": label(product)} for product in products]
    with _lock:
        data = _read()
        if data.get(connection_id) == entries:
            return
        data[connection_id] = entries
        try:
            write_json_atomically(catalogue_path(), data)
        except OSError as error:
            logger.info("The product catalogue could not be written: %s", error)


def options() -> list:
    """Every product remembered, once each, as "<label> — <id>", sorted by label."""
    with _lock:
        data = _read()
    seen = {}
    for entries in data.values():
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("id"):
                seen.setdefault(str(entry["id"]), str(entry.get("label") or entry["id"]))
    return sorted((f"{label}{SEPARATOR}{product_id}" for product_id, label in seen.items()), key=str.lower)


def product_id_of(option: str) -> str:
    """The id inside an option ("Capella Space Tasking SAR — up42:…" → "up42:…"); other text as it is."""
    text = str(option or "").strip()
    return text.rsplit(SEPARATOR, 1)[1].strip() if SEPARATOR in text else text
