"""UP42 sandbox catalogue: collections, data products and their order-form schemas, in UP42's own style.

Schema style (as served by GET /orders/schema/{dataProductId}), the shapes of UP42's own schemas in the SDK's test
data (up42/up42-py tests/mock_data/data_product_spot_schema.json, data_product_schema_tasking.json): draft-07;
choice lists are a property ``{"title", "type", "allOf": [{"$ref": "#/definitions/<name>"}]}`` whose definition is
``{"anyOf": [{"const", "title"}...]}`` — or, in the older shape, ``{"enum": [{"id", "label"}...]}`` (the SAR
imaging mode); the ``if``/``then``/``else`` blocks are grouped one level deep in the top-level ``allOf``
(``"allOf": [{"allOf": [block, block]}]``), their ``if`` has no ``required`` (so it also holds while the property
is absent), and their ``then``/``else`` carry ``definitions`` that REPLACE the same-named top-level definitions
(and may add ``required`` names). A definition ``{"const": null}`` means "no value in this branch: the field is
left out" (``projection`` for primary, ``minBH`` for mono).
"""

from __future__ import annotations

import copy
import re
from typing import Dict, List

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

POLYGON_DEF = {
    "title": "Polygon",
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"type": "string", "enum": ["Polygon"]},
        "coordinates": {
            "type": "array",
            "items": {
                "type": "array",
                "minItems": 4,
                "items": {"type": "array", "minItems": 2, "items": {"type": "number"}},
            },
        },
    },
}
POINT_DEF = {
    "title": "Point",
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "coordinates": {"type": "array", "minItems": 2, "items": {"type": "number"}},
    },
}


def _choices(title: str, options, default, description: str = "") -> dict:
    out = {"title": title, "anyOf": [{"const": c, "title": t} for c, t in options], "default": default}
    if description:
        out["description"] = description
    return out


def _ref(name: str, title: str = "", description: str = "", kind: str = "") -> dict:
    prop: dict = {"allOf": [{"$ref": f"#/definitions/{name}"}]}
    if title:
        prop["title"] = title
    if kind:
        prop["type"] = kind
    if description:
        prop["description"] = description
    return prop


def _common_properties(geometry_def: str) -> dict:
    return {
        "displayName": {"title": "Order name", "type": "string", "minLength": 1, "maxLength": 200},
        "acquisitionStart": {
            "title": "Start of the acquisition window",
            "type": "string",
            "format": "date-time",
        },
        "acquisitionEnd": {"title": "End of the acquisition window", "type": "string", "format": "date-time"},
        "geometry": {"title": "Area of interest", "allOf": [{"$ref": f"#/definitions/{geometry_def}"}]},
        "extraDescription": {"title": "Additional requests", "type": "string", "maxLength": 1000},
    }


