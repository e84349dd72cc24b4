"""Selected features → areas of interest (AOIs) ready for a tasking order.

Every AOI comes out in EPSG:4326 (lon/lat), 2D, with straight edges, valid, measured on the WGS84
ellipsoid and checked against the product's rules. Anything that cannot be made into an AOI becomes
an ``AoiRefusal`` whose reason names the layer and the feature, never an exception.

Speed: a dialog is opened on the GUI thread with thousands of selected features, so the common case
(a single, simple polygon) runs through a vectorised "fast lane": QGIS reads each geometry, then
reprojects the rings of many features per call, and numpy checks simplicity, measures and rounds
all of them at once. Everything the fast lane cannot prove correct goes through ``prepare_feature``,
the general path, which uses QGIS/GEOS for each step. The GeoJSON dict of an AOI is built when
first asked for (``Aoi.geometry``), because building millions of Python lists costs more than all
the checks together and is only needed when an order is sent.
"""
import itertools
import logging
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsCsException,
    QgsFeatureRequest,
    QgsGeometry,
    QgsMapLayer,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtGui import QPolygonF

from .fast.polygon_memory import POINTS_ARE_TWO_DOUBLES, copy_point_bytes, read_points, write_points
from .fast.ring_batch_measures import RingWorkArrays, ring_signed_area_m2, simple_ring_areas
from .fast.wkb_arrays import read_wkb, write_wkb
from .geometry_repair import RepairTooSlow, RepairUnavailable, make_valid_wkb

logger = logging.getLogger(__name__)

WGS84_AUTHID = "EPSG:4326"
# 7 decimals of a degree is about 1 cm on the ground: finer than any satellite can task.
COORDINATE_DECIMALS = 7
# below a square metre an "area" is a rounding artefact, not something a satellite can image
MIN_AREA_KM2 = 1e-6
# Vertices of one selected feature the plugin starts from. AOIs are prepared on the GUI thread (the order
# dialog opens with them): a simple polygon of 100,000 vertices takes about 1 s to reproject, check and
# simplify to a provider's limit, one of 1,000,000 about 17 s. Past this a feature is refused with a
# sentence before any work on it, and the user simplifies it in QGIS first.
MAX_FEATURE_VERTICES = 100_000
# The longest one repair of an invalid outline may keep the GUI thread waiting (see geometry_repair): past it the
# feature is refused with a sentence (an intricate self-intersecting outline can take tens of seconds).
REPAIR_WAIT_SECONDS = 1.0


_FAMILY_WORD = {"Polygon": "polygon", "Point": "point", "LineString": "line"}


@dataclass(frozen=True)
class AoiRules:
    """What a product accepts. Built from a Product by the caller; the defaults suit a polygon order."""

    geometry_types: frozenset = frozenset({"Polygon"})  # GeoJSON type names
    holes_allowed: bool = True
    max_vertices: int = 1000  # GeoJSON positions, counting each ring's closing position
    min_area_km2: Optional[float] = None
    max_area_km2: Optional[float] = None
    antimeridian: str = "split"  # or "refuse"

    def accepts_family(self, base: str) -> bool:
        return base in self.geometry_types or ("Multi" + base) in self.geometry_types

    def keeps_multipart(self, base: str) -> bool:
        return ("Multi" + base) in self.geometry_types

    def families(self) -> List[str]:
        return [base for base in ("Polygon", "Point", "LineString") if self.accepts_family(base)]

    def multipart_policy(self) -> str:
        """A sentence for the dialog: what happens to multipart features with this product."""
        kept = [f"Multi{base}" for base in self.families() if self.keeps_multipart(base)]
        if kept:
            return f"Multipart features are kept whole (this product accepts {', '.join(kept)})."
        return "Multipart features are split: one AOI per part."

    def __post_init__(self):
        if self.antimeridian not in ("split", "refuse"):
            raise ValueError(f"antimeridian must be 'split' or 'refuse', not {self.antimeridian!r}")


@dataclass(eq=False)
class Aoi:
    """One area of interest, ready to send. ``geometry`` is GeoJSON (EPSG:4326, lon/lat, 2D).

    ``part_index`` is 0 for a whole feature, else the part's number (0-based) when the feature was
    split (multipart, or cut at the antimeridian). ``area_km2`` is 0 for points and lines.
    """

    feature_id: int
    part_index: int
    geometry_type: str
    area_km2: float
    vertex_count: int
    warnings: List[str]
    source_layer_name: str
    # GeoJSON "coordinates" with numpy (n, 2) arrays as leaves, already rounded
    coordinates: object = field(repr=False)

    @cached_property
    def geometry(self) -> dict:
        return {"type": self.geometry_type, "coordinates": _coordinates_as_lists(self.coordinates)}


@dataclass
class AoiRefusal:
    feature_id: Optional[int]
    part_index: Optional[int]
    reason: str


