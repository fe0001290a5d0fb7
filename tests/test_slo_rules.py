"""Burn-rate alerts of the shipped SLOs under steady burns, proven with `promtool test rules`.

Traffic is steady at 10,000 requests a minute for three days before the onset and
all the time after it; from the onset a fixed share of requests is bad: a burn
of B means B times the error budget (B x 0.1% for 99.9%). The cases assert
when the page and ticket alerts must have fired, and when they must not have.

The accuracy SLO of the served model (objective 80%, budget 20%, the 30d-quality
windows) gets the same treatment with labels instead of requests: 100 labelled
predictions a minute, right until the onset, a share wrong after it. Its burns
sit just over each window pair's factor (2.4x and 2x page, 1.5x and 1x ticket),
so each case measures how long that pair takes to fire; and labels below the
guard's rate, every one wrong, never page, never open a ticket and record no
error ratio at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import conventions as cv
from infra.render.slo import slo_labels
from infra.spec import SLO
from tests.conftest import run, stack_spec
from tests.promtool_cases import Case, alert, counter, group_order, write_test_file

RATE = 10_000  # requests a minute
LABELS = 100  # labelled predictions a minute, for the accuracy SLO
PRE = 3 * 1440  # three days of clean traffic before the onset, so every alert window starts full
SPEC = stack_spec("dev")
SLOS = {s.name: s for s in SPEC.slos}
REQUEST_SLOS = ("serving-availability", "serving-latency")
ACCURACY_SLO = next(s for s in SPEC.slos if s.name.endswith("-accuracy"))


@dataclass(frozen=True)
class Burn:
    """A steady burn from the onset, and what must hold at given minutes after it."""

    name: str
    factor: Decimal | None  # share of the budget burnt; None means every request is bad
    minutes: int  # how long the scenario runs after the onset
    page_by: int | None = None  # the page alert fires by this minute...
    page_not_before: int | None = None  # ...and not at this earlier minute
    ticket_by: int | None = None
    ticket_not_before: int | None = None
    never: tuple[int, ...] = ()  # neither alert fires at these minutes
    evaluate_every: str = "5m"  # rule evaluation interval; checks fall on its multiples


BURNS = [
    Burn(
        "a total outage pages within 2 minutes",
        None,
        10,
        page_by=2,
        page_not_before=0,
        evaluate_every="1m",
    ),
    Burn("a 15x burn pages within 60 minutes", Decimal("15"), 65, page_by=60, page_not_before=50),
    Burn(
        "exactly 14.4x does not cross the 14.4x page threshold in the first 2 hours",
        Decimal("14.4"),
        170,
        page_by=160,
        page_not_before=120,
        never=(65, 90),
    ),
    Burn("a 6.5x burn pages within 6 hours", Decimal("6.5"), 365, page_by=360, page_not_before=300),
    Burn(
        "a 3.5x burn opens a ticket within a day and never pages",
        Decimal("3.5"),
        1445,
        ticket_by=1440,
        ticket_not_before=1200,
        page_not_before=1440,
    ),
    Burn(
        "a steady 1x burn never pages and never opens a ticket",
        Decimal("1"),
        5 * 1440,
        never=(60, 360, 1440, 3 * 1440, 3 * 1440 + 360, 5 * 1440),
    ),
]


# Each burn is just over one window pair's factor of the 30d-quality profile. The times bracket
# what promtool measured to its 5-minute evaluations, and agree with the theory: the long
# window's ratio passes the threshold at (threshold / ratio) x the window (172.8, 345.6,
# 1028.6, 2700 and 3927.3 minutes), the short window being over it already; at 2700 the
# extrapolated rates of a counter that changed pace inside the window put it just over.
ACCURACY_BURNS = [
    Burn(
        "every answer wrong (5x) pages after 2% of the budget is spent, in under 3 hours",
        None,
        200,
        page_by=175,
        page_not_before=170,
    ),
    Burn(
        "a 2.5x burn (50% wrong) pages on the 6h/30m pair within 6 hours",
        Decimal("2.5"),
        360,
        page_by=350,
        page_not_before=345,
    ),
    Burn(
        "a 2.1x burn (42% wrong) pages on the 18h/90m pair within 18 hours",
        Decimal("2.1"),
        1040,
        page_by=1030,
        page_not_before=1025,
    ),
    Burn(
        "a 1.6x burn (32% wrong) opens a ticket on the 2d/4h pair within 2 days and never pages",
        Decimal("1.6"),
        2710,
        ticket_by=2700,
        ticket_not_before=2695,
        page_not_before=2700,
    ),
    Burn(
        "a 1.1x burn (22% wrong) opens a ticket on the 3d/6h pair within 3 days and never pages",
        Decimal("1.1"),
        3940,
        ticket_by=3930,
        ticket_not_before=3925,
        page_not_before=3930,
    ),
    Burn(
        "a steady 1x burn (accuracy at the floor) never pages and never opens a ticket",
        Decimal("1"),
        5 * 1440,
        never=(360, 1080, 2880, 3 * 1440, 5 * 1440),
    ),
]


def _bad_per_minute(slo: SLO, burn: Burn, rate: int = RATE) -> int:
    if burn.factor is None:
        return rate
    bad = burn.factor * slo.error_budget * rate
    assert bad == bad.to_integral_value(), "choose the rate so that bad events are whole"
    return int(bad)


def _labels(
    slo: SLO, right: list[tuple[float, int]], wrong: list[tuple[float, int]]
) -> dict[str, str]:
    """The labelled-prediction counters of the accuracy SLO's model, one version."""
    model = slo.labels["model"]
    metric = (
        'mlops_labelled_predictions_total{job="serving",model="%s",model_version="3",correct="%s"}'
    )
    return {metric % (model, "true"): counter(right), metric % (model, "false"): counter(wrong)}