def _optical_schema(title: str, processing_default: str) -> dict:
    definitions = {
        "Polygon": POLYGON_DEF,
        "acquisitionMode": _choices("Acquisition mode", [("mono", "Mono"), ("stereo", "Stereo")], "mono"),
        "geometricProcessing": _choices(
            "Geometric processing", [("ortho", "Ortho"), ("primary", "Primary")], processing_default
        ),
        "projection": _choices(
            "Projection",
            [("UTM", "UTM WGS84"), ("WGS84", "Geographic WGS84")],
            "UTM",
            "Output map projection of ortho products.",
        ),
        "spectralBands": _choices(
            "Spectral bands",
            [("4BANDS", "4 bands (RGB + NIR)"), ("6BANDS", "6 bands (RGB + NIR + Red edge + Deep blue)")],
            "4BANDS",
        ),
        "pixelCoding": _choices("Pixel coding", [("12bits", "12 bits"), ("8bits", "8 bits")], "12bits"),
        "radiometricProcessing": _choices(
            "Radiometric processing",
            [("REFLECTANCE", "Reflectance"), ("DISPLAY", "Display"), ("BASIC", "Basic")],
            "REFLECTANCE",
        ),
        "priority": _choices("Priority", [("STANDARD", "Standard"), ("PRIORITY", "Priority")], "STANDARD"),
        "minBH": {"const": None, "title": "Minimum B/H ratio", "description": "Only for stereo acquisitions."},
    }
    properties = _common_properties("Polygon")
    properties.update(
        {
            "acquisitionMode": _ref("acquisitionMode", "Acquisition mode", kind="string"),
            "maxCloudCover": {
                "title": "Maximum cloud cover (%)",
                "description": "Maximum allowed cloud coverage in " "percentage.",
                "type": "integer",
                "minimum": 5,
                "maximum": 20,
                "default": 10,
            },
            "maxIncidenceAngle": {
                "title": "Maximum incidence angle (°)",
                "type": "integer",
                "minimum": 5,
                "maximum": 50,
                "default": 30,
            },
            "geometricProcessing": _ref("geometricProcessing", "Geometric processing"),
            "projection": _ref("projection", "Projection"),
            "spectralBands": _ref("spectralBands", "Spectral bands"),
            "pixelCoding": _ref("pixelCoding", "Pixel coding"),
            "radiometricProcessing": _ref("radiometricProcessing", "Radiometric processing"),
            "priority": _ref("priority", "Priority"),
            "minBH": _ref("minBH", "Minimum B/H ratio", kind="number"),
        }
    )
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": title,
        "type": "object",
        "properties": properties,
        "required": [
            "displayName",
            "acquisitionStart",
            "acquisitionEnd",
            "geometry",
            "acquisitionMode",
            "maxCloudCover",
            "maxIncidenceAngle",
            "geometricProcessing",
            "spectralBands",
            "pixelCoding",
            "radiometricProcessing",
            "priority",
        ],
        "additionalProperties": False,
        "definitions": definitions,
        "allOf": [
            {
                "allOf": [
                    {
                        "if": {"properties": {"acquisitionMode": {"const": "stereo"}}},
                        "then": {
                            "definitions": {
                                "minBH": {
                                    "title": "Minimum B/H ratio",
                                    "description": "Minimum base-to-height ratio of the stereo pair.",
                                    "type": "number",
                                    "minimum": 0.2,
                                    "maximum": 0.8,
                                    "default": 0.25,
                                }
                            },
                            "required": ["minBH"],
                        },
                        "else": {"definitions": {"minBH": definitions["minBH"]}},
                    },
                    {
                        "if": {"properties": {"geometricProcessing": {"const": "primary"}}},
                        "then": {
                            "definitions": {
                                "projection": {
                                    "const": None,
                                    "title": "Projection",
                                    "description": "Primary products stay in sensor geometry: no projection.",
                                }
                            }
                        },
                        "else": {
                            "definitions": {"projection": definitions["projection"]},
                            "required": ["projection"],
                        },
                    },
                ]
            }
        ],
    }


def _point_schema() -> dict:
    properties = _common_properties("Point")
    properties.update(
        {
            "maxCloudCover": {
                "title": "Maximum cloud cover (%)",
                "type": "integer",
                "minimum": 10,
                "maximum": 100,
                "default": 30,
            },
            "priority": _ref("priority", "Priority"),
        }
    )
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "BlackSky Tasking — Standard point",
        "type": "object",
        "properties": properties,
        "required": [
            "displayName",
            "acquisitionStart",
            "acquisitionEnd",
            "geometry",
            "maxCloudCover",
            "priority",
        ],
        "additionalProperties": False,
        "definitions": {
            "Point": POINT_DEF,
            "priority": _choices("Priority", [("STANDARD", "Standard"), ("RUSH", "Rush")], "STANDARD"),
        },
    }


