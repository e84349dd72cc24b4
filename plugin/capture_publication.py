"""Orders followed past a final status while their captures are not all published (pure logic, no Qt).

Planet may mark an order FULFILLED while a capture of it is still Queued or Processing, and documents nothing
that moves the order's ``updated_time`` when that capture is published [planet.md "Order object and statuses":
never treat FULFILLED as final for polling purposes until captures are PUBLISHED; keep polling slowly]. Which
final statuses are followed, and how often, is the provider's rule (``final_orders_to_follow``); what the store
holds is read here, and only when the provider says following is due.
"""
from __future__ import annotations

from datetime import datetime


def final_orders_awaiting_publication(provider, store, connection_id: str, now: datetime) -> list:
    """Ids of the connection's orders in a final status, with stored captures not all PUBLISHED, whose
    captures the provider wants read again at ``now``."""
    follow = getattr(provider, "final_orders_to_follow", None)
    if follow is None:
        return []

    def unpublished() -> dict:
        ids = [order_id for (owner, order_id), summary in store.capture_summaries().items()
               if owner == connection_id and summary.published < summary.total]
        if not ids:
            return {}
        return {order_id: state for order_id, state in store.order_states(connection_id, ids).items()
                if state.status.is_terminal}

    return list(follow(unpublished, now))
