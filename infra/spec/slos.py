"""Service level objectives and how their indicators are counted.

An SLI's PromQL and its histogram bucket are checked here, against the metric
catalog, because a wrong one would otherwise show up only as an SLO that is
never burned.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, Self

import promql_parser
from pydantic import Field, field_validator, model_validator

from infra import conventions as cv
from infra import slo_windows
from infra.spec.base import LabelName, Name, Spec
from infra.units import duration_seconds
from service import catalog

# The runbooks every model's accuracy SLO links: one pair for all models (a model added by a
# stack's config gets working links), named as an SLO of this name would have them.
ACCURACY_RUNBOOKS = "model-accuracy"


class EventsSLI(Spec):
    error_query: str = Field(
        description="PromQL rate of bad events; {{.window}} stands for the window."
    )
    total_query: str = Field(
        description="PromQL rate of all events; {{.window}} stands for the window."
    )

    @field_validator("error_query", "total_query")
    @classmethod
    def _valid_promql(cls, query: str) -> str:
        if cv.SLO_WINDOW_PLACEHOLDER not in query:
            raise ValueError(f"must use {cv.SLO_WINDOW_PLACEHOLDER} as the range of its rates")
        try:
            promql_parser.parse(query.replace(cv.SLO_WINDOW_PLACEHOLDER, "5m"))
        except ValueError as err:
            raise ValueError(f"is not valid PromQL: {err}") from None
        return query


Period = Literal["30d", "28d"]


def _percent(value: float | Decimal) -> str:
    return format(Decimal(str(value)).normalize(), "f")


_HISTOGRAMS = {m.name: m for m in catalog.CATALOG if m.kind is catalog.Kind.HISTOGRAM}


class LatencySLI(Spec):
    metric: str = Field(
        default=catalog.REQUEST_DURATION.name,
        description="Histogram (without _bucket) from the metric catalog.",
    )
    threshold_seconds: float = Field(
        gt=0,
        description="Requests slower than this are bad; must be a bucket bound of the histogram.",
    )
    selector: str = Field(
        default=f'job="{cv.JOB[cv.Component.SERVING]}"',
        description='Label matchers inside {}, e.g. job="serving",endpoint="/predict".',
    )

    @model_validator(mode="after")
    def _threshold_is_a_bucket(self) -> Self:
        histogram = _HISTOGRAMS.get(self.metric)
        if histogram is None:
            raise ValueError(
                f"metric {self.metric!r} is not a catalog histogram; known: {', '.join(sorted(_HISTOGRAMS))}"
            )
        if self.threshold_seconds not in histogram.buckets:
            raise ValueError(
                f"thresholdSeconds {self.threshold_seconds} is not a bucket bound of {self.metric}, "
                f"so the SLI could not be computed exactly; use one of "
                f"{', '.join(str(b) for b in histogram.buckets)}"
            )
        try:
            promql_parser.parse(f"{self.metric}_count{{{self.selector}}}")
        except ValueError as err:
            raise ValueError(f"selector is not a valid label-matcher list: {err}") from None
        return self


class SLI(Spec):
    events: EventsSLI | None = Field(
        default=None, description="SLI as a ratio of bad to all events."
    )
    latency: LatencySLI | None = Field(
        default=None, description="SLI as requests slower than a threshold."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.events is None) == (self.latency is None):
            raise ValueError("give exactly one of events or latency")
        return self


class SLO(Spec):
    name: Name = Field(description="SLO name, unique in the stack, e.g. serving-availability.")
    service: Name = Field(
        default="serving", description="Service the SLO is about (sloth_service)."
    )
    description: str = Field(description="What the SLO promises, in one sentence.", min_length=1)
    objective: float = Field(
        gt=0, lt=100, description="Target percentage of good events over the period, e.g. 99.9."
    )
    period: Period = Field(
        default="30d",
        description="SLO period; its burn-rate alert windows come from infra/slo_windows.",
    )
    windows: str | None = Field(
        default=None,
        description="Alert-window profile: a file of infra/slo_windows for this period, e.g. "
        "30d-quality for a large error budget; unset, the profile named as the period (the "
        "Google SRE workbook's windows). Every burn threshold (factor x error budget) must "
        "stay under an error ratio of 1, or that alert could never fire.",
    )
    sli: SLI = Field(description="How good and bad events are counted.")
    labels: dict[LabelName, str] = Field(
        default_factory=dict, description="Extra labels on the SLO's rules and alerts."
    )
    runbooks: Name | None = Field(
        default=None,
        description="The SLO whose runbooks its page and ticket link (docs/runbooks/<that "
        "SLO's alert names>.md); default its own. Every model's accuracy SLO links "
        f"{ACCURACY_RUNBOOKS}'s.",
    )

    @field_validator("objective")
    @classmethod
    def _representable(cls, objective: float) -> float:
        if len(str(objective).replace(".", "").lstrip("0")) > 8:
            raise ValueError("use at most 8 significant digits, e.g. 99.95")
        return objective

    @model_validator(mode="after")
    def _alerts_can_fire(self) -> Self:
        profiles = slo_windows.for_period(self.period)
        if self.windows is not None and self.windows not in profiles:
            raise ValueError(
                f"windows: no profile {self.windows!r} for period {self.period}; "
                f"use one of {', '.join(profiles)} (files in infra/slo_windows)"
            )
        dead = slo_windows.unreachable(self.window_profile, self.error_budget)
        if dead:
            w = dead[0]
            better = slo_windows.first_reachable(self.period, self.error_budget)
            fix = (
                f"set windows: {better}"
                if better
                else f"no profile for {self.period} has one; raise the objective"
            )
            raise ValueError(
                f"windows: the objective {_percent(self.objective)} of {self.name} leaves an error budget of "
                f"{self.error_budget.normalize()}, so the {w.severity.value} window "
                f"{w.long}/{w.short} of profile {self.window_profile} ({w.factor.normalize()}x) "
                f"fires only above an error ratio of {w.threshold(self.error_budget).normalize()}, "
                f"which can never be reached (an error ratio is at most 1); {fix}"
            )
        return self

    @property
    def window_profile(self) -> str:
        """The alert-window profile the SLO's alerts and recording rules use."""
        return self.windows or self.period

    @property
    def error_budget(self) -> Decimal:
        """The allowed bad-event ratio as an exact decimal: 99.9 -> 0.001."""
        return (Decimal(100) - Decimal(str(self.objective))) / Decimal(100)

    @property
    def alert_names(self) -> tuple[str, str]:
        return cv.slo_alert_names(self.name)

    @property
    def runbook_names(self) -> tuple[str, str]:
        """The runbooks its page and ticket link (their own names unless `runbooks` says)."""
        return cv.slo_alert_names(self.runbooks or self.name)


