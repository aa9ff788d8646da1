"""The country (and, with GEOIP=asn, the AS name) of an IP address, from an offline database.

The data is the one the `geoip2fast` package ships (IPv4 and IPv6): no network, no licence
key, no file to keep up to date by hand. The tables are loaded on the first lookup and kept
for the process (country: ~0.4 s and ~55 MB; with AS names ~0.8 s and ~115 MB, hence the
setting). A MaxMind `.mmdb` file is not supported: reading one needs the `maxminddb` package.
"""
from __future__ import annotations

import ipaddress
import logging
import threading
from typing import NamedTuple

log = logging.getLogger(__name__)

DATA_FILES = {"country": "geoip2fast-ipv6.dat.gz", "asn": "geoip2fast-asn-ipv6.dat.gz"}


class Place(NamedTuple):
    country_code: str | None     # ISO 3166 alpha-2; None when unknown or private
    country: str | None
    as_name: str | None


UNKNOWN = Place(None, None, None)


class GeoLookup:
    def __init__(self, mode: str):
        self.mode = mode
        self._reader = None
        self._failed = mode == "off"
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._reader is None and not self._failed:
                try:
                    from geoip2fast import GeoIP2Fast
                    self._reader = GeoIP2Fast(geoip2fast_data_file=DATA_FILES[self.mode], verbose=False)
                except Exception as error:   # a missing package or data file leaves places unknown
                    log.warning("geoip: offline database unavailable (%s); countries will not be shown", error)
                    self._failed = True
        return self._reader

    def place(self, ip: str | None) -> Place:
        if not ip or self._failed:
            return UNKNOWN
        try:
            if ipaddress.ip_address(ip).is_private:
                return UNKNOWN
        except ValueError:
            return UNKNOWN
        reader = self._reader or self._load()
        if reader is None:
            return UNKNOWN
        found = reader.lookup(ip)
        code = found.country_code if found.country_code and found.country_code != "--" else None
        return Place(code, found.country_name if code else None, (found.asn_name or None) if self.mode == "asn" else None)