@dataclass
class AoiResult:
    aois: List[Aoi] = field(default_factory=list)
    refusals: List[AoiRefusal] = field(default_factory=list)
    message: Optional[str] = None  # set when nothing usable came out: say why, open no dialog
    notes: List[str] = field(default_factory=list)  # layers skipped (not vector, wrong geometry type)
    rules: Optional[AoiRules] = None  # the rules the AOIs were made under

    @property
    def multipart_policy(self) -> str:
        """A sentence for the dialog about what happens to multipart features."""
        if self.rules is not None:
            return self.rules.multipart_policy()
        if any(aoi.geometry_type.startswith("Multi") for aoi in self.aois):
            return "Multipart features are kept whole."
        return "Multipart features are split: one AOI per part."


# ---------------------------------------------------------------------------------------------
# entry points


def aois_from_layers(layers: Sequence[QgsMapLayer], rules: AoiRules) -> AoiResult:
    """AOIs from the selected features of each layer (the layer-tree selection or one layer)."""
    wanted = " or ".join(_FAMILY_WORD[f] for f in rules.families()) or "polygon"
    result = AoiResult(rules=rules)
    usable = []
    for layer in layers:
        if layer is None:
            continue
        name = layer.name()
        if not isinstance(layer, QgsVectorLayer):
            result.notes.append(f"Layer '{name}' is not a vector layer.")
            continue
        family = {
            QgsWkbTypes.GeometryType.PolygonGeometry: "Polygon",
            QgsWkbTypes.GeometryType.PointGeometry: "Point",
            QgsWkbTypes.GeometryType.LineGeometry: "LineString",
        }.get(layer.geometryType())
        if family is None:
            result.notes.append(f"Layer '{name}' has no geometries.")
            continue
        if not rules.accepts_family(family):
            result.notes.append(
                f"Layer '{name}' holds {_FAMILY_WORD[family]}s; this product accepts {wanted}s only."
            )
            continue
        usable.append(layer)
    if not usable:
        result.message = " ".join(
            [f"Select a {wanted} layer in the Layers panel and select features on it."] + result.notes
        )
        return result
    selected = [layer for layer in usable if layer.selectedFeatureCount() > 0]
    if not selected:
        names = ", ".join(f"'{layer.name()}'" for layer in usable)
        result.message = f"Select at least one {wanted} feature: nothing is selected on {names}."
        return result
    context = QgsProject.instance().transformContext()
    request = QgsFeatureRequest().setNoAttributes()
    for layer in selected:
        if not layer.crs().isValid():
            result.notes.append(_no_crs_sentence(layer.name()))
            continue
        part = aois_from_features(
            layer.getSelectedFeatures(request), layer.crs(), rules, layer.name(), context
        )
        result.aois.extend(part.aois)
        result.refusals.extend(part.refusals)
    if not result.aois and not result.refusals:
        result.message = " ".join(result.notes)
    elif not result.aois:
        count = len(result.refusals)
        result.message = (
            f"None of the selected features can be used ({count} refused): "
            + "; ".join(r.reason for r in result.refusals[:3])
            + (" …" if count > 3 else "")
        )
    return result


def aois_from_features(
    features: Iterable,
    crs: QgsCoordinateReferenceSystem,
    rules: AoiRules,
    layer_name: str,
    transform_context: Optional[QgsCoordinateTransformContext] = None,
) -> AoiResult:
    """AOIs from QgsFeatures whose geometries are in ``crs``; in the features' order."""
    if crs is None or not crs.isValid():
        # An invalid CRS makes QgsCoordinateTransform a no-op: the coordinates would be read as lon/lat.
        return AoiResult(rules=rules, message=_no_crs_sentence(layer_name))
    if transform_context is None:
        transform_context = QgsProject.instance().transformContext()
    job = _Job(crs, rules, layer_name, transform_context)
    job.run(features)
    result = AoiResult(aois=job.aois, refusals=job.refusals, rules=rules)
    if not job.seen:
        result.message = f"Select at least one feature on '{layer_name}'."
    elif not job.aois:
        result.message = f"None of the {job.seen} selected features on '{layer_name}' can be used."
    logger.debug("%s: %d AOIs, %d refused (%d fast)", layer_name, len(job.aois), len(job.refusals), job.fast)
    return result


def _no_crs_sentence(layer_name: str) -> str:
    return (f"Layer '{layer_name}' has no valid coordinate reference system, so where its features lie on "
            f"Earth is unknown; set the layer's CRS (Layer Properties ▸ Source) and select the features again.")


# ---------------------------------------------------------------------------------------------
# the job: fast lane + general path, results kept in feature order


class _Refused(Exception):
    """Internal: a feature (or part) cannot become an AOI; the message is the reason."""


# 2D WKB of a polygon with one ring of n points is this header plus 16·n bytes (a multipolygon of one
# such polygon: 9 more); a second ring or part, or Z/M values, make it longer
_FAST_WKB_HEADER = {QgsWkbTypes.Type.Polygon: 13, QgsWkbTypes.Type.MultiPolygon: 22}
# positions per fast-lane batch: enough that numpy's per-call costs vanish (its work arrays, about
# 50 bytes a position, are reused from batch to batch)
_FAST_BATCH_POINTS = 1 << 17
# positions per transformPolygon call: QGIS's working copies of them stay in the CPU's cache
_TRANSFORM_PIECE_POINTS = 1 << 13


