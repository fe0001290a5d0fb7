"""Burn-rate alert-window profiles: one data file per profile, named as the profile.

A profile (`30d.yaml`, `30d-quality.yaml`, ...) gives, for one SLO period, the
share of the error budget each page and ticket window pair may spend and over
which long and short windows, in Sloth's fields. The burn-rate factor of a pair
is errorBudgetPercent/100 x period / longWindow; its alert fires above an error
ratio of factor x error budget, which must stay under 1 to be reachable at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import yaml

from infra import conventions as cv
from infra.units import duration_seconds

DIRECTORY = Path(__file__).resolve().parent
SPEEDS = ("quick", "slow")


@dataclass(frozen=True)
class BurnWindow:
    severity: cv.Severity
    speed: str  # quick | slow
    budget_percent: Decimal
    long: str
    short: str
    factor: Decimal  # burn rate that spends budget_percent of the budget in `long`

    def threshold(self, error_budget: Decimal) -> Decimal:
        """The error ratio this pair fires above, for an SLO with this error budget."""
        return self.factor * error_budget


@cache
def _data(profile: str) -> dict[str, object]:
    path = DIRECTORY / f"{profile}.yaml"
    if profile not in profiles():
        raise KeyError(profile)
    data: dict[str, object] = yaml.safe_load(path.read_text())
    return data


@cache
def profiles() -> tuple[str, ...]:
    """Every profile, by file name."""
    return tuple(sorted(p.stem for p in DIRECTORY.glob("*.yaml")))


def period_of(profile: str) -> str:
    return str(_data(profile)["period"])


def for_period(period: str) -> tuple[str, ...]:
    """The profiles of a period: the one named as the period first, then the others by name."""
    named = [p for p in profiles() if period_of(p) == period]
    return tuple(sorted(named, key=lambda p: (p != period, p)))


@cache
def windows(profile: str) -> tuple[BurnWindow, ...]:
    """The alert windows of a profile, from its data file."""
    data = _data(profile)
    period_s = duration_seconds(str(data["period"]))
    out = []
    for severity in cv.SLO_SEVERITIES:
        pairs = data[severity.value]
        assert isinstance(pairs, dict)
        for speed in SPEEDS:
            w = pairs[speed]
            percent = Decimal(str(w["errorBudgetPercent"]))
            long_s = duration_seconds(w["longWindow"])
            factor = percent / 100 * period_s / long_s
            out.append(
                BurnWindow(severity, speed, percent, w["longWindow"], w["shortWindow"], factor)
            )
    return tuple(out)


def unreachable(profile: str, error_budget: Decimal) -> tuple[BurnWindow, ...]:
    """The window pairs of a profile whose threshold an error ratio (at most 1) cannot pass."""
    return tuple(w for w in windows(profile) if w.threshold(error_budget) >= 1)


def first_reachable(period: str, error_budget: Decimal) -> str | None:
    """The first profile of the period whose every alert can fire at this error budget."""
    return next((p for p in for_period(period) if not unreachable(p, error_budget)), None)
