"""Runbooks: every alert the platform can raise opens one, and each is complete and queries only what exists.

An alert's `runbook_url` is rendered from the stack's `runbookUrlPattern`; the
file it names must be `docs/runbooks/<alert>.md` in this repository, or for an SLO
that names `runbooks` (every model's accuracy SLO), that SLO's shared pair. The
alerts are the stacks' resolved alerts (`infra.alerts`): platform rules, SLO
burn-rate alerts (one page and one ticket per SLO of every stack) and the log
alerts Grafana evaluates on Loki; the links are checked where each is rendered
(the Prometheus rule files, Grafana's log rules and, for Grafana Cloud stacks,
the SLO app's alerts). A runbook's PromQL is pasted into Grafana at
3 a.m., so it must parse and name only metrics something exports or records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import BUILDERS, build_all, logs_traces, to_json
from dashboards.known_metrics import KNOWN_METRICS
from infra import alerts
from infra import conventions as cv
from infra.components.grafana import log_alert_rules, slo_resource_args
from infra.config import ROOT
from infra.endpoints import for_spec
from infra.render.alertmanager import alertmanager_config
from infra.render.rules import platform_rules
from infra.render.slo import slo_rules
from infra.spec import PlatformSpec
from service import catalog
from stacks import profile
from tests import tools
from tests.conftest import ALERT_STACKS as STACKS
from tests.conftest import spec_with, variant_spec
from tests.promql import selectors

RUNBOOKS = ROOT / "docs" / "runbooks"
INDEX = RUNBOOKS / "README.md"
SECTIONS = (
    "What it means",
    "Confirm",
    "Likely causes",
    "What to do",
    "Roll back",
    "Escalate / related alerts",
)
MAX_LINES = 80
FENCE_LANGUAGES = frozenset({"promql", "logql", "bash", "python", "text"})
# BentoML's own request metrics on the serving API's /metrics (the catalog lists them too).
BENTOML_METRICS = frozenset(
    {
        "bentoml_service_request_total",
        "bentoml_service_request_duration_seconds_bucket",
        "bentoml_service_request_duration_seconds_sum",
        "bentoml_service_request_duration_seconds_count",
        "bentoml_service_request_in_progress",
    }
)
# Series Prometheus writes itself: alert state and scrape health.
PROMETHEUS_SERIES = frozenset({"ALERTS", "up"})
# What a reader types in place of a runbook placeholder (`<model>`, `$model`, `${model}`).
PLACEHOLDERS = {
    "model": "iris-classifier",
    "version": "1",
    "feature": "petal_width_cm",
    "instance": "10.0.0.7:3000",
    "job": "serving",
    "integration": "slack",
    "rule_group": "mlops-serving",
    "component": "mlflow",
    "__rate_interval": "1m",
    "__range": "1h",
}
_PLACEHOLDER_RE = re.compile(r"<(\w+)>|\$\{(\w+)\}|\$(\w+)")
_FENCE_RE = re.compile(r"^```(?P<lang>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# How a runbook points at panels: `<dashboard uid>`, the angle quote, `panel *<title>*` (or
# `panels *<a>* and *<b>*`), as docs/runbooks/README.md says.
ARROW = "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"
_PANEL_RE = re.compile(
    rf"`(?P<uid>mlops-[a-z0-9-]+)` {ARROW} panels?\s+(?P<titles>\*[^*]+\*(?:(?:,\s+|\s+and\s+)\*[^*]+\*)*)"
)
_INDEX_ROW_RE = re.compile(
    r"^\|\s*\[(?P<alert>\w+)\]\((?P<link>[^)]+)\)\s*\|(?P<severity>[^|]+)\|(?P<component>[^|]+)\|(?P<meaning>[^|]+)\|\s*$"
)


@dataclass(frozen=True)
class Link:
    """One alert as a stack renders it, with the runbook URL it carries."""

    stack: str
    source: str
    alert: str
    severity: str
    url: str | None


@cache
def _spec(stack: str) -> PlatformSpec:
    """A shipped stack, or the GPU variant (the only one that raises the GPU alerts)."""
    return variant_spec(stack)


def _rules(stack: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every rule (alerting and recording) a stack renders for Prometheus, with its file."""
    spec = _spec(stack)
    for source, text in (
        (cv.PLATFORM_RULES, platform_rules(spec)),
        (cv.SLO_RULES, slo_rules(spec)),
    ):
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                yield source, rule


