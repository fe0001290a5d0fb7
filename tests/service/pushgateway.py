"""A real Pushgateway for tests: Debian's binary on 127.0.0.1, ready-polled and stopped by PID.

Batch jobs are tested against the Pushgateway they push to in production, so
what a test reads back is what Prometheus would scrape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests import servers

BINARY = Path(os.environ.get("PUSHGATEWAY", "/usr/bin/prometheus-pushgateway"))


@contextmanager
def running_pushgateway(tmp_dir: Path) -> Iterator[str]:
    """Yield the base URL (`http://127.0.0.1:<port>`) of a fresh, empty Pushgateway.

    Its log goes to `tmp_dir`; it is stopped when the block exits, even on error.
    """
    if not BINARY.is_file():
        raise FileNotFoundError(
            f"{BINARY} is missing: apt-get install prometheus-pushgateway (or set PUSHGATEWAY)"
        )
    port = servers.free_port()
    server = servers.start(
        "pushgateway",
        # Debian's build persists to /var/lib/prometheus/pushgateway.data by default: every
        # test Pushgateway on the machine would start with the groups others left there.
        [BINARY, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
        f"http://127.0.0.1:{port}",
        tmp_dir / f"pushgateway-{port}.log",
        cwd=tmp_dir,
    )
    with servers.running(server, servers.http_ok(f"{server.url}/-/ready"), timeout=30):
        yield server.url
