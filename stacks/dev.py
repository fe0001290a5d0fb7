"""dev: the whole platform on local Docker, one replica each, short retention."""

from __future__ import annotations

from typing import Any

PROFILE: dict[str, Any] = {
    # Off: dev's promotions are hand-made experiments, which a rollback would undo; turn it on
    # (with a rollbackToken secret) to try the path end to end.
    "rollback": {"enabled": False},
    "environment": "dev",
    "target": "docker",
    "name": "mlops-dev",
    "serving": {"traceSampleRatio": 1.0},
    "prometheus": {"retentionTime": "3d", "storageSize": "5Gi", "scrapeInterval": "15s"},
    "loki": {"retention": "72h"},
    "tempo": {"retention": "72h"},
    "grafana": {"url": "http://127.0.0.1:3000"},
    "kubernetes": {"namespace": "mlops-dev"},
    # Read-only containers on the developer's own machine: node and container figures.
    "saturation": {"nodeExporter": {"enabled": True}},
}
