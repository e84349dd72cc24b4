"""Up42Provider against the sandbox's UP42 dialect over real HTTP on 127.0.0.1."""
import time
from datetime import timezone

import pytest
import requests
from sandbox_harness import (
    BERLIN,
    PARIS,
    UP42_OPTICAL,
    Credentials,
    control,
    session_factory,
    up42_provider_for,
)
from sandbox_harness import UP42_OPTICAL_PARAMS as OPTICAL_PARAMS

from satellite_tasking.plugin.connection_check import check_connection
from satellite_tasking.plugin.http import CredentialsRejected, ProviderError
from satellite_tasking.plugin.model import (
    Aoi,
    Connection,
    Decision,
    OrderDraft,
    OrderStatus,
)
from satellite_tasking.plugin.providers.base import NotSupported
from satellite_tasking.plugin.providers.up42 import (
    parse_up42_time,
    schema_geometry_types,
    up42_auth_urls,
    up42_status,
)

OPTICAL = UP42_OPTICAL
POINT = "c0d3f8b2-7e5a-4d9c-9b43-2a8e4f6d9c33"
SAR = "d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"
DAY = 86400
UNCLOSED = {"type": "Polygon", "coordinates": [[[1.0, 1.0], [1.1, 1.0], [1.1, 1.1], [1.0, 1.2]]]}
POINT_PARAMS = {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-01-20T00:00:00Z",
                "maxCloudCover": 20, "priority": "STANDARD"}
SAR_PARAMS = {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-01-30T00:00:00Z",
              "acquisitionMode": "spotlight", "polarization": "VV", "maxIncidenceAngle": 40.5}


@pytest.fixture
def server(start_sandbox):
    return start_sandbox(seed=11, settings={"up42_failure_rate": 0.0})


def connection(server, name="test UP42"):
    return Connection(id="up42-test", name=name, kind="up42", base_url=server.base_url)


def provider(server, username="pilot@example.com", password="secret", page_size=100, timeout=(2, 5)):
    return up42_provider_for(server, username, password, page_size=page_size, session_options={"timeout": timeout})


def advance(server, seconds):
    return control(server, "POST", "/_sandbox/clock", {"advance_seconds": seconds})["now"]


def log(server, method=None, path=None):
    entries = control(server, "GET", "/_sandbox/requests")["requests"]
    return [e for e in entries if (method is None or e["method"] == method) and (path is None or e["path"] == path)]


def draft(product, params, geometries, reference="qgis-ref-1", name="Test order"):
    return OrderDraft(connection_id="up42-test", product_id=product, name=name, params=dict(params),
                      aois=[Aoi(geometry=g) for g in geometries], client_reference=reference, tags=("qgis",))


# -- pure logic ------------------------------------------------------------------------------

def test_auth_urls_follow_the_region_or_the_connection():
    def urls(base, auth=""):
        return up42_auth_urls(Connection(id="x", name="x", kind="up42", base_url=base, auth_url=auth))

    assert urls("https://api.up42.com")[0] == \
        "https://auth.up42.com/realms/public/protocol/openid-connect/token"
    assert urls("https://api.sa.up42.com/")[1] == \
        "https://auth.sa.up42.com/realms/public/protocol/openid-connect/userinfo"
    assert urls("http://127.0.0.1:8642") == ("http://127.0.0.1:8642/oauth/token", "http://127.0.0.1:8642/userinfo")
    assert urls("https://proxy.example", "https://login.example/")[0] == \
        "https://login.example/realms/public/protocol/openid-connect/token"