class _Scratch:
    """A fast-lane batch's buffers for up to ``points`` positions, reused from batch to batch (see
    ``RingWorkArrays`` for why)."""

    def __init__(self, points: int):
        self.points = points
        self.source = np.empty(2 * points)  # the batch's rings end to end, x y x y … in the layer CRS
        self.source_bytes = memoryview(self.source).cast("B")
        self.piece = QPolygonF(_TRANSFORM_PIECE_POINTS)  # the part of the batch being reprojected
        self.rings = RingWorkArrays(points)


class _Job:
    def __init__(self, crs, rules: AoiRules, layer_name: str, context):
        self.crs = crs
        self.rules = rules
        self.layer_name = layer_name
        self.context = context
        self.target = QgsCoordinateReferenceSystem(WGS84_AUTHID)
        self.transform = QgsCoordinateTransform(crs, self.target, context)
        self.aois: List[Aoi] = []
        self.refusals: List[AoiRefusal] = []
        self.seen = 0
        self.fast = 0
        self._valid_box = None  # lazily: where coordinates in the layer CRS make sense

    def label(self, fid, part=None) -> str:
        text = f"Feature {fid} of layer '{self.layer_name}'"
        return text if part is None else f"{text} (part {part})"

    # -- driver ---------------------------------------------------------------------------------

    def run(self, features):
        rules = self.rules
        fast_ok = "Polygon" in rules.geometry_types and POINTS_ARE_TWO_DOUBLES
        header_of = _FAST_WKB_HEADER
        limit = rules.max_vertices
        # one slot per feature, in order: the feature, replaced by its Aoi when the fast lane makes one
        slots = []
        # the fast lane's batch: slot numbers and ring sizes; the rings themselves go end to end
        # into scratch.source (`buffer`), `used` of its bytes so far
        scratch = _Scratch(_FAST_BATCH_POINTS) if fast_ok else None
        buffer = scratch.source_bytes if fast_ok else None
        batch_slots, batch_counts = [], []
        used = 0
        for feature in features:
            if fast_ok:
                geometry = feature.geometry()
                header = header_of.get(geometry.wkbType())
                if header is not None:
                    # asQPolygonF is several times cheaper than asWkb; it holds the exterior ring of
                    # the first part, so it is the whole 2D geometry only when the WKB sizes agree
                    ring = geometry.asQPolygonF()
                    n = ring.size()
                    if 4 <= n <= limit and geometry.wkbSize() == header + 16 * n:
                        size = 16 * n
                        if used + size > len(buffer):
                            if batch_slots:
                                self._fast_lane(slots, batch_slots, batch_counts, scratch)
                                batch_slots, batch_counts = [], []
                                used = 0
                            if size > len(buffer):
                                scratch = _Scratch(n)
                                buffer = scratch.source_bytes
                        used = copy_point_bytes(ring, buffer, used)
                        batch_slots.append(len(slots))
                        batch_counts.append(n)
            slots.append(feature)
        if batch_slots:
            self._fast_lane(slots, batch_slots, batch_counts, scratch)
        self.seen = len(slots)
        aois, refusals = self.aois, self.refusals
        for item in slots:
            if type(item) is Aoi:
                aois.append(item)
                continue
            fid = item.id()
            try:
                prepared = self.prepare_feature(fid, item.geometry())
            except _Refused as refusal:
                refusals.append(AoiRefusal(fid, None, str(refusal)))
                continue
            for one in prepared:
                (refusals if isinstance(one, AoiRefusal) else aois).append(one)

    # -- fast lane ------------------------------------------------------------------------------

    def _fast_lane(self, slots, slot_numbers, counts, scratch):
        """Vectorised: single-ring polygons provably simple, within the limits, away from ±180°.

        The rings are in ``scratch.source``, end to end, in the layer CRS. Replaces
        ``slots[slot_numbers[i]]`` (a feature) by its Aoi for every ring it can prove right; the
        others keep their feature and take the general path, which decides (and explains)
        everything the fast lane could not prove.
        """
        rules = self.rules
        counts_arr = np.array(counts, dtype=np.intp)
        starts = np.zeros(len(counts), dtype=np.intp)
        np.cumsum(counts_arr[:-1], out=starts[1:])
        starts_list = starts.tolist()
        xy = np.empty((int(starts[-1] + counts_arr[-1]), 2))  # the AOIs' coordinates: they keep them
        failed = self._transform_batch(slots, slot_numbers, counts, starts_list, scratch, xy)
        with np.errstate(all="ignore"):  # NaN, infinities and overflows just fail the checks
            ok, star, signed_m2 = simple_ring_areas(xy, starts, counts_arr, scratch.rings)
            area_km2 = np.abs(signed_m2) / 1e6
        ok[failed] = False
        ok &= area_km2 >= MIN_AREA_KM2
        if rules.min_area_km2 is not None:
            ok &= area_km2 >= rules.min_area_km2
        if rules.max_area_km2 is not None:
            ok &= area_km2 <= rules.max_area_km2
        # not star-shaped (concave fields, L-shapes): GEOS decides simplicity; the area stands, as
        # the moments hold for any simple ring
        for i in np.flatnonzero(ok & ~star).tolist():
            ring = xy[starts_list[i] : starts_list[i] + counts[i]]
            if (ring[1:] == ring[:-1]).all(axis=1).any():
                ok[i] = False  # repeated vertices: the general path drops them
                continue
            candidate = QgsGeometry()
            candidate.fromWkb(write_wkb("Polygon", [ring]))
            if not candidate.isGeosValid():
                ok[i] = False
        layer_name = self.layer_name
        rings = zip(slot_numbers, starts_list, counts, area_km2.tolist(), (signed_m2 < 0).tolist())
        made = ok.tolist()
        for slot, start, n, area, clockwise in itertools.compress(rings, made):
            ring = xy[start : start + n]
            if clockwise:  # RFC 7946: exterior rings counterclockwise
                ring = ring[::-1]
            slots[slot] = Aoi(slots[slot].id(), 0, "Polygon", area, n, [], layer_name, [ring])
        self.fast += sum(made)

    def _transform_batch(self, slots, slot_numbers, counts, starts, scratch, xy) -> List[int]:
        """The batch's rings to lon/lat, rounded into ``xy``; returns the rings that failed.

        transformPolygon over many rings at once gives the same numbers as a QgsGeometry.transform
        per ring (the same PROJ operation, point by point) for less than the cost of the separate
        calls; pieces of a few thousand points keep QGIS's working copies in the CPU's cache.
        Except when a point fails and QGIS falls back to another operation: it applies that one to
        every point of the call, so such a batch is transformed again ring by ring.
        """
        transform = self.transform
        source = scratch.source[: 2 * len(xy)].reshape(-1, 2)
        one_by_one = False
        with np.errstate(all="ignore"):  # failed points come back infinite and fail the checks
            for first in range(0, len(xy), _TRANSFORM_PIECE_POINTS):
                stop = min(first + _TRANSFORM_PIECE_POINTS, len(xy))
                piece = scratch.piece if scratch.piece.size() == stop - first else QPolygonF(stop - first)
                write_points(piece, source[first:stop])
                try:
                    transform.transformPolygon(piece)
                    one_by_one = one_by_one or transform.fallbackOperationOccurred()
                except QgsCsException:
                    one_by_one = True
                read_points(piece, xy[first:stop], COORDINATE_DECIMALS)
            failed = []
            if one_by_one:
                for i, slot in enumerate(slot_numbers):
                    geometry = slots[slot].geometry()
                    try:
                        geometry.transform(transform)
                    except QgsCsException:
                        failed.append(i)  # the general path explains the failure
                        continue
                    ring = geometry.asQPolygonF()
                    read_points(ring, xy[starts[i] : starts[i] + counts[i]], COORDINATE_DECIMALS)
        return failed

    # -- general path ---------------------------------------------------------------------------

    def prepare_feature(self, fid, source: QgsGeometry) -> list:
        rules = self.rules
        if source is None or source.isNull() or source.isEmpty():
            raise _Refused(f"{self.label(fid)} has no geometry.")
        vertices = source.constGet().nCoordinates()
        if vertices > MAX_FEATURE_VERTICES:
            raise _Refused(
                f"{self.label(fid)} has {vertices:,} vertices, more than the {MAX_FEATURE_VERTICES:,} an AOI is "
                f"prepared from; simplify it first (Vector ▸ Geometry Tools ▸ Simplify) and select the result."
            )
        geometry = QgsGeometry(source)
        warnings = []
        wkb_type = geometry.wkbType()
        family = {
            QgsWkbTypes.GeometryType.PolygonGeometry: "Polygon",
            QgsWkbTypes.GeometryType.PointGeometry: "Point",
            QgsWkbTypes.GeometryType.LineGeometry: "LineString",
        }.get(QgsWkbTypes.geometryType(wkb_type))
        if family is None or QgsWkbTypes.flatType(wkb_type) == QgsWkbTypes.Type.GeometryCollection:
            raise _Refused(f"{self.label(fid)} is a geometry collection; draw one kind of shape per feature.")
        if not rules.accepts_family(family):
            wanted = " or ".join(_FAMILY_WORD[f] + "s" for f in rules.families())
            raise _Refused(f"{self.label(fid)} is a {_FAMILY_WORD[family]}; this product accepts {wanted}.")
        if QgsWkbTypes.hasZ(wkb_type) or QgsWkbTypes.hasM(wkb_type):
            abstract = geometry.get()
            abstract.dropZValue()
            abstract.dropMValue()
            warnings.append("Z/M values dropped (AOIs are 2D).")
        if QgsWkbTypes.isCurvedType(geometry.wkbType()):
            geometry = QgsGeometry(geometry.constGet().segmentize())
            warnings.append("Curves converted to straight segments.")
        kind, coords = read_wkb(geometry.asWkb().data())
        if not _all_finite(coords):
            raise _Refused(f"{self.label(fid)} has coordinates that are not numbers (NaN or infinite).")
        self._check_inside_crs(fid, geometry.boundingBox())
        try:
            geometry.transform(self.transform)
        except QgsCsException as error:
            raise _Refused(
                f"{self.label(fid)} could not be transformed from {self.crs.authid()} to "
                f"{WGS84_AUTHID}: {error}"
            ) from None
        kind, coords = read_wkb(geometry.asWkb().data())
        if not _all_finite(coords):
            raise _Refused(
                f"{self.label(fid)} could not be transformed from {self.crs.authid()} to "
                f"{WGS84_AUTHID} (coordinates outside the valid area of the CRS)."
            )
        box = _bounds(coords)
        if box[1] < -90 - 1e-9 or box[3] > 90 + 1e-9:
            raise _Refused(f"{self.label(fid)} has latitudes beyond ±90° after transformation.")
        if family == "Point":
            # a point has no extent to split: only bring its longitude into -180…180
            coords = _map_coords(coords, _wrap_longitudes)
            return self._finish_points(fid, _geometry_from(kind, coords), warnings)
        geometry, crosses = self._normalise_longitudes(fid, geometry, kind, coords)
        geometry = self._make_valid(fid, geometry, family, warnings)
        if crosses:
            geometry = _split_at_antimeridian(geometry)
            warnings.append("Crosses the antimeridian (180°): split into its eastern and western sides.")
        return self._finish_parts(fid, geometry, family, warnings)

    def _check_inside_crs(self, fid, box: QgsRectangle):
        valid = self._crs_valid_box()
        if valid is None:
            return
        if not valid.contains(box):
            raise _Refused(
                f"{self.label(fid)} lies far outside the area where {self.crs.authid()} is valid "
                f"(x {box.xMinimum():.6g}…{box.xMaximum():.6g}, y {box.yMinimum():.6g}…{box.yMaximum():.6g}); "
                "is the layer's CRS right?"
            )

    def _crs_valid_box(self) -> Optional[QgsRectangle]:
        if self._valid_box is None:
            self._valid_box = False
            if self.crs.isGeographic():
                # lon up to ±540 lets a polygon be drawn across 180° with longitudes past it
                self._valid_box = QgsRectangle(-540, -90 - 1e-9, 540, 90 + 1e-9)
            else:
                bounds = self.crs.bounds()
                if not bounds.isEmpty():
                    try:
                        to_layer = QgsCoordinateTransform(self.target, self.crs, self.context)
                        box = to_layer.transformBoundingBox(bounds)
                        # CRSs are used a little outside their official area; only refuse what is far out
                        margin = max(box.width(), box.height()) * 0.5
                        box.grow(margin)
                        if all(math.isfinite(v) for v in (box.xMinimum(), box.yMinimum(),
                                                           box.xMaximum(), box.yMaximum())):
                            self._valid_box = box
                    except QgsCsException:
                        pass
        return self._valid_box or None

    def _normalise_longitudes(self, fid, geometry, kind, coords):
        """Bring longitudes into -180…180, or to 0…360 when the geometry crosses 180° (to be split)."""
        west, _s, east, _n = _bounds(coords)
        if east - west > 180:
            # e.g. 179°E…179°W after reprojection: the short way round goes over 180°
            coords = _map_coords(coords, lambda a: np.where(a[:, :1] < 0, a + [360.0, 0.0], a))
            west, _s, east, _n = _bounds(coords)
            if east - west > 180:
                raise _Refused(
                    f"{self.label(fid)} spans more than 180° of longitude (or surrounds a pole); "
                    "draw it as smaller polygons."
                )
        shift = 0.0
        if west >= 180:
            shift = -360.0
        elif east <= -180:
            shift = 360.0
        elif west < -180:
            shift = 360.0  # now crosses +180
        if shift:
            coords = _map_coords(coords, lambda a: a + [shift, 0.0])
            west, east = west + shift, east + shift
        crosses = east > 180
        if crosses and self.rules.antimeridian != "split":
            raise _Refused(
                f"{self.label(fid)} crosses the antimeridian (180°), which this product does not accept; "
                "draw it as two features, one on each side."
            )
        # validity is judged on what will be sent: coordinates rounded as in the output
        coords = _map_coords(coords, lambda a: np.round(a, COORDINATE_DECIMALS))
        return _geometry_from(kind, coords), crosses

    def _make_valid(self, fid, geometry, family, warnings):
        if family == "LineString":
            if geometry.length() <= 0:
                raise _Refused(f"{self.label(fid)} is a line of zero length.")
            return geometry
        if geometry.isGeosValid():
            return geometry
        reason = _invalidity_reason(geometry)
        try:
            repaired = _made_valid(geometry)
        except RepairUnavailable as missing:
            raise _Refused(f"{self.label(fid)} is invalid ({reason}). {missing}") from None
        polygons = _polygon_parts(repaired) if repaired and not repaired.isNull() else []
        if not polygons:
            raise _Refused(f"{self.label(fid)} is invalid ({reason}) and has no area left once repaired.")
        warnings.append(f"Geometry was invalid ({reason}); repaired.")
        return QgsGeometry.collectGeometry(polygons) if len(polygons) > 1 else polygons[0]

    def _finish_points(self, fid, geometry, warnings) -> list:
        kind, coords = read_wkb(geometry.asWkb().data())
        points = [coords] if kind == "Point" else list(coords)
        points = [np.round(np.asarray(p, dtype=float), COORDINATE_DECIMALS) for p in points]
        if self.rules.keeps_multipart("Point") and len(points) > self.rules.max_vertices:
            raise _Refused(f"{self.label(fid)} has {len(points)} points, more than this product's limit of "
                           f"{self.rules.max_vertices}.")
        if self.rules.keeps_multipart("Point") and (len(points) > 1 or "Point" not in self.rules.geometry_types):
            return [Aoi(fid, 0, "MultiPoint", 0.0, len(points), warnings, self.layer_name,
                        np.vstack(points))]
        split_note = [f"Multipart feature: one AOI per point ({len(points)})."] if len(points) > 1 else []
        return [
            Aoi(fid, i, "Point", 0.0, 1, warnings + split_note, self.layer_name, p)
            for i, p in enumerate(points)
        ]

    def _finish_parts(self, fid, geometry, family, warnings) -> list:
        rules = self.rules
        parts = geometry.asGeometryCollection() if geometry.isMultipart() else [geometry]
        parts = [p for p in parts if not p.isEmpty()]
        if not parts:
            raise _Refused(f"{self.label(fid)} has nothing left after repair.")
        multi = "Multi" + family
        if rules.keeps_multipart(family) and (len(parts) > 1 or family not in rules.geometry_types):
            groups = [(0, parts)]
            if len(parts) > 1:
                warnings = warnings + [f"Multipart feature kept whole: one AOI of {len(parts)} parts."]
        else:
            groups = [(i, [p]) for i, p in enumerate(parts)]
            if len(parts) > 1:
                warnings = warnings + [f"Multipart feature split: one AOI per part ({len(parts)})."]
        out = []
        for part_index, members in groups:
            label = self.label(fid, part_index if len(groups) > 1 else None)
            try:
                out.append(self._finish_group(fid, part_index, members, family, multi, list(warnings), label))
            except _Refused as refusal:
                out.append(AoiRefusal(fid, part_index if len(groups) > 1 else None, str(refusal)))
        return out

    def _finish_group(self, fid, part_index, members, family, multi, warnings, label) -> Aoi:
        rules = self.rules
        geometry = QgsGeometry.collectGeometry(members) if len(members) > 1 else members[0]
        if family == "Polygon" and not rules.holes_allowed:
            holes = sum(_hole_count(p) for p in members)
            if holes:
                geometry = geometry.removeInteriorRings()
                warnings.append(f"{holes} hole(s) filled: this product does not accept holes.")
        geometry = self._fit_vertex_limit(geometry, family, warnings, label)
        kind, coords = read_wkb(geometry.asWkb().data())
        coords = _round_and_clean(kind, coords)
        if coords is not None and family == "Polygon":
            kind, coords = self._valid_after_rounding(kind, coords, warnings, label)
        if coords is None:
            raise _Refused(f"{label} collapses to nothing at {COORDINATE_DECIMALS}-decimal precision.")
        if kind.startswith("Multi") and len(coords) > 1 and multi not in rules.geometry_types:
            # simplification or repair broke the part in pieces and the product takes single parts
            sizes = [_polygon_area_km2("Polygon", c) if family == "Polygon" else len(c) for c in coords]
            coords = [coords[int(np.argmax(sizes))]]
            warnings.append(f"Came apart in {len(sizes)} pieces when simplified or repaired; kept the largest.")
        if kind.startswith("Multi") and len(coords) == 1 and family in rules.geometry_types:
            kind, coords = family, coords[0]
        vertex_count = _vertex_count(coords)
        if vertex_count > rules.max_vertices:
            raise _Refused(
                f"{label} has {vertex_count} vertices once repaired, more than this product's limit of "
                f"{rules.max_vertices}."
            )
        area_km2 = 0.0
        if family == "Polygon":
            area_km2 = _polygon_area_km2(kind, coords)
            if not area_km2 >= MIN_AREA_KM2:
                raise _Refused(f"{label} has no area (less than 1 m²).")
            if rules.min_area_km2 is not None and area_km2 < rules.min_area_km2:
                raise _Refused(
                    f"{label} covers {area_km2:,.3f} km², less than this product's minimum of "
                    f"{rules.min_area_km2:,.3f} km²."
                )
            if rules.max_area_km2 is not None and area_km2 > rules.max_area_km2:
                raise _Refused(
                    f"{label} covers {area_km2:,.1f} km², more than this product's maximum of "
                    f"{rules.max_area_km2:,.1f} km²."
                )
            coords = _orient(kind, coords)
        geometry_type = kind
        if geometry_type not in rules.geometry_types:  # only the Multi form is accepted
            geometry_type, coords = multi, [coords]
        return Aoi(fid, part_index, geometry_type, area_km2, vertex_count, warnings, self.layer_name, coords)

    def _valid_after_rounding(self, kind, coords, warnings, label):
        """Rounding to 1e-7° can make a thin outline touch itself: repair once more, or refuse."""
        rounded = _geometry_from(kind, coords)
        if rounded.isGeosValid():
            return kind, coords
        try:
            parts = _polygon_parts(_made_valid(rounded))
        except RepairTooSlow as slow:
            raise _Refused(f"{label} touches itself once rounded to 1e-7° (about 1 cm). {slow}") from None
        except RepairUnavailable:
            parts = []
        if parts:
            repaired = QgsGeometry.collectGeometry(parts) if len(parts) > 1 else parts[0]
            if not self.rules.holes_allowed:
                # the repair can cut a sliver out as a hole; fill it, and merge parts that then overlap
                repaired = QgsGeometry.unaryUnion([p.removeInteriorRings() for p in parts]).removeInteriorRings()
            kind, coords = read_wkb(repaired.asWkb().data())
            coords = _round_and_clean(kind, coords)
            if coords is not None and _geometry_from(kind, coords).isGeosValid():
                warnings.append("Slivers thinner than 1 cm removed (they touched once rounded to 1e-7°).")
                return kind, coords
        raise _Refused(f"{label} is too thin: its outline touches itself once rounded to 1e-7° (about 1 cm).")

    def _fit_vertex_limit(self, geometry, family, warnings, label):
        limit = self.rules.max_vertices
        before = geometry.constGet().nCoordinates()
        if before <= limit:
            return geometry
        box = geometry.boundingBox()
        size = max(box.width(), box.height()) or 1e-6
        tolerance = size * 1e-6
        best = None
        for _attempt in range(60):
            candidate = geometry.simplify(tolerance)
            if not candidate.isNull() and not candidate.isEmpty() and candidate.constGet().nCoordinates() <= limit:
                best = (tolerance, candidate)
                break
            tolerance *= 1.5
        if best is None:
            raise _Refused(f"{label} has {before} vertices and cannot be simplified to this product's "
                           f"limit of {limit}.")
        tolerance, simplified = best
        if family == "Polygon" and not simplified.isGeosValid():
            try:
                parts = _polygon_parts(_made_valid(simplified))
            except RepairTooSlow as slow:
                raise _Refused(f"{label} has {before} vertices and is invalid once simplified to {limit}. "
                               f"{slow}") from None
            except RepairUnavailable:
                parts = []
            if not parts:
                raise _Refused(f"{label} has {before} vertices and loses its area when simplified to {limit}.")
            simplified = QgsGeometry.collectGeometry(parts) if len(parts) > 1 else parts[0]
        after = simplified.constGet().nCoordinates()
        note = (f"Simplified from {before} to {after} vertices (provider limit {limit}; "
                f"tolerance ≈ {tolerance * 111_320:.3g} m")
        if family == "Polygon":
            old = _polygon_area_km2(*read_wkb(geometry.asWkb().data()))
            new = _polygon_area_km2(*read_wkb(simplified.asWkb().data()))
            if old > 0:
                note += f", area changed by {100 * (new - old) / old:+.2f}%"
        warnings.append(note + ").")
        return simplified


