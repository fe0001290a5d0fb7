"""staging: Kubernetes, prod-shaped (HA Alertmanager, volumes), less retention."""

from __future__ import annotations

from typing import Any

PROFILE: dict[str, Any] = {
    "environment": "staging",
    "target": "kubernetes",
    "name": "mlops-staging",
    "prometheus": {
        "retentionTime": "15d",
        "retentionSize": "18GB",
        "storageSize": "20Gi",
        "externalLabels": {"environment": "staging"},
    },
    "pushgateway": {"storageSize": "1Gi"},
    "alertmanager": {"replicas": 2},
    "mlflow": {"storageSize": "10Gi"},
    "loki": {"retention": "168h", "storage": {"kind": "filesystem", "size": "20Gi"}},
    "tempo": {"retention": "168h", "storage": {"kind": "filesystem", "size": "20Gi"}},
    "grafana": {"url": "https://grafana.staging.mlops.internal"},
    "kubernetes": {"namespace": "mlops-staging"},
    # Opted in: staging's cluster owners allow node-exporter's host access in its namespace.
    "saturation": {"nodeExporter": {"enabled": True}},
    # On: staging is where the guarded rollback earns trust, on prod-shaped alerts and
    # promotions made to be tried. prod keeps it off until staging's decision counts show it
    # acts only when it should; dev's promotions are hand-made experiments it would undo.
    "rollback": {"enabled": True, "tokenSecret": "rollbackToken"},
    "images": {
        "serving": {"repository": "ghcr.io/mlops-observability/serving", "tag": "0.1.0"},
        "mlflowServer": {
            "repository": "ghcr.io/mlops-observability/mlflow-server",
            "tag": "3.17.2-0.1.0",
        },
    },
}
