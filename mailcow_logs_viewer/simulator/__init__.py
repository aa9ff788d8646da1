"""A simulated mailcow: deterministic mail traffic served over mailcow's HTTP API.

`TrafficGenerator` produces the log entries (and the truth of what happened); `SimulatedMailcow`
serves them like mailcow's `/api/v1/get/...` endpoints, with fault switches for robustness tests.
"""
from .generator import TrafficGenerator, TruthMessage

__all__ = ["TrafficGenerator", "TruthMessage", "SimulatedMailcow", "start_demo_mailcows", "main"]


def __getattr__(name):
    # The server is imported lazily so that generator-only users do not pull in http.server.
    if name in ("SimulatedMailcow", "start_demo_mailcows", "main"):
        from . import server
        return getattr(server, name)
    raise AttributeError(name)
