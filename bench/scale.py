"""The platform's own cost as models grow: Prometheus series, ingestion, rule time, memory, dashboards.

    uv run python bench/scale.py [--models 1 10 100] [--replicas 3] [--stack prod] [--settle 150]

For each fleet size N: the stack's spec (`Pulumi.<stack>.yaml` over its profile)
with `serving.models` replaced by N generated models of R replicas; its rule files
and scrape config rendered by the project's renderers (`infra.render`: the serving
job's static targets and `model` label, honor_labels, sample limits; jobs that
need a Kubernetes API are left out, and alerts go to a port nothing answers on);
the pinned Prometheus (tests/tools.py) run on them against bench/scale_exporter.py,
one process serving the catalog's series for N x R serving targets and the
Pushgateway's pushed groups. Intervals are the spec's (scrape and rule
evaluation 15 s on prod). After `--settle` seconds of scraping it reads, from
Prometheus itself: series in the head, samples appended per second (rate over
1m), each rule group's evaluation time (last, and the worst seen) against its
interval, resident memory, firing alerts, recorded series, Prometheus' own
series (its job's sample_limit counts them); then sends every Prometheus query
of the stack's dashboards as Grafana would (template variables substituted,
step and $__interval for a 1000 px wide panel over the dashboard's default
range, $__rate_interval from them and the scrape interval, instant queries as
instant, variables as label lookups, annotations), `--repeat` times each, and
prints p50/p95 per query (with 5 runs the p95 is the slowest run). The queries
recording rules replaced (REPLACED) are timed too, as the dashboard sent them
before, and printed beside what replaced them.

History: each Prometheus holds only the minutes of its run (printed), far less
than a dashboard's 6 h to 7 d range or a rule's windows of hours to days; a
query over such a range reads what there is, so latencies and rule times are a
floor (the per-step work over the series is there, the samples of a full range
are not). No history is backfilled: at 100 models the head holds ~82 k series,
and 6 h of them at 15 s is ~120 M samples, far past a budget of minutes on 2 cores.

Targets (at the largest N; pass/fail printed): every rule group evaluates in
under 10% of its interval; every dashboard query's p95 under 250 ms; head
series linear in N x R (the fit's residuals within 5% of the largest count);
every target up (none over its sample_limit); no rule failing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale_exporter import Fleet
from dashboards import build_all, serving, to_json
from infra import conventions as cv
from infra import endpoints as ep
from infra import queries as q
from infra.config import ROOT, StackConfig, from_stack_file, load_spec
from infra.render._yaml import dump
from infra.render.prometheus import prometheus_config
from infra.render.rules import platform_rules
from infra.render.slo import slo_rules
from infra.spec import PlatformSpec
from infra.units import duration_seconds
from tests import servers, tools

C = cv.Component
PANEL_WIDTH_PX = 1000  # Grafana's maxDataPoints for a panel this wide
RULE_BUDGET = 0.10  # share of its interval a rule group may take
QUERY_P95_TARGET = 0.250
LINEAR_TOLERANCE = 0.05
# Grafana's interval rounding (rangeutil.roundInterval): below each bound, this interval.
ROUNDING: tuple[tuple[float, float], ...] = (
    (0.015, 0.01), (0.035, 0.02), (0.075, 0.05), (0.15, 0.1), (0.35, 0.2), (0.75, 0.5),
    (1.5, 1), (3.5, 2), (7.5, 5), (12.5, 10), (17.5, 15), (25, 20), (45, 30), (90, 60),
    (210, 120), (450, 300), (1050, 600), (2100, 1200), (2700, 1800), (5400, 3600),
    (9000, 7200), (16200, 10800), (32400, 21600), (86400, 43200), (604800, 86400),
)  # fmt: skip


def fleet_spec(stack: str, models: int, replicas: int) -> PlatformSpec:
    """The stack's spec with `serving.models` replaced by MODELS generated models."""
    base = from_stack_file(stack, ROOT)
    template = load_spec(base).serving.models[0].model_dump(by_alias=True, mode="json")
    served = [{**template, "name": f"model-{i:03d}", "replicas": replicas} for i in range(models)]
    serving = {"models": served}
    return load_spec(
        StackConfig(stack, {**base.values, "mlops:serving": serving}, base.secret_keys)
    )


