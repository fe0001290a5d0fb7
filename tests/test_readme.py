"""The README's figures are the code's: each count it states is computed here and compared.

A new user takes the README's numbers as facts (how many invalid configs are
refused, policies, alerts, runbooks, dashboard queries, which ports dev
publishes, which Go and Python it needs). Each figure is found by the words
around it, so a figure that is reworded away fails here as loudly as one that
drifts from the code. No process is started: the tables are the tests' own,
the alerts come from the renderers, the dashboards from their builders.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from functools import cache
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from dashboards import build_all, to_json
from infra import conventions as cv
from infra.components.grafana import log_alert_rules
from infra.config import ROOT, StackConfig, load_spec
from infra.manifests import workloads
from infra.render.rules import platform_rules
from infra.render.slo import slo_rules
from infra.spec import AlertThresholds
from policies.registry import POLICIES
from service.settings import ServingSettings
from stacks import profile
from tests.conftest import ALERT_STACKS, stack_spec, variant_spec
from tests.policies.test_bad_stacks import BAD_STACKS
from tests.test_spec import INVALID

README = ROOT / "README.md"
# The README's continuation: what each test tier proves, with its figures.
DOCS = (ROOT / "docs" / "testing.md",)
NUMBER_WORDS = dict(
    zip(
        ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
        range(1, 11),
        strict=True,
    )
)


@cache
def _text() -> str:
    """The README and its continuation in docs/, each line break a space, so a figure's words
    may wrap anywhere."""
    pages = (README, *DOCS)
    return re.sub(r"\s+", " ", " ".join(page.read_text(encoding="utf-8") for page in pages))


def _figures(pattern: str) -> tuple[str, ...]:
    """The groups of the README's one match of `pattern` (spaces match any line wrap)."""
    matches = re.findall(pattern, _text())
    assert len(matches) == 1, f"the README states {pattern!r} {len(matches)} times, not once"
    found = matches[0]
    return found if isinstance(found, tuple) else (found,)


def _number(word: str) -> int:
    return int(word.replace(",", "")) if word[0].isdigit() else NUMBER_WORDS[word.lower()]


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_invalid_configuration_count_is_the_spec_tests_table() -> None:
    (count,) = _figures(r"- (\d+) invalid stack configurations, each refused")
    assert int(count) == len(INVALID)


def test_the_policy_count_is_the_packs_registry() -> None:
    (count,) = _figures(r"A CrossGuard pack of (\d+) policies reviews every preview")
    assert int(count) == len(POLICIES)


def test_the_bad_stack_count_is_the_policy_tests_table() -> None:
    (count,) = _figures(r"on (\d+) deliberately bad stacks that each trip exactly their policy")
    assert int(count) == len(BAD_STACKS)


def test_the_bad_input_corpus_size_is_the_serving_tests_table() -> None:
    """Counted in the test module's source: importing it would import MLflow and scikit-learn."""
    (count,) = _figures(r"a (\d+)-case bad-input corpus")
    module = ast.parse((ROOT / "tests" / "service" / "test_serving.py").read_text())
    table = next(
        node.value
        for node in module.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "BAD_INPUTS"
    )
    assert isinstance(table, ast.List)
    assert int(count) == len(table.elts)


def _alert_names(text: str) -> set[str]:
    return {r["alert"] for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r}


def test_the_alert_and_runbook_counts_are_what_the_stacks_render_and_docs_runbooks_holds() -> None:
    # The shipped stacks and the GPU variant: the GPU alerts come only with a GPU model.
    specs = [variant_spec(s) for s in ALERT_STACKS]
    platform = set().union(*(_alert_names(platform_rules(spec)) for spec in specs))
    slo = set().union(*(_alert_names(slo_rules(spec)) for spec in specs))
    logs = {r["name"] for spec in specs for r in log_alert_rules(spec)}
    runbooks = [p for p in (ROOT / "docs" / "runbooks").glob("*.md") if p.name != "README.md"]
    figures = _figures(
        r"(\d+) runbooks for the (\d+) alerts: (\d+) platform alerts, (\d+) SLO burn-rate "
        r"alerts and (\d+) Grafana-managed log alerts?\)"
    )
    assert tuple(int(f) for f in figures) == (
        len(runbooks),
        len(platform | slo | logs),
        len(platform),
        len(slo),
        len(logs),
    )
    (tested,) = _figures(r"`promtool test rules` for each of the (\d+) platform alerts")
    assert int(tested) == len(platform) == len(cv.Alert)


def _prometheus_queries(dashboard: dict[str, Any]) -> int:
    """Panel queries on the Prometheus datasource, rows' panels included, as the live tier's
    `dashboard_queries` sends them."""
    panels = [p for top in dashboard.get("panels", []) for p in (top, *top.get("panels", []))]
    return sum(
        1
        for panel in panels
        for target in panel.get("targets") or []
        if (target.get("datasource") or panel.get("datasource") or {}).get("uid")
        == cv.DATASOURCE_UID["prometheus"]
        and target.get("expr")
    )