# ---------------------------------------------------------------------------------------------
# geometry helpers


def _made_valid(geometry: QgsGeometry) -> QgsGeometry:
    """The repaired geometry (null when nothing is left), never through QgsGeometry.makeValid/buffer(0):
    those crash QGIS 3.40 on some polygons (see geometry_repair)."""
    wkb = make_valid_wkb(geometry.asWkb().data(), wait_seconds=REPAIR_WAIT_SECONDS)
    repaired = QgsGeometry()
    if wkb is not None:
        repaired.fromWkb(wkb)
    return repaired


def _polygon_parts(geometry: QgsGeometry) -> List[QgsGeometry]:
    """The polygons inside any geometry (a repair can return collections with lines and points)."""
    if geometry is None or geometry.isNull() or geometry.isEmpty():
        return []
    if geometry.type() == QgsWkbTypes.GeometryType.PolygonGeometry and not geometry.isMultipart():
        return [geometry]
    out = []
    if geometry.isMultipart():
        for part in geometry.asGeometryCollection():
            out.extend(_polygon_parts(part))
    return [p for p in out if p.area() > 0]


def _invalidity_reason(geometry: QgsGeometry) -> str:
    """GEOS's word for what is wrong; QGIS's own validator when GEOS cannot even read the rings."""
    for engine in (Qgis.GeometryValidationEngine.Geos, Qgis.GeometryValidationEngine.QgisInternal):
        found = []
        for error in geometry.validateGeometry(engine):
            what = error.what().strip()
            if what and what not in found:
                found.append(what)
        if found:
            return "; ".join(found[:2]) + ("; …" if len(found) > 2 else "")
    return "invalid geometry"


