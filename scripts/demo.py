"""`make demo`: the whole tasking flow, headless and offline, on the plugin's sandbox.

Runs with the plugin venv's Python (``.venv/bin/python scripts/demo.py``; QT_QPA_PLATFORM=offscreen is set
when missing). It starts the sandbox (its clock frozen, advanced by the script), and through the plugin's
Processing algorithms places orders for the sample AOIs in ``resources/sample/berlin_aois.geojson`` (EPSG:32633,
one feature multipart): Planet SkySat area orders (which bring captures, assessed SUCCESS or INVALID) and UP42
Pléiades Neo orders (which wait for a feasibility choice and a price quote). It makes those decisions, advances
the sandbox clock until every order has ended, syncs into ``<output>/tasking.gpkg`` and renders
``<output>/map.png`` with QGIS's map renderer: the AOIs and the capture footprints styled by assessment over a
generated background (a land tint and a graticule; nothing is downloaded). A short summary goes to stdout.
"""
import argparse
import importlib.util
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_NAME = "satellite_tasking"
SAMPLE = REPO_ROOT / "resources" / "sample" / "berlin_aois.geojson"
QGIS_PLUGINS = Path("/usr/share/qgis/python/plugins")
PLEIADES_TITLE = "Pléiades Neo Tasking Analytic"
CLOCK_STEP_SECONDS = 12 * 3600
MAX_CLOCK_STEPS = 160  # 80 simulated days: far beyond every order's window
MAP_SIZE = (1400, 1000)