@pytest.mark.parametrize("raw, sub, code", [
    ("CREATED", None, OrderStatus.RECEIVED),
    ("BEING_PLACED", None, OrderStatus.RECEIVED),
    ("PLACED", "FEASIBILITY_WAITING_UPLOAD", OrderStatus.RECEIVED),
    ("PLACED", "FEASIBILITY_WAITING_RESPONSE", OrderStatus.HELD),
    ("PLACED", "QUOTATION_WAITING_RESPONSE", OrderStatus.HELD),
    ("PLACED", "QUOTATION_ACCEPTED", OrderStatus.ACCEPTED),
    # Sub-statuses live under CREATED (docs example, SDK fixtures).
    ("CREATED", "FEASIBILITY_WAITING_UPLOAD", OrderStatus.RECEIVED),
    ("CREATED", "FEASIBILITY_WAITING_RESPONSE", OrderStatus.HELD),
    ("CREATED", "QUOTATION_WAITING_UPLOAD", OrderStatus.RECEIVED),
    ("CREATED", "QUOTATION_WAITING_RESPONSE", OrderStatus.HELD),
    ("CREATED", "QUOTATION_ACCEPTED", OrderStatus.ACCEPTED),
    ("CREATED", "A_NEW_SUB_STATUS", OrderStatus.RECEIVED),
    ("PLACED", None, OrderStatus.ACCEPTED),
    # "Error while placing; wait for resolution": not over (the SDK keeps polling).
    ("PLACEMENT_FAILED", None, OrderStatus.RECEIVED),
    ("BEING_FULFILLED", "QUOTATION_ACCEPTED", OrderStatus.TASKED),
    ("DOWNLOADED", None, OrderStatus.PROCESSING),
    ("FULFILLED", None, OrderStatus.COMPLETED),
    ("FAILED_PERMANENTLY", None, OrderStatus.FAILED),
    ("FAILED_PERMANENTLY", "QUOTATION_REJECTED", OrderStatus.CANCELLED),
    ("CANCELED", "FEASIBILITY_WAITING_RESPONSE", OrderStatus.CANCELLED),
    ("SOMETHING_NEW", None, OrderStatus.RECEIVED),
])
def test_statuses_are_normalised_and_keep_the_raw_words(raw, sub, code):
    status = up42_status(raw, sub)
    assert (status.code, status.raw, status.raw_sub) == (code, raw, sub)


def test_timestamps_and_schema_geometry_types():
    moment = parse_up42_time("2026-01-05T10:00:00.123Z")
    assert moment.tzinfo == timezone.utc and moment.microsecond == 123000
    assert parse_up42_time("yesterday") is None and parse_up42_time(None) is None
    schema = {"properties": {"geometry": {"allOf": [{"$ref": "#/definitions/Point"}]}},
              "definitions": {"Point": {"properties": {"type": {"enum": ["Point"]}}}}}
    assert schema_geometry_types(schema) == ("Point",)
    assert schema_geometry_types({"properties": {}}) == ()


# -- catalogue -------------------------------------------------------------------------------

def test_products_carry_collection_provider_geometry_and_decisions(server):
    up42 = provider(server)
    products = {p.id: p for p in up42.products()}
    assert set(products) == {OPTICAL, "b9c2e7a1-6d4f-4c8b-8a32-1f7d3e5c8b22", POINT, SAR}  # no archive
    optical, point, sar = products[OPTICAL], products[POINT], products[SAR]
    assert (optical.collection, optical.provider_name, optical.collection_title) == \
        ("pneo-tasking", "Airbus", "Pléiades Neo Tasking")
    assert optical.needs_feasibility and optical.needs_quotation and optical.geometry_types == ("Polygon",)
    assert not point.needs_feasibility and not point.needs_quotation and point.geometry_types == ("Point",)
    assert sar.needs_quotation and not sar.needs_feasibility
    assert "PRICE_ESTIMATION_AVAILABLE" in sar.extra["integrations"]
    schema = up42.order_schema(optical)
    assert schema["properties"]["acquisitionStart"]["format"] == "date-time"
    assert "minBH" in schema["definitions"] and schema["additionalProperties"] is False
    schema["properties"].clear()  # a copy: the cache stays intact
    assert up42.order_schema(OPTICAL)["properties"]
    # Schemas were read once each (products() cached them for order_schema()).
    assert len(log(server, "GET", f"/orders/schema/{OPTICAL}")) == 1


# -- ordering --------------------------------------------------------------------------------

def test_estimate_prices_each_aoi_and_names_the_bad_one(server):
    up42 = provider(server)
    estimate = up42.estimate(draft(OPTICAL, OPTICAL_PARAMS, [BERLIN, UNCLOSED, PARIS]))
    assert estimate.per_aoi[0] > 0 and estimate.per_aoi[2] > 0 and estimate.per_aoi[1] is None
    assert estimate.total == pytest.approx(estimate.per_aoi[0] + estimate.per_aoi[2])
    assert set(estimate.errors) == {1} and "closed" in estimate.errors[1]
    bad_params = up42.estimate(draft(OPTICAL, {**OPTICAL_PARAMS, "maxCloudCover": 999}, [BERLIN, PARIS]))
    assert set(bad_params.errors) == {0, 1} and "maxCloudCover" in bad_params.errors[0]
    assert not log(server, "POST", "/v2/orders")  # estimating placed nothing


