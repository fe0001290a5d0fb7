"""Metrics the platform's components export about themselves, which dashboards may query.

`service.catalog` lists what our code exports; this lists the rest: series
Prometheus, Alertmanager and the Pushgateway expose on their own /metrics (or,
for `up`, that Prometheus writes for every scrape). The dashboard tests accept a
queried metric only if it is in the catalog, here, or recorded by our rules,
so a typo or a metric renamed upstream fails a test instead of drawing an
empty panel. Each entry names where the metric is defined upstream; add one
only after checking the component's /metrics at the pinned image version.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

KNOWN_METRICS: Final[MappingProxyType[str, str]] = MappingProxyType(
    {
        "up": "Prometheus scrape loop, one sample per target and scrape "
        "(prometheus/prometheus scrape/scrape.go)",
        "prometheus_rule_evaluation_failures_total": "Prometheus rule manager "
        "(prometheus/prometheus rules/group.go)",
        "prometheus_rule_group_last_duration_seconds": "Prometheus rule manager "
        "(prometheus/prometheus rules/group.go)",
        "prometheus_tsdb_head_series": "Prometheus TSDB (prometheus/prometheus tsdb/head.go)",
        "prometheus_notifications_dropped_total": "Prometheus notifier "
        "(prometheus/prometheus notifier/metric.go)",
        "alertmanager_notifications_total": "Alertmanager notification pipeline "
        "(prometheus/alertmanager notify/notify.go)",
        "alertmanager_notifications_failed_total": "Alertmanager notification pipeline "
        "(prometheus/alertmanager notify/notify.go)",
        "alertmanager_alerts": "Alertmanager alert store, by state "
        "(prometheus/alertmanager provider/mem/mem.go)",
        "ALERTS": "Prometheus rule manager, one series per pending or firing alert "
        "(prometheus/prometheus rules/alerting.go)",
        "push_time_seconds": "Pushgateway, last successful push of each group "
        "(prometheus/pushgateway storage/diskmetricstore.go)",
        "push_failure_time_seconds": "Pushgateway, last failed push of each group "
        "(prometheus/pushgateway storage/diskmetricstore.go)",
    }
)