def register_package():
    """Import the checkout as `satellite_tasking`, the name QGIS gives the installed plugin."""
    if PACKAGE_NAME in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(PACKAGE_NAME, REPO_ROOT / "__init__.py",
                                                  submodule_search_locations=[str(REPO_ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE_NAME] = module
    spec.loader.exec_module(module)


class Demo:
    def __init__(self, output: Path, profile: Path):
        from qgis.core import QgsApplication

        self.output = output
        self.app = QgsApplication([], False, str(profile))
        self.app.initQgis()
        if str(QGIS_PLUGINS) not in sys.path:
            sys.path.append(str(QGIS_PLUGINS))
        from processing.core.Processing import Processing

        Processing.initialize()
        register_package()
        from satellite_tasking.plugin.processing.provider import TaskingProcessingProvider
        from satellite_tasking.plugin.provider_factory import ProviderFactory
        from satellite_tasking.plugin.sandbox_service import SandboxService
        from satellite_tasking.plugin.sessions import SessionFactory

        self.sandbox = SandboxService(state_file=None, speed=0, port=0, seed=7)
        self.factory = ProviderFactory(self.sandbox, session_factory=SessionFactory(agent="SatelliteTasking/demo"))
        self.provider = TaskingProcessingProvider(self.factory)
        QgsApplication.processingRegistry().addProvider(self.provider)

    def close(self):
        from qgis.core import QgsApplication

        QgsApplication.processingRegistry().removeProvider(self.provider)
        self.sandbox.stop()
        self.app.exitQgis()

    def run(self, name, **parameters):
        from qgis import processing

        return processing.run(f"satellitetasking:{name}", {"CONNECTION": "Sandbox", **parameters})

    def sandbox_clock(self, advance_seconds: float = 0) -> str:
        import requests

        answer = requests.post(f"{self.sandbox.url()}/_sandbox/clock", json={"advance_seconds": advance_seconds},
                               timeout=10)
        answer.raise_for_status()
        return answer.json()["now"]

    def sandbox_settings(self, **values) -> None:
        import requests

        requests.post(f"{self.sandbox.url()}/_sandbox/settings", json=values, timeout=10).raise_for_status()

    # -- the flow -----------------------------------------------------------------------------
    def place_orders(self, layer) -> list:
        from qgis.core import QgsProcessingFeatureSourceDefinition
        from qgis.PyQt.QtCore import QDateTime, Qt

        now = QDateTime.fromString(self.sandbox_clock(), Qt.DateFormat.ISODate).toUTC()
        window = {"START": now.addDays(1), "END": now.addDays(21)}
        selected = QgsProcessingFeatureSourceDefinition(layer.id(), True)
        placed = []
        ids = sorted(f.id() for f in layer.getFeatures())
        # Planet: the cloud threshold is the contract's (no order field); the sandbox's contract setting is lenient
        # for the first orders and strict for the others, so captures come back SUCCESS and INVALID.
        for name, features, cloud in (("Berlin SkySat", ids[:3], 0.3), ("Berlin SkySat strict", ids[3:], 0.04)):
            layer.selectByIds(features)
            self.sandbox_settings(planet_contract_cloud_cover=cloud)
            result = self.run("placeorders", PRODUCT="planet:area", INPUT=selected, NAME=name,
                              PARAMS=json.dumps({"sat_elevation_angle_min": 60}), OUTPUT="memory:", **window)
            placed.append(result)
        # UP42 Pléiades Neo: feasibility study, then a quote, before tasking starts.
        layer.selectByIds(ids[:2])
        placed.append(self.run("placeorders", PRODUCT=PLEIADES_TITLE, INPUT=selected, NAME="Berlin Pléiades Neo",
                               PARAMS=json.dumps({"maxCloudCover": 10, "acquisitionMode": "mono"}),
                               OUTPUT="memory:", **window))
        layer.removeSelection()
        return placed

    def advance_until_done(self, provider) -> dict:
        """Advance the clock, settling feasibility and quotes on the way, until every order has ended."""
        from satellite_tasking.plugin.model import Decision

        decisions = Counter()
        for _step in range(MAX_CLOCK_STEPS):
            orders = provider.orders()
            for order in orders:
                if order.decision == Decision.FEASIBILITY:
                    study = provider.feasibility(order)
                    if study is not None and study.options:
                        self.run("decideorder", ORDER_ID=order.id, DECISION="choose feasibility option",
                                 OPTION_ID=study.options[0].id)
                        decisions["feasibility options chosen"] += 1
                elif order.decision == Decision.QUOTATION and provider.quotation(order) is not None:
                    self.run("decideorder", ORDER_ID=order.id, DECISION="accept quote")
                    decisions["quotes accepted"] += 1
            if orders and all(order.status.is_terminal for order in orders):
                break
            self.sandbox_clock(CLOCK_STEP_SECONDS)
        return dict(decisions)

    def sync(self) -> dict:
        target = self.output / "tasking.gpkg"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        return self.run("syncorders", GEOPACKAGE=str(target))

    # -- the map ------------------------------------------------------------------------------
    def render(self, sample, synced) -> Path:
        from qgis.core import (
            QgsCoordinateReferenceSystem,
            QgsCoordinateTransform,
            QgsMapRendererParallelJob,
            QgsMapSettings,
            QgsProject,
            QgsRectangle,
            QgsVectorLayer,
        )
        from qgis.PyQt.QtCore import QSize
        from qgis.PyQt.QtGui import QColor

        from satellite_tasking.plugin.layers import CAPTURES_ROLE, LAYERS, ORDERS_ROLE

        project = QgsProject.instance()
        crs = QgsCoordinateReferenceSystem("EPSG:32633")
        orders = self._styled(QgsVectorLayer(synced["ORDERS"], "Tasking orders", "ogr"), LAYERS[ORDERS_ROLE][2])
        captures = self._styled(QgsVectorLayer(synced["CAPTURES"], "Tasking captures", "ogr"),
                                LAYERS[CAPTURES_ROLE][2])
        to_map = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), crs, project)
        extent = QgsRectangle(sample.extent())
        for layer in (orders, captures):
            if layer.featureCount():
                extent.combineExtentWith(to_map.transformBoundingBox(layer.extent()))
        extent.scale(1.15)
        width, height = MAP_SIZE
        settings = QgsMapSettings()
        settings.setDestinationCrs(crs)
        settings.setTransformContext(project.transformContext())
        settings.setOutputSize(QSize(width, height))
        settings.setExtent(extent)  # widened to the image's aspect by QgsMapSettings
        extent = settings.visibleExtent()
        background = self._land(extent, crs)
        graticule = self._graticule(extent, crs, project)
        aois = QgsVectorLayer(str(SAMPLE), "Sample AOIs", "ogr")
        aois.renderer().symbol().setColor(QColor(0, 0, 0, 0))
        aois.renderer().symbol().symbolLayer(0).setStrokeColor(QColor("#1f3b73"))
        aois.renderer().symbol().symbolLayer(0).setStrokeWidth(0.8)
        settings.setLayers([aois, captures, orders, graticule, background])
        settings.setBackgroundColor(QColor("#cfe3f3"))
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        image = job.renderedImage()
        self._legend(image, captures)
        target = self.output / "map.png"
        if not image.save(str(target), "PNG"):
            raise OSError(f"could not write {target}")
        return target

    @staticmethod
    def _styled(layer, style):
        if not layer.isValid():
            raise RuntimeError(f"{layer.source()} cannot be read")
        layer.loadNamedStyle(str(style))
        return layer

    @staticmethod
    def _land(extent, crs):
        from qgis.core import QgsFeature, QgsGeometry, QgsRectangle, QgsVectorLayer
        from qgis.PyQt.QtGui import QColor

        layer = QgsVectorLayer(f"Polygon?crs={crs.authid()}", "Land", "memory")
        land = QgsRectangle(extent)
        land.grow(-min(extent.width(), extent.height()) * 0.03)
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromRect(land))
        layer.dataProvider().addFeatures([feature])
        symbol = layer.renderer().symbol()
        symbol.setColor(QColor("#f4f1e8"))
        symbol.symbolLayer(0).setStrokeColor(QColor("#b9b39f"))
        return layer

    @staticmethod
    def _graticule(extent, crs, project):
        from qgis.core import (
            QgsCoordinateReferenceSystem,
            QgsCoordinateTransform,
            QgsFeature,
            QgsGeometry,
            QgsPointXY,
            QgsVectorLayer,
        )
        from qgis.PyQt.QtGui import QColor

        wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
        box = QgsCoordinateTransform(crs, wgs84, project).transformBoundingBox(extent)
        layer = QgsVectorLayer("LineString?crs=EPSG:4326", "Graticule", "memory")
        step = 0.05
        features = []
        lon = round(box.xMinimum() / step) * step
        while lon <= box.xMaximum():
            features.append(QgsGeometry.fromPolylineXY([QgsPointXY(lon, box.yMinimum()),
                                                        QgsPointXY(lon, box.yMaximum())]))
            lon += step
        lat = round(box.yMinimum() / step) * step
        while lat <= box.yMaximum():
            features.append(QgsGeometry.fromPolylineXY([QgsPointXY(box.xMinimum(), lat),
                                                        QgsPointXY(box.xMaximum(), lat)]))
            lat += step
        items = []
        for geometry in features:
            feature = QgsFeature()
            feature.setGeometry(geometry)
            items.append(feature)
        layer.dataProvider().addFeatures(items)
        symbol = layer.renderer().symbol()
        symbol.setColor(QColor(120, 120, 120, 110))
        symbol.setWidth(0.2)
        return layer

    @staticmethod
    def _legend(image, captures):
        from qgis.PyQt.QtCore import QRectF, Qt
        from qgis.PyQt.QtGui import QColor, QFont, QPainter

        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont("DejaVu Sans", 14)
        painter.setFont(font)
        items = []
        for category in captures.renderer().categories():
            count = sum(1 for f in captures.getFeatures() if f["outcome"] == category.value())
            if count:
                items.append((category.symbol().color(), f"{category.label()}: {count} capture(s)"))
        height = 44 + 26 * (len(items) + 1)
        painter.fillRect(QRectF(16, 16, 420, height), QColor(255, 255, 255, 225))
        painter.setPen(QColor("#222222"))
        painter.drawText(QRectF(28, 24, 400, 28), Qt.AlignmentFlag.AlignLeft, "Satellite tasking demo — Berlin")
        font.setPointSize(11)
        painter.setFont(font)
        rows = [(QColor("#1f3b73"), "Sample AOIs (outline)")] + items
        for index, (color, text) in enumerate(rows):
            y = 60 + 26 * index
            painter.fillRect(QRectF(28, y + 4, 18, 14), color)
            painter.drawText(QRectF(56, y, 370, 24), Qt.AlignmentFlag.AlignLeft, text)
        painter.end()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "demo", help="folder for tasking.gpkg and map.png")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    output = args.output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="satellite-tasking-demo-") as profile:
        demo = Demo(output, Path(profile))
        try:
            return demo_flow(demo)
        finally:
            demo.close()