def plan(spec: PlatformSpec) -> Fleet:
    """A port for each serving replica and for the Pushgateway."""
    serving = {
        m.name: [servers.free_port() for _ in range(m.replicas)] for m in spec.serving.models
    }
    return Fleet(serving, servers.free_port())


def endpoints(fleet: Fleet, prometheus: int, alertmanager: int) -> ep.Endpoints:
    def replicas(ports: list[int]) -> ep.Endpoint:
        return ep.Endpoint(
            "127.0.0.1",
            {"http": ports[0]},
            tuple(ep.Endpoint("127.0.0.1", {"http": p}) for p in ports),
        )

    components = {
        C.PROMETHEUS: ep.Endpoint("127.0.0.1", {"http": prometheus}),
        C.PUSHGATEWAY: ep.Endpoint("127.0.0.1", {"http": fleet.pushgateway}),
        C.ALERTMANAGER: ep.Endpoint("127.0.0.1", {"http": alertmanager}),
    }
    serving = {name: replicas(ports) for name, ports in fleet.serving.items()}
    return ep.Endpoints(components, serving, listen_host="127.0.0.1")


def scrape_config(spec: PlatformSpec, where: ep.Endpoints) -> str:
    """The rendered prometheus.yml without the jobs nothing here answers: those discovering
    through a Kubernetes API, and Alertmanager's (none runs; alerts are sent and dropped)."""
    config = yaml.safe_load(prometheus_config(spec, where))
    config["scrape_configs"] = [
        job
        for job in config["scrape_configs"]
        if "kubernetes_sd_configs" not in job and job["job_name"] != cv.JOB[C.ALERTMANAGER]
    ]
    return dump(config, "bench/scale.py: the rendered config, less jobs that cannot run here")