def test_place_three_aois_with_one_bad_geometry(server):
    up42 = provider(server)
    order_draft = draft(OPTICAL, OPTICAL_PARAMS, [BERLIN, UNCLOSED, PARIS], reference="ref-3aoi")
    outcomes = up42.place(order_draft)
    assert [o.aoi_index for o in outcomes] == [0, 1, 2]
    assert [o.placed for o in outcomes] == [True, False, True]
    assert "Invalid geometry" in outcomes[1].error and "closed" in outcomes[1].error
    placed = [outcomes[0].order, outcomes[2].order]
    assert placed[0].geometry == BERLIN and placed[1].geometry == PARIS
    assert all(o.status.raw == "CREATED" and o.status.code == OrderStatus.RECEIVED for o in placed)
    assert all("ref-3aoi" in o.raw["tags"] and "qgis" in o.raw["tags"] for o in placed)
    assert all(o.created_at is not None and o.connection_id == "up42-test" for o in placed)
    posts = log(server, "POST", "/v2/orders")
    assert len(posts) == 1 and posts[0]["query"]["workspaceId"] == [up42.workspace_id()]
    # Placing the same draft again sends only the AOI without an order (and it is refused again).
    again = up42.place(order_draft)
    assert [o.order.id if o.placed else None for o in again] == [placed[0].id, None, placed[1].id]
    assert len(log(server, "POST", "/v2/orders")) == 2
    assert len([o for o in up42.orders() if "ref-3aoi" in o.raw["tags"]]) == 2


def test_a_single_aoi_retry_is_named_after_its_index(server):
    up42 = provider(server)
    order_draft = draft(POINT, POINT_PARAMS, [{"type": "Point", "coordinates": [13.4, 52.5]},
                                              {"type": "Point", "coordinates": [2.3, 48.8]}], name="Pair")
    outcomes = up42.place(order_draft, only=[1])
    assert len(outcomes) == 1 and outcomes[0].aoi_index == 1 and outcomes[0].order.name == "Pair 2"
    with pytest.raises(ValueError):
        up42.place(order_draft, only=[5])


def test_a_refused_batch_is_reported_for_every_aoi(server):
    up42 = provider(server)
    outcomes = up42.place(draft(OPTICAL, {**OPTICAL_PARAMS, "acquisitionMode": "sideways"}, [BERLIN, PARIS]))
    assert [o.placed for o in outcomes] == [False, False]
    assert all("test UP42" in o.error and "acquisitionMode" in o.error for o in outcomes)
    assert up42.orders() == []


def test_paging_reads_every_page(server):
    up42 = provider(server, username="pager@example.com", page_size=7)
    control(server, "POST", "/_sandbox/up42/seed_orders", {"username": "pager@example.com", "count": 30})
    control(server, "DELETE", "/_sandbox/requests")
    orders = up42.orders()
    assert len(orders) == 30 and len({o.id for o in orders}) == 30
    pages = log(server, "GET", "/v2/orders")
    assert [p["query"]["page"] for p in pages] == [[str(n)] for n in range(5)]
    assert all(p["query"]["size"] == ["7"] and p["query"]["sort"] == ["updatedAt,desc"] for p in pages)
    stamps = [o.updated_at for o in orders]
    assert stamps == sorted(stamps, reverse=True)
    assert up42.order(orders[3].id).id == orders[3].id


def test_sync_since_reads_one_page_and_returns_what_changed(server):
    user = "sync@example.com"
    up42 = provider(server, username=user, page_size=100)
    control(server, "POST", "/_sandbox/up42/seed_orders", {"username": user, "count": 500, "status": "PLACED"})
    assert len(up42.orders()) == 500
    last_sync = parse_up42_time(control(server, "GET", "/_sandbox/clock")["now"])
    advance(server, 10)
    touched = control(server, "POST", "/_sandbox/up42/touch", {"username": user, "count": 3})["ids"]
    control(server, "DELETE", "/_sandbox/requests")
    changed = up42.orders(since=last_sync)
    assert sorted(o.id for o in changed) == sorted(touched)
    assert len(log(server, "GET", "/v2/orders")) == 1
    assert len(log(server)) == 1  # the token and workspace were reused


