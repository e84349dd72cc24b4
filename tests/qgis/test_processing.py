"""The Processing algorithms, run through processing.run against the in-process sandbox; placing reports its
progress per AOI and a cancelled run (placing or syncing) stops sending and says what it did."""
import json
import threading
import time

import pytest
import requests
from qgis.core import (
    QgsApplication,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsVectorLayer,
)
from qgis_harness import memory_layer
from sandbox_harness import control

from satellite_tasking.plugin.processing.provider import PROVIDER_ID

PLEIADES = "up42:a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11"
WINDOW = {"START": "2026-01-10T00:00:00Z", "END": "2026-01-30T00:00:00Z"}


@pytest.fixture
def tasking(processing_run):
    """The provider registered with a fresh sandbox (frozen clock); (run, the sandbox)."""
    return processing_run, processing_run.sandbox


def utm_layer(kind, wkts, name="fields"):
    """Features in UTM zone 33N (metres), none selected."""
    return memory_layer(kind, wkts, crs="EPSG:32633", name=name, select=False)


def square(x, y, size=2000):
    return f"POLYGON(({x} {y}, {x + size} {y}, {x + size} {y + size}, {x} {y + size}, {x} {y}))"


def berlin_fields():
    return utm_layer("MultiPolygon", [
        square(390000, 5815000), square(395000, 5815000),
        f"MULTIPOLYGON({square(400000, 5815000, 1000)[7:]},{square(403000, 5815000, 1000)[7:]})",
    ])


def features_of(output):
    layer = output if isinstance(output, QgsVectorLayer) else QgsVectorLayer(output, "out", "ogr")
    return [{f.fields().at(i).name(): f.attribute(i) for i in range(f.fields().count())} | {"geometry": f.geometry()}
            for f in layer.getFeatures()]


def test_provider_lists_its_algorithms_with_help(tasking):
    provider = QgsApplication.processingRegistry().providerById(PROVIDER_ID)
    names = sorted(a.name() for a in provider.algorithms())
    assert names == ["decideorder", "estimateorders", "listproducts", "placeorders", "syncorders", "syncteamstore"]
    for algorithm in provider.algorithms():
        assert len(algorithm.shortHelpString()) > 80, algorithm.name()
        assert algorithm.parameterDefinition("CONNECTION").options()[0] == "Sandbox"


def test_list_products_gives_a_table(tasking):
    run, _ = tasking
    result = run("listproducts", OUTPUT="memory:")
    rows = {row["id"]: row for row in features_of(result["OUTPUT"])}
    assert result["COUNT"] == len(rows) >= 6
    assert rows[PLEIADES]["needs_feasibility"] and rows[PLEIADES]["needs_quotation"]
    assert rows["planet:area"]["geometry_types"] == "Polygon"
    assert rows["planet:point"]["geometry_types"] == "Point"
    assert rows["planet:area"]["provider"] == "Planet"


def test_connection_by_id_and_unknown_connection(tasking):
    run, _ = tasking
    assert run("listproducts", OUTPUT="memory:", CONNECTION="sandbox")["COUNT"] >= 6
    with pytest.raises(QgsProcessingException, match="no connection named “Nowhere”"):
        run("listproducts", OUTPUT="memory:", CONNECTION="Nowhere")


def test_estimate_then_place_multipart_split_and_reconcile(tasking):
    run, sandbox = tasking
    layer = berlin_fields()
    params = json.dumps({"maxCloudCover": 10, "acquisitionMode": "mono"})
    estimate = run("estimateorders", PRODUCT=PLEIADES, INPUT=layer, NAME="Fields", PARAMS=params,
                   OUTPUT="memory:", **WINDOW)
    rows = features_of(estimate["OUTPUT"])
    assert len(rows) == 4  # the multipolygon splits into two AOIs
    assert all(row["estimate"] and row["estimate"] > 0 for row in rows), rows
    assert estimate["TOTAL"] == pytest.approx(sum(row["estimate"] for row in rows))
    assert rows[0]["geometry"].boundingBox().xMinimum() == pytest.approx(13.5, abs=0.2)  # EPSG:4326 out

    placed = run("placeorders", PRODUCT=PLEIADES, INPUT=layer, NAME="Fields", PARAMS=params,
                 CLIENT_REFERENCE="model-run-1", OUTPUT="memory:", **WINDOW)
    rows = features_of(placed["OUTPUT"])
    assert placed["PLACED"] == 4 and placed["FAILED"] == 0
    assert placed["CLIENT_REFERENCE"] == "model-run-1"
    first_ids = [row["order_id"] for row in rows]
    assert all(first_ids) and len(set(first_ids)) == 4

    # The same model again: the orders are found, none is placed twice.
    again = run("placeorders", PRODUCT=PLEIADES, INPUT=layer, NAME="Fields", PARAMS=params,
                CLIENT_REFERENCE="model-run-1", OUTPUT="memory:", **WINDOW)
    assert [row["order_id"] for row in features_of(again["OUTPUT"])] == first_ids
    token = requests.post(f"{sandbox.url()}/oauth/token", data={
        "grant_type": "password", "username": "sandbox-user", "password": "sandbox-password"}, timeout=5).json()
    orders = requests.get(f"{sandbox.url()}/v2/orders?size=100&tags=model-run-1", timeout=5,
                          headers={"Authorization": f"Bearer {token['access_token']}"}).json()["content"]
    assert sorted(o["id"] for o in orders) == sorted(first_ids)


