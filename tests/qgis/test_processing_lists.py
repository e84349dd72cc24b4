"""Processing as the dialog: the connection and the product are chosen from lists, and an invalid (bow-tie)
polygon is repaired the way the order dialog repairs it instead of failing with QGIS's generic geometry error."""
import json

import pytest
from qgis.core import QgsApplication, QgsProcessingParameterEnum
from qgis_harness import memory_layer

import satellite_tasking.plugin.product_catalogue as catalogue_module
from satellite_tasking.plugin.processing.provider import PROVIDER_ID

SAR = "up42:d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44"
WINDOW = {"START": "2026-01-10T00:00:00Z", "END": "2026-01-30T00:00:00Z"}


@pytest.fixture
def products_in_tmp(tmp_path, monkeypatch):
    """The product catalogue the lists are read from, in the test's folder (before the provider is registered)."""
    monkeypatch.setattr(catalogue_module, "catalogue_path", lambda: tmp_path / "products.json")


@pytest.fixture
def tasking(products_in_tmp, processing_run):
    return processing_run


def algorithm(name):
    return QgsApplication.processingRegistry().createAlgorithmById(f"{PROVIDER_ID}:{name}")


def test_the_product_is_chosen_from_the_products_listed_before(tasking):
    run = tasking
    for name in ("estimateorders", "placeorders"):
        made = algorithm(name)
        product = made.parameterDefinition("PRODUCT")
        assert isinstance(product, QgsProcessingParameterEnum) and product.options() == []
        assert isinstance(made.parameterDefinition("CONNECTION"), QgsProcessingParameterEnum)
    run("listproducts", OUTPUT="memory:")
    made = algorithm("estimateorders")
    options = made.parameterDefinition("PRODUCT").options()
    sar = next(option for option in options if option.endswith(SAR))
    assert sar.startswith("Capella Space Tasking SAR"), "a product is listed by its title (naming its provider)"
    layer = memory_layer("Polygon", ["POLYGON((13 52, 13.05 52, 13.05 52.05, 13 52.05, 13 52))"], select=False)
    params = json.dumps({"acquisitionMode": "stripmap", "polarization": "HH", "maxIncidenceAngle": 40})
    by_option = run("estimateorders", PRODUCT=sar, INPUT=layer, PARAMS=params, OUTPUT="memory:", **WINDOW)
    by_index = run("estimateorders", PRODUCT=options.index(sar), INPUT=layer, PARAMS=params, OUTPUT="memory:",
                   **WINDOW)
    by_id = run("estimateorders", PRODUCT=SAR, INPUT=layer, PARAMS=params, OUTPUT="memory:", **WINDOW)
    assert by_option["TOTAL"] == by_index["TOTAL"] == by_id["TOTAL"] > 0


def test_a_bow_tie_is_repaired_as_in_the_dialog(tasking):
    run = tasking
    layer = memory_layer("Polygon", ["POLYGON((13 52, 13.05 52.05, 13.05 52, 13 52.05, 13 52))"], name="bow tie",
                         select=False)
    params = json.dumps({"acquisitionMode": "stripmap", "polarization": "HH", "maxIncidenceAngle": 40})
    result = run("estimateorders", PRODUCT=SAR, INPUT=layer, PARAMS=params, OUTPUT="memory:", **WINDOW)
    assert result["TOTAL"] > 0
