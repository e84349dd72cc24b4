"""What QGIS tests do again and again, done one way: layers of given shapes, and the order dialog driven as a
person drives it.

Importable as ``qgis_harness`` from the QGIS tests (tests/qgis/conftest.py registers it by name: tests import with
--import-mode=importlib and no folder is on ``sys.path``).

- ``memory_layer(kind, wkts, crs="EPSG:4326", name="fields", select=True, add=True)``: a memory layer with one
  feature a WKT (or QgsGeometry), added to the project and selected.
- ``square_wkt(x, y, size)``: a square polygon's WKT with its south-west corner at (x, y).
- ``choose_product(qtbot, dialog, product_id)``: waits for the order dialog's products, chooses one by id and
  waits for its form; returns the form.
- ``fill_connection(dialog, name, kind, base_url, username, password="")``: a new connection typed into the
  connections dialog (not saved yet).
"""
from typing import Iterable, Union

from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer

WAIT_MS = 30000


def square_wkt(x: float, y: float, size: float = 0.05) -> str:
    return f"POLYGON(({x} {y}, {x + size} {y}, {x + size} {y + size}, {x} {y + size}, {x} {y}))"


def memory_layer(kind: str, wkts: Iterable[Union[str, QgsGeometry]], crs: str = "EPSG:4326", name: str = "fields",
                 select: bool = True, add: bool = True) -> QgsVectorLayer:
    layer = QgsVectorLayer(f"{kind}?crs={crs}", name, "memory")
    features = []
    for wkt in wkts:
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromWkt(wkt) if isinstance(wkt, str) else wkt)
        features.append(feature)
    ok, _ = layer.dataProvider().addFeatures(features)
    assert ok, "the memory provider refused the test features"
    if add:
        QgsProject.instance().addMapLayer(layer)
    if select:
        layer.selectAll()
    return layer


def choose_product(qtbot, dialog, product_id: str, timeout: int = WAIT_MS):
    from satellite_tasking.ui.order_dialog import PRODUCT_ROLE

    qtbot.waitUntil(lambda: bool(dialog.products), timeout=timeout)
    row = next(r for r in range(dialog.product_model.rowCount())
               if dialog.product_model.item(r).data(PRODUCT_ROLE) == product_id)
    dialog.productCombo.setCurrentIndex(row)
    qtbot.waitUntil(lambda: dialog.form is not None and dialog.form_product is dialog.products[product_id],
                    timeout=timeout)
    return dialog.form


def fill_connection(dialog, name: str, kind, base_url: str, username: str, password: str = "") -> None:
    dialog.add_connection()
    dialog.nameEdit.setText(name)
    dialog.kindCombo.setCurrentIndex(dialog.kindCombo.findData(kind.value))
    dialog.baseUrlEdit.setText(base_url)
    dialog.usernameEdit.setText(username)
    dialog.passwordEdit.setText(password)