def _rule_links(stack: str) -> Iterator[Link]:
    for source, rule in _rules(stack):
        if "alert" in rule:
            yield Link(
                stack,
                source,
                rule["alert"],
                rule["labels"][cv.SEVERITY_LABEL],
                rule.get("annotations", {}).get("runbook_url"),
            )


def _pairs(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {pair["key"]: pair["value"] for pair in pairs}


def _grafana_links(stack: str) -> Iterator[Link]:
    spec = _spec(stack)
    for rule in log_alert_rules(spec):
        yield Link(
            stack,
            "grafana log alert",
            rule["name"],
            rule["labels"][cv.SEVERITY_LABEL],
            rule["annotations"].get("runbook_url"),
        )
    # The Grafana Cloud SLO app's alerts: only created on cloud stacks, checked on all.
    for slo in spec.slos:
        alerting: dict[str, Any] = slo_resource_args(spec, slo)["alerting"]
        for burn in ("fastburn", "slowburn"):
            if burn in alerting:
                annotations = _pairs(alerting[burn]["annotations"])
                yield Link(
                    stack,
                    "grafana slo",
                    annotations["name"],
                    _pairs(alerting[burn]["labels"])[cv.SEVERITY_LABEL],
                    annotations.get("runbook_url"),
                )


@cache
def _links() -> tuple[Link, ...]:
    return tuple(link for stack in STACKS for link in (*_rule_links(stack), *_grafana_links(stack)))


@cache
def _resolved(stack: str) -> tuple[alerts.ResolvedAlert, ...]:
    return tuple(alerts.resolve(_spec(stack)))


def _alert_names() -> frozenset[str]:
    """Every alert the platform can raise in any shipped stack (or the GPU variant), whether or
    not it is disabled."""
    return frozenset(alert.name for stack in STACKS for alert in _resolved(stack))


@cache
def _runbook_of() -> dict[str, str]:
    """The runbook each alert links: the one named after it, or its SLO's shared one (every
    model's accuracy SLO links ModelAccuracyErrorBudgetBurn*)."""
    return {
        alert.name: alert.runbook or alert.name for stack in STACKS for alert in _resolved(stack)
    }


ALERTS = tuple(sorted(set(_runbook_of().values())))  # each runbook once


def _runbook(alert: str) -> Path:
    return RUNBOOKS / f"{alert}.md"


def _text(alert: str) -> str:
    path = _runbook(alert)
    assert path.is_file(), f"{alert} has no runbook: write {path.relative_to(ROOT)}"
    return path.read_text(encoding="utf-8")


def _fences(text: str) -> Iterator[tuple[str, str]]:
    for match in _FENCE_RE.finditer(text):
        yield match["lang"].strip(), match["body"]


def _queries(body: str) -> Iterator[str]:
    """The queries of a fence: paragraphs separated by blank lines, comment-only ones left out."""
    for paragraph in re.split(r"\n\s*\n", body):
        if any(
            line.strip() and not line.lstrip().startswith("#") for line in paragraph.splitlines()
        ):
            yield paragraph.strip()


def _substituted(query: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in PLACEHOLDERS:
            raise KeyError(f"unknown placeholder {match[0]!r}; known: {', '.join(PLACEHOLDERS)}")
        return PLACEHOLDERS[name]

    return _PLACEHOLDER_RE.sub(value, query)


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(?P<body>.*?)(?=^## |\Z)", text, re.M | re.S)
    return match["body"] if match else ""


@cache
def _known_metrics() -> frozenset[str]:
    exported = {series for metric in catalog.CATALOG for series in metric.series()}
    recorded = {rule["record"] for stack in STACKS for _, rule in _rules(stack) if "record" in rule}
    known = set(KNOWN_METRICS) | BENTOML_METRICS | PROMETHEUS_SERIES
    return frozenset(exported | known | recorded)


def _promql(alert: str) -> list[str]:
    return [q for lang, body in _fences(_text(alert)) if lang == "promql" for q in _queries(body)]


def _logql(alert: str) -> list[str]:
    return [q for lang, body in _fences(_text(alert)) if lang == "logql" for q in _queries(body)]


@cache
def _panel_titles(stack: str) -> dict[str, frozenset[str]]:
    titles: dict[str, frozenset[str]] = {}
    for uid, board in build_all(_spec(stack)).items():
        model = json.loads(to_json(board))
        panels = [p for top in model.get("panels", []) for p in (top, *top.get("panels", []))]
        titles[uid] = frozenset(str(p.get("title", "")) for p in panels)
    return titles


# -- every runbook_url resolves ---------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_runbook_url_pattern_points_into_this_repositorys_runbook_folder(stack: str) -> None:
    prefix, _, suffix = _spec(stack).runbook_url_pattern.partition("{alert}")
    folder = RUNBOOKS.relative_to(ROOT).as_posix()
    assert prefix.endswith(f"/{folder}/"), prefix
    assert suffix == ".md", suffix


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_runbook_url_opens_the_runbook_its_alert_links(stack: str) -> None:
    prefix = _spec(stack).runbook_url_pattern.partition("{alert}")[0]
    links = [link for link in _links() if link.stack == stack]
    assert {link.source for link in links} >= {
        cv.PLATFORM_RULES,
        cv.SLO_RULES,
        "grafana log alert",
    }
    problems = []
    for link in links:
        where = f"{link.alert} ({link.source})"
        if link.url is None:
            problems.append(f"{where} has no runbook_url")
        elif not link.url.startswith(prefix):
            problems.append(f"{where}: {link.url} is not under {prefix}")
        elif (name := link.url.removeprefix(prefix)) != f"{_runbook_of()[link.alert]}.md":
            problems.append(f"{where}: {link.url} names {name}, not {_runbook_of()[link.alert]}.md")
        elif not (RUNBOOKS / name).is_file():
            problems.append(
                f"{where}: {link.url} -> {(RUNBOOKS / name).relative_to(ROOT)} is missing"
            )
    assert not problems, "\n".join(problems)


def test_every_alert_a_stack_renders_is_one_the_platform_defines() -> None:
    assert {link.alert for link in _links()} <= _alert_names()


def test_the_resolved_alerts_are_every_named_alert_and_every_slos_page_and_ticket() -> None:
    slo_alerts = {name for stack in STACKS for slo in _spec(stack).slos for name in slo.alert_names}
    named = {a.value for a in cv.Alert} | {a.value for a in cv.LogAlert} | slo_alerts
    assert _alert_names() == named


@pytest.mark.parametrize("stack", STACKS)
def test_every_resolved_alert_links_the_runbook_named_after_it_or_its_slos(stack: str) -> None:
    prefix = _spec(stack).runbook_url_pattern.partition("{alert}")[0]
    shared = {n for slo in _spec(stack).slos if slo.runbooks for n in slo.runbook_names}
    for alert in _resolved(stack):
        runbook = alert.runbook or alert.name
        assert runbook == alert.name or runbook in shared, alert.name
        assert alert.runbook_url == f"{prefix}{runbook}.md"
        assert alert.annotations["runbook_url"] == alert.runbook_url


def test_every_alert_the_platform_can_raise_has_a_runbook() -> None:
    missing = sorted(a for a in _alert_names() if not _runbook(_runbook_of()[a]).is_file())
    assert not missing, f"write docs/runbooks/<alert>.md for: {', '.join(missing)}"


def test_no_runbook_is_left_for_an_alert_that_does_not_exist() -> None:
    files = {p.name for p in RUNBOOKS.iterdir()} - {INDEX.name}
    orphans = sorted(files - {f"{a}.md" for a in ALERTS})
    assert not orphans, f"runbooks for alerts that no stack raises: {', '.join(orphans)}"


# -- each runbook is complete ---------------------------------------------------------------


@pytest.mark.parametrize("alert", ALERTS)
def test_each_runbook_is_titled_with_its_alert_and_has_every_section_in_order(alert: str) -> None:
    lines = _text(alert).splitlines()
    assert lines[0] == f"# {alert}", lines[0]
    headings = tuple(line.removeprefix("## ") for line in lines if line.startswith("## "))
    assert headings == SECTIONS
    for title in SECTIONS:
        assert _section(_text(alert), title).strip(), f"{alert}: section {title!r} is empty"


@pytest.mark.parametrize("alert", ALERTS)
def test_each_runbook_is_short_enough_to_read_at_3_am(alert: str) -> None:
    assert len(_text(alert).splitlines()) <= MAX_LINES


@pytest.mark.parametrize("alert", ALERTS)
def test_every_code_fence_says_which_language_it_holds(alert: str) -> None:
    text = _text(alert)
    assert text.count("```") % 2 == 0, f"{alert}: an unclosed code fence"
    languages = [lang for lang, _ in _fences(text)]
    assert len(languages) * 2 == text.count("```"), f"{alert}: a fence the test cannot read"
    assert set(languages) <= FENCE_LANGUAGES, set(languages) - FENCE_LANGUAGES


@pytest.mark.parametrize("alert", ALERTS)
def test_every_promql_query_parses_and_names_only_metrics_that_exist(alert: str) -> None:
    queries = _promql(alert)
    assert queries, f"{alert}: the Confirm section needs at least one ```promql query"
    problems = []
    for query in queries:
        try:
            names = selectors(_substituted(query))
        except (ValueError, KeyError) as err:
            problems.append(f"{query}\n  -> {err}")
            continue
        unknown = sorted(set(names) - _known_metrics())
        if unknown:
            problems.append(f"{query}\n  -> unknown metrics {unknown}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("alert", ALERTS)
def test_the_runbook_queries_every_metric_its_alert_evaluates(alert: str) -> None:
    resolved = [a for stack in STACKS for a in _resolved(stack) if (a.runbook or a.name) == alert]
    if (
        resolved[0].kind is alerts.Kind.LOG
    ):  # a Grafana-managed log alert: its LogQL is checked below
        assert alert in {a.value for a in cv.LogAlert}
        return
    evaluated = {name for a in resolved for name in selectors(a.expr)}
    queried = {name for query in _promql(alert) for name in selectors(_substituted(query))}
    assert evaluated <= queried, f"{alert}: no query shows {sorted(evaluated - queried)}"


@pytest.mark.parametrize("alert", ALERTS)
def test_every_logql_query_reads_the_serving_apis_log_stream(alert: str) -> None:
    queries = [_substituted(q) for q in _logql(alert)]
    for query in queries:
        assert logs_traces.STREAM in query, query
    # Parsed by Grafana's LogQL grammar (tools/logql), as Grafana's editor would.
    assert tools.logql_errors(queries) == {q: [] for q in queries}


@pytest.mark.parametrize("stack", STACKS)
def test_the_log_alert_runbook_shows_the_query_grafana_evaluates(stack: str) -> None:
    logs = [a for a in _resolved(stack) if a.kind is alerts.Kind.LOG]
    assert {a.name for a in logs} == {a.value for a in cv.LogAlert}
    for alert in logs:
        assert alert.expr in _logql(alert.name)


@pytest.mark.parametrize("alert", ALERTS)
def test_every_dashboard_panel_a_runbook_opens_exists_in_every_stack(alert: str) -> None:
    text = _text(alert)
    matches = list(_PANEL_RE.finditer(text))
    assert matches, f"{alert}: name a panel to open, as `<uid>` {ARROW} panel *<title>*"
    unanchored = text.count(f"{ARROW} panel") - len(matches)
    assert not unanchored, f"{alert}: {unanchored} panel(s) named without their dashboard's uid"
    references = [
        (m["uid"], _substituted(t))
        for m in matches
        for t in re.findall(r"\*([^*]+)\*", m["titles"])
    ]
    for stack in STACKS:
        titles = _panel_titles(stack)
        for uid, title in references:
            assert uid in BUILDERS, f"{alert}: no dashboard {uid}"
            assert title in titles[uid], f"{alert}: {uid} of {stack} has no panel {title!r}"


# -- the index ------------------------------------------------------------------------------


def _index_rows() -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for line in INDEX.read_text(encoding="utf-8").splitlines():
        match = _INDEX_ROW_RE.match(line)
        if match:
            assert match["alert"] not in rows, f"{match['alert']} is listed twice"
            rows[match["alert"]] = {k: v.strip() for k, v in match.groupdict().items()}
    return rows


def test_the_index_lists_every_runbook_once_with_a_working_link() -> None:
    rows = _index_rows()
    assert set(rows) == set(ALERTS)
    for alert, row in rows.items():
        assert row["link"] == f"{alert}.md", row
        assert row["meaning"], row


def test_the_index_gives_the_severity_each_stack_renders() -> None:
    rows = _index_rows()
    for link in _links():
        runbook = _runbook_of()[link.alert]
        assert runbook in rows, f"{INDEX} has no row for {runbook}: add one"
        assert link.severity in rows[runbook]["severity"], (link, rows[runbook])


def _cells(row: str) -> list[tuple[str, ...]]:
    return [tuple(re.findall(r"`([^`]+)`", cell)) for cell in row.strip().strip("|").split("|")]


@pytest.mark.parametrize("stack", STACKS)
def test_the_index_gives_the_inhibit_rules_each_stack_renders(stack: str) -> None:
    text = INDEX.read_text(encoding="utf-8")
    header = "| Firing | Held back | Same |"
    assert header in text
    table = text.split(header, 1)[1].strip().splitlines()[1:]  # after the |---| line
    rows = [tuple(_cells(line)) for line in table if line.startswith("|")]
    rendered = yaml.safe_load(alertmanager_config(_spec(stack), for_spec(_spec(stack))))
    assert rows == [
        (tuple(r["source_matchers"]), tuple(r["target_matchers"]), tuple(r.get("equal", ())))
        for r in rendered["inhibit_rules"]
    ]


def test_a_model_added_in_a_stacks_config_gets_working_accuracy_runbook_links() -> None:
    """Every model's accuracy SLO links the one shared pair: a model no shipped stack serves
    needs no runbook of its own."""
    shipped = profile("prod")["serving"]["models"]
    models = [*shipped, shipped[0] | {"name": "fraud-scorer"}]
    spec = spec_with("prod", serving={"models": models})
    raised = {a.name: a for a in alerts.resolve(spec)}
    prefix = spec.runbook_url_pattern.partition("{alert}")[0]
    for name, runbook in (
        ("FraudScorerAccuracyErrorBudgetBurnPage", "ModelAccuracyErrorBudgetBurnPage"),
        ("FraudScorerAccuracyErrorBudgetBurnTicket", "ModelAccuracyErrorBudgetBurnTicket"),
    ):
        assert raised[name].runbook_url == f"{prefix}{runbook}.md"
        assert _runbook(runbook).is_file()