# -- life cycles -----------------------------------------------------------------------------

def test_feasibility_quotation_fulfilment_and_download(server, tmp_path):
    up42 = provider(server)
    order = up42.place(draft(OPTICAL, OPTICAL_PARAMS, [BERLIN]))[0].order
    assert up42.feasibility(order) is None and up42.quotation(order) is None
    advance(server, 4 * DAY)
    order = up42.order(order.id)
    assert (order.status.raw, order.status.raw_sub) == ("CREATED", "FEASIBILITY_WAITING_RESPONSE")
    assert order.status.code == OrderStatus.HELD and order.decision == Decision.FEASIBILITY
    study = up42.feasibility(order)
    assert study.order_id == order.id and study.options and study.decision == "NOT_DECIDED"
    assert study.options[0].description and "acquisitionEnd" in study.options[0].details
    chosen = up42.choose_option(study, study.options[-1])
    assert chosen.decision == "ACCEPTED" and chosen.chosen_option_id == study.options[-1].id
    assert up42.choose_option(study, study.options[-1]).chosen_option_id == study.options[-1].id  # repeat: same
    advance(server, DAY)
    order = up42.order(order.id)
    assert order.decision == Decision.QUOTATION and order.status.raw_sub == "QUOTATION_WAITING_RESPONSE"
    quotation = up42.quotation(order)
    assert quotation.price > 0 and quotation.unit == "credits" and quotation.decision == "NOT_DECIDED"
    assert up42.decide(quotation, accept=True).decision == "ACCEPTED"
    order = up42.order(order.id)
    assert (order.status.raw, order.status.raw_sub) == ("CREATED", "QUOTATION_ACCEPTED")
    assert order.status.code == OrderStatus.ACCEPTED and order.decision == Decision.NONE
    assert up42.deliveries(order) == []
    advance(server, 13 * 3600)
    assert up42.order(order.id).status.code == OrderStatus.TASKED
    advance(server, 5 * DAY)
    order = up42.order(order.id)
    assert (order.status.raw, order.status.code) == ("FULFILLED", OrderStatus.COMPLETED)

    (delivery,) = up42.deliveries(order)
    assert delivery.order_id == order.id and delivery.footprint["type"] == "Polygon"
    assert delivery.covered_percent == 100.0 and delivery.covered_km2 > 0 and delivery.remaining is None
    (asset,) = delivery.assets
    assert asset.media_type.startswith("image/tiff") and asset.size > 0

    seen = []

    def progress(done, total):
        target = tmp_path / asset.title
        partial = any(p.name.endswith(".part") for p in tmp_path.iterdir())  # a hidden fresh file
        seen.append((done, total, partial, target.exists()))

    path = up42.download(asset, tmp_path, progress)
    data = path.read_bytes()
    assert data[:4] in (b"II*\x00", b"MM\x00*") and len(data) == asset.size
    assert path.name == asset.title and path.suffix == ".tif"
    assert seen and all(part and not final for _, _, part, final in seen)  # written as .part, renamed at the end
    assert seen[-1][:2] == (asset.size, asset.size)
    assert sorted(p.name for p in tmp_path.iterdir()) == [asset.title]
    # One fresh signed URL, fetched once, without the API's bearer token.
    assert up42.download_headers("x") == {} and up42.session.auth is None
    signed = [e for e in log(server, "GET") if e["path"].startswith("/signed/assets/")]
    assert len(signed) == 1 and signed[0]["status"] == 200


def test_cancelled_or_failed_downloads_leave_no_file(server, tmp_path):
    up42 = provider(server)
    order = up42.place(draft(POINT, POINT_PARAMS, [{"type": "Point", "coordinates": [13.4, 52.5]}]))[0].order
    advance(server, 7 * DAY)
    (asset,) = up42.deliveries(up42.order(order.id))[0].assets
    with pytest.raises(ProviderError, match="cancelled"):
        up42.download(asset, tmp_path / "a", cancelled=lambda: True)
    assert list((tmp_path / "a").iterdir()) == []

    def broken_disk(done, total):
        raise OSError("disk full")

    with pytest.raises(OSError):
        up42.download(asset, tmp_path / "b", progress=broken_disk)
    assert list((tmp_path / "b").iterdir()) == []


