"""The pieces every dashboard is made of: datasource refs by uid, queries, panel defaults.

Panels and queries name their datasource by the uid the platform provisions
(`conventions.DATASOURCE_UID`), never by name or "default", so a dashboard
reads the same data in every Grafana it is loaded into. Selectors and queries
come from `infra.queries`, which the alerts are built from too, and the lines
an alert fires at from the stack's resolved alerts (`infra.alerts`), so a
panel and the alert about it look at the same series and the same threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard, heatmap, loki, prometheus, stat, timeseries
from grafana_foundation_sdk.models import common, units
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import heatmap as heatmap_model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from infra import alerts
from infra import conventions as cv
from infra.alerts import ResolvedAlert
from infra.spec import PlatformSpec
from service import catalog

DatasourceKind = Literal["prometheus", "loki", "tempo"]

# Units, by what the panels show.
REQUESTS_PER_SECOND: str = units.RequestsPerSecond
EVENTS_PER_SECOND: str = units.OpsPerSecond
RATIO: str = units.PercentUnit
SECONDS: str = units.Seconds
COUNT: str = units.Short
BYTES: str = units.BytesIEC
BYTES_PER_SECOND: str = units.BytesPerSecondIEC
NO_UNIT: str = units.NoUnit

# Grid: 24 columns; panels are a third, half or the whole width.
THIRD, HALF, FULL = 8, 12, 24
HEIGHT = 8
STAT_HEIGHT = 5

GREEN, YELLOW, ORANGE, RED = "green", "yellow", "orange", "red"


def datasource(kind: DatasourceKind) -> model.DataSourceRef:
    """A reference to one of the platform's datasources; the plugin type is the kind's name."""
    return model.DataSourceRef(type_val=kind, uid=cv.DATASOURCE_UID[kind])


def number(value: float | Decimal) -> float:
    """A spec number (a float or an exact Decimal) as Grafana's JSON holds it: 6, not 6.0."""
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


def alert(spec: PlatformSpec, name: str) -> ResolvedAlert:
    """One alert as the stack raises it."""
    return alerts.by_name(spec)[name]


def fires_at(spec: PlatformSpec, name: str) -> float:
    """The value an alert fires at, as a threshold line draws it."""
    threshold = alert(spec, name).threshold
    assert threshold is not None, f"{name} has no threshold to draw"
    return number(threshold)


def prom(
    expr: str,
    legend: str = "__auto",
    *,
    ref_id: str = "A",
    instant: bool = False,
    exemplar: bool = False,
    fmt: PromQueryFormat | None = None,
) -> prometheus.Dataquery:
    query = (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref_id)
        .datasource(datasource("prometheus"))
    )
    query = query.instant() if instant else query.range()
    if exemplar:
        query = query.exemplar(True)
    if fmt is not None:
        query = query.format(fmt)
    return query


def logql(expr: str, legend: str = "", *, ref_id: str = "A") -> loki.Dataquery:
    return (
        loki.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref_id)
        .datasource(datasource("loki"))
    )


def thresholds(base: str, *steps: tuple[float, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds: `base` below the first step, then each step's color from its value up."""
    return (
        dashboard.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps(
            [model.Threshold(value=None, color=base)]
            + [model.Threshold(value=v, color=c) for v, c in sorted(steps)]
        )
    )


def value_text(texts: dict[str, tuple[str, str]]) -> list[model.ValueMapping]:
    """Value mappings: raw value -> (text shown, color)."""
    return [
        model.ValueMap(
            options={
                value: model.ValueMappingResult(text=text, color=color, index=i)
                for i, (value, (text, color)) in enumerate(texts.items())
            }
        )
    ]


def timeseries_panel(
    title: str, description: str, unit: str, *, kind: DatasourceKind = "prometheus"
) -> timeseries.Panel:
    """A line chart with the platform's defaults: legend as a table with last and max values."""
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(datasource(kind))
        .unit(unit)
        .span(HALF)
        .height(HEIGHT)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .draw_style(common.GraphDrawStyle.LINE)
        .span_nulls(False)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )


def threshold_lines(
    panel: timeseries.Panel, base: str, *steps: tuple[float, str]
) -> timeseries.Panel:
    """Draw thresholds as dashed lines on a chart, e.g. the value an alert fires at."""
    return panel.thresholds(thresholds(base, *steps)).thresholds_style(
        common_builder.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
    )


def stacked(panel: timeseries.Panel) -> timeseries.Panel:
    return panel.fill_opacity(40).stacking(
        common_builder.StackingConfig().mode(common.StackingMode.NORMAL)
    )


def stat_panel(title: str, description: str, unit: str, *, graph: bool = False) -> stat.Panel:
    """One big number per series, the last value, colored by thresholds."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(datasource("prometheus"))
        .unit(unit)
        .span(THIRD)
        .height(STAT_HEIGHT)
        .graph_mode(common.BigValueGraphMode.AREA if graph else common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def heatmap_panel(title: str, description: str, unit: str) -> heatmap.Panel:
    """A heatmap of histogram buckets, as Prometheus returns them (no recalculation)."""
    return (
        heatmap.Panel()
        .title(title)
        .description(description)
        .datasource(datasource("prometheus"))
        .span(HALF)
        .height(HEIGHT)
        .calculate(False)
        .color(
            heatmap.HeatmapColorOptions()
            .mode(heatmap_model.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .fill("dark-orange")
            .scale(heatmap_model.HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .steps(64)
        )
        .y_axis(heatmap.YAxisConfig().unit(unit))
        .cell_gap(1)
        .show_legend()
    )


def buckets(expr: str, *, exemplar: bool = False) -> prometheus.Dataquery:
    """A histogram query shaped for a heatmap: one row per `le`."""
    return prom(expr, "{{le}}", exemplar=exemplar, fmt=PromQueryFormat.HEATMAP)


def row(title: str) -> dashboard.Row:
    return dashboard.Row(title)


DEPLOYMENT_MARK_SECONDS = 120


def deployments() -> dashboard.AnnotationQuery:
    """Every move of a serving alias (promotion or rollback), from the deployment event that
    service.promote and service.rollback push, drawn for two minutes from the move with its
    model, version and action. The event's value is the move's time: a rollback pushes a new
    series (another version, action), so `changes()` of the series would never see it."""
    return (
        dashboard.AnnotationQuery()
        .name("Deployments")
        .datasource(datasource("prometheus"))
        .enable(True)
        .icon_color("blue")
        .expr(f"{catalog.MODEL_DEPLOYMENT.name} > time() - {DEPLOYMENT_MARK_SECONDS}")
    )


def base(
    uid: str,
    title: str,
    description: str,
    tags: Iterable[str],
    *,
    time_from: str,
    refresh: str,
) -> dashboard.Dashboard:
    """A dashboard with the platform's settings, and links to every other MLOps dashboard."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["mlops", *tags])
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .timezone(common.TimeZoneBrowser)
        .time(time_from, "now")
        .refresh(refresh)
        .link(
            dashboard.DashboardLink("MLOps dashboards")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(["mlops"])
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
        )
    )


def numbered(board: model.Dashboard) -> model.Dashboard:
    """Give every panel a stable id, in order, so links to a panel survive a rebuild."""
    next_id = 1
    for panel in board.panels or []:
        panel.id_val = next_id
        next_id += 1
        for child in panel.panels if isinstance(panel, model.RowPanel) else []:
            child.id_val = next_id
            next_id += 1
    return board
