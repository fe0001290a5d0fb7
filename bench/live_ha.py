"""The live HA tier's fault table: per fault, notifications expected, delivered, duplicated, lost.

    uv run python bench/live_ha.py [--faults dbace]

Starts the HA tier of the tests (tests/live/ha.py: the Pushgateway, two Prometheus
replicas and three Alertmanager peers on 127.0.0.1, from the rendered files and the service
plans' flags), runs each fault of tests/live/ha_faults.py one at a time (the same code the
tests assert), and prints, per fault and per alert group, what the webhook sinks counted,
with the delays measured: time to the fresh alert's notification, a peer's return to the
cluster, a restarted Prometheus' downtime and how much later it fired a pending alert.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.live import ha as ha_
from tests.live import ha_faults as hf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    order = "".join(hf.FAULTS)
    parser.add_argument(
        "--faults",
        default=order,
        help=f"which faults to run, in this order (default {order}: the tests' order)",
    )
    args = parser.parse_args()
    unknown = set(args.faults) - set(hf.FAULTS)
    if unknown:
        parser.error(f"no fault {', '.join(sorted(unknown))}; known: {order}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, ha_.running(Path(tmp)) as ha:
        ready = time.monotonic() - started
        outcomes = [hf.FAULTS[key](ha) for key in args.faults]
    print(hf.table(outcomes))
    print(f"\nstack ready in {ready:.0f} s; {time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
