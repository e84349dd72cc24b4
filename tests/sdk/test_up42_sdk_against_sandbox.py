"""The real UP42 SDK (up42-py 4.3.0) runs its tasking flow, unchanged, against the sandbox.

Runs only in the separate venv that has up42-py (requests>=2.33 must stay out of .venv):
    .venv-sdk/bin/python -m pytest tests/sdk -q
The sandbox runs as a subprocess of Debian's /usr/bin/python3 (the plugin's interpreter).
"""

import os
import sys
from pathlib import Path

import pytest
from sandbox_harness import BERLIN, PARIS, sandbox_process

os.environ.setdefault("UP42_DISABLE_VERSION_CHECK", "true")  # the SDK would ask pypi.org on import
up42 = pytest.importorskip("up42")
geojson = pytest.importorskip("geojson")
requests = pytest.importorskip("requests")

REPO_ROOT = Path(__file__).resolve().parents[2]
SANDBOX_PYTHON = os.environ.get(
    "SANDBOX_PYTHON", "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
)
DAY = 86400


@pytest.fixture
def sandbox():
    with sandbox_process("--speed", "0", "--seed", "42", "--dialect", "up42", "--setting", "up42_failure_rate=0",
                         python=SANDBOX_PYTHON) as (_process, url):
        yield url


@pytest.fixture
def sdk(sandbox, monkeypatch):
    monkeypatch.setattr(up42.host, "endpoint", lambda path: f"{sandbox}{path}")
    monkeypatch.setattr(
        up42.host, "token_endpoint", lambda: f"{sandbox}/realms/public/protocol/openid-connect/token"
    )
    monkeypatch.setattr(
        up42.host, "user_info_endpoint", lambda: f"{sandbox}/realms/public/protocol/openid-connect/userinfo"
    )
    up42.authenticate(username="sdk-user@example.com", password="secret")
    return sandbox


def advance(base, seconds):
    requests.post(f"{base}/_sandbox/clock", json={"advance_seconds": seconds}, timeout=10).raise_for_status()


def test_wrong_password_is_refused(sandbox, monkeypatch):
    monkeypatch.setattr(
        up42.host, "token_endpoint", lambda: f"{sandbox}/realms/public/protocol/openid-connect/token"
    )
    from up42.http import oauth

    with pytest.raises(oauth.WrongCredentials):
        up42.authenticate(username="sdk-user@example.com", password="wrong")


def test_tasking_flow_of_the_real_sdk(sdk):
    collections = list(up42.ProductGlossary.get_collections(collection_type=up42.CollectionType.TASKING))
    assert {c.name for c in collections} == {"pneo-tasking", "blacksky-tasking", "capella-tasking"}
    pneo = next(c for c in collections if c.name == "pneo-tasking")
    assert "FEASIBILITY_STUDY_REQUIRED" in pneo.integrations and pneo.metadata.product_type == "OPTICAL"
    product = next(p for p in pneo.data_products if p.title == "Analytic")
    schema = product.schema
    assert "acquisitionMode" in schema["required"] and schema["additionalProperties"] is False
    params = {"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-02-10T23:59:59Z"}
    for name in schema["required"]:
        if name in params or name in ("displayName", "geometry"):
            continue
        definition = schema["properties"][name]
        if "allOf" in definition:
            definition = schema["definitions"][definition["allOf"][0]["$ref"].rsplit("/", 1)[-1]]
        params[name] = definition["default"]
    params["projection"] = schema["definitions"]["projection"]["default"]

    features = geojson.FeatureCollection([geojson.Feature(geometry=BERLIN), geojson.Feature(geometry=PARIS)])
    template = up42.BatchOrderTemplate(
        data_product_id=product.id, display_name="SDK tasking", features=features, params=params, tags=["sdk"]
    )
    assert (
        template.estimate.credits > 0
        and template.estimate.unit == "SQ_KM"
        and len(template.estimate.items) == 2
    )
    references = template.place()
    assert [r.index for r in references] == [0, 1]
    order_ids = [r.id for r in references]

    order = up42.Order.get(order_ids[0])
    assert order.status == "CREATED" and order.type == "TASKING" and order.details.geometry == BERLIN
    assert order.details.max_cloud_cover == params["maxCloudCover"] and order.tags == ["sdk"]
    listed = list(
        up42.Order.all(
            workspace_id=up42.base.workspace.id,
            order_type="TASKING",
            sort_by=up42.OrderSorting.updated_at.desc,
        )
    )
    assert sorted(o.id for o in listed) == sorted(order_ids)

    advance(sdk, 4 * DAY)
    waiting = list(up42.Order.all(status=["CREATED"], sub_status=["FEASIBILITY_WAITING_RESPONSE"]))
    assert sorted(o.id for o in waiting) == sorted(order_ids)
    for order_id in order_ids:
        study = next(up42.FeasibilityStudy.all(order_id=order_id, decision=["NOT_DECIDED"]))
        study.accept(study.options[0]["id"])
        study.save()
        assert study.decision == "ACCEPTED" and study.decision_option.id == study.options[0]["id"]

    advance(sdk, DAY)
    for order_id in order_ids:
        quotation = next(up42.Quotation.all(order_id=order_id, decision=["NOT_DECIDED"]))
        assert quotation.credits_price > 0
        quotation.accept()
        quotation.save()
        assert quotation.decision == "ACCEPTED" and quotation.decided_at is not None
        assert up42.Order.get(order_id).details.sub_status == "QUOTATION_ACCEPTED"

    advance(sdk, 12 * DAY)
    for order_id in order_ids:
        order = up42.Order.get(order_id)
        assert order.status == "FULFILLED" and order.is_fulfilled
        order.track(report_time=0.01)  # returns at once for a fulfilled order
        coverage = up42.OrderCoverage.get(order_id)
        assert coverage.covered.percentage == 100 and coverage.remainder.sq_km_area == 0
    fulfilled = list(up42.Order.all(status=["FULFILLED"], sort_by=up42.OrderSorting.created_at.asc))
    assert sorted(o.id for o in fulfilled) == sorted(order_ids)


