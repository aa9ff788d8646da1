"""GET /api/security/bans (banned now, with time left) and /api/security/places (country and AS of IPs)."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from ..auth import current_scope
from ..bans import active_bans
from ..errors import ApiError
from ..geo import GeoLookup
from .params import QuerySchema, Text, iso, parse_args

bp = Blueprint("security", __name__)

MAX_PLACES = 200


class BansSchema(QuerySchema):
    ip = Text()


class PlacesSchema(QuerySchema):
    ip = Text(load_default="", metadata={"description": f"Addresses, comma separated (at most {MAX_PLACES})"})


def geo() -> GeoLookup:
    return current_app.extensions.setdefault("geo", GeoLookup(current_app.config["SETTINGS"].geoip))


def _place(ip: str | None) -> dict:
    return geo().place(ip)._asdict()


@bp.get("/security/bans")
def bans():
    args = parse_args(BansSchema())
    now = int(time.time())
    found = active_bans(now, args.get("ip"), current_scope())
    data = [{"network": b.network, "ip": b.ip, "banned_at": iso(b.banned_at), "until": iso(b.until),
             "seconds_left": b.seconds_left, **_place(b.ip), "server": b.server} for b in found]
    return jsonify({"total": len(data), "data": data})


@bp.get("/security/places")
def places():
    wanted = [part.strip() for part in parse_args(PlacesSchema())["ip"].split(",") if part.strip()]
    if len(wanted) > MAX_PLACES:
        raise ApiError(400, f"Invalid parameter 'ip': at most {MAX_PLACES} addresses")
    return jsonify({"data": {ip: _place(ip) for ip in dict.fromkeys(wanted)}})
