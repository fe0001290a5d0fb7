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
from infra.spec.base import LabelName, Name, Spec
from service import catalog


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
    period: Literal["30d", "28d"] = Field(
        default="30d",
        description="SLO period; its burn-rate alert windows come from infra/slo_windows.",
    )
    sli: SLI = Field(description="How good and bad events are counted.")
    labels: dict[LabelName, str] = Field(
        default_factory=dict, description="Extra labels on the SLO's rules and alerts."
    )

    @field_validator("objective")
    @classmethod
    def _representable(cls, objective: float) -> float:
        if len(str(objective).replace(".", "").lstrip("0")) > 8:
            raise ValueError("use at most 8 significant digits, e.g. 99.95")
        return objective

    @property
    def error_budget(self) -> Decimal:
        """The allowed bad-event ratio as an exact decimal: 99.9 -> 0.001."""
        return (Decimal(100) - Decimal(str(self.objective))) / Decimal(100)

    @property
    def alert_names(self) -> tuple[str, str]:
        return cv.slo_alert_names(self.name)
