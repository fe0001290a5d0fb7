"""Pushing batch-job metrics to the Pushgateway, named and described by the catalog."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, pushadd_to_gateway

from service.catalog import Kind, Metric


def push(
    url: str,
    job: str,
    grouping: Mapping[str, str],
    values: Iterable[tuple[Metric, Mapping[str, str], float]],
    *,
    replace: bool = True,
) -> None:
    """Push gauge values for one job and group.

    `replace` (HTTP PUT) drops the group's other metrics; without it (POST) only
    the metrics pushed now change, so a failed run can report its outcome and
    keep the timestamp of the last success.
    """
    registry = CollectorRegistry()
    gauges: dict[str, Gauge] = {}
    for metric, labels, value in values:
        if metric.kind is not Kind.GAUGE:
            raise ValueError(f"{metric.name} is a {metric.kind}: batch jobs push gauges only")
        gauge = gauges.get(metric.name)
        if gauge is None:
            gauge = gauges[metric.name] = Gauge(
                metric.name, metric.help, metric.labels, registry=registry
            )
        gauge.labels(**labels).set(value)
    send = push_to_gateway if replace else pushadd_to_gateway
    send(url, job=job, grouping_key=dict(grouping), registry=registry, timeout=10)