ACCURACY_SLO_PERIOD: Period = "30d"


def accuracy_slo_name(model: str) -> str:
    """The name of a served model's accuracy SLO."""
    return f"{model}-accuracy"


def accuracy_slo(model: str, floor: float, min_labels: int, per: str) -> SLO:
    """A served model's accuracy SLO: of its labelled predictions (ground truth arrived), the
    share that were right, against its accuracy floor.

    The error query yields a value only where labels arrive at least at `min_labels` per
    `per` (the rate `ServingLowAccuracy` is judged on) over the window itself, so a few wrong
    labels in a quiet window burn nothing: a rate, not a count, so each window asks for labels in
    proportion to its length (about 4 in 5m, 300 in 6h at 50 an hour) and the Grafana SLO app's
    `$__rate_interval` reads it the same way. Labels of every version count: users got those
    answers. The window profile is the first of the period whose every alert can fire."""
    objective = Decimal(repr(floor)) * 100
    budget = 1 - Decimal(repr(floor))
    profile = slo_windows.first_reachable(ACCURACY_SLO_PERIOD, budget)
    if profile is None:
        raise ValueError(
            f"an accuracy floor of {_percent(floor)} leaves an error budget of "
            f"{budget.normalize()}, over what any window profile of {ACCURACY_SLO_PERIOD} can "
            "alert on (each needs an error ratio under 1)"
        )
    labelled = (
        f'{catalog.LABELLED_PREDICTIONS.name}{{job="{cv.JOB[cv.Component.SERVING]}",model="{model}"'
    )
    window = cv.SLO_WINDOW_PLACEHOLDER
    total = f"sum(rate({labelled}}}[{window}]))"
    wrong = f'sum(rate({labelled},correct="false"}}[{window}]))'
    per_s = int(duration_seconds(per))
    return SLO(
        name=accuracy_slo_name(model),
        service="serving",
        description=f"{_percent(objective)}% of the labelled predictions of {model} are right "
        f"(judged where labels arrive at {min_labels} or more per {per}).",
        objective=float(objective),
        period=ACCURACY_SLO_PERIOD,
        windows=profile,
        sli=SLI(
            events=EventsSLI(
                error_query=f"({wrong} or vector(0))\nand on ()\n({total} * {per_s} >= {min_labels})",
                total_query=total,
            )
        ),
        labels={"model": model},
        runbooks=ACCURACY_RUNBOOKS,
    )
