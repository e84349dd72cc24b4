"""What QGIS tests do again and again, done one way: layers of given shapes, and the order dialog driven as a
person drives it.

Importable as ``qgis_harness`` (tests/conftest.py registers it by name: tests import with --import-mode=importlib
and no folder is on ``sys.path``). QGIS is imported inside the functions, so registering it costs nothing where
QGIS is absent or another Qt comes first (tests/qt6).

- ``memory_layer(kind, wkts, crs="EPSG:4326", name="fields", select=True, add=True)``: a memory layer with one
  feature a WKT (or QgsGeometry), added to the project and selected.
- ``square_wkt(x, y, size)``: a square polygon's WKT with its south-west corner at (x, y).
- ``choose_product(qtbot, dialog, product_id)``: waits for the order dialog's products, chooses one by id and
  waits for its form; returns the form.
- ``order_an_opportunity(qtbot, finder, dialog)``: in "Find opportunities", choose the second window found (the
  first when there is one) and order it; the chosen opportunity and the placed outcome of the one AOI.
- ``save_unreachable_planet(settings)``: a Planet connection (its key in the authentication database) to a port of
  this machine that nobody listens on, saved in the ``ConnectionSettings``; returned.
- ``fill_connection(dialog, name, kind, base_url, username, password="")``: a new connection typed into the
  connections dialog (not saved yet).
"""
from typing import Any, Iterable, Tuple

WAIT_MS = 30000


def square_wkt(x: float, y: float, size: float = 0.05) -> str:
    return f"POLYGON(({x} {y}, {x + size} {y}, {x + size} {y + size}, {x} {y + size}, {x} {y}))"


def memory_layer(kind: str, wkts: Iterable[Any], crs: str = "EPSG:4326", name: str = "fields",
                 select: bool = True, add: bool = True):
    """``wkts``: WKT texts or QgsGeometry objects."""
    from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer

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


def order_an_opportunity(qtbot, finder, dialog, timeout: int = WAIT_MS) -> Tuple[Any, dict]:
    finder.opportunityTable.selectRow(1 if len(finder.opportunities) > 1 else 0)
    chosen = finder.selected()
    finder.orderButton.click()
    qtbot.waitUntil(lambda: not dialog.busy and bool(dialog.draft.outcomes), timeout=timeout)
    outcome = dialog.draft.outcomes["0"]
    assert outcome.get("order_id"), outcome
    return chosen, outcome


def save_unreachable_planet(settings, connection_id: str = "broken1", name: str = "Broken Planet"):
    import socket

    from satellite_tasking.plugin.model import Connection, ConnectionKind
    from satellite_tasking.plugin.settings import store_credentials

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    broken = Connection(id=connection_id, name=name, kind=ConnectionKind.PLANET,
                        base_url=f"http://127.0.0.1:{closed_port}/tasking/v2")
    broken.authcfg = store_credentials(broken, "planet-key", "")
    settings.save(broken)
    return broken