def _series(slo: SLO, burn: Burn) -> dict[str, str]:
    if slo.name == ACCURACY_SLO.name:
        bad = _bad_per_minute(slo, burn, LABELS)
        return _labels(
            slo, [(LABELS, PRE), (LABELS - bad, burn.minutes)], [(0, PRE), (bad, burn.minutes)]
        )
    bad = _bad_per_minute(slo, burn)
    good_segments = [(RATE, PRE), (RATE - bad, burn.minutes)]
    total_segments = [(RATE, PRE), (RATE, burn.minutes)]
    bad_segments = [(0, PRE), (bad, burn.minutes)]
    if slo.sli.latency is not None:
        lat = slo.sli.latency
        sel = lat.selector
        return {
            f'{lat.metric}_bucket{{{sel},le="{lat.threshold_seconds!r}"}}': counter(good_segments),
            f'{lat.metric}_bucket{{{sel},le="+Inf"}}': counter(total_segments),
            f"{lat.metric}_count{{{sel}}}": counter(total_segments),
        }
    metric = (
        'bentoml_service_request_total{job="serving",endpoint="/predict",http_response_code="%s"}'
    )
    return {metric % "200": counter(good_segments), metric % "503": counter(bad_segments)}


def _expected(slo: SLO, severity: cv.Severity, annotations: dict[str, str]) -> dict[str, Any]:
    labels = slo_labels(slo) | dict(slo.labels)
    labels |= {"severity": severity.value, "sloth_severity": severity.value}
    return alert(labels, annotations)


def _case(slo: SLO, burn: Burn, rules: Path) -> Case:
    page, ticket = slo.alert_names
    rendered = {
        r["alert"]: r["annotations"]
        for g in yaml.safe_load(rules.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    case = Case(f"{slo.name}: {burn.name}", _series(slo, burn))

    def t(minute: int) -> str:
        return f"{PRE + minute}m"

    if burn.page_by is not None:
        case.at(t(burn.page_by), page, _expected(slo, cv.Severity.PAGE, rendered[page]))
    if burn.page_not_before is not None:
        case.at(t(burn.page_not_before), page)
    if burn.ticket_by is not None:
        case.at(t(burn.ticket_by), ticket, _expected(slo, cv.Severity.TICKET, rendered[ticket]))
    if burn.ticket_not_before is not None:
        case.at(t(burn.ticket_not_before), ticket)
    for minute in burn.never:
        case.at(t(minute), page).at(t(minute), ticket)
    return case


@pytest.mark.parametrize("slo_name", REQUEST_SLOS)
@pytest.mark.parametrize("burn", BURNS, ids=lambda b: b.name)
def test_slo_burn(
    slo_name: str, burn: Burn, rendered: dict[str, Path], promtool: Path, tmp_path: Path
) -> None:
    rules = rendered["dev"] / cv.SLO_RULES
    case = _case(SLOS[slo_name], burn, rules)
    test_file = write_test_file(tmp_path / "slo-test.yml", [rules], [case], burn.evaluate_every)
    result = run([promtool, "test", "rules", test_file])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("burn", ACCURACY_BURNS, ids=lambda b: b.name)
def test_accuracy_slo_burn(
    burn: Burn, rendered: dict[str, Path], promtool: Path, tmp_path: Path
) -> None:
    rules = rendered["dev"] / cv.SLO_RULES
    case = _case(ACCURACY_SLO, burn, rules)
    test_file = write_test_file(tmp_path / "slo-test.yml", [rules], [case], burn.evaluate_every)
    result = run([promtool, "test", "rules", test_file])
    assert result.returncode == 0, result.stdout + result.stderr


def test_labels_below_the_guard_never_burn_the_accuracy_budget_even_all_wrong(
    rendered: dict[str, Path], promtool: Path, tmp_path: Path
) -> None:
    """48 labels an hour, under the guard's 50 per hour: right for three days, then every one
    wrong for five. No window holds enough, so no error ratio is recorded, the period's is
    empty and neither alert fires."""
    slo = ACCURACY_SLO
    sparse = 0.8  # labels a minute
    series = _labels(slo, [(sparse, PRE), (0, 5 * 1440)], [(0, PRE), (sparse, 5 * 1440)])
    case = Case(f"{slo.name}: sparse labels, all wrong", series)
    page, ticket = slo.alert_names
    for minute in (60, 360, 1080, 2880, 5 * 1440):
        case.at(f"{PRE + minute}m", page).at(f"{PRE + minute}m", ticket)
    document = case.document()
    sel = ", ".join(f'{k}="{v}"' for k, v in slo_labels(slo).items())
    document["promql_expr_test"] = [
        {"expr": f"{cv.SLO_ERROR_RATIO_RECORD.format(window=w)}{{{sel}}}",
         "eval_time": f"{PRE + 5 * 1440}m", "exp_samples": []}
        for w in ("5m", "30m", "6h", "3d", slo.period)
    ]  # fmt: skip
    rules = rendered["dev"] / cv.SLO_RULES
    path = tmp_path / "sparse.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules)],
                "evaluation_interval": "5m",
                "group_eval_order": group_order([rules]),
                "tests": [document],
            }
        )
    )
    result = run([promtool, "test", "rules", path])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_served_model_has_an_accuracy_slo_at_its_floor_on_the_quality_windows() -> None:
    for stack in ("dev", "staging", "prod"):
        spec = stack_spec(stack)
        accuracy = {s.labels.get("model"): s for s in spec.slos if s.name.endswith("-accuracy")}
        assert set(accuracy) == {m.name for m in spec.serving.models}
        for model, slo in accuracy.items():
            assert slo.name == f"{model}-accuracy"
            assert Decimal(str(slo.objective)) == Decimal(repr(spec.alerts.min_accuracy)) * 100
            assert slo.window_profile == "30d-quality"
            assert slo.sli.events is not None
            assert f'model="{model}"' in slo.sli.events.error_query