def _sar_schema() -> dict:
    properties = _common_properties("Polygon")
    properties.update(
        {
            "acquisitionMode": _ref("sarMode", "Imaging mode", kind="string"),
            "polarization": _ref("polarization", "Polarization"),
            "maxIncidenceAngle": {
                "title": "Maximum incidence angle (°)",
                "type": "number",
                "minimum": 25.0,
                "maximum": 45.0,
                "default": 35.0,
            },
            "looks": _ref("looks", "Looks"),
            "orbitDirection": _ref("orbitDirection", "Orbit direction"),
        }
    )
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Capella Space Tasking — SAR",
        "type": "object",
        "properties": properties,
        "required": [
            "displayName",
            "acquisitionStart",
            "acquisitionEnd",
            "geometry",
            "acquisitionMode",
            "polarization",
            "maxIncidenceAngle",
        ],
        "additionalProperties": False,
        "definitions": {
            "Polygon": POLYGON_DEF,
            # The older choice shape: an enum of {id, label} objects (the value sent is the id).
            "sarMode": {
                "title": "sarMode",
                "description": "An enumeration.",
                "enum": [
                    {"id": "spotlight", "label": "Spotlight (0.5 m)"},
                    {"id": "stripmap", "label": "Stripmap (1.2 m)"},
                    {"id": "sliding_spotlight", "label": "Sliding spotlight (0.8 m)"},
                ],
                "default": "stripmap",
            },
            "polarization": _choices("Polarization", [("HH", "HH"), ("VV", "VV")], "HH"),
            "looks": _choices("Looks", [("single", "Single look"), ("multi", "Multi look")], "single"),
            "orbitDirection": _choices(
                "Orbit direction",
                [("ANY", "Any"), ("ASCENDING", "Ascending"), ("DESCENDING", "Descending")],
                "ANY",
            ),
        },
    }


# Product facts that drive the simulation (not part of the wire): geometry type, credits, scene footprint.
PRODUCTS: Dict[str, dict] = {
    "a8b1d6f0-5c3e-4b7a-9f21-0e6c2d4b7a11": {
        "collection": "pneo-tasking",
        "name": "pneo-tasking-analytic",
        "title": "Analytic",
        "description": "Pléiades Neo multispectral + panchromatic, mono or stereo.",
        "eulaId": "eula-airbus-tasking",
        "schema": _optical_schema("Pléiades Neo Tasking — Analytic", "ortho"),
        "geometry": "Polygon",
        "credits_per_sqkm": 2400,
        "min_sqkm": 100.0,
        "unit": "SQ_KM",
    },
    "b9c2e7a1-6d4f-4c8b-8a32-1f7d3e5c8b22": {
        "collection": "pneo-tasking",
        "name": "pneo-tasking-display",
        "title": "Display",
        "description": "Pléiades Neo display product (8-bit RGB).",
        "eulaId": "eula-airbus-tasking",
        "schema": _optical_schema("Pléiades Neo Tasking — Display", "primary"),
        "geometry": "Polygon",
        "credits_per_sqkm": 2000,
        "min_sqkm": 100.0,
        "unit": "SQ_KM",
    },
    "c0d3f8b2-7e5a-4d9c-9b43-2a8e4f6d9c33": {
        "collection": "blacksky-tasking",
        "name": "blacksky-tasking-standard",
        "title": "Standard point",
        "description": "One BlackSky scene centred on a point.",
        "eulaId": "eula-blacksky",
        "schema": _point_schema(),
        "geometry": "Point",
        "credits_per_scene": 12000,
        "scene_km": 6.0,
        "unit": "SCENE",
    },
    "d1e4a9c3-8f6b-4ea1-8c54-3b9f5a7e0d44": {
        "collection": "capella-tasking",
        "name": "capella-tasking-sar",
        "title": "SAR",
        "description": "Capella Space X-band SAR (GEO, SICD).",
        "eulaId": "eula-capella",
        "schema": _sar_schema(),
        "geometry": "Polygon",
        "credits_per_sqkm": 900,
        "min_sqkm": 25.0,
        "unit": "SQ_KM",
    },
}

