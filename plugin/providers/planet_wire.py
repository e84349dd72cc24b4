"""What the Planet provider may put on the wire, each entry with the line of planet.md that documents it.

``/work/shared/api/planet.md`` gives a source for every line; a field or query parameter not listed here is
never sent (``tests/unit/test_provider_planet_wire.py`` walks every code path of ``PlanetProvider`` with a
recording session and checks each request against these tables). Entries marked UNVERIFIED are the
page's conservative readings, kept because the page tells a client to use them.
"""
from __future__ import annotations

# (method, path pattern) -> source. ``{id}`` stands for one order id. Collections end with "/", items do not.
PATHS = {
    ("GET", "orders/"): "Paths confirmed by examples: GET /orders/?… [nb/order_creation]",
    ("POST", "orders/"): "Paths confirmed by examples: POST /orders/ [nb/order_creation]",
    ("GET", "orders/{id}"): "Paths confirmed by examples: GET /orders/<id> [nb/order_edit_and_cancel]",
    ("PUT", "orders/{id}"): "Paths confirmed by examples: PUT /orders/<id> [nb/order_edit_and_cancel]",
    ("DELETE", "orders/{id}"): "Paths confirmed by examples: DELETE /orders/<id> [nb/order_edit_and_cancel]",
    ("GET", "captures/"): "GET /captures/?order_id=… [nb/order_creation]",
    ("POST", "imaging-windows/search/"): "POST /imaging-windows/search/ [docs.planet.com tasking/assured_tasking]",
    # The search's result address comes from the Location header and is read as given.
    ("GET", "{location}"): "Poll the Location URL until status is DONE or FAILED [stapi-planet client.py — "
                           "community code; the page's conservative reading]",
    ("POST", "pricing/"): "Retrieve Pricing Preview (POST) [docs.planet.com tasking reference; path UNVERIFIED — "
                          "conservative reading: treat pricing as optional; on 404/405 show 'price unavailable']",
}

# Fields of the body of POST /orders/ (and of a pricing preview, which prices a would-be order).
ORDER_FIELDS = {
    "name": "Minimum body is name and geometry [docs.planet.com tasking/flexible_tasking; nb/order_creation]",
    "geometry": "Minimum body is name and geometry [docs.planet.com tasking/flexible_tasking; nb/order_creation]",
    "pl_number": "pl_number (contract, begins with PL-) … if omitted the API key's default contract is used "
                 "[docs.planet.com tasking/flexible_tasking]",
    "product": "product (a product name such as \"Assured Tasking\") … if omitted the API key's default product "
               "is used [docs.planet.com tasking/flexible_tasking; docs.planet.com tasking/assured_tasking]",
    "start_time": "start_time, end_time — optional, UTC ISO 8601 [nb/order_creation]",
    "end_time": "start_time, end_time — optional, UTC ISO 8601 [nb/order_creation]",
    "sat_elevation_angle_min": "sat_elevation_angle_min, sat_elevation_angle_max — degrees "
                               "[developers.planet.com tasking/examples/orders]",
    "sat_elevation_angle_max": "sat_elevation_angle_min, sat_elevation_angle_max — degrees "
                               "[developers.planet.com tasking/examples/orders]",
    "scheduling_type": "scheduling_type: \"MONITORING\" with rrule [nb/monitoring_orders]",
    "rrule": "Monitoring: scheduling_type MONITORING, start_time, rrule such as FREQ=WEEKLY;COUNT=4;INTERVAL=1;"
             "BYDAY=MO [nb/monitoring_orders]",
    "early_start": "early_start flag (Monitoring, with BYDAY) [developers.planet.com tasking/examples/monitoring]",
    "imaging_window": "The community adapter sends it as \"imaging_window\": \"<window id>\" [stapi-planet "
                      "conversions.py — UNVERIFIED in Planet docs; the page's one tolerated guess for Assured]",
}

# The only scheduling_type value Planet shows (Assured and Archive are chosen by ``product``).
SCHEDULING_TYPE_VALUES = {
    "MONITORING": "Scheduling types LOCK_IN, EXPRESS, ASSURED, ARCHIVE: Planet shows only MONITORING "
                  "[nb/monitoring_orders]",
}