def test_shipped_slos_are_an_availability_and_a_latency_slo_at_the_tested_objectives() -> None:
    for stack in ("dev", "staging", "prod"):
        slos = {s.name: s for s in stack_spec(stack).slos}
        assert slos["serving-availability"].objective == slos["serving-latency"].objective == 99.9
        assert slos["serving-availability"].sli.events is not None
        assert slos["serving-latency"].sli.latency is not None
        assert slos["serving-latency"].period == slos["serving-availability"].period == "30d"


def test_every_slo_alert_has_a_firing_and_a_quiet_case() -> None:
    tables = dict.fromkeys(REQUEST_SLOS, BURNS) | {ACCURACY_SLO.name: ACCURACY_BURNS}
    assert set(tables) == set(SLOS)
    for name, burns in tables.items():
        page, ticket = SLOS[name].alert_names
        assert any(b.page_by for b in burns), page
        assert any(b.ticket_by for b in burns), ticket
        assert any(b.page_not_before is not None or b.never for b in burns), page
        assert any(b.ticket_not_before is not None or b.never for b in burns), ticket


def test_the_recording_rules_give_the_budget_and_burn_rate_of_a_6x_burn(
    rendered: dict[str, Path], promtool: Path, tmp_path: Path
) -> None:
    slo = SLOS["serving-availability"]
    burn = Burn("6x", Decimal("6"), 120)
    at = f"{PRE + 110}m"
    sel = ", ".join(f'{k}="{v}"' for k, v in slo_labels(slo).items())
    labels = "{" + ", ".join(f'{k}="{v}"' for k, v in slo_labels(slo).items()) + "}"
    document = Case("recordings", _series(slo, burn)).document()
    document.pop("alert_rule_test")
    document["promql_expr_test"] = [
        {"expr": f"slo:error_budget:ratio{{{sel}}}", "eval_time": at,
         "exp_samples": [{"labels": "slo:error_budget:ratio" + labels, "value": 0.001}]},
        {"expr": f"slo:objective:ratio{{{sel}}}", "eval_time": at,
         "exp_samples": [{"labels": "slo:objective:ratio" + labels, "value": 0.999}]},
        {"expr": f"round(slo:current_burn_rate:ratio{{{sel}}}, 0.01)", "eval_time": at,
         "exp_samples": [{"labels": labels.replace("}", ', sloth_window="5m"}'), "value": 6}]},
        {"expr": f"slo:sli_error:ratio_rate1h{{{sel}}}", "eval_time": at,
         "exp_samples": [{"labels": "slo:sli_error:ratio_rate1h" + labels.replace("}", ', sloth_window="1h"}'), "value": 0.006}]},
    ]  # fmt: skip
    rules = rendered["dev"] / cv.SLO_RULES
    path = tmp_path / "recordings.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules)],
                "evaluation_interval": "1m",
                "group_eval_order": group_order([rules]),
                "tests": [document],
            }
        )
    )
    result = run([promtool, "test", "rules", path])
    assert result.returncode == 0, result.stdout + result.stderr
