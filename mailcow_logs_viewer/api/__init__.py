"""The JSON API: one blueprint per section of spec/API.md, all under /api."""
from __future__ import annotations

from importlib import import_module

# Sections of the API, in the order of spec/API.md; each module exposes `bp`.
SECTIONS = ("health", "messages", "logs", "stats", "status", "settings", "export", "openapi")


def register_api(app) -> None:
    for name in SECTIONS:
        try:
            module = import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            continue   # a section not built yet
        app.register_blueprint(module.bp, url_prefix="/api")