def write_files(spec: PlatformSpec, where: ep.Endpoints, folder: Path) -> Path:
    files = {
        cv.PROMETHEUS_CONFIG: scrape_config(spec, where),
        cv.PLATFORM_RULES: platform_rules(spec),
        cv.SLO_RULES: slo_rules(spec),
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder / cv.PROMETHEUS_CONFIG


def nice(argv: list[str]) -> list[str]:
    return ["nice", "-n", "10", *argv]


def start_exporter(fleet: Fleet, folder: Path) -> servers.Server:
    ports = folder / "ports.json"
    ports.write_text(json.dumps({"serving": fleet.serving, "pushgateway": fleet.pushgateway}))
    argv = [sys.executable, str(ROOT / "bench" / "scale_exporter.py"), str(ports)]
    url = f"http://127.0.0.1:{fleet.pushgateway}/metrics"
    return servers.start("exporter", argv, url, folder / "exporter.log", wrap=nice)


def start_prometheus(spec: PlatformSpec, config: Path, port: int, folder: Path) -> servers.Server:
    argv = [
        str(tools.prometheus()),
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--storage.tsdb.retention.time={spec.prometheus.retention_time}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--enable-feature=exemplar-storage",
        "--enable-feature=extra-scrape-metrics",
        f"--rules.alert.for-grace-period={spec.prometheus.for_grace_period}",
    ]
    url = f"http://127.0.0.1:{port}"
    return servers.start(
        "prometheus", argv, url, folder / "prometheus.log", env={"POD_NAME": "bench-0"}, wrap=nice
    )


class Api:
    """Prometheus' HTTP API, the way Grafana and a person would ask it."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=60)

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()["data"]

    def vector(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=expr)["result"]
        return result

    def scalar(self, expr: str) -> float:
        result = self.vector(expr)
        return float(result[0]["value"][1]) if result else float("nan")

    def targets(self) -> dict[str, str]:
        """Each active target's address, and its health ("up", "down: why", "unknown")."""
        active = self.get("/api/v1/targets", state="active")["activeTargets"]
        return {
            t["scrapeUrl"]: t["health"]
            + (f" (job {t['labels']['job']}): {t['lastError']}" if t["lastError"] else "")
            for t in active
        }


@dataclass(frozen=True)
class GroupTime:
    name: str
    interval: float
    last: float
    worst: float
    rules: int
    failing: int


@dataclass(frozen=True)
class QueryTime:
    dashboard: str
    where: str
    expr: str
    kind: str  # range, instant, labels
    times: tuple[float, ...]
    series: int

    @property
    def p50(self) -> float:
        return statistics.median(self.times)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass
class Figures:
    models: int
    replicas: int
    series: float = 0
    samples_per_second: float = 0
    rss_bytes: float = 0
    history_seconds: float = 0
    firing: int = 0
    recorded: int = 0
    own_series: float = 0  # what Prometheus' /metrics exposes (its job's sample_limit counts it)
    down: list[str] = field(default_factory=list)
    groups: list[GroupTime] = field(default_factory=list)
    queries: list[QueryTime] = field(default_factory=list)

    def panels(self) -> list[QueryTime]:
        """The dashboards' queries as they are (not the replaced ones timed for comparison)."""
        return [t for t in self.queries if not t.dashboard.endswith(BEFORE)]


def rule_groups(api: Api) -> list[GroupTime]:
    """Every rule group: its interval, last and worst evaluation time, rules failing."""
    worst = {
        r["metric"]["rule_group"]: float(r["value"][1])
        for r in api.vector(
            'max_over_time(prometheus_rule_group_last_duration_seconds{job="prometheus"}[1h])'
        )
    }
    out = []
    for g in api.get("/api/v1/rules")["groups"]:
        key = f"{g['file']};{g['name']}"
        failing = sum(1 for r in g["rules"] if r.get("health") == "err")
        last = float(g["evaluationTime"])
        out.append(
            GroupTime(
                g["name"],
                float(g["interval"]),
                last,
                max(last, worst.get(key, 0.0)),
                len(g["rules"]),
                failing,
            )
        )
    return out


def grafana_interval(range_seconds: float, min_interval: float) -> float:
    """$__interval of a panel PANEL_WIDTH_PX wide over the range (Grafana's calculateInterval)."""
    raw = range_seconds / PANEL_WIDTH_PX
    rounded = next((value for bound, value in ROUNDING if raw < bound), 604800.0)
    return max(rounded, min_interval)


def seconds(value: float) -> str:
    return f"{value:g}s" if value < 1 or value != int(value) else f"{int(value)}s"


@dataclass(frozen=True)
class Query:
    dashboard: str
    where: str
    expr: str
    kind: str
    range_seconds: float
    step: float


def panel_targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for top in dashboard.get("panels", []):
        for panel in (top, *top.get("panels", [])):
            for target in panel.get("targets") or []:
                source = target.get("datasource") or panel.get("datasource") or {}
                if source.get("uid") == cv.DATASOURCE_UID["prometheus"] and target.get("expr"):
                    yield f"{panel.get('title')} / {target.get('refId')}", target


def substitute(expr: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):  # $__range_s before $__range
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    return expr


@dataclass(frozen=True)
class View:
    """How Grafana draws one dashboard: its range, step, and the values of its variables."""

    span: float
    step: float
    values: dict[str, str]


def view(spec: PlatformSpec, board: dict[str, Any], model: str) -> View:
    scrape = float(duration_seconds(spec.prometheus.scrape_interval))
    span = float(duration_seconds(board["time"]["from"].removeprefix("now-")))
    step = grafana_interval(span, scrape)
    values = {
        "model": model, "version": ".*", "__interval": seconds(step), "__auto": seconds(step),
        "__rate_interval": seconds(max(step + scrape, 4 * scrape)),
        "__range": seconds(span), "__range_s": str(int(span)),
    }  # fmt: skip
    return View(span, step, values)


def board_queries(uid: str, board: dict[str, Any], v: View) -> Iterator[Query]:
    """A dashboard's panel queries, its variables' label lookups and its annotations."""
    for where, target in panel_targets(board):
        kind = "instant" if target.get("instant") else "range"
        yield Query(uid, where, substitute(target["expr"], v.values), kind, v.span, v.step)
    for variable in board.get("templating", {}).get("list", []):
        query = substitute(variable["query"], v.values)
        yield Query(uid, f"variable {variable['name']}", query, "labels", v.span, v.step)
    for note in board.get("annotations", {}).get("list", []):
        if note.get("expr"):
            step = max(v.step, 60)  # Grafana's default annotation step
            yield Query(uid, f"annotation {note['name']}", note["expr"], "range", v.span, step)


def boards(spec: PlatformSpec) -> dict[str, dict[str, Any]]:
    return {uid: json.loads(to_json(built)) for uid, built in sorted(build_all(spec).items())}


def dashboard_queries(spec: PlatformSpec, model: str) -> Iterator[Query]:
    """Every Prometheus query of the stack's dashboards as Grafana sends it for one model."""
    for uid, board in boards(spec).items():
        yield from board_queries(uid, board, view(spec, board, model))


# Panel queries a recording rule replaced (bench/scale.py found them slowest at 100 models), as
# the dashboard sent them before: by panel and refId.
RAW_BUCKETS = q.latency_buckets("$__rate_interval")
REPLACED: dict[tuple[str, str], str] = {
    **{
        (serving.UID, f"Latency p50 / p95 / p99 / {chr(ord('A') + i)}"): (
            f"histogram_quantile({quantile}, {RAW_BUCKETS})"
        )
        for i, (quantile, _) in enumerate(serving.QUANTILES)
    },
    (serving.UID, "Latency distribution / A"): (
        f"sum by (le) (increase({q.BUCKETS}[$__rate_interval]))"
    ),
    (serving.UID, "Request rate / A"): f"sum by (model) (rate({q.REQUESTS}[$__rate_interval]))",
    (serving.UID, "Error ratio (5xx) / A"): (
        f"sum by (model) (rate({q.ERRORS}[$__rate_interval]))\n/\n"
        f"sum by (model) (rate({q.REQUESTS}[$__rate_interval]))"
    ),
    (serving.UID, "Responses by status code / A"): q.requests_by_code("$__rate_interval"),
}
BEFORE = " (before)"


def before_queries(spec: PlatformSpec) -> list[Query]:
    """The replaced queries, sent the way the dashboard sent them, to time them as they were."""
    board = boards(spec)[serving.UID]
    v = view(spec, board, spec.serving.models[-1].name)
    return [
        Query(uid + BEFORE, where, substitute(expr, v.values), "range", v.span, v.step)
        for (uid, where), expr in REPLACED.items()
    ]


def send(api: Api, query: Query, now: float) -> int:
    """One query as Grafana sends it; the number of series it returned."""
    end = now  # not aligned down to the step as Grafana does: the run's minutes stay in range
    if query.kind == "labels":  # label_values(selector, label)
        selector, _, label = (
            query.expr.removeprefix("label_values(").removesuffix(")").rpartition(", ")
        )
        return len(
            api.get(
                f"/api/v1/label/{label}/values",
                **{"match[]": selector, "start": end - query.range_seconds, "end": end},
            )
        )
    if query.kind == "instant":
        return len(api.get("/api/v1/query", query=query.expr, time=end)["result"])
    data = api.get(
        "/api/v1/query_range",
        query=query.expr,
        start=end - query.range_seconds,
        end=end,
        step=query.step,
    )
    return len(data["result"])


def time_query(api: Api, query: Query, repeat: int) -> QueryTime:
    times, found = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        found = send(api, query, time.time())
        times.append(time.perf_counter() - started)
    return QueryTime(query.dashboard, query.where, query.expr, query.kind, tuple(times), found)


def read_figures(api: Api, figures: Figures) -> None:
    figures.series = api.scalar('prometheus_tsdb_head_series{job="prometheus"}')
    figures.samples_per_second = api.scalar(
        'rate(prometheus_tsdb_head_samples_appended_total{job="prometheus"}[1m])'
    )
    figures.rss_bytes = api.scalar('process_resident_memory_bytes{job="prometheus"}')
    figures.history_seconds = api.scalar(
        '(prometheus_tsdb_head_max_time{job="prometheus"} - prometheus_tsdb_head_min_time{job="prometheus"}) / 1000'
    )
    figures.firing = int(api.scalar('count(ALERTS{alertstate="firing"}) or vector(0)'))
    figures.recorded = int(api.scalar('count({__name__=~"slo:.+|.+:.+"}) or vector(0)'))
    figures.own_series = api.scalar('scrape_samples_scraped{job="prometheus"}')
    figures.groups = rule_groups(api)


def scraped_within(
    api: Api, prometheus: servers.Server, expected: int, timeout: float
) -> list[str]:
    """Wait until Prometheus has scraped each of the EXPECTED targets; those not up, and why."""
    deadline = time.monotonic() + timeout
    while len(targets := api.targets()) < expected or "unknown" in targets.values():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(targets)} of {expected} targets scraped in {timeout} s")
        if not prometheus.alive():
            raise RuntimeError(prometheus.output())
        time.sleep(1)
    return [f"{url} {health}" for url, health in targets.items() if health != "up"]


