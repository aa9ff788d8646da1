"""A short run of bench/load.py: 10 concurrent API clients for 10 s (longer if needed, until a fetch completes under the load) while the app ingests
live traffic (5,000 Postfix lines a minute, fetching every 10 s): every request answered 200,
no "database is locked", fetches succeed, the WAL stays bounded. The full run (50 clients,
60 s) is `python bench/load.py`."""
from __future__ import annotations

import importlib.util

from conftest import ROOT


def _load_module():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_under_concurrent_load_while_ingesting(tmp_path):
    load = _load_module()
    # The load goes on past 10 s until a scheduled fetch has completed under it.
    result = load.run_load(clients=10, duration=10, lines_per_minute=5000, fetch_interval=10, max_wal_mb=32,
                           workdir=tmp_path, verbose=False, min_fetches=1)
    print({k: v for k, v in result.items() if k != "error_examples"})
    assert result["errors"] == 0, result["error_examples"]
    assert result["database_locked"] == 0
    assert result["requests"] > 100
    assert result["fetch_failures"] == 0 and result["fetch_runs"] >= 1, result["fetch_last_error"]
    assert result["postfix_lines_ingested"] > 0            # ingest really ran during the load
    assert 0 < result["wal_max_bytes"] <= 32 * 1024 * 1024
    assert not result["traceback_in_app_output"]
    assert result["ok"]