def test_params_that_do_not_match_the_schema_are_refused_with_the_dialogs_words(tasking):
    run, _ = tasking
    layer = berlin_fields()
    with pytest.raises(QgsProcessingException) as error:
        run("placeorders", PRODUCT=PLEIADES, INPUT=layer, PARAMS=json.dumps({"maxCloudCover": 50}),
            OUTPUT="memory:", **WINDOW)
    message = str(error.value)
    assert "do not fit" in message and "maxCloudCover" in message and "50" in message, message
    with pytest.raises(QgsProcessingException, match="acquisitionStart: This field is required"):
        run("estimateorders", PRODUCT=PLEIADES, INPUT=layer, OUTPUT="memory:")
    with pytest.raises(QgsProcessingException, match="not valid JSON"):
        run("estimateorders", PRODUCT=PLEIADES, INPUT=layer, PARAMS="{maxCloudCover: 5", OUTPUT="memory:")


def test_a_line_layer_for_a_polygon_product(tasking):
    run, _ = tasking
    lines = utm_layer("LineString", ["LINESTRING(390000 5815000, 392000 5816000)"], name="roads")
    with pytest.raises(QgsProcessingException, match="Layer 'roads' holds lines; .* accepts polygons only"):
        run("placeorders", PRODUCT="planet:area", INPUT=lines, OUTPUT="memory:")


def test_an_empty_selection(tasking):
    run, _ = tasking
    layer = berlin_fields()
    layer.removeSelection()
    with pytest.raises(QgsProcessingException, match="No features are selected on 'fields'"):
        run("placeorders", PRODUCT="planet:area", INPUT=QgsProcessingFeatureSourceDefinition(layer.id(), True),
            OUTPUT="memory:")


def test_unknown_product(tasking):
    run, _ = tasking
    with pytest.raises(QgsProcessingException, match="has no product “Hubble”"):
        run("estimateorders", PRODUCT="Hubble", INPUT=berlin_fields(), OUTPUT="memory:")


def test_selected_features_place_planet_orders_then_sync_to_geopackage(tasking, tmp_path):
    run, sandbox = tasking
    layer = berlin_fields()
    layer.selectByIds([1, 2])
    placed = run("placeorders", PRODUCT="planet:area", INPUT=QgsProcessingFeatureSourceDefinition(layer.id(), True),
                 NAME="Planet fields", OUTPUT="memory:", **WINDOW)
    assert placed["PLACED"] == 2
    ids = {row["order_id"] for row in features_of(placed["OUTPUT"])}
    requests.post(f"{sandbox.url()}/_sandbox/clock", json={"advance_seconds": 30 * 86400}, timeout=5)
    gpkg = tmp_path / "tasking.gpkg"
    synced = run("syncorders", GEOPACKAGE=str(gpkg))
    assert synced["ORDER_COUNT"] >= 2 and synced["CAPTURE_COUNT"] >= 2
    orders = {row["order_id"]: row for row in features_of(synced["ORDERS"])}
    assert ids <= set(orders)
    captures = features_of(synced["CAPTURES"])
    assert {row["order_id"] for row in captures} <= ids
    assert {row["outcome"] for row in captures} & {"success", "invalid"}