def measure(args: argparse.Namespace, models: int, folder: Path) -> Figures:
    spec = fleet_spec(args.stack, models, args.replicas)
    fleet, port = plan(spec), servers.free_port()
    config = write_files(spec, endpoints(fleet, port, servers.free_port()), folder / "config")
    figures = Figures(models, args.replicas)
    exporter = start_exporter(fleet, folder)
    with servers.running(exporter, servers.http_ok(exporter.url), timeout=60):
        prometheus = start_prometheus(spec, config, port, folder)
        with servers.running(prometheus, servers.http_ok(f"{prometheus.url}/-/ready"), timeout=120):
            api = Api(prometheus.url)
            expected = sum(map(len, fleet.serving.values())) + 2
            scraped_within(api, prometheus, expected, 120)
            time.sleep(args.settle)
            figures.down = scraped_within(api, prometheus, expected, 120)
            read_figures(api, figures)
            queries = list(dashboard_queries(spec, spec.serving.models[-1].name)) + before_queries(
                spec
            )
            figures.queries = [time_query(api, query, args.repeat) for query in queries]
            figures.rss_bytes = max(
                figures.rss_bytes, api.scalar('process_resident_memory_bytes{job="prometheus"}')
            )
    return figures


def slope(points: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Least-squares line y = a x + b through the points; and the largest residual over max y."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points) or 1.0
    a = sum((x - mx) * (y - my) for x, y in points) / sxx
    b = my - a * mx
    worst = max(abs(y - (a * x + b)) for x, y in points) / max(y for _, y in points)
    return a, b, worst


def family(group: str, models: list[str]) -> str:
    """A rule group's name with its model's name made generic: the per-model groups are one row."""
    for m in models:
        if m in group:
            return group.replace(m, "<model>")
    return group


def print_sizes(results: list[Figures]) -> None:
    print(f"{'models':>6} {'targets':>7} {'series':>8} {'samples/s':>9} {'RSS MiB':>8} {'history':>8} "
          f"{'groups':>6} {'rule s/eval':>11} {'firing':>6} {'recorded':>8} {'queries':>7} {'own':>6} {'down':>4}")  # fmt: skip
    for f in results:
        rule_time = sum(g.last for g in f.groups)
        print(f"{f.models:>6} {f.models * f.replicas + 2:>7} {f.series:>8.0f} {f.samples_per_second:>9.0f} "
              f"{f.rss_bytes / 2**20:>8.0f} {f.history_seconds:>7.0f}s {len(f.groups):>6} "
              f"{rule_time:>11.3f} {f.firing:>6} {f.recorded:>8} {len(f.queries):>7} {f.own_series:>6.0f} {len(f.down):>4}")  # fmt: skip
        for down in f.down:
            print(f"       not up: {down}")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def print_growth(results: list[Figures]) -> None:
    print("growth (figure at the larger size over the smaller):")
    for small, large in itertools.pairwise(results):
        worst_small = max(t.p95 for t in small.panels())
        worst_large = max(t.p95 for t in large.panels())
        print(f"  {large.models}/{small.models} models: series {ratio(large.series, small.series)}, "
              f"samples/s {ratio(large.samples_per_second, small.samples_per_second)}, "
              f"RSS {ratio(large.rss_bytes, small.rss_bytes)}, "
              f"rule time {ratio(sum(g.last for g in large.groups), sum(g.last for g in small.groups))}, "
              f"slowest query p95 {ratio(worst_large, worst_small)}")  # fmt: skip
    a, b, worst = slope([(f.models * f.replicas, f.series) for f in results])
    print(
        f"  series = {a:.1f} per model-replica x N x R + {b:.0f} (largest residual {worst:.1%} of the largest count)"
    )


def print_groups(f: Figures) -> None:
    models = [f"model-{i:03d}" for i in range(f.models)]
    rows: dict[str, list[GroupTime]] = {}
    for g in f.groups:
        rows.setdefault(family(g.name, models), []).append(g)
    print(
        f"rule groups at {f.models} models (worst of the groups in a row; share of the interval):"
    )
    for name, groups in rows.items():
        last, worst = max(g.last for g in groups), max(g.worst for g in groups)
        failing = sum(g.failing for g in groups)
        print(f"  {name:<58} x{len(groups):<4} last {last * 1000:8.2f} ms  worst {worst * 1000:8.2f} ms "
              f"of {groups[0].interval:.0f} s = {worst / groups[0].interval:6.2%}" + (f"  {failing} FAILING" if failing else ""))  # fmt: skip


def print_queries(f: Figures, top: int = 8) -> None:
    runs = len(f.queries[0].times)
    print(f"dashboard queries at {f.models} models ({PANEL_WIDTH_PX} px wide, {runs} runs each):")
    by_board: dict[str, list[QueryTime]] = {}
    for t in f.panels():
        by_board.setdefault(t.dashboard, []).append(t)
    for board, times in by_board.items():
        empty = sum(1 for t in times if t.series == 0)
        print(f"  {board:<22} {len(times):>5} queries  median p50 {statistics.median(t.p50 for t in times) * 1000:7.1f} ms"
              f"  worst p95 {max(t.p95 for t in times) * 1000:8.1f} ms  ({empty} returned no series)")  # fmt: skip
    print(f"  slowest {top} by p95:")
    for t in sorted(f.panels(), key=lambda t: -t.p95)[:top]:
        expr = " ".join(t.expr.split())
        print(f"    {t.p95 * 1000:8.1f} ms p95 {t.p50 * 1000:8.1f} ms p50  {t.series:>4} series  {t.dashboard} / {t.where}\n"
              f"        {expr[:160]}")  # fmt: skip


def print_replaced(f: Figures) -> None:
    """Each query a recording rule replaced: p50/p95 as it was, and as the dashboard sends it now."""
    now = {(t.dashboard, t.where): t for t in f.panels()}
    print(f"replaced by recording rules, at {f.models} models (before -> after):")
    for before in f.queries:
        if before.dashboard.endswith(BEFORE):
            after = now[(before.dashboard.removesuffix(BEFORE), before.where)]
            print(f"  {before.dashboard.removesuffix(BEFORE)} / {before.where}: "
                  f"p50 {before.p50 * 1000:.1f} -> {after.p50 * 1000:.1f} ms, "
                  f"p95 {before.p95 * 1000:.1f} -> {after.p95 * 1000:.1f} ms "
                  f"({before.series} -> {after.series} series returned)")  # fmt: skip


def check(name: str, passed: bool, detail: str) -> bool:
    print(f"  {'PASS' if passed else 'FAIL'}  {name}: {detail}")
    return passed


def print_targets(results: list[Figures]) -> int:
    f = results[-1]
    group = max(f.groups, key=lambda g: g.worst / g.interval)
    query = max(f.panels(), key=lambda t: t.p95)
    _, _, residual = slope([(r.models * r.replicas, r.series) for r in results])
    print(f"targets at {f.models} models x {f.replicas} replicas:")
    passed = [
        check("every rule group under 10% of its interval", group.worst / group.interval < RULE_BUDGET,
              f"worst {group.name} {group.worst * 1000:.1f} ms of {group.interval:.0f} s"),
        check("dashboard queries p95 under 250 ms", query.p95 < QUERY_P95_TARGET,
              f"slowest {query.dashboard} / {query.where} {query.p95 * 1000:.0f} ms"),
        check("head series linear in N x R", residual < LINEAR_TOLERANCE,
              f"largest residual {residual:.1%} of the largest count"),
        check("every target up", not f.down, f"{len(f.down)} not up (Prometheus' own series: {f.own_series:.0f})"),
        check("no rule fails to evaluate", not any(g.failing for g in f.groups), "rules with health err"),
    ]  # fmt: skip
    return 0 if all(passed) else 1


def report(results: list[Figures]) -> int:
    print_sizes(results)
    if len(results) > 1:
        print_growth(results)
    print_groups(results[-1])
    print_queries(results[-1])
    for f in results:
        print_replaced(f)
    return print_targets(results)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--stack", default="prod", help="the stack whose config the fleet takes")
    parser.add_argument(
        "--settle", type=float, default=150, help="seconds of scraping before reading"
    )
    parser.add_argument("--repeat", type=int, default=5, help="times each dashboard query is sent")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    results = []
    for n in args.models:
        with tempfile.TemporaryDirectory(prefix=f"scale-{n}-") as folder:
            started = time.monotonic()
            results.append(measure(args, n, Path(folder)))
            print(
                f"[{n} models x {args.replicas}: measured in {time.monotonic() - started:.0f} s]",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps([asdict_figures(f) for f in results], indent=1))
    return report(results)


def asdict_figures(f: Figures) -> dict[str, Any]:
    from dataclasses import asdict  # noqa: PLC0415

    return asdict(f)


if __name__ == "__main__":
    sys.exit(main())
