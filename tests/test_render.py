"""Rendered files: golden copies, wiring between components, no secrets, known metrics only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.known_metrics import KNOWN_METRICS
from infra import conventions as cv
from infra import endpoints as ep
from infra.config import ROOT, StackConfig, load_spec
from infra.render import render_all
from infra.render.__main__ import main as render_main
from infra.render.slo import windows
from service import catalog
from tests.conftest import STACKS, stack_spec
from tests.promql import selectors as _selectors

GOLDEN = Path(__file__).parent / "golden"


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("name", STACKS)
def test_rendered_files_match_the_golden_copies(name: str, rendered: dict[str, Path]) -> None:
    """Refresh with UPDATE_GOLDEN=1 and review the diff before committing."""
    got = _files(rendered[name])
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        for rel, text in got.items():
            (golden / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden / rel).write_text(text)
        for stale in set(_files(golden)) - set(got) if golden.exists() else ():
            (golden / stale).unlink()
    assert sorted(got) == sorted(_files(golden))
    for rel, text in got.items():
        assert text == (golden / rel).read_text(), f"{name}/{rel} differs from its golden copy"


def test_render_command_writes_every_file_of_a_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render_main(["--stack", "prod", "--out", str(tmp_path), "--dir", str(ROOT)]) == 0
    assert set(_files(tmp_path)) == {
        cv.PROMETHEUS_CONFIG, cv.PLATFORM_RULES, cv.SLO_RULES, cv.ALERTMANAGER_CONFIG,
        cv.OTEL_COLLECTOR_CONFIG, cv.LOKI_CONFIG, cv.TEMPO_CONFIG,
    }  # fmt: skip
    assert str(tmp_path / cv.PROMETHEUS_CONFIG) in capsys.readouterr().out


def test_render_command_refuses_a_bad_stack_before_writing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n  mlops:environment: dev\n  mlops:prometheus:\n    retentionTime: forever\n"
    )
    out = tmp_path / "out"
    assert render_main(["--stack", "bad", "--out", str(out), "--dir", str(tmp_path)]) == 2
    assert not out.exists()
    assert "mlops:prometheus.retentionTime: 'forever' is not a duration" in capsys.readouterr().err


def test_renderers_and_the_model_they_read_import_no_pulumi() -> None:
    pure = "infra.render, infra.render.__main__, infra.alerts, infra.queries, infra.layout"
    code = f"import sys, {pure}; print(sorted(m for m in sys.modules if m.startswith('pulumi')))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def _yaml(folder: Path, name: str) -> Any:
    return yaml.safe_load((folder / name).read_text())


def test_prometheus_scrapes_every_component_with_pushgateway_honoring_labels(
    rendered: dict[str, Path],
) -> None:
    config = _yaml(rendered["dev"], cv.PROMETHEUS_CONFIG)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    # Every component; of the collectors, what dev runs (kube-state-metrics and DCGM are not);
    # not the rollback service, which dev leaves off.
    absent = {cv.Component.KUBE_STATE_METRICS, cv.Component.DCGM_EXPORTER, cv.Component.ROLLBACK}
    assert set(jobs) == {cv.JOB[c] for c in cv.Component if c not in absent}
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["prometheus"].get("honor_labels") is None
    assert jobs["serving"]["static_configs"] == [
        {
            "targets": ["mlops-dev-serving-iris-classifier:3000"],
            "labels": {"model": "iris-classifier"},
        }
    ]
    assert jobs["otel-collector"]["static_configs"][0]["targets"] == [
        "mlops-dev-otel-collector:8888"
    ]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "mlops-dev-alertmanager:9093"
    ]
    assert config["rule_files"] == [cv.PLATFORM_RULES, cv.SLO_RULES]
    assert config["global"]["evaluation_interval"] == "15s"


def test_kubernetes_stacks_discover_every_alertmanager_replica_and_serving_pod(
    rendered: dict[str, Path],
) -> None:
    config = _yaml(rendered["prod"], cv.PROMETHEUS_CONFIG)
    am = config["alerting"]["alertmanagers"][0]
    assert am["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["mlops-prod"]
    assert (
        "app.kubernetes.io/name=alertmanager"
        in am["kubernetes_sd_configs"][0]["selectors"][0]["label"]
    )
    serving = next(j for j in config["scrape_configs"] if j["job_name"] == "serving")
    assert {
        "source_labels": ["__meta_kubernetes_pod_label_mlops_dev_model"],
        "target_label": "model",
    } in serving["relabel_configs"]
    # A pair: each replica's series carry its pod name, which its alerts leave behind.
    assert config["global"]["external_labels"] == {"environment": "prod", "replica": "${POD_NAME}"}
    assert config["alerting"]["alert_relabel_configs"] == [
        {"action": "labeldrop", "regex": "replica"}
    ]


def test_endpoints_of_the_live_harness_bind_loopback_and_point_every_exporter_there() -> None:
    spec = stack_spec("dev")
    ports = {
        c: {k: 20000 + i * 10 + j for j, k in enumerate(p)}
        for i, (c, p) in enumerate(cv.PORTS.items())
    }
    local = ep.local(ports, {"iris-classifier": 19999})
    files = render_all(spec, local)
    otel = yaml.safe_load(files[cv.OTEL_COLLECTOR_CONFIG])
    tempo = yaml.safe_load(files[cv.TEMPO_CONFIG])
    loki = yaml.safe_load(files[cv.LOKI_CONFIG])
    assert (
        otel["exporters"]["otlp/tempo"]["endpoint"]
        == f"127.0.0.1:{ports[cv.Component.TEMPO]['otlp-grpc']}"
    )
    assert (
        otel["exporters"]["otlphttp/loki"]["endpoint"]
        == f"http://127.0.0.1:{ports[cv.Component.LOKI]['http']}/otlp"
    )
    assert otel["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].startswith("127.0.0.1:")
    assert tempo["metrics_generator"]["storage"]["remote_write"][0]["url"] == (
        f"http://127.0.0.1:{ports[cv.Component.PROMETHEUS]['http']}/api/v1/write"
    )
    assert loki["server"]["http_listen_address"] == "127.0.0.1"
    for text in files.values():
        assert "0.0.0.0" not in text


def test_retention_reaches_loki_and_tempo_in_their_own_units(rendered: dict[str, Path]) -> None:
    loki = _yaml(rendered["prod"], cv.LOKI_CONFIG)
    tempo = _yaml(rendered["prod"], cv.TEMPO_CONFIG)
    assert loki["limits_config"]["retention_period"] == "30d"
    assert loki["compactor"]["retention_enabled"] is True
    assert tempo["compactor"]["compaction"]["block_retention"] == "14d"


def test_otel_collector_routes_traces_to_tempo_and_logs_to_loki_under_a_memory_limit(
    rendered: dict[str, Path],
) -> None:
    otel = _yaml(rendered["dev"], cv.OTEL_COLLECTOR_CONFIG)
    pipes = otel["service"]["pipelines"]
    assert pipes["traces"]["exporters"] == ["otlp/tempo"]
    assert pipes["logs"]["exporters"] == ["otlphttp/loki"]
    for pipe in pipes.values():
        assert pipe["processors"][0] == "memory_limiter"
        assert pipe["processors"][-1] == "batch"
        assert set(pipe["processors"]) <= set(otel["processors"])
        assert set(pipe["exporters"]) <= set(otel["exporters"])


def test_alertmanager_reads_every_receiver_secret_from_a_mounted_file(
    rendered: dict[str, Path],
) -> None:
    am = _yaml(rendered["prod"], cv.ALERTMANAGER_CONFIG)
    receivers = {r["name"]: r for r in am["receivers"]}
    assert (
        receivers["ml-oncall"]["pagerduty_configs"][0]["routing_key_file"]
        == "/etc/alertmanager/secrets/ml-oncall-routing-key"
    )
    assert (
        receivers["ml-team-slack"]["slack_configs"][0]["api_url_file"]
        == "/etc/alertmanager/secrets/ml-team-slack-url"
    )
    assert (
        receivers["ml-team-email"]["email_configs"][0]["auth_password_file"]
        == "/etc/alertmanager/secrets/ml-team-email-password"
    )
    assert (
        receivers["heartbeat"]["webhook_configs"][0]["url_file"]
        == "/etc/alertmanager/secrets/heartbeat-url"
    )
    watchdog, oncall = am["route"]["routes"][:2]
    # First, so no severity route takes it. Repeated a minute apart: a send happens at a
    # group_interval tick once more than repeat_interval has passed (equal values: 2 minutes),
    # here the fourth 15s tick, half a tick past the repeat either way (timer jitter is ms).
    assert watchdog == {
        "receiver": "heartbeat",
        "matchers": ['alertname="PlatformWatchdog"'],
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": "15s",
        "repeat_interval": "52500ms",
    }
    assert oncall == {
        "receiver": "ml-oncall",
        "matchers": ['severity=~"critical|page"'],
        "continue": True,
    }


def test_secret_values_never_reach_rendered_files_or_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The engine hands the program decrypted secrets; none of them may leak into a file or a log."""
    secrets = {
        "mlops:pagerdutyRoutingKey": "PDKEY-0123456789abcdef",
        "mlops:slackWebhookUrl": "https://hooks.slack.com/services/T0/B0/SLACKSECRET42",
        "mlops:smtpPassword": "smtp-hunter2-secret",
        "mlops:heartbeatUrl": "https://hc-ping.example.com/HEARTBEATSECRET7",
        "mlops:lokiS3Secret": "LOKIS3SECRETKEY",
        "mlops:rwPassword": "REMOTEWRITEPASSWORD",
    }
    doc = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    values = (
        dict(doc)
        | secrets
        | {
            "mlops:loki": {
                "storage": {
                    "kind": "s3",
                    "bucket": "logs",
                    "endpoint": "s3.example.com",
                    "accessKeyIdSecret": "lokiS3Secret",
                    "secretAccessKeySecret": "lokiS3Secret",
                }
            },
            "mlops:prometheus": {
                "remoteWrite": [
                    {
                        "name": "lts",
                        "url": "https://lts.example.com/api/v1/write",
                        "basicAuthUsername": "prom",
                        "passwordSecret": "rwPassword",
                    }
                ]
            },
        }
    )
    spec = load_spec(StackConfig("prod", values, frozenset(secrets)), require_secrets=True)
    files = render_all(spec, ep.for_spec(spec))
    assert "password_file" in files[cv.PROMETHEUS_CONFIG]
    assert "${S3_SECRET_ACCESS_KEY}" in files[cv.LOKI_CONFIG]
    captured = capsys.readouterr()
    haystacks = [*files.values(), captured.out, captured.err, caplog.text, repr(spec)]
    for value in secrets.values():
        for text in haystacks:
            assert value not in text