def _hole_count(geometry: QgsGeometry) -> int:
    polygon = geometry.constGet()
    return polygon.numInteriorRings() if hasattr(polygon, "numInteriorRings") else 0


def _split_at_antimeridian(geometry: QgsGeometry) -> QgsGeometry:
    """Split a geometry whose longitudes run past 180° into its two sides, both within ±180°."""
    west = geometry.intersection(QgsGeometry.fromRect(QgsRectangle(-180, -90, 180, 90)))
    east = geometry.intersection(QgsGeometry.fromRect(QgsRectangle(180, -90, 540, 90)))
    parts = []
    dimension = QgsWkbTypes.geometryType(geometry.wkbType())
    for side, shift in ((west, 0.0), (east, -360.0)):
        for part in (side.asGeometryCollection() if side.isMultipart() else [side]):
            if part.isNull() or part.isEmpty() or part.type() != dimension:
                continue
            if shift:
                part.translate(shift, 0)
            parts.append(part)
    return QgsGeometry.collectGeometry(parts) if len(parts) > 1 else parts[0] if parts else QgsGeometry()


def _geometry_from(kind: str, coords) -> QgsGeometry:
    geometry = QgsGeometry()
    geometry.fromWkb(write_wkb(kind, coords))
    return geometry


def _wrap_longitudes(points):
    lon = points[:, 0]
    wrapped = np.where((lon > 180) | (lon < -180), (lon + 180) % 360 - 180, lon)
    return np.column_stack([wrapped, points[:, 1]])


