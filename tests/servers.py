"""Real servers for tests, on 127.0.0.1 only: started, waited on, and stopped by PID.

Readiness is polled against a deadline, never slept on. Every process gets its
own session (process group) so stopping it also stops its workers, and its
output goes to a log file that failing tests quote.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


_HANDED_OUT: set[int] = set()
_RANDOM = random.Random()


def free_port() -> int:
    """A port that nothing listens on, for a server a test starts later.

    Chosen below the kernel's ephemeral range: a port from that range (what binding to
    port 0 returns) can be taken, before the server binds it, by the local end of any
    outgoing connection (the training job talking to MLflow, say). Never the same port
    twice in one test run."""
    low, _ = _ephemeral_range()
    start = max(1024, low - 12000)
    for _ in range(1000):
        port = _RANDOM.randrange(start, low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port between {start} and {low}")


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:] if self.log.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, server: Server | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and not server.alive():
            raise RuntimeError(f"{server.name} exited while waiting for {what}:\n{server.output()}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(
        f"{what} not reached in {timeout}s" + (f":\n{server.output()}" if server else "")
    )


def http_ok(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=2).status_code == 200


def start(
    name: str,
    argv: Sequence[str | Path],
    url: str,
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> Server:
    """Start ARGV in a session of its own, its output to LOG; WRAP (if given) rewrites the
    command line, say to start it inside a cgroup (tests/live/cgroups.py)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [str(a) for a in argv]
    out = log.open("ab")
    process = subprocess.Popen(
        wrap(command) if wrap else command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    return Server(name, process, url, log)


@contextmanager
def running(
    server: Server, ready: Callable[[], bool] | None, timeout: float = 120
) -> Iterator[Server]:
    try:
        if ready is not None:
            wait_until(ready, timeout, f"{server.name} ready", server)
        yield server
    finally:
        server.stop()


def mlflow_server(
    directory: Path, port: int | None = None, wrap: Callable[[list[str]], list[str]] | None = None
) -> Server:
    """MLflow as the platform runs it: sqlite registry, served artifacts, /metrics for Prometheus."""
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metrics").mkdir(exist_ok=True)
    return start(
        "mlflow",
        [
            VENV_BIN / "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{directory / 'mlflow.db'}",
            "--artifacts-destination", str(directory / "artifacts"),
            "--workers", "1",
            "--expose-prometheus", str(directory / "metrics"),
        ],
        f"http://127.0.0.1:{port}",
        directory / f"mlflow-{port}.log",
        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        cwd=directory,
        wrap=wrap,
    )  # fmt: skip


def serving(
    directory: Path,
    settings: Mapping[str, str],
    port: int | None = None,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> Server:
    """`bentoml serve service.app:Serving` with MLOPS_SERVING_* settings."""
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    env = {f"MLOPS_SERVING_{k.upper()}": v for k, v in settings.items()}
    env |= {
        "BENTOML_HOME": str(directory / "bentoml"),
        "PYTHONPATH": str(ROOT),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    return start(
        "serving",
        [VENV_BIN / "bentoml", "serve", "service.app:Serving", "--host", "127.0.0.1", "--port", str(port),
         "--working-dir", ROOT],
        f"http://127.0.0.1:{port}",
        directory / f"serving-{port}.log",
        env=env,
        wrap=wrap,
    )  # fmt: skip