# Fields of the body of PUT /orders/<id>.
EDIT_FIELDS = {
    "name": "Editable: name, rank, start_time, end_time [nb/order_edit_and_cancel]",
    "rank": "Editable: name, rank, start_time, end_time [nb/order_edit_and_cancel]",
    "start_time": "Editable: name, rank, start_time, end_time; start_time only in PENDING/REQUESTED "
                  "[nb/order_edit_and_cancel]",
    "end_time": "Editable: name, rank, start_time, end_time [nb/order_edit_and_cancel]",
}

# Fields of the body of POST /imaging-windows/search/.
IMAGING_WINDOW_SEARCH_FIELDS = {
    "geometry": "required geometry, pl_number, product [docs.planet.com tasking/assured_tasking]",
    "pl_number": "required geometry, pl_number, product [docs.planet.com tasking/assured_tasking]",
    "product": "required geometry, pl_number, product [docs.planet.com tasking/assured_tasking]",
    "start_time": "optional start_time/end_time (not more than 7 days ahead) "
                  "[docs.planet.com tasking/assured_tasking]",
    "end_time": "optional start_time/end_time (not more than 7 days ahead) [docs.planet.com tasking/assured_tasking]",
    "sat_elevation_angle_min": "optional sat_elevation_angle_min/_max [docs.planet.com tasking/assured_tasking]",
    "sat_elevation_angle_max": "optional sat_elevation_angle_min/_max [docs.planet.com tasking/assured_tasking]",
}

# Query parameters per listing path.
ORDER_QUERY = {
    "limit": "Paging is limit + offset [developers.planet.com tasking/examples/filters]",
    "offset": "Paging is limit + offset [developers.planet.com tasking/examples/filters]",
    "ordering": "ordering takes several comma-separated fields; - means descending; example "
                "ordering=-updated_time,-created_time [developers.planet.com tasking/examples/filters]",
    "name__icontains": "example: ?status=FULFILLED&name__icontains=Order&limit=50&offset=0 "
                       "[developers.planet.com tasking/examples/filters]",
}
ORDERING_VALUES = {
    "-updated_time": "ordering=-updated_time,-created_time [developers.planet.com tasking/examples/filters]",
    "-created_time": "ordering=-updated_time,-created_time [developers.planet.com tasking/examples/filters]",
}
CAPTURE_QUERY = {
    "order_id": "GET /captures/?order_id=<order id>&fulfilling=true; every Planet example passes exactly one "
                "order_id [nb/order_creation; planetlabs/notebooks issue #356]",
    "limit": "Page with limit/offset, follow next verbatim [developers.planet.com tasking/examples/filters]",
}

QUERY = {"orders/": ORDER_QUERY, "captures/": CAPTURE_QUERY}
BODY = {
    ("POST", "orders/"): ORDER_FIELDS,
    ("POST", "pricing/"): ORDER_FIELDS,
    ("PUT", "orders/{id}"): EDIT_FIELDS,
    ("POST", "imaging-windows/search/"): IMAGING_WINDOW_SEARCH_FIELDS,
}

# Published rate limits (List Tasking Orders; applied to every tasking call, the page's conservative reading).
REQUESTS_PER_MINUTE = 300  # "300 requests/minute (scope sustained)" [docs.planet.com tasking reference]
REQUESTS_PER_SECOND = 40  # "40 requests/second (scope burst)" [docs.planet.com tasking reference]

# Order statuses Planet documents, and the ones a client may treat as final.
DOCUMENTED_STATUSES = ("RECEIVED", "REJECTED", "PENDING", "IN_PROGRESS", "FULFILLED", "CANCELLED", "EXPIRED",
                       "REQUESTED")  # [docs.planet.com tasking/flexible_tasking; nb/order_edit_and_cancel]
TERMINAL_STATUSES = ("FULFILLED", "CANCELLED", "EXPIRED", "REJECTED")  # the page's conservative reading

# Monitoring rrule limits [developers.planet.com tasking/examples/monitoring; nb/monitoring_orders].
RRULE_MAX_COUNT = 365
RRULE_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY")  # YEARLY rejected; cadence under a day rejected