COLLECTIONS: List[dict] = [
    {
        "name": "pneo-tasking",
        "title": "Pléiades Neo Tasking",
        "description": "Very high resolution optical tasking (30 cm), mono or stereo.",
        "type": "TASKING",
        "integrations": [
            "ACCESS_APPROVAL_REQUIRED",
            "FEASIBILITY_STUDY_REQUIRED",
            "QUOTATION_REQUIRED",
            "PRICE_ESTIMATION_AVAILABLE",
        ],
        "providers": [
            {
                "name": "airbus",
                "title": "Airbus",
                "description": "Airbus Defence and Space",
                "roles": ["PRODUCER"],
            },
            {"name": "oneatlas", "title": "OneAtlas", "description": "Airbus OneAtlas", "roles": ["HOST"]},
        ],
        "metadata": {
            "productType": "OPTICAL",
            "resolutionClass": "VERY_HIGH",
            "resolutionValue": {"minimum": 0.3, "maximum": 1.2},
        },
    },
    {
        "name": "blacksky-tasking",
        "title": "BlackSky Tasking",
        "description": "Rapid revisit optical tasking of a point of interest.",
        "type": "TASKING",
        "integrations": ["PRICE_ESTIMATION_AVAILABLE"],
        "providers": [
            {
                "name": "blacksky",
                "title": "BlackSky",
                "description": "BlackSky Technology",
                "roles": ["PRODUCER", "HOST"],
            }
        ],
        "metadata": {
            "productType": "OPTICAL",
            "resolutionClass": "VERY_HIGH",
            "resolutionValue": {"minimum": 0.8, "maximum": 1.0},
        },
    },
    {
        "name": "capella-tasking",
        "title": "Capella Space Tasking",
        "description": "X-band SAR tasking, day and night, through clouds.",
        "type": "TASKING",
        "integrations": ["QUOTATION_REQUIRED", "PRICE_ESTIMATION_AVAILABLE"],
        "providers": [
            {
                "name": "capellaspace",
                "title": "Capella Space",
                "description": "Capella Space",
                "roles": ["PRODUCER", "HOST"],
            }
        ],
        "metadata": {
            "productType": "SAR",
            "resolutionClass": "VERY_HIGH",
            "resolutionValue": {"minimum": 0.5, "maximum": 1.2},
        },
    },
    {
        "name": "phr",
        "title": "Pléiades",
        "description": "Pléiades archive imagery (not orderable in the sandbox).",
        "type": "ARCHIVE",
        "integrations": ["SEARCH_AVAILABLE", "THUMBNAIL_AVAILABLE", "QUICKLOOK_AVAILABLE"],
        "providers": [
            {"name": "oneatlas", "title": "OneAtlas", "description": "Airbus OneAtlas", "roles": ["HOST"]}
        ],
        "metadata": {
            "productType": "OPTICAL",
            "resolutionClass": "VERY_HIGH",
            "resolutionValue": {"minimum": 0.5, "maximum": None},
        },
        "dataProducts": [],
    },
]


def collections() -> List[dict]:
    out = []
    for collection in COLLECTIONS:
        item = copy.deepcopy(collection)
        if "dataProducts" not in item:
            item["dataProducts"] = [
                {
                    "id": pid,
                    "name": p["name"],
                    "title": p["title"],
                    "description": p["description"],
                    "eulaId": p["eulaId"],
                }
                for pid, p in PRODUCTS.items()
                if p["collection"] == collection["name"]
            ]
        out.append(item)
    return out


def integrations(product_id: str) -> List[str]:
    name = PRODUCTS[product_id]["collection"]
    return next(c["integrations"] for c in COLLECTIONS if c["name"] == name)


def collection_of(product_id: str) -> dict:
    name = PRODUCTS[product_id]["collection"]
    return next(c for c in COLLECTIONS if c["name"] == name)


# ---- validation of params against the UP42-style schema ----
def _matches_if(condition: dict, instance: dict) -> bool:
    """JSON Schema's reading: a property the ``if`` names but the instance lacks does not make it fail."""
    for name in condition.get("required", []):
        if name not in instance:
            return False
    for name, rule in condition.get("properties", {}).items():
        if name not in instance:
            continue
        if "const" in rule and instance[name] != rule["const"]:
            return False
        if "enum" in rule and instance[name] not in rule["enum"]:
            return False
    return True


def conditional_blocks(schema: dict) -> list:
    """The if/then/else blocks of the top-level allOf, also those grouped one level deeper."""
    blocks = []
    for part in schema.get("allOf", []):
        if "if" in part:
            blocks.append(part)
        elif set(part) == {"allOf"}:
            blocks.extend(inner for inner in part["allOf"] if "if" in inner)
    return blocks


