"""Platform: is the monitoring itself working? Targets, Prometheus, Alertmanager, Pushgateway.

Every other dashboard and every alert trusts this machinery. A target that is
down, a rule group that fails to evaluate, a notification that never leaves
Alertmanager or a batch job that stopped pushing all look like silence
elsewhere; here they show. The metrics come from the components themselves
(see `dashboards.known_metrics`), and the thresholds are the stack's alerts'.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, stat, timeseries

from dashboards import panels as p
from dashboards import resources
from infra import conventions as cv
from infra import queries as q
from infra.spec import PlatformSpec

UID = "mlops-platform"
FOLDER = cv.FOLDER_UID["platform"]

PROMETHEUS = q.PROMETHEUS
ALERTMANAGER = q.ALERTMANAGER


def targets_up() -> stat.Panel:
    return (
        p.stat_panel(
            "Targets up per job",
            "Share of each scrape job's targets Prometheus reached at the last scrape. A "
            "target down for 5 minutes fires PlatformTargetDown.",
            p.RATIO,
        )
        .span(p.HALF)
        .height(p.HEIGHT)
        .thresholds(p.thresholds(p.RED, (1, p.GREEN)))
        .with_target(p.prom("sum by (job) (up)\n/\ncount by (job) (up)", "{{job}}", instant=True))
    )


def targets_history() -> timeseries.Panel:
    return (
        p.timeseries_panel(
            "Target availability",
            "1 when a target answered its scrape, 0 when it did not, per target.",
            p.NO_UNIT,
        )
        .min(0)
        .max(1)
        .with_target(p.prom("min by (job, instance) (up)", "{{job}} {{instance}}"))
    )


def sample_limit_use(spec: PlatformSpec) -> timeseries.Panel:
    panel = (
        p.timeseries_panel(
            "Samples per target over its sample limit",
            "Each target's samples after relabelling over its job's sample_limit (its "
            "cardinality budget x 1.5, infra/budgets.py). The dashed lines are where "
            "PrometheusTargetNearSampleLimit fires and where Prometheus drops the scrapes.",
            p.RATIO,
        )
        .span(p.FULL)
        .min(0)
    )
    fires_at = p.fires_at(spec, cv.Alert.PROMETHEUS_TARGET_NEAR_SAMPLE_LIMIT)
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.ORANGE), (1, p.RED)).with_target(
        p.prom(q.sample_limit_ratio(), "{{job}} {{instance}}")
    )


def rule_failures() -> timeseries.Panel:
    panel = p.timeseries_panel(
        "Rule evaluation failures",
        "Failed evaluations per rule group. Any failure for 15 minutes fires "
        "PrometheusRuleEvaluationFailures: the alerts and SLOs of that group are blind.",
        p.COUNT,
    ).min(0)
    return p.threshold_lines(panel, p.GREEN, (1, p.RED)).with_target(
        p.prom(f"sum by (rule_group) ({q.rule_failures('$__rate_interval')})", "{{rule_group}}")
    )


def rule_duration() -> timeseries.Panel:
    return p.timeseries_panel(
        "Rule group evaluation time",
        "How long the last evaluation of each rule group took; it must stay well below "
        "the evaluation interval.",
        p.SECONDS,
    ).with_target(
        p.prom(
            f"max by (rule_group) (prometheus_rule_group_last_duration_seconds{{{PROMETHEUS}}})",
            "{{rule_group}}",
        )
    )


def head_series() -> timeseries.Panel:
    return p.timeseries_panel(
        "Head series",
        "Series in Prometheus' in-memory head block: cardinality, and so memory.",
        p.COUNT,
    ).with_target(p.prom(f"prometheus_tsdb_head_series{{{PROMETHEUS}}}", "{{instance}}"))


def notifications_dropped() -> timeseries.Panel:
    return p.timeseries_panel(
        "Alerts dropped on the way to Alertmanager",
        "Alert notifications Prometheus dropped, per second: alerts that fired but reached nobody.",
        p.EVENTS_PER_SECOND,
    ).with_target(
        p.prom(
            "sum by (instance) (rate(prometheus_notifications_dropped_total"
            f"{{{PROMETHEUS}}}[$__rate_interval]))",
            "{{instance}}",
        )
    )


def notifications() -> timeseries.Panel:
    return (
        p.timeseries_panel(
            "Notifications by integration",
            "Notifications Alertmanager sent and failed to send, per second, by integration.",
            p.EVENTS_PER_SECOND,
        )
        .with_target(
            p.prom(
                "sum by (integration) (rate(alertmanager_notifications_total"
                f"{{{ALERTMANAGER}}}[$__rate_interval]))",
                "{{integration}} sent",
            )
        )
        .with_target(
            p.prom(
                "sum by (integration) (rate(alertmanager_notifications_failed_total"
                f"{{{ALERTMANAGER}}}[$__rate_interval]))",
                "{{integration}} failed",
                ref_id="B",
            )
        )
    )


def notification_failures(spec: PlatformSpec) -> timeseries.Panel:
    panel = p.timeseries_panel(
        "Notification failure ratio",
        "Share of notifications that failed, by integration. The dashed line is where "
        "AlertmanagerNotificationsFailing fires.",
        p.RATIO,
    ).min(0)
    fires_at = p.fires_at(spec, cv.Alert.ALERTMANAGER_NOTIFICATIONS_FAILING)
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.RED)).with_target(
        p.prom(q.notification_failure_ratio("integration", "$__rate_interval"), "{{integration}}")
    )


def active_alerts() -> timeseries.Panel:
    return p.stacked(
        p.timeseries_panel(
            "Alerts in Alertmanager",
            "Alerts Alertmanager holds, by state (active, suppressed by silences or "
            "inhibitions, unprocessed); the Watchdog is always one of the active.",
            p.COUNT,
        )
    ).with_target(p.prom(f"sum by (state) (alertmanager_alerts{{{ALERTMANAGER}}})", "{{state}}"))


def watchdog() -> stat.Panel:
    name = cv.Alert.WATCHDOG.value
    return (
        p.stat_panel(
            "Watchdog",
            f"1 while {name}, which always fires, is firing: Prometheus evaluates its rules. "
            "The stack's heartbeat receiver (a dead man's switch outside the platform) hears "
            "it too; 0 means no alert can fire.",
            p.NO_UNIT,
        )
        .span(p.HALF)
        .thresholds(p.thresholds(p.RED, (1, p.GREEN)))
        .with_target(
            p.prom(
                f'count(ALERTS{{alertname="{name}", alertstate="firing"}}) or vector(0)',
                "firing",
                instant=True,
            )
        )
    )


def job_freshness(spec: PlatformSpec) -> stat.Panel:
    max_age = p.fires_at(spec, cv.Alert.PUSHGATEWAY_JOB_STALE)
    return (
        p.stat_panel(
            "Batch job freshness",
            "Time since each batch job last pushed to the Pushgateway. Red from the age at "
            "which PushgatewayJobStale fires.",
            p.SECONDS,
        )
        .span(p.FULL)
        .thresholds(p.thresholds(p.GREEN, (max_age / 2, p.ORANGE), (max_age, p.RED)))
        .with_target(p.prom(q.push_age('job!=""'), "{{job}}", instant=True))
    )


def platform_dashboard(spec: PlatformSpec) -> dashboard.Dashboard:
    watchdog_off = not p.alert(spec, cv.Alert.WATCHDOG).enabled
    board = (
        p.base(
            UID,
            "Platform health",
            "Scrape targets, Prometheus, Alertmanager and the Pushgateway: the monitoring "
            "that every other dashboard and alert relies on.",
            ["platform"],
            time_from="now-6h",
            refresh="1m",
        )
        .link(resources.link())
        .with_row(p.row("Targets"))
        .with_panel(targets_up())
        .with_panel(targets_history())
        .with_panel(sample_limit_use(spec))
        .with_row(p.row("Prometheus"))
        .with_panel(rule_failures())
        .with_panel(rule_duration())
        .with_panel(head_series())
        .with_panel(notifications_dropped())
        .with_row(p.row("Alertmanager"))
        .with_panel(notifications())
        .with_panel(notification_failures(spec))
        .with_panel(active_alerts().span(p.FULL if watchdog_off else p.HALF))
    )
    if not watchdog_off:
        board = board.with_panel(watchdog())
    return board.with_row(p.row("Pushgateway")).with_panel(job_freshness(spec))