# Exported by the components and collectors themselves, each with its upstream source.
KNOWN_EXTERNAL = set(KNOWN_METRICS)


@pytest.mark.parametrize("name", STACKS)
def test_every_rule_selects_only_metrics_that_something_exports_or_records(
    name: str, rendered: dict[str, Path]
) -> None:
    exported = {s for m in catalog.CATALOG for s in m.series()} | KNOWN_EXTERNAL
    rules = [
        rule
        for f in (cv.PLATFORM_RULES, cv.SLO_RULES)
        for group in _yaml(rendered[name], f)["groups"]
        for rule in group["rules"]
    ]
    recorded = {r["record"] for r in rules if "record" in r}
    selected = [s for r in rules for s in _selectors(r["expr"])]
    assert len(selected) > 50
    assert set(selected) - exported - recorded == set()


def test_every_alert_has_severity_summary_description_and_a_runbook_from_the_pattern(
    rendered: dict[str, Path],
) -> None:
    spec = stack_spec("prod")
    alerts = [
        rule
        for f in (cv.PLATFORM_RULES, cv.SLO_RULES)
        for group in _yaml(rendered["prod"], f)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    # prod runs neither node-exporter nor a GPU model: it has every other alert.
    not_in_prod = {
        cv.Alert.NODE_FILESYSTEM_FILLING_UP,
        cv.Alert.NODE_MEMORY_LOW,
        cv.Alert.SERVING_GPU_MEMORY_NEAR_FULL,
        cv.Alert.SERVING_GPU_SATURATED,
    }
    slo_alerts = {name for slo in spec.slos for name in slo.alert_names}
    runbooks = {
        n: r for slo in spec.slos for n, r in zip(slo.alert_names, slo.runbook_names, strict=True)
    }
    assert {a["alert"] for a in alerts} == {
        a.value for a in set(cv.Alert) - not_in_prod
    } | slo_alerts
    assert len(alerts) == len(cv.Alert) - len(not_in_prod) + 2 * len(spec.slos)
    for alert in alerts:
        assert cv.ALERT_NAME_RE.match(alert["alert"])
        assert alert["labels"]["severity"] in {s.value for s in cv.Severity}
        assert alert["annotations"]["summary"]
        assert alert["annotations"]["description"]
        runbook = runbooks.get(alert["alert"], alert["alert"])  # an SLO's shared one, or its own
        assert alert["annotations"]["runbook_url"] == spec.runbook_url(runbook)


def test_alert_overrides_change_for_and_severity_or_drop_the_alert() -> None:
    values = {
        "mlops:environment": "dev",
        "mlops:alertOverrides": {
            "ServingFeatureDrift": {"disabled": True},
            "ServingHighLatencyP95": {"for": "20m", "severity": "critical"},
            "ServingLatencyErrorBudgetBurnTicket": {"disabled": True},
        },
    }
    spec = load_spec(StackConfig("t", values))
    files = render_all(spec, ep.for_spec(spec))
    platform = [r for g in yaml.safe_load(files[cv.PLATFORM_RULES])["groups"] for r in g["rules"]]
    slo = [
        r.get("alert") for g in yaml.safe_load(files[cv.SLO_RULES])["groups"] for r in g["rules"]
    ]
    by_name = {r["alert"]: r for r in platform}
    assert "ServingFeatureDrift" not in by_name
    assert by_name["ServingHighLatencyP95"]["for"] == "20m"
    assert by_name["ServingHighLatencyP95"]["labels"]["severity"] == "critical"
    assert "ServingLatencyErrorBudgetBurnTicket" not in slo
    assert "ServingLatencyErrorBudgetBurnPage" in slo


def test_slo_windows_are_data_with_the_google_burn_factors() -> None:
    factors = {
        (w.severity.value, w.long, w.short): str(w.factor.normalize()) for w in windows("30d")
    }
    assert factors == {
        ("page", "1h", "5m"): "14.4",
        ("page", "6h", "30m"): "6",
        ("ticket", "1d", "2h"): "3",
        ("ticket", "3d", "6h"): "1",
    }


def test_slo_thresholds_are_exact_decimals_not_float_products(rendered: dict[str, Path]) -> None:
    text = (rendered["dev"] / cv.SLO_RULES).read_text()
    assert "> 0.0144)" in text  # 14.4 x 0.001 for 99.9%
    spec = load_spec(StackConfig("t", {"mlops:environment": "dev", "mlops:slos": [
        {"name": "p99", "description": "d", "objective": 99.95, "sli": {"latency": {"thresholdSeconds": 0.25}}}
    ]}))  # fmt: skip
    assert "> 0.0072)" in render_all(spec, ep.for_spec(spec))[cv.SLO_RULES]  # 14.4 x 0.0005
    thresholds = re.findall(r" > ([^)\s]+)\)", text)
    assert thresholds
    assert all(re.fullmatch(r"\d+\.\d+", t) for t in thresholds), thresholds
