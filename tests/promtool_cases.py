"""Builders of `promtool test rules` files: series notation and test documents."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.units import duration_seconds


def counter(segments: Sequence[tuple[float, int]]) -> str:
    """A counter sampled every interval: 0 at t=0, then `inc` per step for `steps` steps, per segment.

    `[(10, 60), (15, 30)]` is 60 steps of +10 then 30 steps of +15, in promtool's
    expanding notation (`a+bxn` is n+1 values from a).
    """
    parts = ["0"]
    value = 0.0
    for inc, steps in segments:
        if steps <= 0:
            continue
        start = value + inc
        parts.append(f"{_num(start)}+{_num(inc)}x{steps - 1}")
        value = start + inc * (steps - 1)
    return " ".join(parts)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


@dataclass
class Case:
    """One promtool test: input series, and the alerts expected at given times."""

    name: str
    series: dict[str, str]
    expect: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)
    interval: str = "1m"

    def at(self, eval_time: str, alert: str, *alerts: dict[str, Any]) -> Case:
        self.expect.append((eval_time, str(alert), list(alerts)))
        return self

    def document(self) -> dict[str, Any]:
        return {
            "interval": self.interval,
            "name": self.name,
            "input_series": [{"series": s, "values": v} for s, v in self.series.items()],
            "alert_rule_test": [
                {"eval_time": t, "alertname": a, "exp_alerts": exp}
                for t, a, exp in sorted(self.expect, key=lambda e: duration_seconds(e[0]))
            ],
        }


def alert(labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    return {"exp_labels": labels, "exp_annotations": annotations}


def group_order(rule_files: Iterable[Path]) -> list[str]:
    """Rule groups in file order: recordings before the alerts that read them.

    Without `group_eval_order` promtool evaluates groups in random order, so an
    alert group may read the previous step's recordings, which at a 5m interval
    have just fallen out of the 5m lookback: tests then fail now and then.
    """
    return [g["name"] for f in rule_files for g in yaml.safe_load(Path(f).read_text())["groups"]]


def write_test_file(
    path: Path, rule_files: Sequence[Path], cases: Iterable[Case], evaluation_interval: str = "1m"
) -> Path:
    document = {
        "rule_files": [str(p) for p in rule_files],
        "evaluation_interval": evaluation_interval,
        "group_eval_order": group_order(rule_files),
        "tests": [c.document() for c in cases],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=4096))
    return path