def demo_flow(demo) -> int:
    from qgis.core import QgsProject, QgsVectorLayer

    from satellite_tasking.plugin.processing.algorithm import close_sessions
    from satellite_tasking.plugin.processing.connections import find_connection, provider_for
    from satellite_tasking.plugin.store import TaskingStore

    sample = QgsVectorLayer(str(SAMPLE), "Sample AOIs", "ogr")
    if not sample.isValid():
        raise RuntimeError(f"{SAMPLE} cannot be read")
    QgsProject.instance().addMapLayer(sample)
    placed = demo.place_orders(sample)
    provider = provider_for(demo.factory, find_connection(demo.factory, "Sandbox"))
    try:
        decisions = demo.advance_until_done(provider)
    finally:
        close_sessions(provider)
    synced = demo.sync()
    store = TaskingStore(synced["GEOPACKAGE"])
    orders = store.orders()
    captures = store.captures()
    image = demo.render(sample, synced)
    statuses = Counter(order.status.code.value for order in orders)
    assessments = Counter((capture.assessment or capture.status or "none").upper() for capture in captures)
    lines = [
        f"Orders placed: {sum(int(r['PLACED']) for r in placed)} "
        f"({sum(int(r['FAILED']) for r in placed)} AOIs without an order)",
        "Decisions: " + (", ".join(f"{count} {what}" for what, count in decisions.items()) or "none needed"),
        f"Simulated time now: {demo.sandbox_clock()}",
        "Orders by status: " + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())),
        f"Orders completed: {statuses.get('completed', 0)} of {len(orders)}",
        "Captures: " + ", ".join(f"{count} {kind}" for kind, count in sorted(assessments.items())),
        f"GeoPackage: {synced['GEOPACKAGE']}",
        f"Map: {image}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