def test_an_interrupted_download_leaves_no_file_and_says_so(server, tmp_path):
    up42 = provider(server)
    order = up42.place(draft(POINT, POINT_PARAMS, [{"type": "Point", "coordinates": [13.4, 52.5]}]))[0].order
    advance(server, 7 * DAY)
    (asset,) = up42.deliveries(up42.order(order.id))[0].assets
    requests.post(f"{server.base_url}/_sandbox/faults", json={"kind": "truncate", "prefix": "/signed/assets/",
                                                              "count": 1}, timeout=5).raise_for_status()
    with pytest.raises(ProviderError):
        up42.download(asset, tmp_path)
    assert list(tmp_path.iterdir()) == []
    path = up42.download(asset, tmp_path)  # the next attempt completes
    assert path.exists() and path.stat().st_size > 0


def test_quotation_rejected_ends_the_order(server):
    up42 = provider(server)
    order = up42.place(draft(SAR, SAR_PARAMS, [PARIS]))[0].order
    advance(server, DAY + 3600)
    order = up42.order(order.id)
    assert order.decision == Decision.QUOTATION
    quotation = up42.quotation(order)
    assert up42.decide(quotation, accept=False).decision == "REJECTED"
    order = up42.order(order.id)
    assert (order.status.raw, order.status.raw_sub) == ("FAILED_PERMANENTLY", "QUOTATION_REJECTED")
    assert order.status.code == OrderStatus.CANCELLED and order.decision == Decision.NONE
    with pytest.raises(NotSupported, match="already been rejected"):
        up42.decide(quotation, accept=True)


def test_cancellation_rules(server):
    up42 = provider(server)
    point = {"type": "Point", "coordinates": [13.4, 52.5]}
    early, late = [o.order for o in up42.place(draft(POINT, POINT_PARAMS, [point, {
        "type": "Point", "coordinates": [2.3, 48.8]}]))]
    assert up42.can_cancel(early)
    cancelled = up42.cancel(early)
    assert (cancelled.status.raw, cancelled.status.code) == ("CANCELED", OrderStatus.CANCELLED)
    assert not up42.can_cancel(cancelled)
    with pytest.raises(NotSupported, match="CREATED or PLACEMENT_FAILED"):
        up42.cancel(cancelled)
    advance(server, 7 * 3600)  # placed, then fulfilment starts
    stale = late
    late = up42.order(late.id)
    assert late.status.raw == "BEING_FULFILLED" and not up42.can_cancel(late)
    with pytest.raises(NotSupported, match="CREATED or PLACEMENT_FAILED"):
        up42.cancel(late)  # the SDK's rule: nothing is sent
    assert log(server, "POST", f"/v2/orders/{late.id}/cancellation") == []
    with pytest.raises(NotSupported, match="refused to cancel.*UP42 says: Order .* cannot be canceled"):
        up42.cancel(stale)  # a stale view: UP42's own refusal is shown as it said it
    assert up42.order(late.id).status.raw == "BEING_FULFILLED"
    assert len(log(server, "POST", f"/v2/orders/{cancelled.id}/cancellation")) == 1


def test_an_order_waiting_on_its_price_is_ended_by_rejecting_the_quotation(server):
    up42 = provider(server)
    order = up42.place(draft(SAR, SAR_PARAMS, [PARIS]))[0].order
    advance(server, DAY + 3600)
    order = up42.order(order.id)
    assert (order.status.raw, order.status.raw_sub) == ("CREATED", "QUOTATION_WAITING_RESPONSE")
    assert not up42.can_cancel(order)
    with pytest.raises(NotSupported, match="reject its quotation"):
        up42.cancel(order)
    assert log(server, "POST", f"/v2/orders/{order.id}/cancellation") == []


