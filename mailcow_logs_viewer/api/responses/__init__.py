"""Response shapes of the JSON API (marshmallow), for /api/openapi.json and the tests, one module
per section; every schema is importable from here (`from .api import responses as r`)."""
from __future__ import annotations

from .alerts import *  # noqa: F403
from .base import *  # noqa: F403
from .dovecot import *  # noqa: F403
from .live import *  # noqa: F403
from .messages import *  # noqa: F403
from .settings import *  # noqa: F403
from .stats import *  # noqa: F403