def test_feasibility_then_quote_decisions(tasking):
    run, sandbox = tasking
    placed = run("placeorders", PRODUCT=PLEIADES, INPUT=utm_layer("Polygon", [square(390000, 5815000)]),
                 NAME="Decide", PARAMS=json.dumps({"maxCloudCover": 10}), OUTPUT="memory:", **WINDOW)
    order_id = features_of(placed["OUTPUT"])[0]["order_id"]
    with pytest.raises(QgsProcessingException, match="waits for no price decision"):
        run("decideorder", ORDER_ID=order_id, DECISION="accept quote")
    requests.post(f"{sandbox.url()}/_sandbox/clock", json={"advance_seconds": 4 * 86400}, timeout=5)
    with pytest.raises(QgsProcessingException, match="Choose one of the feasibility options") as listed:
        run("decideorder", ORDER_ID=order_id, DECISION="choose feasibility option")
    option_id = str(listed.value).split("give its id: ", 1)[1].split(" ", 1)[0]
    with pytest.raises(QgsProcessingException, match="has no option nope"):
        run("decideorder", ORDER_ID=order_id, OPTION_ID="nope")
    chosen = run("decideorder", ORDER_ID=order_id, OPTION_ID=option_id)
    assert chosen["CHOSEN"] == option_id
    requests.post(f"{sandbox.url()}/_sandbox/clock", json={"advance_seconds": 2 * 86400}, timeout=5)
    accepted = run("decideorder", ORDER_ID=order_id, DECISION="accept quote")
    assert accepted["STATUS"] == "quote accepted" and accepted["PRICE"] > 0


# -- progress and cancellation ------------------------------------------------------------------

QUIET = {"planet_max_active_orders": 100, "planet_rejection_rate": 0.0}
PLANET_ORDERS = r"^/tasking/v2/orders/?$"


def many_fields(count):
    return utm_layer("Polygon", [square(390000 + 3000 * i, 5815000) for i in range(count)])


def planet_orders_named_with(sandbox, reference):
    page = requests.get(f"{sandbox.url()}/tasking/v2/orders/", params={"name__icontains": reference, "limit": 1000},
                        headers={"Authorization": "api-key sandbox-api-key"}, timeout=10).json()
    return page["results"]


def order_posts(sandbox):
    return [e for e in control(sandbox, "GET", "/_sandbox/requests")["requests"]
            if e["method"] == "POST" and e["path"].rstrip("/").endswith("/tasking/v2/orders")]


class RecordedFeedback(QgsProcessingFeedback):
    """Processing's feedback, remembering the progress it was given; ``cancel_above`` cancels the run (as the
    Cancel button does) at the first progress above that value."""

    def __init__(self, cancel_above=None):
        super().__init__()
        self.values = []
        self.cancel_above = cancel_above
        self.progressChanged.connect(self._progress)

    def _progress(self, value):
        self.values.append(value)
        if self.cancel_above is not None and value > self.cancel_above and not self.isCanceled():
            self.cancel()


def test_placing_reports_progress_per_aoi(tasking):
    run, sandbox = tasking
    control(sandbox, "POST", "/_sandbox/settings", QUIET)
    feedback = RecordedFeedback()
    placed = run("placeorders", feedback=feedback, PRODUCT="planet:area", INPUT=many_fields(6), NAME="Steps",
                 OUTPUT="memory:", **WINDOW)
    assert placed["PLACED"] == 6 and placed["FAILED"] == 0
    # Preparing takes the bar to 25 %, placing from 30 % to 90 % one AOI at a time, the output to 100 %.
    placing = [round(v, 1) for v in feedback.values if 30 < v < 100]
    assert placing == [round(30 + 60 * done / 6, 1) for done in range(1, 7)], feedback.values
    assert feedback.values == sorted(feedback.values) and feedback.values[-1] == 100
    assert "6 of 6 orders placed on Sandbox." in feedback.textLog()