def resolve(schema: dict, instance: dict):
    """Definitions and required names in force for ``instance`` after the if/then/else blocks."""
    definitions = dict(schema.get("definitions", {}))
    required = list(schema.get("required", []))
    for block in conditional_blocks(schema):
        branch = block.get("then") if _matches_if(block["if"], instance) else block.get("else")
        if branch:
            definitions.update(branch.get("definitions", {}))
            required.extend(n for n in branch.get("required", []) if n not in required)
    return definitions, required


def choice_ids(rule: dict):
    """The values a choice list allows (``anyOf`` of ``const``, or ``enum``, ids of ``{id, label}``), or None."""
    if "anyOf" in rule:
        return [c["const"] for c in rule["anyOf"] if "const" in c]
    if isinstance(rule.get("enum"), list):
        return [v["id"] if isinstance(v, dict) and "id" in v else v for v in rule["enum"]]
    return None


def _check(name: str, rule: dict, value, definitions: dict, errors: List[str]) -> None:
    for part in rule.get("allOf", []):
        if "$ref" in part:
            _check(name, definitions[part["$ref"].rsplit("/", 1)[-1]], value, definitions, errors)
        else:
            _check(name, part, value, definitions, errors)
    if rule.get("not") == {} or ("const" in rule and rule["const"] is None):
        errors.append(f"{name}: not applicable with the chosen options; leave it out")
        return
    allowed = choice_ids(rule)
    if allowed is not None:
        if value not in allowed:
            errors.append(f"{name}: {value!r} is not one of {allowed}")
        return
    kind = rule.get("type")
    if kind == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
        errors.append(f"{name}: {value!r} is not an integer")
        return
    if kind == "number" and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
        errors.append(f"{name}: {value!r} is not a number")
        return
    if kind == "string" and not isinstance(value, str):
        errors.append(f"{name}: {value!r} is not a string")
        return
    if "minimum" in rule and value < rule["minimum"]:
        errors.append(f"{name}: {value!r} is less than the minimum of {rule['minimum']}")
    if "maximum" in rule and value > rule["maximum"]:
        errors.append(f"{name}: {value!r} is greater than the maximum of {rule['maximum']}")
    if "minLength" in rule and len(value) < rule["minLength"]:
        errors.append(f"{name}: {value!r} is shorter than {rule['minLength']} characters")
    if "maxLength" in rule and len(value) > rule["maxLength"]:
        errors.append(f"{name}: is longer than {rule['maxLength']} characters")
    if rule.get("format") == "date-time" and not _DATE_TIME.match(value):
        errors.append(f"{name}: {value!r} is not an RFC 3339 date-time")


def validate_params(product_id: str, instance: dict, skip=("geometry",)) -> List[str]:
    """Errors of ``instance`` (params + displayName) against the product schema (not geometry)."""
    schema = PRODUCTS[product_id]["schema"]
    definitions, required = resolve(schema, instance)
    errors: List[str] = []
    for name in required:
        if name not in instance and name not in skip:
            errors.append(f"{name}: is a required property")
    properties = schema["properties"]
    for name, value in instance.items():
        if name not in properties:
            errors.append(f"{name}: additional properties are not allowed")
            continue
        if name in skip:
            continue
        _check(name, properties[name], value, definitions, errors)
    return errors


# ---- hostile text: world.settings["hostile_text"] = True ----
# Tests prove that provider text stays inert in the plugin (never rendered as HTML): with the
# setting on, every title and description the sandbox serves carries markup a rich-text widget
# would act on. The stored data is untouched; only what goes out on the wire changes.
HOSTILE_MARKUP = ('<img src=x onerror=alert(1)>', '<a href="http://evil">click</a>', "<b>bold</b>")


def hostile(text) -> str:
    """``text`` wrapped in markup; the markup leads, so Qt's rich-text guess says "rich"."""
    return f"{HOSTILE_MARKUP[0]}{text} {HOSTILE_MARKUP[1]} {HOSTILE_MARKUP[2]}"


def with_hostile_text(value, keys=("title", "description")):
    """A copy of ``value`` whose string ``title``/``description`` entries (at any depth) are hostile."""
    if isinstance(value, dict):
        return {k: hostile(v) if k in keys and isinstance(v, str) else with_hostile_text(v, keys)
                for k, v in value.items()}
    if isinstance(value, list):
        return [with_hostile_text(item, keys) for item in value]
    return value
