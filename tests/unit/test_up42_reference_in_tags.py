"""The draft's reference travels in UP42's documented ``tags`` (≤ 30; letters, digits, spaces and . - _ / :),
not in the order's name: ``displayName`` is what the user typed, the sandbox holds the tag rule as strictly as the
page states it, and a placement is found again by its tag."""
import pytest
from sandbox_harness import UP42_OPTICAL, up42_provider_for
from sandbox_harness import UP42_OPTICAL_PARAMS as OPTICAL_PARAMS

from satellite_tasking.plugin.drafts import new_client_reference
from satellite_tasking.plugin.http import RequestRejected
from satellite_tasking.plugin.model import Aoi, OrderDraft
from satellite_tasking.plugin.providers import up42_wire
from satellite_tasking.plugin.providers.base import NotSupported
from satellite_tasking.plugin.providers.up42 import is_up42_tag, order_tags
from satellite_tasking.plugin.sandbox import up42 as sandbox_up42


def square(i):
    x, y = 13.0 + i * 0.2, 52.0
    return {"type": "Polygon", "coordinates": [[[x, y], [x + 0.05, y], [x + 0.05, y + 0.05], [x, y + 0.05], [x, y]]]}


def draft(count=1, reference="qgis-0123456789ab", name="Fields by the river", tags=()):
    return OrderDraft(connection_id="up42-test", product_id=UP42_OPTICAL, name=name, params=dict(OPTICAL_PARAMS),
                      aois=[Aoi(geometry=square(i)) for i in range(count)], client_reference=reference, tags=tags)


@pytest.fixture
def server(start_sandbox):
    return start_sandbox(seed=7, settings={"up42_failure_rate": 0.0})


def test_the_client_and_the_sandbox_hold_the_same_tag_rule():
    assert up42_wire.MAX_TAGS == sandbox_up42.MAX_TAGS == 30
    assert up42_wire.TAG_PATTERN.pattern == sandbox_up42.TAG_PATTERN.pattern
    assert "createv2orderunderworkspace" in up42_wire.TAGS_SOURCE


def test_every_reference_the_plugin_makes_is_a_tag():
    assert all(is_up42_tag(new_client_reference()) for _ in range(50))
    assert is_up42_tag("model-run.1_a/b:c d")
    assert not any(is_up42_tag(t) for t in ("", "a,b", "été", "x#1", "a\nb", None, 3))


def test_order_tags_put_the_reference_first_and_keep_only_tags_that_fit():
    wanted = ("qgis", "a,b", "qgis-0123456789ab", *[f"t{i}" for i in range(40)])
    tags = order_tags(draft(tags=wanted))
    assert tags[0] == "qgis-0123456789ab" and len(tags) == 30 and len(set(tags)) == 30
    assert "a,b" not in tags and tags[1] == "qgis"


def test_the_reference_is_a_tag_and_the_name_is_what_the_user_typed(server):
    provider = up42_provider_for(server, "tags@example.com", "secret")
    [outcome] = provider.place(draft(tags=("field team", "a,b")))
    assert outcome.placed, outcome.error
    order = provider.order(outcome.order.id)
    assert order.name == "Fields by the river"  # no "[qgis-…]" in the name
    assert order.raw["tags"] == ["qgis-0123456789ab", "field team"]
    # Found again by the tag filter of GET /v2/orders: a second placement sends nothing.
    assert provider.placed_orders(draft())[0].id == order.id
    [again] = provider.place(draft())
    assert again.order.id == order.id


def test_the_sandbox_refuses_tags_outside_the_documented_rule(server):
    provider = up42_provider_for(server, "strict@example.com", "secret")
    body = provider._order_body(draft(), [0])
    workspace = provider.workspace_id()
    for tags, said in ((["ok", "a,b"], "'a,b'"), (["é"], "'é'"), ([f"t{i}" for i in range(31)], "at most 30")):
        with pytest.raises(RequestRejected) as refused:
            provider._api("POST", "/v2/orders", params={"workspaceId": workspace}, json={**body, "tags": tags},
                          idempotent=False)
        assert refused.value.status == 400 and said in refused.value.provider_message
    [placed] = provider.place(draft(reference="qgis-patchme00001"))
    with pytest.raises(NotSupported, match="at most 30 tags"):
        provider.edit(placed.order, {"tags": ["qgis-patchme00001", "no;semicolons"]})
    with pytest.raises(RequestRejected, match="at most 30"):
        provider._api("PATCH", f"/v2/orders/{placed.order.id}", json={"tags": [f"t{i}" for i in range(31)]},
                      idempotent=False, headers={"Content-Type": "application/merge-patch+json"})


def test_a_reference_that_cannot_be_a_tag_sends_nothing(server):
    provider = up42_provider_for(server, "badref@example.com", "secret")
    outcomes = provider.place(draft(count=2, reference="ref,with,commas"))
    assert not any(o.placed for o in outcomes)
    assert all("cannot be a UP42 tag" in o.error for o in outcomes)
    assert provider.orders() == []
