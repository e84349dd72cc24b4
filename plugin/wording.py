"""How numbers, amounts, moments and states read for a person: "1 order", "2,252 credits", "today 14:05 UTC".

Plain Python (no Qt), in the core so that the dialogs, the dock and the Processing algorithms all say things the
same way (Processing is a front end beside ``ui/`` and imports nothing from it).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Optional

from .model import OrderStatus
from .utc import parse_instant

MAX_MESSAGE_CHARS = 300

_IRREGULAR = {"capture": "captures", "AOI": "AOIs", "area": "areas", "order": "orders"}


def plural(count: int, word: str, many: Optional[str] = None) -> str:
    """``count`` and the word in the right number: 1 order, 2 orders, 0 orders."""
    if count == 1:
        return f"{count} {word}"
    return f"{count:,} {many or _IRREGULAR.get(word) or word + 's'}"


def shorten(message, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` as text, cut to ``limit`` characters with an ellipsis (a server's error can be a page long)."""
    message = str(message)
    return message if len(message) <= limit else message[: limit - 1] + "…"


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
    when = parse_instant(value)
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


# ---- order states: one name per state, the same on the badge, in the legend, the filter and the history -------
def _status_words():
    return {
        OrderStatus.RECEIVED: ("Received", "The provider has received the order and is reviewing it."),
        OrderStatus.ACCEPTED: ("Accepted", "The provider accepted the order; it will be scheduled."),
        OrderStatus.SCHEDULED: ("Scheduled", "A satellite is scheduled to image the area."),
        OrderStatus.TASKED: ("Tasked", "A satellite is tasked: images are being acquired."),
        OrderStatus.PROCESSING: ("Processing", "Images were taken and are being processed."),
        OrderStatus.HELD: ("Waiting for you", "The order waits for a decision from you."),
        OrderStatus.COMPLETED: ("Completed", "The order is complete: its images are delivered."),
        OrderStatus.CANCELLED: ("Cancelled", "The order was cancelled."),
        OrderStatus.FAILED: ("Failed", "The order failed."),
        OrderStatus.EXPIRED: ("Expired", "The acquisition window passed without a usable image."),
        OrderStatus.REJECTED: ("Rejected", "The provider rejected the order."),
    }


# STAPI's "reserved": "action needed by the customer before acceptance, such as payment" (stapi-spec order README).
_RAW_SENTENCES = {"reserved": "The provider needs an action from you, such as a payment, before it accepts the order."}

_DECISION_SENTENCES = {"feasibility": "The order waits for you to choose a feasibility option.",
                       "quotation": "The order waits for you to accept or reject a price."}


def status_name(code) -> str:
    """The one name of a normalised order state ("Waiting for you" for held)."""
    return _status_words().get(code, (str(getattr(code, "value", code)).capitalize(), ""))[0]


def order_status_name(order) -> str:
    """What the status badge of an order says: a decision waiting for the user reads "Waiting for you"."""
    if getattr(order.decision, "value", order.decision) in _DECISION_SENTENCES:
        return status_name_waiting()
    return status_name(order.status.code)


def status_name_waiting() -> str:
    return status_name(OrderStatus.HELD)


def status_sentence(order) -> str:
    """A sentence on where the order stands, with the provider's own words after it."""
    decision = getattr(order.decision, "value", order.decision)
    sentence = _DECISION_SENTENCES.get(decision) or _RAW_SENTENCES.get(str(order.status.raw).lower()) \
        or _status_words().get(order.status.code, ("", ""))[1]
    raw = f"{order.status.raw} / {order.status.raw_sub}" if order.status.raw_sub else order.status.raw
    return f"{sentence} (The provider says: {raw}.)" if raw else sentence


def field_label(name: str, titles: Optional[dict] = None) -> str:
    """A parameter's label: the schema's title when known, else its name in words ("maxCloudCover" → "Max cloud
    cover", "sun_elevation" → "Sun elevation")."""
    if titles and titles.get(name):
        return str(titles[name])
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name)).replace("_", " ").replace("-", " ").split()
    if not words:
        return str(name)
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return text[0].upper() + text[1:]


def value_text(value) -> str:
    """A parameter's value in words: lists joined, booleans as yes/no, moments readable, objects flattened."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{field_label(k)}: {value_text(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and parse_instant(value) is not None and "T" in value:
        return moment(value)
    return str(value)


def product_title(product, with_provider: bool = False) -> str:
    """“Pléiades Neo Analytic”, as the provider's console names it; “… (UP42)” with its provider."""
    collection = (product.collection_title or "").strip()
    title = (product.title or "").strip()
    label = f"{collection} {title}" if collection and collection.lower() not in title.lower() else title
    provider = (product.provider_name or "").strip()
    if with_provider and provider and provider.lower() not in label.lower():
        label += f" ({provider})"
    return label


def sentences(parts) -> str:
    """Notes joined as sentences: "Bow-tie repaired. Multipart split." (never "repaired.; Multipart")."""
    cleaned = [str(part).strip() for part in parts if str(part or "").strip()]
    return " ".join(part if part.endswith((".", "!", "?", "…")) else part + "." for part in cleaned)
