"""Message counts the correlator makes of the shared corpus and of the simulated world.

    python bench/message_counts.py

Prints, per source, the number of messages and their statuses, so that a change to how
lines are grouped into messages can say what it changed (issue 12). Reads
../shared/corpus when it is beside the project and skips what is missing.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus"
SIM_SEED = 7            # the seed of the tests' `simulator` fixture (tests/conftest.py)


def _counts() -> str:
    from mailcow_logs_viewer.models import Message
    statuses = Counter(m.final_status for m in Message.select(Message.final_status))
    return f"{sum(statuses.values()):5d} messages  " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))


def _through_simulator(name: str, fill, **env) -> None:
    from mailcow_logs_viewer import create_app
    from mailcow_logs_viewer.config import load_settings
    from mailcow_logs_viewer.db import database
    from mailcow_logs_viewer.runtime import Runtime

    sim = fill()
    sim.start()
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings({"MAILCOW_URL": sim.url, "MAILCOW_API_KEY": sim.api_key, "DATA_DIR": data,
                                  "FETCH_COUNT_POSTFIX": "5000", **env})
        runtime = Runtime(settings)
        create_app(settings, runtime)
        runtime.refresh_domains()
        runtime.fetch_and_correlate()
        print(f"{name:28s} {_counts()}")
        runtime.client.close()
        database.close()
    sim.stop()


def realmail() -> None:
    from mailcow_logs_viewer.simulator import SimulatedMailcow
    path = CORPUS / "realmail-sample" / "mailcow.json"
    if not path.exists():
        print("realmail-sample: not available")
        return
    sample = json.loads(path.read_text())

    def fill():
        sim = SimulatedMailcow()
        sim.push("postfix", list(reversed(sample["postfix"])))
        sim.push("rspamd", list(reversed(sample["rspamd"])))
        return sim
    _through_simulator("realmail-sample", fill, LOCAL_DOMAINS="example.org,example.net")


def lightmeter() -> None:
    from mailcow_logs_viewer.correlate import Correlator
    from mailcow_logs_viewer.db import database, open_database
    from mailcow_logs_viewer.importer import import_files
    base = CORPUS / "lightmeter-controlcenter"
    groups = [("lightmeter mail.log", [base / "complete_tar_extracted" / "logs_sample" / "mail.log"], 2021),
              ("lightmeter individual_files", sorted((base / "individual_files").glob("*.log")), 2020)]
    for name, files, year in groups:
        if not all(f.exists() for f in files) or not files:
            print(f"{name}: not available")
            continue
        total = Counter()
        for path in files:
            with tempfile.TemporaryDirectory() as data:
                open_database(Path(data) / "import.db")
                import_files([str(path)], year=year, server="mx")
                Correlator().run()
                from mailcow_logs_viewer.models import Message
                total += Counter(m.final_status for m in Message.select(Message.final_status))
                database.close()
        print(f"{name:28s} {sum(total.values()):5d} messages  "
              + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))


def simulated() -> None:
    from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

    generator = TrafficGenerator(seed=SIM_SEED, rate_per_hour=120)

    def fill():
        sim = SimulatedMailcow(generator)
        sim.preload(hours=6, now=time.time())
        return sim
    _through_simulator("simulator (6 h, tests' seed)", fill)
    truth = Counter(m.status for m in generator.truth.values())
    print(f"{'  its truth':28s} {sum(truth.values()):5d} messages  "
          + ", ".join(f"{k} {v}" for k, v in sorted(truth.items())))


if __name__ == "__main__":
    realmail()
    lightmeter()
    simulated()