def _leaves(coords):
    if isinstance(coords, np.ndarray):
        yield coords
    else:
        for item in coords:
            yield from _leaves(item)


def _map_coords(coords, function):
    if isinstance(coords, np.ndarray):
        return function(coords.reshape(-1, 2)).reshape(coords.shape)
    return [_map_coords(c, function) for c in coords]


def _all_finite(coords) -> bool:
    return all(np.isfinite(leaf).all() for leaf in _leaves(coords))


def _bounds(coords) -> Tuple[float, float, float, float]:
    stacked = np.vstack([leaf.reshape(-1, 2) for leaf in _leaves(coords)])
    return (float(stacked[:, 0].min()), float(stacked[:, 1].min()),
            float(stacked[:, 0].max()), float(stacked[:, 1].max()))


def _vertex_count(coords) -> int:
    return sum(len(leaf.reshape(-1, 2)) for leaf in _leaves(coords))


def _round_and_clean(kind: str, coords):
    """Round to the output precision and drop the consecutive duplicates rounding can make."""

    def ring(arr, minimum):
        arr = np.round(arr, COORDINATE_DECIMALS)
        if len(arr) > 1:
            keep = np.ones(len(arr), dtype=bool)
            keep[1:] = np.any(arr[1:] != arr[:-1], axis=1)
            arr = arr[keep]
        return arr if len(arr) >= minimum else None

    if kind == "LineString":
        return ring(coords, 2)
    if kind == "Polygon":
        rings = [ring(r, 4) for r in coords]
        if rings[0] is None:
            return None
        return [rings[0]] + [r for r in rings[1:] if r is not None]
    if kind in ("MultiLineString", "MultiPolygon"):
        parts = [_round_and_clean(kind[len("Multi"):], c) for c in coords]
        parts = [p for p in parts if p is not None]
        return parts or None
    return _map_coords(coords, lambda a: np.round(a, COORDINATE_DECIMALS))


def _orient(kind: str, coords):
    """RFC 7946: exterior rings counterclockwise, holes clockwise."""
    if kind == "MultiPolygon":
        return [_orient("Polygon", c) for c in coords]
    out = []
    for i, r in enumerate(coords):
        signed = ring_signed_area_m2(r)
        out.append(r[::-1] if (signed < 0) == (i == 0) else r)
    return out


def _coordinates_as_lists(coords):
    if isinstance(coords, np.ndarray):
        return coords.tolist()
    return [_coordinates_as_lists(c) for c in coords]


def _polygon_area_km2(kind: str, coords) -> float:
    if kind == "MultiPolygon":
        return sum(_polygon_area_km2("Polygon", c) for c in coords)
    if kind != "Polygon" or not coords:
        return 0.0
    shell = abs(ring_signed_area_m2(coords[0]))
    holes = sum(abs(ring_signed_area_m2(r)) for r in coords[1:])
    return max(shell - holes, 0.0) / 1e6
