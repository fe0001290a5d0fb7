"""Where the tests find promtool, amtool, Prometheus, Alertmanager and the OpenTelemetry
Collector (the pinned images' versions), and Jaeger (the trace store that stands in for Tempo).

`tools/build.sh` and `tools/telemetry/build.sh` build them from the Go module
proxy into a cache folder keyed by version; PROMTOOL, AMTOOL, OTELCOL, JAEGER (...)
in the environment override the paths. A missing tool fails the tests that need
it: it is never a silent skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import IO

from stacks.base import PROFILE

IMAGES = PROFILE["images"]
TOOLS = Path(__file__).resolve().parent.parent / "tools"
TELEMETRY_MODULE = TOOLS / "telemetry" / "go.mod"


def cache_dir() -> Path:
    if "MLOPS_TOOLS_CACHE" in os.environ:
        return Path(os.environ["MLOPS_TOOLS_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "mlops-observability" / "tools"


def wait_for_engine_build(timeout: float = 3 * 3600) -> None:
    """Wait while tools/engine/build.sh runs (it holds its lock for the whole build): `make test`
    starts it in the background and the engine tier, collected last, reads what it builds."""
    import sys  # noqa: PLC0415
    import time  # noqa: PLC0415

    lock = cache_dir() / "engine-build.lock"
    if not lock.exists():
        return
    deadline = time.monotonic() + timeout
    told = False
    with lock.open() as held:
        while not _try_shared_lock(held):
            if time.monotonic() > deadline:
                raise TimeoutError(f"tools/engine/build.sh still runs after {timeout:.0f}s")
            if not told:
                log = cache_dir() / "engine-build.log"
                print(f"waiting for tools/engine/build.sh (log: {log})", file=sys.stderr)
                told = True
            time.sleep(5)


def _try_shared_lock(held: IO[str]) -> bool:
    """Whether a shared lock on HELD could be taken now (it is let go at once)."""
    import fcntl  # noqa: PLC0415

    try:
        fcntl.flock(held, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(held, fcntl.LOCK_UN)
    return True


def _find(env: str, path: Path) -> Path:
    if env in os.environ:
        return Path(os.environ[env])
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run tools/build.sh (or set {env})")
    return path


def promtool() -> Path:
    """promtool of the pinned Prometheus image's version."""
    return _find("PROMTOOL", cache_dir() / f"prometheus-{IMAGES['prometheus']['tag']}" / "promtool")


def amtool() -> Path:
    """amtool of the pinned Alertmanager image's version."""
    return _find("AMTOOL", cache_dir() / f"alertmanager-{IMAGES['alertmanager']['tag']}" / "amtool")


def prometheus() -> Path:
    """The Prometheus server of the pinned image's version (the live tests run it)."""
    return _find(
        "PROMETHEUS", cache_dir() / f"prometheus-{IMAGES['prometheus']['tag']}" / "prometheus"
    )


def alertmanager() -> Path:
    """The Alertmanager of the pinned image's version (Debian's 0.25 has no webhook url_file)."""
    return _find(
        "ALERTMANAGER",
        cache_dir() / f"alertmanager-{IMAGES['alertmanager']['tag']}" / "alertmanager",
    )


def otelcol() -> Path:
    """The OpenTelemetry Collector of the pinned contrib image's version, with the components the
    rendered config names (tools/telemetry/build.sh, from tools/telemetry/otelcol)."""
    return _find(
        "OTELCOL", cache_dir() / f"otelcol-{IMAGES['otelCollector']['tag']}" / "otelcol-mlops"
    )


def cadvisor() -> Path:
    """cAdvisor's manager and raw cgroup handler at the pinned image's tag, with our own main
    (tools/cadvisor/build.sh): the live tests run it on the cgroups they put processes in."""
    tag = IMAGES["cadvisor"]["tag"]
    return _find("CADVISOR", cache_dir() / f"cadvisor-{tag}" / "cadvisor-mlops")


def kube_state_metrics() -> Path:
    """kube-state-metrics of the pinned image's version (tools/engine/kube-state-metrics.sh, built
    with the engine: the engine tier runs it against its control plane)."""
    wait_for_engine_build()
    tag = IMAGES["kubeStateMetrics"]["tag"]
    return _find(
        "KUBE_STATE_METRICS", cache_dir() / f"kube-state-metrics-{tag}" / "kube-state-metrics"
    )


def required(go_mod: Path, module: str) -> str:
    """The version GO_MOD requires of MODULE, in either require form (tools/go-mod.sh in Python)."""
    for line in go_mod.read_text().splitlines():
        words = line.removeprefix("require").split()
        if words[:1] == [module] and len(words) > 1:
            return words[1]
    raise LookupError(f"{go_mod} requires no {module}")


def jaeger_version() -> str:
    """The Jaeger version tools/telemetry/go.mod requires (without the `v`)."""
    return required(TELEMETRY_MODULE, "github.com/jaegertracing/jaeger").removeprefix("v")


def jaeger() -> Path:
    """Jaeger v2 (Apache-2.0): the live tests' trace store where the stacks run Tempo, which is
    AGPL-3.0 and never built or run here (tools/telemetry/build.sh)."""
    return _find("JAEGER", cache_dir() / f"jaeger-{jaeger_version()}" / "jaeger")


def debian_promtool() -> Path:
    """Debian's promtool (Prometheus 2.42): the live tests run Debian's Prometheus."""
    found = shutil.which("promtool", path="/usr/bin")
    if found is None:
        raise FileNotFoundError("/usr/bin/promtool is missing: apt-get install prometheus")
    return Path(found)


def logql_checker() -> Path:
    """The LogQL grammar check (tools/logql/install.sh installs its package)."""
    script = TOOLS / "logql" / "check.mjs"
    if not (script.parent / "node_modules" / "@grafana" / "lezer-logql").is_dir():
        raise FileNotFoundError(
            f"{script.parent}/node_modules is missing: run tools/logql/install.sh"
        )
    return script


def logql_errors(queries: list[str]) -> dict[str, list[int]]:
    """Each query with the offsets where Grafana's LogQL grammar finds an error (none: it parses)."""
    import json  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    node = shutil.which("node")
    if node is None:
        raise FileNotFoundError("node is missing: apt-get install nodejs")
    script = logql_checker()
    result = subprocess.run(
        [node, str(script)], input="".join(json.dumps(q) + "\n" for q in queries),
        capture_output=True, text=True, timeout=60, check=True, cwd=script.parent,
    )  # fmt: skip
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["query"] for a in answers] == queries, result.stderr
    return {a["query"]: a["errors"] for a in answers}