def test_a_cancelled_placement_sends_no_further_order_and_says_what_it_placed(tasking):
    run, sandbox = tasking
    count = 16
    control(sandbox, "POST", "/_sandbox/settings", QUIET)
    # Slow answers, 4 in flight at once: the cancel comes with the first answers, long before the last AOIs leave.
    control(sandbox, "POST", "/_sandbox/faults", {"path": PLANET_ORDERS, "method": "POST", "kind": "delay",
                                                  "seconds": 0.4})
    control(sandbox, "DELETE", "/_sandbox/requests")
    layer = many_fields(count)
    feedback = RecordedFeedback(cancel_above=30)
    started = time.monotonic()
    result = run("placeorders", feedback=feedback, PRODUCT="planet:area", INPUT=layer, NAME="Cancelled run",
                 OUTPUT="memory:", **WINDOW)
    assert time.monotonic() - started < 4 * 0.4 + 5  # not every AOI was waited for
    assert feedback.isCanceled()
    reference = result["CLIENT_REFERENCE"]
    rows = features_of(result["OUTPUT"])
    placed = {row["aoi"]: row["order_id"] for row in rows if row["order_id"]}
    refused = {row["aoi"]: row["error"] for row in rows if not row["order_id"]}
    assert len(rows) == count and len(placed) >= 4 and len(refused) >= 4, rows
    assert result["PLACED"] == len(placed) and result["FAILED"] == len(refused)
    assert all("cancelled before the order was sent" in error for error in refused.values()), refused
    # Sent is placed: the AOIs reported as not placed never reached the provider.
    assert len(order_posts(sandbox)) == len(placed)
    assert sorted(o["id"] for o in planet_orders_named_with(sandbox, reference)) == sorted(placed.values())
    log = feedback.textLog()
    assert "Traceback" not in log
    summary = next(line for line in log.splitlines() if line.startswith("Placement cancelled:"))
    assert summary.startswith(f"Placement cancelled: {len(placed)} of {count} orders placed on Sandbox (AOI "), log
    assert f"not placed. Run again with client reference {reference} to place only those" in summary, summary

    # The same run again with the reference: only the rest is placed, nothing twice.
    control(sandbox, "DELETE", "/_sandbox/faults")
    again = run("placeorders", PRODUCT="planet:area", INPUT=layer, NAME="Cancelled run", CLIENT_REFERENCE=reference,
                OUTPUT="memory:", **WINDOW)
    assert again["PLACED"] == count and again["FAILED"] == 0
    rows = {row["aoi"]: row["order_id"] for row in features_of(again["OUTPUT"])}
    assert {aoi: rows[aoi] for aoi in placed} == placed
    names = [o["name"] for o in planet_orders_named_with(sandbox, reference)]
    assert len(names) == len(set(names)) == count


def cancel_after(feedback, seconds):
    timer = threading.Timer(seconds, feedback.cancel)
    timer.start()
    return timer


def test_cancelling_ends_a_retry_wait_before_anything_is_placed(tasking):
    run, sandbox = tasking
    control(sandbox, "POST", "/_sandbox/settings", QUIET)
    # Looking up the orders of the reference is answered "busy, come back in 5 s".
    control(sandbox, "POST", "/_sandbox/faults", {"path": PLANET_ORDERS, "method": "GET", "kind": "status",
                                                  "status": 503, "retry_after": 5})
    control(sandbox, "DELETE", "/_sandbox/requests")
    layer = many_fields(3)
    feedback = RecordedFeedback()
    timer = cancel_after(feedback, 0.5)
    started = time.monotonic()
    try:
        result = run("placeorders", feedback=feedback, PRODUCT="planet:area", INPUT=layer, NAME="Busy",
                     CLIENT_REFERENCE="busy-run-1", OUTPUT="memory:", **WINDOW)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 3  # the 5 s wait ended with the cancel
    assert result["PLACED"] == 0 and result["FAILED"] == 3
    assert all("Not placed: cancelled. Run again with client reference busy-run-1" in row["error"]
               for row in features_of(result["OUTPUT"]))
    assert order_posts(sandbox) == []
    assert "Placement cancelled: 0 of 3 orders placed on Sandbox; AOI 1–3 not placed." in feedback.textLog()


def test_a_cancelled_sync_ends_its_retry_wait_and_writes_nothing(tasking, tmp_path):
    run, sandbox = tasking
    control(sandbox, "POST", "/_sandbox/settings", QUIET)
    run("placeorders", PRODUCT="planet:area", INPUT=many_fields(2), NAME="To sync", OUTPUT="memory:", **WINDOW)
    control(sandbox, "POST", "/_sandbox/faults", {"path": PLANET_ORDERS, "method": "GET", "kind": "status",
                                                  "status": 503, "retry_after": 5})
    feedback = RecordedFeedback()
    timer = cancel_after(feedback, 0.5)
    started = time.monotonic()
    try:
        synced = run("syncorders", feedback=feedback, GEOPACKAGE=str(tmp_path / "cancelled.gpkg"))
    finally:
        timer.cancel()
    assert time.monotonic() - started < 3
    assert synced["ORDER_COUNT"] == 0 and synced["CAPTURE_COUNT"] == 0
    log = feedback.textLog()
    assert "Sync cancelled; the orders shown are from the previous sync." in log and "Traceback" not in log, log
