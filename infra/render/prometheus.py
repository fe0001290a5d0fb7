"""prometheus.yml: what Prometheus scrapes, where its rules are, whom it alerts."""

from __future__ import annotations

from typing import Any

from infra import budgets, layout
from infra import conventions as cv
from infra.endpoints import Endpoint, Endpoints
from infra.render._yaml import dump
from infra.render.saturation import collector_job, kubelet_jobs
from infra.spec import PlatformSpec

# The variable each replica's pod name is in (from the Kubernetes downward API), which
# Prometheus expands in external labels.
REPLICA_ENV = "POD_NAME"


def _discovery(endpoint: Endpoint, port: str) -> dict[str, Any]:
    """Targets of one endpoint: static host:port, or Kubernetes pods selected by label."""
    if endpoint.discovery is None:
        return {"static_configs": [{"targets": endpoint.targets(port)}]}
    selector = ",".join(f"{k}={v}" for k, v in endpoint.discovery.labels.items())
    return {
        "kubernetes_sd_configs": [
            {
                "role": "pod",
                "namespaces": {"names": [endpoint.discovery.namespace]},
                "selectors": [{"role": "pod", "label": selector}],
            }
        ],
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_number"],
                "regex": str(endpoint.ports[port]),
                "action": "keep",
            },
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }


def _job(component: cv.Component, endpoints: Endpoints, **extra: Any) -> dict[str, Any]:
    discovery = _discovery(endpoints[component], cv.SCRAPE_PORT[component])
    return {"job_name": cv.JOB[component], **extra, **discovery}


def _serving_job(spec: PlatformSpec, endpoints: Endpoints) -> dict[str, Any]:
    """One job for every served model; each target carries the `model` it serves.

    honor_labels keeps the service's own `model` label on its ML metrics; it is
    the same value as the target label, which BentoML's request metrics lack.
    """
    job: dict[str, Any] = {"job_name": cv.JOB[cv.Component.SERVING], "honor_labels": True}
    models = [(m.name, endpoints.serving[m.name]) for m in spec.serving.models]
    if all(e.discovery is None for _, e in models):
        job["static_configs"] = [
            {"targets": e.targets(), "labels": {cv.MODEL_LABEL: name}} for name, e in models
        ]
        return job
    job["kubernetes_sd_configs"] = [
        sd for _, e in models for sd in _discovery(e, "http")["kubernetes_sd_configs"]
    ]
    port = str(cv.PORTS[cv.Component.SERVING]["http"])
    model_label = "__meta_kubernetes_pod_label_" + "".join(
        c if c.isalnum() else "_" for c in cv.LABEL_MODEL
    )
    job["relabel_configs"] = [
        {
            "source_labels": ["__meta_kubernetes_pod_container_port_number"],
            "regex": port,
            "action": "keep",
        },
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": [model_label], "target_label": cv.MODEL_LABEL},
    ]
    return job


def _saturation_jobs(spec: PlatformSpec, endpoints: Endpoints) -> list[dict[str, Any]]:
    """The collectors the stack runs (and endpoints reach), then the kubelets."""
    jobs = [
        collector_job(c, spec, endpoints, _discovery(endpoints[c], cv.SCRAPE_PORT[c]))
        for c in sorted(spec.collectors)
        if c in endpoints
    ]
    return jobs + kubelet_jobs(spec)


def with_limits(job: dict[str, Any], spec: PlatformSpec) -> dict[str, Any]:
    """The job with the scrape limits of its budget (infra.budgets) after its name."""
    name = job["job_name"]
    return {"job_name": name, **budgets.limits(budgets.job_budget(name, spec)), **job}


def remote_write_secret(remote: str, field: str) -> str:
    """Where Prometheus reads a remote-write credential (mounted from a Secret)."""
    return layout.of(cv.Component.PROMETHEUS).secret(remote, field)


def _remote_write(spec: PlatformSpec, endpoints: Endpoints) -> list[dict[str, Any]]:
    out = []
    for rw in spec.prometheus.remote_write:
        entry: dict[str, Any] = {"name": rw.name, "url": str(rw.url)}
        if rw.basic_auth_username and rw.password_secret:
            entry["basic_auth"] = {
                "username": rw.basic_auth_username,
                "password_file": endpoints.path(remote_write_secret(rw.name, "password")),
            }
        if rw.bearer_token_secret:
            entry["authorization"] = {
                "credentials_file": endpoints.path(remote_write_secret(rw.name, "token"))
            }
        if rw.drop_replica_label and spec.prometheus.replicas > 1:
            label = spec.prometheus.replica_label
            entry["write_relabel_configs"] = [{"action": "labeldrop", "regex": label}]
        out.append(entry)
    return out


def prometheus_config(spec: PlatformSpec, endpoints: Endpoints) -> str:
    p = spec.prometheus
    glob: dict[str, Any] = {
        "scrape_interval": p.scrape_interval,
        "scrape_timeout": p.scrape_timeout,
        "evaluation_interval": p.evaluation_interval,
    }
    labels = dict(p.external_labels)
    if p.replicas > 1:
        labels[p.replica_label] = "${" + REPLICA_ENV + "}"  # expanded by Prometheus at load
    if labels:
        glob["external_labels"] = labels
    am = endpoints[cv.Component.ALERTMANAGER]
    alerting: dict[str, Any] = {"alertmanagers": [{"api_version": "v2", **_discovery(am, "http")}]}
    if p.replicas > 1:
        # The replicas' alerts must be identical for Alertmanager to take them as one.
        alerting["alert_relabel_configs"] = [{"action": "labeldrop", "regex": p.replica_label}]
    scrape = [_job(cv.Component.PROMETHEUS, endpoints), _serving_job(spec, endpoints)]
    scrape += [
        # Pushed series keep the job and instance labels their pusher gave them.
        _job(c, endpoints, honor_labels=True)
        if c is cv.Component.PUSHGATEWAY
        else _job(c, endpoints)
        for c in (
            cv.Component.MLFLOW,
            cv.Component.PUSHGATEWAY,
            cv.Component.ALERTMANAGER,
            cv.Component.OTEL_COLLECTOR,
            cv.Component.LOKI,
            cv.Component.TEMPO,
            cv.Component.ROLLBACK,
        )
        if c in endpoints  # a component the endpoints leave out does not run
    ]
    if spec.grafana.deployed and cv.Component.GRAFANA in endpoints:
        scrape.append(_job(cv.Component.GRAFANA, endpoints))
    scrape += _saturation_jobs(spec, endpoints)
    document: dict[str, Any] = {
        "global": glob,
        "rule_files": [cv.PLATFORM_RULES, cv.SLO_RULES],
        "alerting": alerting,
        "scrape_configs": [with_limits(job, spec) for job in scrape],
    }
    if p.remote_write:
        document["remote_write"] = _remote_write(spec, endpoints)
    return dump(
        document,
        f"Prometheus configuration of stack {spec.name}. Rendered by infra.render; do not edit.",
    )
