"""prod: Kubernetes, HA everywhere it is stateless or clustered, long retention."""

from __future__ import annotations

from typing import Any

from stacks.base import resources

PROFILE: dict[str, Any] = {
    # Off until staging's decision counts (mlops_rollback_decisions_total) show the guarded
    # rollback acts only when it should: here a human runs `python -m service.promote --rollback`.
    "rollback": {"enabled": False},
    "environment": "prod",
    "target": "kubernetes",
    "name": "mlops-prod",
    "serving": {
        "models": [
            {
                "name": "iris-classifier",
                "alias": "champion",
                "replicas": 3,
                "resources": resources("500m", "1Gi", "2Gi"),
            }
        ],
    },
    "prometheus": {
        # A pair: one replica's loss, restart or upgrade loses no sample and no alert.
        "replicas": 2,
        "retentionTime": "30d",
        "retentionSize": "90GB",
        "storageSize": "100Gi",
        "resources": resources("1", "4Gi", "8Gi"),
        "externalLabels": {"environment": "prod"},
    },
    "pushgateway": {"storageSize": "2Gi"},
    "alertmanager": {"replicas": 3, "storageSize": "2Gi"},
    "otelCollector": {"replicas": 2},
    "mlflow": {"storageSize": "50Gi"},
    "loki": {"retention": "720h", "storage": {"kind": "filesystem", "size": "100Gi"}},
    "tempo": {"retention": "336h", "storage": {"kind": "filesystem", "size": "50Gi"}},
    "grafana": {"url": "https://grafana.mlops.internal"},
    "kubernetes": {"namespace": "mlops-prod"},
    "images": {
        "serving": {"repository": "ghcr.io/mlops-observability/serving", "tag": "0.1.0"},
        "mlflowServer": {
            "repository": "ghcr.io/mlops-observability/mlflow-server",
            "tag": "3.17.2-0.1.0",
        },
    },
}
