"""The Sandbox connection: the UP42, Planet and STAPI clients, all pointed at the local simulator.

One connection, two APIs: products, orders and captures of both appear together, and each
call is routed to the client of the API the product or order belongs to (``api``). The
sandbox accepts any non-empty credentials, so fixed demo ones are used; they are not
secrets and never leave 127.0.0.1.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Iterable, Iterator, Optional

from ..http import NotFoundError
from ..model import Connection, ConnectionKind, Order, OrderDraft, Product
from .base import NotSupported, TaskingProvider
from .placement import PlacementClaims, PlacementProgressCallback

SANDBOX_USER = "sandbox-user"
SANDBOX_PASSWORD = "sandbox-password"  # noqa: S105  # nosec B105  # pragma: allowlist secret  # the simulator's public demo login
SANDBOX_PLANET_KEY = "sandbox-api-key"


class _DemoCredentials:
    def __init__(self, username: str, password: str = ""):  # nosec B107  # demo logins need no password
        self.username = username
        self.password = password


class SandboxProvider(TaskingProvider):
    api_name = "The sandbox"

    def __init__(self, connection: Connection, session_factory, sandbox_url: str):
        from .planet import PlanetProvider
        from .stapi import StapiProvider
        from .up42 import Up42Provider

        if not sandbox_url:
            raise NotSupported(connection.name, "The sandbox is not running.")
        session = session_factory(connection)
        super().__init__(connection, None, session)
        up42_connection = dataclasses.replace(connection, kind=ConnectionKind.UP42, base_url=sandbox_url,
                                              auth_url="")
        planet_connection = dataclasses.replace(connection, kind=ConnectionKind.PLANET,
                                                base_url=f"{sandbox_url}/tasking/v2")
        stapi_connection = dataclasses.replace(connection, kind=ConnectionKind.STAPI, base_url=f"{sandbox_url}/stapi")
        self.parts = {
            "up42": Up42Provider(up42_connection, _DemoCredentials(SANDBOX_USER, SANDBOX_PASSWORD),
                                 session_factory(up42_connection)),
            "planet": PlanetProvider(planet_connection, _DemoCredentials(SANDBOX_PLANET_KEY),
                                     session_factory(planet_connection)),
            "stapi": StapiProvider(stapi_connection, None, session_factory(stapi_connection)),
        }
        self.sandbox_url = sandbox_url
        self._order_api: dict = {}

    # -- routing ----------------------------------------------------------------------------
    def _mark(self, api: str, items):
        for item in items:
            item.api = api
            if isinstance(item, Order):
                self._order_api[item.id] = api
        return items

    def _for_product(self, product_id: str):
        api = product_id.split(":", 1)[0] if ":" in product_id else ""
        if api in self.parts:
            return api, self.parts[api], product_id.split(":", 1)[1]
        raise NotSupported(self.connection.name, f"The sandbox has no product {product_id}.")

    def _for_order(self, order: Order):
        api = order.api or self._order_api.get(order.id)
        if api not in self.parts:
            raise NotSupported(self.connection.name, f"The sandbox does not know which API order {order.id} "
                                                     "belongs to; refresh the orders first.")
        return self.parts[api]

    @staticmethod
    def _local(product: Product) -> Product:
        return dataclasses.replace(product, id=product.id.split(":", 1)[1])

    # -- interface --------------------------------------------------------------------------
    def check(self) -> str:
        clock = self.session.get(f"{self.sandbox_url}/_sandbox/clock")
        now = clock.get("now", "?") if isinstance(clock, dict) else "?"
        return f"The sandbox answers at {self.sandbox_url}; its simulated time is {now}."

    def products(self) -> list:
        found = []
        for api, part in self.parts.items():
            for product in part.products():
                found.append(dataclasses.replace(product, id=f"{api}:{product.id}", api=api))
        return found

    def order_schema(self, product: Product) -> dict:
        _, part, _ = self._for_product(product.id)
        return part.order_schema(self._local(product))

    # Opportunities exist in the STAPI dialect only.
    def offers_opportunities(self, product: Product) -> bool:
        _, part, _ = self._for_product(product.id)
        return hasattr(part, "offers_opportunities") and part.offers_opportunities(self._local(product))

    def queryables(self, product: Product) -> dict:
        _, part, _ = self._for_product(product.id)
        if not hasattr(part, "queryables"):
            raise self._unsupported(f"opportunity searches for {product.title}")
        return part.queryables(self._local(product))

    def opportunities(self, product: Product, aoi_geometry: dict, start, end, filter=None, **options):  # noqa: A002
        _, part, _ = self._for_product(product.id)
        if not hasattr(part, "opportunities"):
            raise self._unsupported(f"opportunity searches for {product.title}")
        return part.opportunities(self._local(product), aoi_geometry, start, end, filter, **options)

    def _local_draft(self, draft: OrderDraft):
        api, part, product_id = self._for_product(draft.product_id)
        return api, part, dataclasses.replace(draft, product_id=product_id)

    def estimate(self, draft: OrderDraft):
        _, part, local = self._local_draft(draft)
        return part.estimate(local)

    def place(self, draft: OrderDraft, only: Optional[Iterable[int]] = None,
              progress: Optional[PlacementProgressCallback] = None,
              claims: Optional[PlacementClaims] = None) -> list:
        api, part, local = self._local_draft(draft)
        outcomes = part.place(local, only=only, progress=progress, claims=claims)
        self._mark(api, [outcome.order for outcome in outcomes if outcome.order is not None])
        return outcomes

    def placed_orders(self, draft: OrderDraft) -> dict:
        api, part, local = self._local_draft(draft)
        found = part.placed_orders(local)
        self._mark(api, list(found.values()))
        return found

    def orders(self, since: Optional[datetime] = None) -> list:
        found = []
        for api, part in self.parts.items():
            found.extend(self._mark(api, part.orders(since=since)))
        oldest = datetime.min.replace(tzinfo=timezone.utc)
        return sorted(found, key=lambda o: o.updated_at or oldest, reverse=True)

    def iter_order_pages(self, since: Optional[datetime] = None) -> Iterator[list]:
        """The pages of each API in turn (``orders`` sorts them all by change; a sync needs no order)."""
        for api, part in self.parts.items():
            for page in part.iter_order_pages(since=since):
                yield self._mark(api, page)

    def order(self, order_id: str) -> Order:
        api = self._order_api.get(order_id)
        if api:
            return self._mark(api, [self.parts[api].order(order_id)])[0]
        # An id not seen yet: ask each API in turn (ids are unique across the sandbox).
        for name, part in self.parts.items():
            try:
                return self._mark(name, [part.order(order_id)])[0]
            except NotFoundError:
                continue
        raise NotFoundError(self.connection.name, f"The sandbox has no order {order_id}.")

    def captures(self, order_ids: Iterable[str], since: Optional[datetime] = None) -> list:
        # Only Planet orders have captures; UP42 delivers instead.
        planet_ids = [i for i in order_ids if self._order_api.get(i, "planet") == "planet"]
        return self.parts["planet"].captures(planet_ids, since=since) if planet_ids else []

    def iter_capture_pages(self, order_ids: Iterable[str], since: Optional[datetime] = None) -> Iterator[list]:
        for stream in self.capture_page_streams(order_ids, since=since):
            yield from stream

    def capture_page_streams(self, order_ids: Iterable[str], since: Optional[datetime] = None) -> list:
        planet_ids = [i for i in order_ids if self._order_api.get(i, "planet") == "planet"]
        return self.parts["planet"].capture_page_streams(planet_ids, since=since) if planet_ids else []

    def order_warnings(self, product, params, now: datetime) -> list:
        _api, part, local_id = self._for_product(getattr(product, "id", str(product)))
        return part.order_warnings(local_id, params, now)

    def final_orders_to_follow(self, unpublished, now: datetime) -> list:
        # Only Planet orders have captures (UP42's stored orders never have unpublished ones).
        return self.parts["planet"].final_orders_to_follow(unpublished, now)

    def can_cancel(self, order: Order) -> bool:
        return self._for_order(order).can_cancel(order)

    def cancel(self, order: Order) -> Order:
        part = self._for_order(order)
        return self._mark(order.api or self._order_api[order.id], [part.cancel(order)])[0]

    def editable_fields(self, order: Order) -> frozenset:
        return self._for_order(order).editable_fields(order)

    def edit(self, order: Order, fields: dict) -> Order:
        part = self._for_order(order)
        return self._mark(order.api or self._order_api[order.id], [part.edit(order, fields)])[0]

    def feasibility(self, order: Order):
        return self._for_order(order).feasibility(order)

    def choose_option(self, study, option):
        return self.parts["up42"].choose_option(study, option)

    def quotation(self, order: Order):
        return self._for_order(order).quotation(order)

    def decide(self, quotation, accept: bool):
        return self.parts["up42"].decide(quotation, accept)

    def deliveries(self, order: Order) -> list:
        return self._for_order(order).deliveries(order)

    def download(self, asset, folder, progress=None, cancelled=None):
        return self.parts["up42"].download(asset, folder, progress=progress, cancelled=cancelled)