def test_edit_changes_tags_only(server):
    up42 = provider(server)
    order = up42.place(draft(POINT, POINT_PARAMS, [{"type": "Point", "coordinates": [13.4, 52.5]}]))[0].order
    assert up42.editable_fields(order) == {"tags"}
    edited = up42.edit(order, {"tags": ["qgis-ref-1", "urgent"]})
    assert edited.raw["tags"] == ["qgis-ref-1", "urgent"] and up42.order(order.id).raw["tags"] == edited.raw["tags"]
    assert len(log(server, "PATCH", f"/v2/orders/{order.id}")) == 1
    with pytest.raises(NotSupported, match="only the tags"):
        up42.edit(order, {"displayName": "New name"})
    assert up42.captures([order.id]) == []


# -- authentication --------------------------------------------------------------------------

def test_token_is_renewed_before_it_expires(server):
    control(server, "POST", "/_sandbox/settings", {"up42_token_lifetime": 2})
    up42 = provider(server)
    up42.orders()
    time.sleep(2.1)
    up42.orders()
    assert len(log(server, "POST", "/oauth/token")) == 2
    assert not [e for e in log(server) if e["status"] == 401]


def test_a_refused_token_is_renewed_once(server):
    control(server, "POST", "/_sandbox/settings", {"up42_token_lifetime": 2})
    up42 = provider(server)
    up42.orders()
    time.sleep(2.1)
    up42._token.renew_at = float("inf")  # the client believes its token is still good; the server does not
    assert up42.orders() == []
    assert len(log(server, "POST", "/oauth/token")) == 2
    assert [e["status"] for e in log(server, "GET", "/v2/orders")] == [200, 401, 200]


def test_wrong_password_names_the_connection(server):
    up42 = provider(server, password="wrong")
    with pytest.raises(CredentialsRejected) as caught:
        up42.orders()
    assert "test UP42" in str(caught.value) and "wrong" not in str(caught.value)
    assert len(log(server, "POST", "/oauth/token")) == 1  # a 401 on the token itself is final


def test_connection_check_goes_through_the_provider(server):
    workspace = control(server, "POST", "/_sandbox/up42/user", {"username": "pilot@example.com"})["workspaceId"]
    sentence = check_connection(connection(server), Credentials("pilot@example.com"), session_factory())
    assert "test UP42" in sentence and workspace in sentence
    with pytest.raises(CredentialsRejected, match="test UP42"):
        check_connection(connection(server), Credentials("pilot@example.com", "wrong"), session_factory())
    with pytest.raises(CredentialsRejected, match="no credentials"):
        check_connection(connection(server), None, session_factory())


# -- refusals: access approval and licence (EULA), UP42's own words beside ours ---------------

@pytest.mark.parametrize("setting, said", [
    ("up42_access_not_approved", "Access to the collection pneo-tasking has not been approved"),
    ("up42_eula_not_accepted", "The EULA of the collection pneo-tasking has not been accepted"),
])
def test_access_and_eula_refusals_are_shown_as_such_with_the_console(server, setting, said):
    control(server, "POST", "/_sandbox/settings", {setting: ["pneo-tasking"]})
    up42 = provider(server)
    (outcome,) = up42.place(draft(OPTICAL, OPTICAL_PARAMS, [BERLIN], reference=f"qgis-{setting}"))
    assert not outcome.placed
    assert "access approval" in outcome.error and "licence (EULA)" in outcome.error
    assert "https://console.up42.com" in outcome.error
    assert said in outcome.error and '"collection": "pneo-tasking"' in outcome.error  # message and details, verbatim
    assert len(log(server, "POST", "/v2/orders")) == 1  # a clear refusal: not repeated
    (point,) = up42.place(draft(POINT, POINT_PARAMS, [{"type": "Point", "coordinates": [13.4, 52.5]}],
                                reference=f"qgis-{setting}-point"))
    assert point.placed  # another collection is not concerned


def test_per_feature_refusals_about_access_name_the_console(server):
    up42 = provider(server)
    errors = up42._batch_errors({"errors": [{"index": 0, "message": "EULA not accepted", "details": "eula-1"},
                                            {"index": 1, "message": "Invalid geometry", "details": "not closed"}]},
                                [4, 7])
    assert "console" in errors[4] and "EULA not accepted: eula-1" in errors[4]
    assert errors[7] == "Invalid geometry: not closed"
