"""How numbers, amounts and moments read on screen: "1 order", "6 orders", "2,252 credits", "today 14:05".

Plain Python (no Qt), shared by the dialogs and the dock so every screen says things the same way.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

_IRREGULAR = {"capture": "captures", "AOI": "AOIs", "area": "areas", "order": "orders"}


def plural(count: int, word: str, many: Optional[str] = None) -> str:
    """``count`` and the word in the right number: 1 order, 2 orders, 0 orders."""
    if count == 1:
        return f"{count} {word}"
    return f"{count:,} {many or _IRREGULAR.get(word) or word + 's'}"


def amount(value, unit: str = "") -> str:
    """A price with its unit: thousands separated, no needless decimals ("2,252 credits", "12.5 USD")."""
    if value is None:
        return "—"
    number = float(value)
    text = f"{number:,.0f}" if number == int(number) else f"{number:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def moment(value, now: Optional[datetime] = None) -> str:
    """A moment as a person reads it, in UTC: "today 14:05 UTC", "yesterday 09:12 UTC", "3 Mar 2026 14:05 UTC".

    ``value`` is a datetime or an ISO 8601 text; text that is not a moment is given back as it is."""
    when = _as_datetime(value)
    if when is None:
        return "" if value in (None, "") else str(value)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    when = when.astimezone(timezone.utc)
    clock = when.strftime("%H:%M")
    days = (now.date() - when.date()).days
    if days == 0:
        return f"today {clock} UTC"
    if days == 1:
        return f"yesterday {clock} UTC"
    if days == -1:
        return f"tomorrow {clock} UTC"
    return f"{when.day} {when.strftime('%b %Y')} {clock} UTC"


def _as_datetime(value) -> Optional[datetime]:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