def test_the_live_tiers_query_and_dashboard_counts_are_the_dev_stacks_dashboards() -> None:
    """The live profile is the dev stack with shorter intervals and without the accuracy SLOs
    (windows of days: promtool proves them), so the dev stack's dashboards less those rows."""
    serving = {**profile("dev")["serving"], "accuracySlos": False}
    live = load_spec(StackConfig("t", {"mlops:environment": "dev", "mlops:serving": serving}))
    dashboards = {uid: json.loads(to_json(d)) for uid, d in build_all(live).items()}
    queries, count = _figures(r"all (\d+) PromQL queries of the (\w+) dashboards return data")
    assert int(queries) == sum(_prometheus_queries(d) for d in dashboards.values())
    assert _number(count) == len(dashboards)


def test_the_dashboards_section_names_every_dashboard() -> None:
    named = set(re.findall(r"`(mlops-[a-z0-9-]+)`", _section("Dashboards")))
    assert named == set(build_all(stack_spec("dev")))


def test_the_datasource_count_is_the_ones_grafana_gets() -> None:
    (count,) = _figures(r"the (\w+) datasources with exemplars")
    assert _number(count) == len(cv.DATASOURCE_UID)


def test_the_dev_ports_are_the_ones_the_docker_target_publishes() -> None:
    (listed,) = _figures(
        r"Every published port binds to 127\.0\.0\.1: (.*?)\. `pulumi stack output"
    )
    published = {port for w in workloads(stack_spec("dev")) for port in w.publish.values()}
    assert {int(p) for p in re.findall(r"\b\d{4,5}\b", listed)} == published


def test_the_dev_policy_levels_are_the_dev_pack_config() -> None:
    (sentence,) = _figures(r"in dev advisory, but for (.*?)\):")
    stated = dict(re.findall(r"`([a-z-]+)` \((mandatory|disabled)", sentence))
    levels = {
        name: value if isinstance(value, str) else value["enforcementLevel"]
        for name, value in json.loads((ROOT / "policies/config/dev.json").read_text()).items()
    }
    assert stated == {n: level for n, level in levels.items() if level != "advisory"}
    for stack in ("staging", "prod"):
        config = json.loads((ROOT / f"policies/config/{stack}.json").read_text())
        assert {v if isinstance(v, str) else v["enforcementLevel"] for v in config.values()} == {
            "mandatory"
        }
    _figures(r"mandatory in staging and prod;")


def test_the_go_version_is_the_highest_the_tools_go_mod_files_require() -> None:
    (stated,) = _figures(r"needs Go (\d+\.\d+) or newer")
    required = [
        tuple(int(n) for n in m.split(".")[:2])
        for path in (ROOT / "tools").rglob("go.mod")
        if "node_modules" not in path.parts
        for m in re.findall(r"^go (\d+\.\d+(?:\.\d+)?)$", path.read_text(), re.M)
    ]
    assert required
    assert tuple(int(n) for n in stated.split(".")) == max(required)


def test_the_python_versions_are_the_ones_pyproject_allows() -> None:
    stated = _figures(r"from `make` and Python (3\.\d+) or (3\.\d+):")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    allowed = SpecifierSet(project["requires-python"])
    assert list(stated) == [f"3.{minor}" for minor in range(30) if f"3.{minor}.0" in allowed]


@pytest.mark.parametrize(
    ("pattern", "default"),
    [
        (r"\(`alerts\.minAccuracy`, ([\d.]+)\)", AlertThresholds.model_fields["min_accuracy"]),
        (
            r"`alerts\.minLabelledPredictions` \((\d+)\) labels",
            AlertThresholds.model_fields["min_labelled_predictions"],
        ),
        (
            r"`alerts\.minEstimatedPredictions` \((\d+)\) predictions",
            AlertThresholds.model_fields["min_estimated_predictions"],
        ),
        (
            r"`MLOPS_SERVING_FEEDBACK_CAPACITY` predictions are kept, ([\d,]+) by default",
            ServingSettings.model_fields["feedback_capacity"],
        ),
        (
            r"`MLOPS_SERVING_DRIFT_MIN_ROWS` rows \((\d+)\)",
            ServingSettings.model_fields["drift_min_rows"],
        ),
    ],
    ids=[
        "min accuracy",
        "min labelled predictions",
        "min estimated predictions",
        "feedback capacity",
        "drift min rows",
    ],
)
def test_each_default_the_readme_gives_is_the_settings_default(pattern: str, default: Any) -> None:
    (stated,) = _figures(pattern)
    assert float(stated.replace(",", "")) == default.default
