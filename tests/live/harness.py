"""The live stack: the dev platform's own files and processes, on 127.0.0.1, for real.

`live_spec` is the dev stack with a test profile on top (1 s scrapes and
evaluations, short `for` durations and windows, webhook receivers pointing at
a local sink): every change is a spec setting, so the rendered files are the
renderers' own output for that spec, with only the endpoints (127.0.0.1, free
ports, a temporary folder for mounted secrets) differing. `Live` starts MLflow,
the training job, one serving API per model, Pushgateway, Alertmanager and
Prometheus (the pinned versions, built by tools/build.sh), and the saturation
collectors (Debian's node-exporter; cAdvisor from tools/cadvisor, with every
process in a cgroup named after its component, tests/live/cgroups.py), waits for
each to be ready, and stops all of them by PID whatever happens.

Five models are served, so that faults can run at once and each alert can be
traced to its fault by its `model` label: a steady one, and one each for
errors, latency, drift and an unavailable model.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

import httpx
import yaml

from infra import conventions as cv
from infra import endpoints as ep
from infra.components import services
from infra.config import StackConfig, load_spec
from infra.render import render_all
from infra.render.__main__ import write
from infra.spec import PlatformSpec, Resources
from infra.units import quantity
from service import catalog
from stacks.base import resources
from tests import servers, tools
from tests.live import cgroups as cg
from tests.live.chaos import Chaos
from tests.live.sink import WebhookSink
from tests.service.pushgateway import BINARY as PUSHGATEWAY

C = cv.Component
STEADY, ERRORS, LATENCY, DRIFT, UNAVAILABLE = (
    "iris-classifier",
    "errors-model",
    "latency-model",
    "drift-model",
    "unavailable-model",
)
MODELS = (STEADY, ERRORS, LATENCY, DRIFT, UNAVAILABLE)
SCRAPE = 1.0  # seconds: scrape and evaluation interval of the live profile
FOR = "5s"  # `for` of every platform alert in the live profile...
TARGET_DOWN_FOR = "30s"  # ...but restarts of a few seconds are not outages
GROUP_WAIT = 1.0
WINDOW = "20s"  # serving error ratio and latency window
HEARTBEAT = "4s"  # how often the Watchdog reaches the heartbeat sink
# Debian's node-exporter (`make system-deps`), with the collectors the platform's queries and
# panels read; the others (hardware, systemd, textfile...) have nothing to read here.
NODE_EXPORTER = Path("/usr/bin/prometheus-node-exporter")
NODE_COLLECTORS = ("cpu", "meminfo", "filesystem", "loadavg", "netdev", "diskstats", "stat",
                   "vmstat", "pressure", "uname", "time")  # fmt: skip
# The filling-volume fault: a file growing to FILL_MAX bytes at most (a tenth of what is free)
# over FILL_SECONDS, allocated (fallocate: no data written) on the filesystem holding the live
# folder. Until the fault, the volume thresholds are inert (VOLUME_QUIET: a free share no
# filesystem here reaches); for it, they are set from that filesystem as it is then.
FILL_MAX = 3 << 30
FILL_SECONDS = 40
VOLUME_TREND_SECONDS = 15
VOLUME_TREND = f"{VOLUME_TREND_SECONDS}s"
VOLUME_QUIET = {"volumeFreeRatio": 0.0001, "volumeTrendWindow": VOLUME_TREND,
                "volumeFullWithin": "1h"}  # fmt: skip


def fill_size(path: Path) -> int:
    """Bytes the filling-volume fault writes on PATH's filesystem."""
    st = os.statvfs(path)
    return min(FILL_MAX, st.f_bavail * st.f_frsize // 10)


def volume_thresholds(path: Path, fill: int) -> dict[str, Any]:
    """`alerts` settings under which a file growing by FILL bytes over FILL_SECONDS on PATH's
    filesystem, as it is now, fills it up: the free share drops below the threshold once a
    sixth of it is written, and the trend, fitted over VOLUME_TREND, runs out of space within
    volumeFullWithin once the fitted slope is 40% of the file's (2.5 times the time the file's
    rate takes to use what is free). Other writers on a shared disk need to have taken a sixth
    of the file, and to write at 40% of its rate for VOLUME_TREND, to raise it."""
    st = os.statvfs(path)
    size, available = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    rate = fill / FILL_SECONDS
    return {
        "volumeFreeRatio": round((available - fill / 6) / size, 6),
        "volumeTrendWindow": VOLUME_TREND,
        "volumeFullWithin": f"{math.ceil(2.5 * available / rate)}s",
    }


def live_spec(
    sink: WebhookSink,
    files_root: Path,
    models: tuple[str, ...] = MODELS,
    heartbeat: WebhookSink | None = None,
    alerts: dict[str, Any] | None = None,
    *,
    extra: dict[str, Any] | None = None,
    rollback: bool = False,
) -> tuple[PlatformSpec, dict[str, str]]:
    """The live test profile of the dev stack serving `models`, and the values of its secret
    keys. With a `heartbeat` sink, the Watchdog goes there every HEARTBEAT; ALERTS adds to
    the profile's `alerts` thresholds; EXTRA (config keys to values) is merged into the
    profile, key by key at every depth; ROLLBACK turns the rollback service on."""
    secrets = {"oncallWebhookUrl": sink.url("oncall"), "teamWebhookUrl": sink.url("team")}
    if rollback:
        secrets[ROLLBACK_TOKEN_KEY] = ROLLBACK_TOKEN
    receivers: list[dict[str, Any]] = [
        {"name": "oncall", "kind": "webhook", "urlSecret": "oncallWebhookUrl"},
        {"name": "team", "kind": "webhook", "urlSecret": "teamWebhookUrl"},
    ]
    if heartbeat is not None:
        secrets["heartbeatWebhookUrl"] = heartbeat.url("heartbeat")
        receivers.append({"name": "heartbeat", "kind": "webhook",
                          "urlSecret": "heartbeatWebhookUrl", "sendResolved": False})  # fmt: skip
    overrides = {a.value: {"for": FOR} for a in cv.Alert if a is not cv.Alert.WATCHDOG} | {
        cv.Alert.TARGET_DOWN.value: {"for": TARGET_DOWN_FOR}
    }
    values: dict[str, Any] = {
        "mlops:environment": "dev",
        "mlops:name": "mlops-live",
        "mlops:serving": {
            # Out of the live tier: its windows run to 3 days and its label guard to as many
            # labels, which a run of minutes cannot fill; promtool proves them (test_slo_rules).
            "accuracySlos": False,
            "models": [
                {
                    "name": m,
                    "aliasPollInterval": "1s",
                    "resources": resources("250m", "512Mi", "1Gi"),
                }
                for m in models
            ],
        },
        "mlops:prometheus": {
            "scrapeInterval": "1s",
            "scrapeTimeout": "1s",
            "evaluationInterval": "1s",
            "retentionTime": "1d",
        },
        "mlops:alertmanager": {
            "receivers": receivers,
            "route": {
                "receiver": "team",
                "groupBy": ["alertname", "model", "sloth_slo"],
                "groupWait": f"{GROUP_WAIT:.0f}s",
                "groupInterval": "1s",
                "repeatInterval": "1h",
                "routes": [{"receiver": "oncall", "matchers": ['severity=~"critical|page"']}],
            },
            "resolveTimeout": "1m",
            **(
                {"heartbeat": {"receiver": "heartbeat", "interval": HEARTBEAT}} if heartbeat else {}
            ),
        },
        "mlops:alerts": {"servingWindow": WINDOW, "confidenceWindow": "30s", **(alerts or {})},
        "mlops:alertOverrides": overrides,
        # With ROLLBACK, the guarded rollback as staging runs it: Alertmanager calls it on the
        # accuracy alerts with the token from its credentials_file.
        **(
            {"mlops:rollback": {"enabled": True, "tokenSecret": ROLLBACK_TOKEN_KEY}}
            if rollback
            else {}
        ),
        **{f"mlops:{k}": v for k, v in secrets.items()},
    }
    values = merged(values, extra or {})
    config = StackConfig("live", values, frozenset(f"mlops:{k}" for k in secrets))
    return load_spec(config, require_secrets=True), secrets


ROLLBACK_TOKEN_KEY = "rollbackToken"
ROLLBACK_TOKEN = token_urlsafe(24)  # this run's: only Alertmanager and the tests have it


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """BASE with EXTRA's values, mappings merged key by key at every depth."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def write_rendered(root: Path, files: dict[str, str], secrets: dict[str, str]) -> None:
    """The rendered files where the live processes read them: Prometheus' under
    ROOT/prometheus/config, Alertmanager's under ROOT/alertmanager/config, and each webhook
    receiver's URL (a secret) in the file its `url_file` names."""
    write(files, root / "prometheus" / "config")
    write({cv.ALERTMANAGER_CONFIG: files[cv.ALERTMANAGER_CONFIG]}, root / "alertmanager" / "config")
    am = yaml.safe_load(files[cv.ALERTMANAGER_CONFIG])
    for receiver in am["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            if "url_file" in hook:
                _secret_file(Path(hook["url_file"]), secrets[f"{receiver['name']}WebhookUrl"])
            token = hook.get("http_config", {}).get("authorization", {}).get("credentials_file")
            if token is not None:  # the rollback receiver's bearer token
                _secret_file(Path(token), secrets[ROLLBACK_TOKEN_KEY])


def _secret_file(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value)
    path.chmod(0o600)


@dataclass
class Driver:
    """Steady prediction traffic to every served model, with a realistic mix: mostly single
    rows, some small batches, a few bad requests (4xx). `shift` moves a model's inputs."""

    urls: dict[str, str]
    rate: float = 8.0  # requests per second per model...
    rates: dict[str, float] = field(default_factory=dict)  # ...unless given here
    shift: dict[str, float] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _paused: threading.Event = field(default_factory=threading.Event)
    _truth: dict[tuple[float, ...], str] = field(default_factory=dict)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _row(self, rng: random.Random, model: str) -> list[float]:
        index = rng.randrange(len(IRIS))
        self._truth[tuple(IRIS[index])] = IRIS_LABELS[index]
        shift = self.shift.get(model, 0.0)
        return [round(v + (shift if i in (0, 2) else 0.0), 3) for i, v in enumerate(IRIS[index])]

    def _send_feedback(self, client: httpx.Client, model: str, rows: list[list[float]],
                       answer: httpx.Response) -> None:  # fmt: skip
        """The product sends the true class back for half the steady model's predictions."""
        if model != FEEDBACK_MODEL or answer.status_code != 200:
            return
        labels = [
            {"prediction_id": p["prediction_id"], "label": self._truth[tuple(row)]}
            for row, p in zip(rows, answer.json()["predictions"], strict=True)
            if tuple(row) in self._truth
        ]
        if labels:
            client.post(
                self.urls[model].replace("/predict", "/feedback"), json={"feedback": labels}
            )

    def _run(self, model: str) -> None:
        rng = random.Random(model)
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                if self._paused.is_set():
                    self._stop.wait(0.05)
                    continue
                started = time.monotonic()
                roll = rng.random()
                if roll < 0.05:
                    body: dict[str, Any] = {"instances": [[1.0, 2.0]]}  # wrong feature count
                elif roll < 0.10:
                    body = {"instances": [self._row(rng, model) for _ in range(3)]}
                else:
                    body = {"instances": [self._row(rng, model)]}
                with contextlib.suppress(httpx.HTTPError):  # a restarting replica: metrics tell
                    answer = client.post(self.urls[model], json=body)
                    if roll >= 0.05 and rng.random() < 0.5:
                        self._send_feedback(client, model, body["instances"], answer)
                self.sent[model] = self.sent.get(model, 0) + 1
                rate = self.rates.get(model, self.rate)
                self._stop.wait(max(0.0, 1 / rate - (time.monotonic() - started)))

    def start(self) -> None:
        for model in self.urls:
            thread = threading.Thread(target=self._run, args=(model,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def pause(self) -> None:
        """No new requests until `resume` (requests in flight finish)."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def _iris() -> tuple[tuple[tuple[float, ...], ...], tuple[str, ...]]:
    """The iris measurements the model was trained on (steady traffic looks like them), and
    their true classes (what feedback reports)."""
    from sklearn.datasets import load_iris  # noqa: PLC0415

    data = load_iris()
    rows = tuple(tuple(float(v) for v in row) for row in data.data)
    return rows, tuple(str(data.target_names[t]) for t in data.target)


IRIS, IRIS_LABELS = _iris()
FEEDBACK_MODEL = STEADY  # only its accuracy is judged: faults on the others must not move it


@dataclass
class Live:
    root: Path
    spec: PlatformSpec
    endpoints: ep.Endpoints
    sink: WebhookSink
    heartbeat: WebhookSink  # the outside dead man's switch, on its own port
    procs: dict[str, servers.Server]
    control: dict[str, Path]
    driver: Driver
    stack: ExitStack
    started: float = field(default_factory=time.time)
    # Each process's cgroup `<stack name>-<process>` with its spec's memory limit (None where
    # cgroups cannot be made: cg.unavailable() says why; cAdvisor then does not run).
    cgroups: cg.Cgroups | None = None
    fill: int = 0  # bytes the filling-volume fault writes

    def wrap(self, name: str) -> Any:
        """How process NAME is started: inside its cgroup, when there are cgroups."""
        if self.cgroups is None:
            return None
        group = self.cgroups.groups.get(name)
        if group is None:
            group = self.cgroups.create(
                name, int(quantity(resources_of(self.spec, name).memory_limit))
            )
        return group.wrap

    def retune_volumes(self, quiet: bool = False) -> None:
        """The volume thresholds set from the live folder's filesystem as it is now
        (volume_thresholds), or back to VOLUME_QUIET; the platform rules rendered again and
        reloaded by Prometheus."""
        self.fill = fill_size(self.root)
        settings = VOLUME_QUIET if quiet else volume_thresholds(self.root, self.fill)
        alerts = self.spec.alerts.model_copy(update={
            "volume_free_ratio": settings["volumeFreeRatio"],
            "volume_trend_window": settings["volumeTrendWindow"],
            "volume_full_within": settings["volumeFullWithin"],
        })  # fmt: skip
        self.spec = self.spec.model_copy(update={"alerts": alerts})
        files = render_all(self.spec, self.endpoints)
        write({cv.PLATFORM_RULES: files[cv.PLATFORM_RULES]}, self.root / "prometheus" / "config")
        self.reload_prometheus()

    def reload_prometheus(self) -> None:
        """SIGHUP: Prometheus reads its config and rule files again; returns once it has."""
        metrics = f"{self.prometheus_url}/metrics"
        name = "prometheus_config_last_reload_success_timestamp_seconds"
        before = metric_value(metrics, name)
        self.procs["prometheus"].process.send_signal(signal.SIGHUP)
        servers.wait_until(lambda: metric_value(metrics, name) > before, 30, "rules reloaded")

    @property
    def prometheus_url(self) -> str:
        return self.endpoints[C.PROMETHEUS].url()

    @property
    def alertmanager_url(self) -> str:
        return self.endpoints[C.ALERTMANAGER].url()

    @property
    def mlflow_url(self) -> str:
        return self.endpoints[C.MLFLOW].url()

    @property
    def pushgateway_url(self) -> str:
        return self.endpoints[C.PUSHGATEWAY].url()

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        answer = httpx.get(f"{self.prometheus_url}/api/v1/query", params=params, timeout=10).json()
        if answer["status"] != "success":
            raise RuntimeError(f"{expr}: {answer}")
        return list(answer["data"]["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{self.prometheus_url}/api/v1/query_range",
            params={"query": expr, "start": start, "end": end, "step": step},
            timeout=30,
        ).json()
        if answer["status"] != "success":
            raise RuntimeError(f"{expr}: {answer}")
        return list(answer["data"]["result"])

    def firing(self) -> list[dict[str, Any]]:
        """Alerts firing in Prometheus now (pending ones left out), but the Watchdog, which
        always fires."""
        answer = httpx.get(f"{self.prometheus_url}/api/v1/alerts", timeout=10).json()
        return [a for a in answer["data"]["alerts"] if a["state"] == "firing"
                and a["labels"]["alertname"] != cv.Alert.WATCHDOG.value]  # fmt: skip

    def start(self, name: str) -> servers.Server:
        """(Re)start one component on its port and data folder; returns once it is ready."""
        server: servers.Server
        server, ready = STARTERS[name](self)
        self.procs[name] = server
        # Generous: five serving replicas load their model from the registry at once, which took
        # over 120 s on this 2-core machine while other builds ran.
        servers.wait_until(ready, 300, f"{name} ready", server)
        return server

    def stop(self, name: str) -> None:
        self.procs[name].stop()

    def restart(self, name: str) -> servers.Server:
        self.stop(name)
        return self.start(name)


def resources_of(spec: PlatformSpec, name: str) -> Resources:
    """The spec's requests and limits of live process NAME (a STARTERS key)."""
    if name.startswith("serving-"):
        return next(m.resources for m in spec.serving.models if f"serving-{m.name}" == name)
    return {
        "prometheus": spec.prometheus.resources,
        "alertmanager": spec.alertmanager.resources,
        "pushgateway": spec.pushgateway.resources,
        "mlflow": spec.mlflow.resources,
        "rollback": spec.rollback.resources,
        "node-exporter": spec.saturation.node_exporter.resources,
        "cadvisor": spec.saturation.cadvisor.resources,
    }[name]


def _ports(cadvisor: bool) -> dict[C, dict[str, int]]:
    """Ports of the components the live tier runs (the renderers scrape exactly these)."""
    return {
        C.MLFLOW: {"http": servers.free_port()},
        C.PROMETHEUS: {"http": servers.free_port()},
        C.PUSHGATEWAY: {"http": servers.free_port()},
        C.ALERTMANAGER: {"http": servers.free_port()},
        C.ROLLBACK: {"http": servers.free_port()},
        C.NODE_EXPORTER: {"http": servers.free_port()},
        **({C.CADVISOR: {"http": servers.free_port()}} if cadvisor else {}),
    }


def _prometheus(live: Live) -> tuple[servers.Server, Any]:
    folder = live.root / "prometheus"
    port = live.endpoints[C.PROMETHEUS].ports["http"]
    server = servers.start(
        "prometheus",
        [
            tools.prometheus(),
            f"--config.file={folder / 'config' / cv.PROMETHEUS_CONFIG}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage",
            "--enable-feature=extra-scrape-metrics",
        ],
        f"http://127.0.0.1:{port}",
        folder / "prometheus.log",
        cwd=folder,
        wrap=live.wrap("prometheus"),
    )
    return server, servers.http_ok(f"{server.url}/-/ready")


def _alertmanager(live: Live) -> tuple[servers.Server, Any]:
    folder = live.root / "alertmanager"
    port = live.endpoints[C.ALERTMANAGER].ports["http"]
    server = servers.start(
        "alertmanager",
        [
            tools.alertmanager(),
            f"--config.file={folder / 'config' / cv.ALERTMANAGER_CONFIG}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        f"http://127.0.0.1:{port}",
        folder / "alertmanager.log",
        cwd=folder,
        wrap=live.wrap("alertmanager"),
    )
    return server, servers.http_ok(f"{server.url}/-/ready")


def _pushgateway(live: Live) -> tuple[servers.Server, Any]:
    folder = live.root / "pushgateway"
    folder.mkdir(parents=True, exist_ok=True)
    port = live.endpoints[C.PUSHGATEWAY].ports["http"]
    pg = live.spec.pushgateway
    server = servers.start(
        "pushgateway",
        [
            PUSHGATEWAY,
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={folder / 'pushgateway.db'}",
            f"--persistence.interval={pg.persistence_interval}",
        ],
        f"http://127.0.0.1:{port}",
        folder / "pushgateway.log",
        cwd=folder,
        wrap=live.wrap("pushgateway"),
    )
    return server, servers.http_ok(f"{server.url}/-/ready")


def _mlflow(live: Live) -> tuple[servers.Server, Any]:
    server = servers.mlflow_server(
        live.root / "mlflow", live.endpoints[C.MLFLOW].ports["http"], wrap=live.wrap("mlflow")
    )
    return server, servers.http_ok(f"{server.url}/health")


def _serving(model: str) -> Any:
    def start(live: Live) -> tuple[servers.Server, Any]:
        served = next(m for m in live.spec.serving.models if m.name == model)
        settings = {
            "mlflow_tracking_uri": live.mlflow_url,
            "model_name": model,
            "model_alias": served.alias,
            "alias_poll_seconds": "1",
            "load_retry_initial_seconds": "0.2",
            "load_retry_max_seconds": "1",
            "max_batch_size": str(served.max_batch_size),
            "drift_window": "600",
            "drift_min_rows": "300",
            "drift_update_seconds": "1",
            "tracing": "false",
            "log_export": "false",
            "log_level": "WARNING",
        }
        if model == STEADY:
            settings["inputs_dir"] = str(live.root / "inputs")
        port = live.endpoints.serving[model].ports["http"]
        server = servers.serving(
            live.root / f"serving-{model}", settings, port, wrap=live.wrap(f"serving-{model}")
        )
        # Up, not necessarily ready: the unavailable model's replica starts without a model.
        return server, servers.http_ok(f"{server.url}/livez")

    return start


def _rollback(live: Live) -> tuple[servers.Server, Any]:
    """service.rollback with its service plan's settings (alerts, models, guards, MLflow and
    the Pushgateway), only its port and token file made local."""
    folder = live.root / "rollback"
    token = folder / "secrets" / "token"
    _secret_file(token, ROLLBACK_TOKEN)
    blank: dict[str, Any] = {ROLLBACK_TOKEN_KEY: None}  # the plan only carries it: the file has it
    inputs = services.Inputs(live.spec, live.endpoints, {}, blank, servers.ROOT)
    port = live.endpoints[C.ROLLBACK].ports["http"]
    env = dict(services.rollback(inputs).env) | {
        "MLOPS_ROLLBACK_TOKEN_FILE": str(token),
        "MLOPS_ROLLBACK_PORT": str(port),
        "MLOPS_ROLLBACK_HOST": "127.0.0.1",
        "HOME": str(folder),
        "PYTHONPATH": str(servers.ROOT),
    }
    server = servers.start(
        "rollback",
        [sys.executable, "-m", "service.rollback"],
        f"http://127.0.0.1:{port}",
        folder / "rollback.log",
        env=env,
        cwd=servers.ROOT,
        wrap=live.wrap("rollback"),
    )
    return server, servers.http_ok(f"{server.url}/readyz")


def _node_exporter(live: Live) -> tuple[servers.Server, Any]:
    if not NODE_EXPORTER.is_file():
        raise FileNotFoundError(
            f"{NODE_EXPORTER} is missing: apt-get install prometheus-node-exporter (make system-deps)"
        )
    port = live.endpoints[C.NODE_EXPORTER].ports["http"]
    server = servers.start(
        "node-exporter",
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
         *(f"--collector.{c}" for c in NODE_COLLECTORS)],
        f"http://127.0.0.1:{port}",
        live.root / "node-exporter" / "node-exporter.log",
        wrap=live.wrap("node-exporter"),
    )  # fmt: skip
    return server, servers.http_ok(f"{server.url}/metrics")


def _cadvisor(live: Live) -> tuple[servers.Server, Any]:
    """cAdvisor (tools/cadvisor) on the live processes' cgroups only (and the root's)."""
    assert live.cgroups is not None
    port = live.endpoints[C.CADVISOR].ports["http"]
    server = servers.start(
        "cadvisor",
        [tools.cadvisor(), f"--listen=127.0.0.1:{port}", f"--housekeeping={SCRAPE:.0f}s",
         f"--cgroup-prefixes={live.cgroups.prefix}"],
        f"http://127.0.0.1:{port}",
        live.root / "cadvisor" / "cadvisor.log",
        wrap=live.wrap("cadvisor"),
    )  # fmt: skip
    return server, servers.http_ok(f"{server.url}/healthz")


STARTERS: dict[str, Any] = {
    "prometheus": _prometheus,
    "alertmanager": _alertmanager,
    "pushgateway": _pushgateway,
    "mlflow": _mlflow,
    "rollback": _rollback,
    "node-exporter": _node_exporter,
    "cadvisor": _cadvisor,
    **{f"serving-{m}": _serving(m) for m in MODELS},
}


def register_chaos_version(live: Live, model: str, control: Path) -> str:
    """A new version of `model`: the champion's pipeline behind its own control file."""
    import mlflow  # noqa: PLC0415
    from mlflow import MlflowClient  # noqa: PLC0415

    from service.reference import ARTIFACT  # noqa: PLC0415

    client = MlflowClient(live.mlflow_url)
    mlflow.set_tracking_uri(live.mlflow_url)
    champion = client.get_model_version_by_alias(model, "champion")
    chaos = mlflow.sklearn.load_model(f"models:/{model}/{champion.version}")
    reference = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/{ARTIFACT}")
    mlflow.set_experiment("live-chaos")
    with mlflow.start_run():
        mlflow.log_dict(reference, ARTIFACT)
        info = mlflow.sklearn.log_model(
            Chaos(chaos.model, str(control)),
            name="model",
            skops_trusted_types=[f"{Chaos.__module__}.{Chaos.__qualname__}"],
            registered_model_name=model,
        )
    return str(info.registered_model_version)


def register_models(live: Live) -> None:
    """Train the steady model (the real training job, pushing to the Pushgateway), then
    register, for every model, a version that wraps it in `Chaos` (with the training
    reference), so that any model can be made to fail or slow down."""
    import mlflow  # noqa: PLC0415
    from mlflow import MlflowClient  # noqa: PLC0415

    from service import train  # noqa: PLC0415
    from service.reference import ARTIFACT  # noqa: PLC0415

    assert train.main(["--tracking-uri", live.mlflow_url, "--model", STEADY,
                       "--pushgateway", live.pushgateway_url]) == 0  # fmt: skip
    client = MlflowClient(live.mlflow_url)
    mlflow.set_tracking_uri(live.mlflow_url)
    champion = client.get_model_version_by_alias(STEADY, "champion")
    pipeline = mlflow.sklearn.load_model(f"models:/{STEADY}/{champion.version}")
    reference = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/{ARTIFACT}")
    mlflow.set_experiment("live-chaos")
    for model in MODELS:
        with mlflow.start_run():
            mlflow.log_dict(reference, ARTIFACT)
            info = mlflow.sklearn.log_model(
                Chaos(pipeline, str(live.control[model])),
                name="model",
                registered_model_name=model,
                # MLflow saves sklearn models with skops, which loads only types it trusts.
                skops_trusted_types=[f"{Chaos.__module__}.{Chaos.__qualname__}"],
            )
        client.set_registered_model_alias(model, "champion", str(info.registered_model_version))


def unhealthy_targets(live: Live) -> list[str]:
    """Targets not up, with Prometheus' own reason; empty once everything is scraped."""
    answer = httpx.get(f"{live.prometheus_url}/api/v1/targets", timeout=5).json()
    active = answer["data"]["activeTargets"]
    if not active:
        return ["no targets yet"]
    return [
        f"{t['labels']['job']} {t['scrapeUrl']}: {t['health']} {t['lastError']}"
        for t in active
        if t["health"] != "up"
    ]


def targets_up(live: Live) -> bool:
    return not unhealthy_targets(live)


@contextmanager
def running(root: Path, rate: float = 8.0) -> Iterator[Live]:
    """The whole live stack, warmed up: every target up, rules evaluated, traffic flowing."""
    with ExitStack() as stack:
        sink = WebhookSink(servers.free_port())
        sink.start()
        stack.callback(sink.stop)
        heartbeat = WebhookSink(servers.free_port())
        heartbeat.start()
        stack.callback(heartbeat.stop)
        files_root = root / "files"
        spec, secrets = live_spec(
            sink, files_root, heartbeat=heartbeat,
            alerts=VOLUME_QUIET, rollback=True,
        )  # fmt: skip
        # Cgroups (and cAdvisor on them) where they can be made: cgroup v1, as root.
        groups = None if cg.unavailable() else cg.Cgroups.under_own(spec.name)
        ports = _ports(cadvisor=groups is not None)
        endpoints = ep.local(
            ports, {m: servers.free_port() for m in MODELS}, files_root=str(files_root)
        )
        files = render_all(spec, endpoints)
        assert set(files) == {
            cv.PROMETHEUS_CONFIG, cv.PLATFORM_RULES, cv.SLO_RULES, cv.ALERTMANAGER_CONFIG
        }  # fmt: skip
        write_rendered(root, files, secrets)
        control = {m: root / f"chaos-{m}" for m in MODELS}
        urls = {m: f"{endpoints.serving[m].url()}/predict" for m in MODELS}
        # The drift model gets more traffic: its 600-row window turns over in about 25 s.
        driver = Driver(urls, rate, rates={DRIFT: 3 * rate})
        live = Live(root, spec, endpoints, sink, heartbeat, {}, control, driver, stack,
                    cgroups=groups)  # fmt: skip
        if groups is not None:
            stack.callback(groups.remove)

        def stop_all() -> None:
            for process in live.procs.values():
                process.stop()

        stack.callback(stop_all)
        live.start("node-exporter")
        if C.CADVISOR in endpoints:
            live.start("cadvisor")
        live.start("mlflow")
        live.start("pushgateway")
        register_models(live)
        for model in MODELS:  # start all replicas, then wait: they load in parallel
            live.procs[f"serving-{model}"], _ = STARTERS[f"serving-{model}"](live)
        for model in MODELS:
            servers.wait_until(
                servers.http_ok(f"{endpoints.serving[model].url()}/readyz"),
                120,
                f"{model} ready",
                live.procs[f"serving-{model}"],
            )
        live.start("rollback")
        live.start("alertmanager")
        live.start("prometheus")
        try:
            servers.wait_until(lambda: targets_up(live), 60, "every target up")
        except TimeoutError:
            raise TimeoutError(f"targets not up: {unhealthy_targets(live)}") from None
        # Traffic starts once every target has been scraped: Prometheus then sees every
        # prediction counter from its start, as the SLO test needs.
        live.driver.start()
        stack.callback(live.driver.stop)
        live.started = time.time()
        yield live


def metric_value(url: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of one metric's samples on a /metrics page, over samples matching `labels`."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    total = 0.0
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for sample in family.samples:
            if sample.name == name and (labels or {}).items() <= sample.labels.items():
                total += sample.value
    return total


__all__ = ["Live", "catalog", "running"]


@dataclass(frozen=True)
class PanelQuery:
    where: str  # dashboard uid / panel title / refId
    expr: str  # with the dashboard's variables substituted
    seconds: int  # the dashboard's default time range


def dashboard_queries(
    spec: PlatformSpec, datasource: str, variables: dict[str, str]
) -> Iterator[PanelQuery]:
    """Every query of the spec's dashboards on one datasource (`prometheus`, `loki`), as
    Grafana would send it over the dashboard's default range."""
    import json  # noqa: PLC0415
    import re  # noqa: PLC0415

    from dashboards import build_all, to_json  # noqa: PLC0415

    def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for panel in dashboard.get("panels", []):
            yield panel
            yield from panel.get("panels", [])

    for uid, model in build_all(spec).items():
        dashboard = json.loads(to_json(model))
        match = re.fullmatch(r"now-(\d+)([mhd])", dashboard["time"]["from"])
        assert match, dashboard["time"]
        seconds = int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)]
        values = {
            "version": ".+",
            "__rate_interval": "1m",
            "__interval": "15s",
            "__auto": "15s",
            "__range": f"{seconds}s",
            "__range_s": str(seconds),
            **variables,
        }

        def substitute(m: re.Match[str], values: dict[str, str] = values) -> str:
            return values.get(m.group(1), m.group(0))

        for panel in panels(dashboard):
            for target in panel.get("targets") or []:
                source = target.get("datasource") or panel.get("datasource") or {}
                if source.get("uid") != cv.DATASOURCE_UID[datasource] or not target.get("expr"):
                    continue
                expr = re.sub(r"\$\{?(\w+)(?::\w+)?\}?", substitute, target["expr"])
                yield PanelQuery(f"{uid} / {panel.get('title')} / {target.get('refId')}", expr,
                                 seconds)  # fmt: skip