def test_cancel_a_fresh_order(sdk):
    collections = list(up42.ProductGlossary.get_collections())
    point = next(p for c in collections if c.name == "blacksky-tasking" for p in c.data_products)
    template = up42.BatchOrderTemplate(
        data_product_id=point.id,
        display_name="Point",
        params={
            "acquisitionStart": "2026-01-10T00:00:00Z",
            "acquisitionEnd": "2026-01-20T00:00:00Z",
            "maxCloudCover": 20,
            "priority": "STANDARD",
        },
        features=geojson.FeatureCollection(
            [geojson.Feature(geometry=geojson.Point((13.4, 52.5))), geojson.Feature(geometry=BERLIN)]
        ),
    )
    items = template.place()
    assert type(items[1]).__name__ == "OrderError" and "Point" in items[1].details
    order = items[0].order
    canceled = order.cancel()
    assert canceled.status == "CANCELED" and up42.Order.get(order.id).status == "CANCELED"


def test_budgets_and_stac_deliveries_of_the_real_sdk(sdk):
    requests.post(f"{sdk}/_sandbox/up42/seed_budgets", json={"username": "sdk-user@example.com", "names": ["Team"]},
                  timeout=10).raise_for_status()
    (budget,) = list(up42.Budget.all(status=["ACTIVE"], include_usage=True))
    assert budget.name == "Team" and budget.remaining_credits > 0
    assert up42.Budget.get(budget.id, include_usage=False).id == budget.id
    assert budget.get_usage().consumed_credits == 0
    assert up42.BudgetSettings.get().enforcement_enabled is True
    collections = list(up42.ProductGlossary.get_collections())
    point = next(p for c in collections if c.name == "blacksky-tasking" for p in c.data_products)
    template = up42.BatchOrderTemplate(
        data_product_id=point.id, display_name="Budgeted point", budget_id=budget.id,
        params={"acquisitionStart": "2026-01-10T00:00:00Z", "acquisitionEnd": "2026-01-20T00:00:00Z",
                "maxCloudCover": 20, "priority": "STANDARD"},
        features=geojson.FeatureCollection([geojson.Feature(geometry=geojson.Point((13.4, 52.5)))]))
    (reference,) = template.place()
    order = up42.Order.get(reference.id)
    assert order.budget_id == budget.id
    advance(sdk, 7 * DAY)
    assert up42.Order.get(order.id).status == "FULFILLED"
    # The SDK's STAC client: search the order's items, then a fresh signed URL per asset.
    client = up42.stac_client()
    items = list(client.search(filter={"op": "=", "args": [{"property": "order_id"}, order.id]},
                               filter_lang="cql2-json").items())
    assert len(items) == 1 and items[0].up42.order_id == order.id
    (asset,) = items[0].assets.values()
    image = asset.file
    assert image is not None
    data = requests.get(image.url, timeout=10)
    assert data.status_code == 200 and data.content[:4] == b"II*\x00"
