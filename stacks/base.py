"""What every environment shares: pinned images, SLOs, routing shape, thresholds."""

from __future__ import annotations

from typing import Any


def resources(cpu: str, memory: str, memory_limit: str) -> dict[str, str]:
    return {"cpuRequest": cpu, "memoryRequest": memory, "memoryLimit": memory_limit}


PROFILE: dict[str, Any] = {
    "images": {
        "servingBase": {"repository": "python", "tag": "3.11.13-slim-bookworm"},
        "mlflow": {"repository": "ghcr.io/mlflow/mlflow", "tag": "v3.17.2"},
        "prometheus": {"repository": "prom/prometheus", "tag": "v3.5.0"},
        "pushgateway": {"repository": "prom/pushgateway", "tag": "v1.11.1"},
        "alertmanager": {"repository": "prom/alertmanager", "tag": "v0.28.1"},
        "otelCollector": {"repository": "otel/opentelemetry-collector-contrib", "tag": "0.140.1"},
        "loki": {"repository": "grafana/loki", "tag": "3.5.1"},
        "tempo": {"repository": "grafana/tempo", "tag": "2.8.1"},
        "grafana": {"repository": "grafana/grafana", "tag": "12.0.2"},
        "nodeExporter": {"repository": "prom/node-exporter", "tag": "v1.9.1"},
        "cadvisor": {"repository": "gcr.io/cadvisor/cadvisor", "tag": "v0.52.1"},
        "kubeStateMetrics": {
            "repository": "registry.k8s.io/kube-state-metrics/kube-state-metrics",
            "tag": "v2.16.0",
        },
        "dcgmExporter": {
            "repository": "nvcr.io/nvidia/k8s/dcgm-exporter",
            "tag": "4.2.3-4.1.3-ubuntu22.04",
        },
    },
    "serving": {
        "models": [
            {
                "name": "iris-classifier",
                "alias": "champion",
                "replicas": 1,
                "resources": resources("250m", "512Mi", "1Gi"),
            }
        ],
    },
    "mlflow": {
        "backendStore": {"kind": "sqlite"},
        "artifactStore": {"kind": "local", "uri": "/mlflow/artifacts"},
        "resources": resources("250m", "1Gi", "2Gi"),
    },
    "prometheus": {
        "resources": resources("250m", "1Gi", "2Gi"),
    },
    "pushgateway": {
        "resources": resources("50m", "64Mi", "128Mi"),
    },
    "alertmanager": {
        "resources": resources("50m", "64Mi", "128Mi"),
        "receivers": [{"name": "default", "kind": "discard"}],
        "route": {
            "receiver": "default",
            "groupBy": ["alertname", "model", "sloth_slo"],
            "groupWait": "30s",
            "groupInterval": "5m",
            "repeatInterval": "4h",
        },
        "inhibitRules": [
            {
                # A critical alert about a model mutes that model's warnings (only alerts
                # that name a model: an empty label would match every other empty one).
                "sourceMatchers": ['severity="critical"', 'model=~".+"'],
                "targetMatchers": ['severity="warning"'],
                "equal": ["model"],
            },
            {
                "sourceMatchers": ['severity="page"'],
                "targetMatchers": ['severity="ticket"'],
                "equal": ["sloth_slo"],
            },
            {
                "sourceMatchers": ['alertname="PlatformTargetDown"', 'job="serving"'],
                "targetMatchers": ['alertname="ServingModelNotLoaded"'],
                # The replica that is down, not every replica of the model.
                "equal": ["instance"],
            },
        ],
    },
    "otelCollector": {
        "resources": resources("100m", "256Mi", "512Mi"),
        "memoryLimitMib": 400,
    },
    "loki": {
        "storage": {"kind": "filesystem", "size": "10Gi"},
        "resources": resources("100m", "256Mi", "1Gi"),
    },
    "tempo": {
        "storage": {"kind": "filesystem", "size": "10Gi"},
        "resources": resources("100m", "256Mi", "1Gi"),
    },
    "grafana": {
        "adminUser": "admin",
        "resources": resources("100m", "128Mi", "512Mi"),
    },
    "saturation": {
        # Off unless a stack opts in: on kubernetes it is the one workload with host access.
        "nodeExporter": {"enabled": False, "resources": resources("50m", "32Mi", "64Mi")},
        "cadvisor": {"resources": resources("100m", "128Mi", "256Mi")},
        "kubeStateMetrics": {"resources": resources("50m", "64Mi", "256Mi")},
        "dcgmExporter": {"resources": resources("100m", "256Mi", "512Mi")},
    },
    "slos": [
        {
            "name": "serving-availability",
            "service": "serving",
            "description": "99.9% of prediction requests are answered without a server error.",
            "objective": 99.9,
            "period": "30d",
            "sli": {
                "events": {
                    "errorQuery": 'sum(rate(bentoml_service_request_total{job="serving",'
                    'endpoint="/predict",http_response_code=~"5.."}[{{.window}}])) or vector(0)',
                    "totalQuery": 'sum(rate(bentoml_service_request_total{job="serving",'
                    'endpoint="/predict"}[{{.window}}]))',
                }
            },
        },
        {
            "name": "serving-latency",
            "service": "serving",
            "description": "99.9% of prediction requests are answered within 500 ms.",
            "objective": 99.9,
            "period": "30d",
            "sli": {
                "latency": {
                    "thresholdSeconds": 0.5,
                    "selector": 'job="serving",endpoint="/predict"',
                }
            },
        },
    ],
    "alerts": {},
    "runbookUrlPattern": "https://github.com/mlops-observability/platform/blob/main/docs/runbooks/{alert}.md",
    "docker": {"bindAddress": "127.0.0.1"},
}
