"""Order drafts on disk, so nothing the user typed or placed is ever lost.

The order dialog saves its draft (connection, product, name, parameters, AOIs and what
each placement attempt returned) on every edit, and restores it when it opens again. A
draft leaves ``current.json`` only once every AOI has an order; replacing an unplaced draft
keeps it under ``archive/``. Files are written atomically (temporary file, then rename),
so a crash in the middle of a write leaves the previous version whole.

Plain Python: no Qt, no QGIS.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

DRAFT_VERSION = 1


def new_client_reference() -> str:
    """Unique per draft; providers tag or name orders with it to reconcile lost answers."""
    return "qgis-" + uuid.uuid4().hex[:12]


@dataclass
class SavedDraft:
    connection_id: str = ""
    product_id: str = ""
    name: str = ""
    params: dict = field(default_factory=dict)
    # [{"geometry": GeoJSON, "label": str, "area_km2": float, "vertex_count": int, "warnings": [...]}, ...]
    aois: list = field(default_factory=list)
    client_reference: str = field(default_factory=new_client_reference)
    # AOI index (as str, JSON keys) -> {"order_id": ..., "error": ..., "status": ...}
    outcomes: dict = field(default_factory=dict)
    # Set just before a placement request leaves, cleared when its answer is recorded: if QGIS
    # dies in between, the next start knows it must reconcile before placing again.
    placing: list = field(default_factory=list)
    updated_at: str = ""

    @property
    def unplaced_indexes(self) -> list:
        return [i for i in range(len(self.aois)) if not self.outcomes.get(str(i), {}).get("order_id")]

    @property
    def fully_placed(self) -> bool:
        return bool(self.aois) and not self.unplaced_indexes

    def to_json(self) -> dict:
        return {"version": DRAFT_VERSION, "connection_id": self.connection_id, "product_id": self.product_id,
                "name": self.name, "params": self.params, "aois": self.aois,
                "client_reference": self.client_reference, "outcomes": self.outcomes, "placing": self.placing,
                "updated_at": self.updated_at}

    @classmethod
    def from_json(cls, data: dict) -> SavedDraft:
        if not isinstance(data, dict):
            raise ValueError("a draft is a JSON object")
        known = {k: data[k] for k in ("connection_id", "product_id", "name", "params", "aois", "client_reference",
                                      "outcomes", "placing", "updated_at") if k in data}
        draft = cls(**known)
        if not isinstance(draft.params, dict) or not isinstance(draft.aois, list) or not isinstance(
                draft.outcomes, dict):
            raise ValueError("the draft's parameters, AOIs or outcomes have the wrong shape")
        return draft


def write_json_atomically(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=1, sort_keys=True)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class DraftStore:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.current_path = self.folder / "current.json"

    def load(self) -> Optional[SavedDraft]:
        if not self.current_path.exists():
            return None
        try:
            return SavedDraft.from_json(json.loads(self.current_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            # Keep the unreadable file for the user (and us) to look at; start afresh.
            broken = self.current_path.with_name(f"unreadable-{_stamp()}.json")
            logger.warning("The saved order draft could not be read (%s); kept as %s", error, broken.name)
            os.replace(self.current_path, broken)
            return None

    def save(self, draft: SavedDraft) -> None:
        draft.updated_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json_atomically(self.current_path, draft.to_json())

    def last_archived(self) -> Optional[SavedDraft]:
        """The draft archived last (a placed order's, usually), or None."""
        folder = self.folder / "archive"
        for path in sorted(folder.glob("draft-*.json"), reverse=True) if folder.is_dir() else []:
            try:
                return SavedDraft.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                continue
        return None

    def archive(self) -> Optional[Path]:
        """Move the current draft aside (kept, never deleted) and return where it went."""
        if not self.current_path.exists():
            return None
        target = self.folder / "archive" / f"draft-{_stamp()}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.current_path, target)
        return target


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
