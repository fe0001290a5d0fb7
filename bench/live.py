"""The live dev stack under steady load: time to notify per fault, series per target, memory.

    uv run python bench/live.py [--rate 8]

Starts the live stack of the tests (MLflow, training, five serving replicas,
Pushgateway, Alertmanager, Prometheus, all on 127.0.0.1), lets it run under
steady traffic, then prints the series each scrape target exposes, the
resident memory of each component (its whole process tree), and, after
injecting every fault at once, the time from onset to notification against
what each rule allows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import catalog
from tests import servers
from tests.live import faults as fl
from tests.live import harness as h


def rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue
    tree, grown = {pid}, True
    while grown:
        children = {c for c, p in parents.items() if p in tree} - tree
        tree |= children
        grown = bool(children)
    total = 0
    for process in tree:
        try:
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=8.0, help="requests/s per served model")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds of steady load first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, h.running(Path(tmp), args.rate) as live:
        servers.wait_until(
            lambda: bool(live.query(f'{catalog.FEATURE_DRIFT_PSI.name}{{model="{h.DRIFT}"}}')),
            120,
            "drift reported",
        )
        time.sleep(args.settle)
        print(f"{'target':<44}{'series':>8}")
        for sample in sorted(
            live.query("scrape_samples_scraped"),
            key=lambda s: (s["metric"]["job"], s["metric"]["instance"]),
        ):
            name = f"{sample['metric']['job']} {sample['metric'].get('model', '')} {sample['metric']['instance']}"
            print(f"{name:<44}{float(sample['value'][1]):>8.0f}")
        total = live.query("sum(scrape_samples_scraped)")
        print(f"{'all targets':<44}{float(total[0]['value'][1]):>8.0f}")
        print(f"\n{'component':<32}{'RSS MiB':>9}")
        for name, process in sorted(live.procs.items()):
            print(f"{name:<32}{rss_mib(process.process.pid):>9.0f}")
        faults = fl.run(live, fl.catalog_faults())
        print("\n" + fl.table(live, faults))
    return 0


if __name__ == "__main__":
    sys.exit(main())
