"""The dev platform live on 127.0.0.1: do its panels show data, do its alerts reach people,
does its data survive restarts? One stack serves every test, in the order written.
"""

from __future__ import annotations

import calendar
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from dashboards import panels
from infra import conventions as cv
from infra import health
from infra.units import duration_seconds
from service import catalog, promote
from service.reference import ARTIFACT
from service.rollback import LAST_ROLLBACK_TAG
from tests import servers
from tests.live import cgroups
from tests.live import faults as fl
from tests.live import harness as h
from tests.live.chaos import set_fault

C = cv.Component

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[h.Live]:
    with h.running(tmp_path_factory.mktemp("live")) as stack:
        yield stack


def _drift_job(live: h.Live) -> None:
    """The drift job, once, on the rows the steady model logged: its metrics feed panels."""
    from service import drift  # noqa: PLC0415

    client = MlflowClient(live.mlflow_url)
    version = client.get_model_version_by_alias(h.STEADY, "champion")
    mlflow.set_tracking_uri(live.mlflow_url)
    reference = Path(mlflow.artifacts.download_artifacts(
        run_id=version.run_id, artifact_path=ARTIFACT, dst_path=str(live.root / "reference")
    ))  # fmt: skip
    code = drift.main([
        "--model", h.STEADY, "--inputs-dir", str(live.root / "inputs"),
        "--reference", str(reference), "--pushgateway", live.pushgateway_url,
        "--min-rows", "50", "--report", str(live.root / "drift-report.html"),
    ])  # fmt: skip
    assert code == 0


def test_every_target_is_up_and_no_rule_evaluation_fails_after_warm_up(live: h.Live) -> None:
    assert h.unhealthy_targets(live) == []
    jobs = {r["metric"]["job"] for r in live.query("up == 1")}
    collectors = {"node-exporter"} | ({"cadvisor"} if live.cgroups else set())
    platform = {"prometheus", "serving", "mlflow", "pushgateway", "alertmanager", "rollback"}
    assert jobs == platform | collectors
    for job in sorted(collectors):
        series = live.query(f'count({{job="{job}"}})')
        print(f"{job}: {float(series[0]['value'][1]):.0f} series")
    if live.cgroups:  # every live process's cgroup is one component's container
        components = {
            r["metric"][cv.COMPONENT_LABEL]
            for r in live.query('container_spec_memory_limit_bytes{job="cadvisor"}')
        }
        assert components == platform | collectors
    assert len(live.query('up{job="serving"} == 1')) == len(h.MODELS)
    servers.wait_until(
        lambda: bool(live.query("slo:sli_error:ratio_rate5m")), 30, "SLO rules evaluated"
    )
    failures = live.query("sum(prometheus_rule_evaluation_failures_total)")
    assert float(failures[0]["value"][1]) == 0
    assert live.firing() == [], "alerts fire under steady load"


def test_the_health_command_passes_a_healthy_stack_and_names_a_stopped_component(
    live: h.Live, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = live.root / "outputs.json"
    outputs.write_text(json.dumps({
        "urls": {c: getattr(live, f"{c}_url") for c in ("prometheus", "alertmanager", "mlflow", "pushgateway")},
        "servingUrls": {m: live.endpoints.serving[m].url() for m in h.MODELS},
    }))  # fmt: skip
    assert health.main(["--stack", "live", "--outputs", str(outputs)]) == 0, capsys.readouterr().out
    report = capsys.readouterr().out
    assert "UNHEALTHY" not in report
    assert f"serving {h.STEADY}" in report
    assert "scrape targets" in report
    assert "version " in report
    live.stop("pushgateway")
    try:
        assert health.main(["--stack", "live", "--outputs", str(outputs)]) == 1
        rows = capsys.readouterr().out.splitlines()
        (row,) = [r for r in rows if r.startswith("pushgateway ")]
        assert "UNHEALTHY" in row
        assert "down" in row
        assert all("UNHEALTHY" not in r for r in rows if r.startswith("serving "))
    finally:
        live.start("pushgateway")


def test_every_dashboard_query_returns_data_under_steady_load(live: h.Live) -> None:
    servers.wait_until(
        lambda: bool(live.query(f'{catalog.FEATURE_DRIFT_PSI.name}{{model="{h.STEADY}"}}')),
        90,
        "drift reported for the steady model",
    )
    _drift_job(live)
    servers.wait_until(
        lambda: bool(live.query(f'push_time_seconds{{job="{catalog.DRIFT_JOB}"}}')),
        30,
        "the drift job's push scraped",
    )
    empty, checked, unexpected = [], 0, []
    now = time.time()
    for query in h.dashboard_queries(live.spec, "prometheus", {"model": h.STEADY}):
        step = max(query.seconds / 250, h.SCRAPE)
        checked += 1
        has_data = bool(live.query_range(query.expr, now - query.seconds, now, step))
        why = _no_data_here(live, query.expr)
        if why and has_data:  # the exception is stale: remove it
            unexpected.append(f"{query.where}: {query.expr} has data ({why})")
        elif why:
            print(f"no data, as expected ({why}): {query.where}")
        elif not has_data:
            empty.append(f"{query.where}: {query.expr}")
    print(f"{checked} panel queries checked")
    assert checked > 40
    assert empty == [], "panels without data:\n" + "\n".join(empty)
    assert unexpected == []


# Series the live processes cannot have: they share the machine's network namespace, and
# cAdvisor's raw cgroup handler reads network figures only for the root cgroup (docker gives
# each container a namespace of its own, so the dev stack has them per container).
PER_CONTAINER_NETWORK = ("container_network_receive_bytes_total",
                         "container_network_transmit_bytes_total")  # fmt: skip


def _no_data_here(live: h.Live, expr: str) -> str | None:
    """Why a panel query can have no data in the live tier (None: it must have data)."""
    if f'job="{cv.JOB[cv.Component.CADVISOR]}"' in expr:
        if live.cgroups is None:
            return f"no cAdvisor without cgroups: {cgroups.unavailable()}"
        if any(name in expr for name in PER_CONTAINER_NETWORK):
            return "no per-process network namespace"
    return None


def test_the_watchdog_reaches_the_heartbeat_every_interval_and_nobody_else(live: h.Live) -> None:
    """The dead man's switch: an outside check expects the Watchdog at least every interval.
    (Prometheus hands a new alert to Alertmanager within its resend delay of a start, 1m.)"""
    watchdog = cv.Alert.WATCHDOG.value
    servers.wait_until(lambda: len(live.heartbeat.alerts(watchdog)) >= 6, 120, "six heartbeats")
    times = sorted(n.received for n, _ in live.heartbeat.alerts(watchdog))
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    interval = float(duration_seconds(h.HEARTBEAT))
    print(f"heartbeat gaps {gaps[0]:.2f}-{gaps[-1]:.2f}s over {len(gaps)} (interval {h.HEARTBEAT})")
    assert gaps[-1] <= interval + 1  # never later than the outside check expects...
    assert gaps[0] >= interval / 2  # ...and not on every tick
    # Only the Watchdog goes there, and it goes nowhere else (no page, no team message).
    assert {a["labels"]["alertname"] for n in live.heartbeat.notifications for a in n.alerts} == {
        watchdog
    }
    assert live.sink.alerts(watchdog) == []


def test_a_total_outage_pages_on_the_availability_slo_and_its_rules_agree_with_the_service(
    live: h.Live,
) -> None:
    page = "ServingAvailabilityErrorBudgetBurnPage"
    before = _counters(live)
    answered_before = _answered(live)
    onset = time.time()
    for model in h.MODELS:
        set_fault(live.control[model], "error")
    try:
        failed = httpx.post(
            f"{live.endpoints.serving[h.STEADY].url()}/predict",
            json={"instances": [list(h.IRIS[0])]},
            timeout=10,
        )
        assert failed.status_code == 500
        assert failed.json()["error"]["reason"] == "model_error"  # our format, not a traceback
        servers.wait_until(
            lambda: any(n.received >= onset for n, _ in live.sink.alerts(page)),
            60,
            f"{page} notified",
        )
        notified = min(n.received for n, _ in live.sink.alerts(page) if n.received >= onset)
        (note, alert) = next((n, a) for n, a in live.sink.alerts(page) if n.received == notified)
        assert note.receiver == "oncall"
        assert alert["labels"]["severity"] == "page"
        assert alert["annotations"]["runbook_url"] == live.spec.runbook_url(page)
        print(f"total outage -> {page} notified after {notified - onset:.1f} s")
        # A rate over a series of a few samples is mostly extrapolation: let the outage's 5xx
        # series grow 30 scrapes long. Then freeze the counters (no traffic), so that the rule
        # and the counters read the same numbers, however late a scrape runs on a busy machine.
        servers.wait_until(
            lambda: _scrapes_since(live, onset) >= 30, 90, "30 scrapes of the outage"
        )
        live.driver.pause()
        frozen = _counters(live)
        servers.wait_until(
            lambda: _scraped_total(live) == frozen[1], 30, "the frozen counters scraped"
        )
        evaluated = time.time()
        servers.wait_until(
            lambda: _rule_evaluated_after(live, evaluated), 30, "the SLO rules evaluated again"
        )
        at = time.time()
        recorded = live.query('slo:sli_error:ratio_rate5m{sloth_slo="serving-availability"}', at)
        ratio_5m = float(recorded[0]["value"][1])
        assert at - live.started < 240  # the 5 minute window holds the whole stack's life
        # Prometheus started before any prediction: the counters' totals are the window's.
        expected = frozen[0] / frozen[1]
        print(f"slo:sli_error:ratio_rate5m {ratio_5m:.4f}, from the counters {expected:.4f}")
        assert ratio_5m == pytest.approx(expected, rel=0.03)
        # The outage was total, as the service itself counted: every request the fault could
        # reach failed (the driver's 5% of bad inputs still get their 4xx, so the 5xx share
        # of all requests is ~0.95, less with few requests); only one already in flight when
        # the fault was set may have been answered.
        assert frozen[0] - before[0] > 0
        answered = _answered(live) - answered_before
        assert answered <= 2 + 0.01 * (frozen[1] - before[1]), (answered, frozen, before)
    finally:
        for model in h.MODELS:
            set_fault(live.control[model], None)
        live.driver.resume()
        ended = time.time()
        servers.wait_until(
            lambda: (
                {
                    a["labels"]["model"]
                    for n, a in live.sink.alerts("ServingHighErrorRatio", "resolved")
                    if n.received >= ended
                }
                >= set(h.MODELS)
            ),
            90,
            "error-ratio alerts resolved (and their resolution notified) after the outage",
        )


def _scrapes_since(live: h.Live, moment: float) -> int:
    series = live.query_range(
        'sum(bentoml_service_request_total{job="serving",http_response_code="500"})',
        moment,
        time.time(),
        h.SCRAPE,
    )
    return len(series[0]["values"]) if series else 0


def _scraped_total(live: h.Live) -> float:
    result = live.query('sum(bentoml_service_request_total{job="serving",endpoint="/predict"})')
    return float(result[0]["value"][1]) if result else -1.0


def _rule_evaluated_after(live: h.Live, moment: float) -> bool:
    answer = httpx.get(f"{live.prometheus_url}/api/v1/rules", timeout=10).json()
    for group in answer["data"]["groups"]:
        for rule in group["rules"]:
            if rule.get("name") == "slo:sli_error:ratio_rate5m":
                evaluated = rule["lastEvaluation"]
                stamp = calendar.timegm(time.strptime(evaluated[:19], "%Y-%m-%dT%H:%M:%S"))
                if stamp <= moment:
                    return False
    return True


def _counters(live: h.Live) -> tuple[float, float]:
    """5xx and all /predict requests, summed over every replica's own /metrics."""
    errors = total = 0.0
    for model in h.MODELS:
        url = f"{live.endpoints.serving[model].url()}/metrics"
        for code in ("500", "503"):
            errors += h.metric_value(
                url,
                "bentoml_service_request_total",
                {"endpoint": "/predict", "http_response_code": code},
            )
        total += h.metric_value(url, "bentoml_service_request_total", {"endpoint": "/predict"})
    return errors, total


def _answered(live: h.Live) -> float:
    """/predict requests answered with a 200, summed over every replica's own /metrics."""
    return sum(
        h.metric_value(
            f"{live.endpoints.serving[model].url()}/metrics",
            "bentoml_service_request_total",
            {"endpoint": "/predict", "http_response_code": "200"},
        )
        for model in h.MODELS
    )


def test_each_fault_raises_its_own_alert_in_time_and_resolves(live: h.Live) -> None:
    models = {f.model for f in fl.catalog_faults()}
    servers.wait_until(
        lambda: not [a for a in live.firing() if a["labels"].get("model") in models],
        90,
        "no alert firing for the models about to be faulted",
    )
    servers.wait_until(
        lambda: bool(live.query(f'{catalog.FEATURE_DRIFT_PSI.name}{{model="{h.DRIFT}"}}')),
        60,
        "drift reported for the drift model",
    )
    faults = fl.run(live, fl.catalog_faults())
    print("\n" + fl.table(live, faults))
    for fault in faults:
        seen = [
            (n.receiver, round(n.received - fault.onset, 1), a["status"])
            for n, a in live.sink.alerts(fault.alert.value) + live.sink.alerts(fault.alert.value, "resolved")
            if a["labels"].get("model") == fault.model
        ]  # fmt: skip
        assert fault.notified is not None, (
            f"{fault.name}: no {fault.alert.value} notification; {sorted(seen, key=lambda x: x[1])}"
        )
        note, alert = next(
            (n, a) for n, a in live.sink.alerts(fault.alert.value)
            if a["labels"].get("model") == fault.model and n.received == fault.notified
        )  # fmt: skip
        assert note.receiver == fault.receiver, fault.name
        assert alert["annotations"]["runbook_url"] == live.spec.runbook_url(fault.alert.value)
        assert alert["annotations"]["summary"]
        assert alert["annotations"]["description"]
        assert fault.time_to_notify is not None
        assert fault.time_to_notify <= fault.allowed(live) + 1.0, fault.name
        assert fault.resolved is not None, f"{fault.name}: no resolved notification"
        # Its own alert, and not the others: what fired for this model during the fault.
        others = (
            {
                a["labels"]["alertname"]
                for n in live.sink.notifications
                if fault.onset <= n.received <= (fault.resolved or time.time())
                for a in n.alerts
                if a["labels"].get("model") == fault.model and a["status"] == "firing"
            }
            - {fault.alert.value}
            - fault.also
        )
        assert others == set(), f"{fault.name} also raised {others}"


def test_a_filling_volume_and_a_container_near_its_memory_limit_notify_in_time_and_resolve(
    live: h.Live,
) -> None:
    """node-exporter (Debian's) reports the filesystem of the live folder, and cAdvisor
    (tools/cadvisor) the live processes' cgroups, each named after its component with the
    memory limit of its spec. A file of a few GB allocated at once on that filesystem raises
    NodeFilesystemFillingUp, and a process eating memory in the Pushgateway's cgroup raises
    PlatformContainerMemoryNearLimit for it; both resolve once the file is deleted and the
    process gone. Each alert runs only where the stack has it (infra.alerts)."""
    live.retune_volumes()  # the volume thresholds from the filesystem as it is now
    try:
        faults, missing = fl.saturation_faults(live)
        if not faults:
            pytest.skip("; ".join(missing))
        print(f"\nfilling {live.fill / 2**30:.1f} GiB over {h.FILL_SECONDS} s; alerting below "
              f"{live.spec.alerts.volume_free_ratio} free, full within "
              f"{live.spec.alerts.volume_full_within}")  # fmt: skip
        faults = fl.run(live, faults)
    finally:
        live.retune_volumes(quiet=True)
    print(fl.table(live, faults))
    for fault in faults:
        assert fault.notified is not None, f"{fault.name}: no {fault.alert.value} notification"
        note, alert = next(
            (n, a) for n, a in live.sink.alerts(fault.alert.value)
            if fault.matches(a["labels"]) and n.received == fault.notified
        )  # fmt: skip
        assert note.receiver == fault.receiver, fault.name
        assert alert["annotations"]["runbook_url"] == live.spec.runbook_url(fault.alert.value)
        assert fault.time_to_notify is not None
        assert fault.time_to_notify <= fault.allowed(live) + 1.0, fault.name
        assert fault.resolved is not None, f"{fault.name}: no resolved notification"
    assert not (live.root / fl.FILL_FILE).exists()
    if missing:  # what ran passed; say what did not run
        pytest.skip("; ".join(missing))


def test_prometheus_keeps_its_samples_across_a_restart(live: h.Live) -> None:
    expr = f'count_over_time(up{{job="serving",model="{h.STEADY}"}}[10m])'
    before = float(live.query(expr)[0]["value"][1])
    live.restart("prometheus")
    after = float(live.query(expr)[0]["value"][1])
    assert after >= before > 30


def test_an_alertmanager_silence_survives_a_restart(live: h.Live) -> None:
    now = time.time()
    silence = {
        "matchers": [
            {"name": "alertname", "value": "ServingFeatureDrift", "isRegex": False, "isEqual": True}
        ],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
        "createdBy": "live-test",
        "comment": "maintenance window",
    }
    created = httpx.post(f"{live.alertmanager_url}/api/v2/silences", json=silence, timeout=5)
    assert created.status_code == 200, created.text
    silence_id = created.json()["silenceID"]
    live.restart("alertmanager")
    kept = httpx.get(f"{live.alertmanager_url}/api/v2/silence/{silence_id}", timeout=5).json()
    assert kept["status"]["state"] == "active"
    assert kept["comment"] == "maintenance window"


def test_the_mlflow_registry_survives_a_restart(live: h.Live) -> None:
    client = MlflowClient(live.mlflow_url)
    before = client.get_model_version_by_alias(h.STEADY, "champion").version
    live.restart("mlflow")
    assert (
        MlflowClient(live.mlflow_url).get_model_version_by_alias(h.STEADY, "champion").version
        == before
    )


def test_the_pushgateway_keeps_pushed_metrics_across_a_restart(live: h.Live) -> None:
    url = f"{live.pushgateway_url}/metrics"
    name = catalog.TRAINING_LAST_SUCCESS.name
    before = h.metric_value(url, name, {"model": h.STEADY})
    assert before > 0
    # Persistence is written every persistence interval and on shutdown (SIGTERM).
    live.restart("pushgateway")
    assert h.metric_value(url, name, {"model": h.STEADY}) == before


def test_an_alert_raised_while_the_receiver_is_down_is_delivered_when_it_returns(
    live: h.Live,
) -> None:
    alert = cv.Alert.TRAINING_MODEL_STALE.value
    live.sink.stop()
    onset = time.time()
    try:
        fl._push_training(live, time.time() - 30 * 86400)
        servers.wait_until(
            lambda: bool(httpx.get(
                f"{live.alertmanager_url}/api/v2/alerts", params={"filter": f'alertname="{alert}"'}, timeout=5
            ).json()),
            60,
            f"{alert} in Alertmanager",
        )  # fmt: skip
        servers.wait_until(  # delivery fails meanwhile; Alertmanager keeps retrying
            lambda: h.metric_value(
                f"{live.alertmanager_url}/metrics",
                "alertmanager_notification_requests_failed_total",
                {"integration": "webhook"},
            ) >= 3,
            60,
            "three failed delivery attempts",
        )  # fmt: skip
        assert not [n for n, _ in live.sink.alerts(alert) if n.received >= onset]
    finally:
        live.sink.start()
    try:
        servers.wait_until(
            lambda: any(n.received >= onset for n, _ in live.sink.alerts(alert)),
            60,
            f"{alert} delivered late",
        )
    finally:
        fl._push_training(live, time.time())
    failed = h.metric_value(
        f"{live.alertmanager_url}/metrics",
        "alertmanager_notification_requests_failed_total",
        {"integration": "webhook"},
    )
    assert failed > 0  # requests did fail first: the delivery was a retry


def test_a_worse_model_promoted_is_rolled_back_by_the_rollback_service_with_no_human_step(
    live: h.Live,
) -> None:
    """The guarded rollback live: a worse version promoted with service.promote pages on
    accuracy; Alertmanager calls the rollback service (bearer token from its
    credentials_file), which moves the alias back; serving follows the alias, the alert
    resolves, the tags and the deployment annotation say why. The same notification again
    rolls nothing back; one without the token is refused (401) and changes nothing."""
    alert = cv.Alert.SERVING_LOW_ACCURACY.value
    control = live.root / "chaos-worse"
    set_fault(control, "wrong")  # this version answers every request with the wrong class
    before = _champion(live)
    worse = h.register_chaos_version(live, h.STEADY, control)
    onset = time.time()
    args = ["--tracking-uri", live.mlflow_url, "--model", h.STEADY]
    assert promote.main([*args, "--pushgateway", live.pushgateway_url, "--version", worse,
                         "--reason", "live test", "--who", "ci"]) == 0  # fmt: skip

    def notified(status: str, since: float) -> list[Any]:
        return [
            (n, a) for n, a in live.sink.alerts(alert, status)
            if a["labels"].get("model_version") == worse and n.received >= since
        ]  # fmt: skip

    servers.wait_until(lambda: bool(notified("firing", onset)), 120, f"{alert} notified")
    note, fired = notified("firing", onset)[0]
    assert note.receiver == "oncall"
    assert fired["labels"]["severity"] == "critical"
    assert fired["annotations"]["runbook_url"] == live.spec.runbook_url(alert)
    servers.wait_until(lambda: _champion(live) == before, 60, "the rollback service's move")
    rolled = time.time()
    client = MlflowClient(live.mlflow_url)
    servers.wait_until(  # the alias moves first, the tags follow, the cooldown's last
        lambda: LAST_ROLLBACK_TAG in client.get_registered_model(h.STEADY).tags,
        30,
        "the rollback's tags",
    )
    print(f"worse model promoted -> {alert} notified after {note.received - onset:.1f} s, "
          f"rolled back {rolled - note.received:.1f} s later")  # fmt: skip
    servers.wait_until(lambda: bool(notified("resolved", rolled)), 120, f"{alert} resolved")
    resolved = notified("resolved", rolled)[0][0].received
    print(f"rollback -> {alert} resolved after {resolved - rolled:.1f} s")
    tags = client.get_model_version(h.STEADY, worse).tags
    assert tags["mlops.rollback_alert"] == alert
    assert tags["mlops.demoted_by"] == "service.rollback"
    assert alert in tags["mlops.demoted_reason"]
    assert tags["mlops.rollback_alert_fingerprint"]  # Alertmanager's own
    assert _decisions(live, "rolled_back") == 1
    events = live.query(str(panels.deployments().build().expr))  # the dashboards' annotation
    assert {(e["metric"]["model_version"], e["metric"]["action"]) for e in events
            if e["metric"]["model"] == h.STEADY} == {(before, "rollback")}  # fmt: skip
    _replayed_and_unauthorized_change_nothing(live, fired, before)


def _champion(live: h.Live) -> str:
    client = MlflowClient(live.mlflow_url)
    return str(client.get_model_version_by_alias(h.STEADY, "champion").version)


def _decisions(live: h.Live, outcome: str) -> float:
    url = f"{live.endpoints[C.ROLLBACK].url()}/metrics"
    return h.metric_value(url, catalog.ROLLBACK_DECISIONS.name, {"model": h.STEADY,
                                                                   "outcome": outcome})  # fmt: skip


def _replayed_and_unauthorized_change_nothing(
    live: h.Live, fired: dict[str, Any], champion: str
) -> None:
    """The notification Alertmanager sent, posted again with the token and without it."""
    url = f"{live.endpoints[C.ROLLBACK].url()}/alerts"
    body = {"version": "4", "status": "firing", "alerts": [fired | {"status": "firing"}]}
    unauthorized = httpx.post(url, json=body, timeout=10)
    assert unauthorized.status_code == 401, unauthorized.text
    assert unauthorized.json()["error"]
    replayed = httpx.post(url, json=body, timeout=10,
                          headers={"Authorization": f"Bearer {h.ROLLBACK_TOKEN}"})  # fmt: skip
    assert replayed.status_code == 200, replayed.text
    assert _champion(live) == champion
    assert _decisions(live, "rolled_back") == 1
    assert _decisions(live, "not_champion") >= 1
