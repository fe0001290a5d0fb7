"""Dashboards: they build, read back, match golden copies, and query only metrics that exist."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import FOLDERS, build_all, resources, to_json
from dashboards import panels as p
from dashboards import platform as platform_dashboard
from dashboards import serving as serving_dashboard
from dashboards import slo as slo_dashboard
from dashboards.__main__ import main as dashboards_main
from dashboards.known_metrics import KNOWN_METRICS
from dashboards.model_health import UID as MODEL_HEALTH
from infra import conventions as cv
from infra import endpoints as ep
from infra.config import ROOT, StackConfig, load_spec
from infra.render import render_all
from infra.spec import PlatformSpec
from service import catalog
from stacks import profile
from tests.conftest import STACKS, stack_spec
from tests.promql import selectors

GOLDEN = Path(__file__).parent / "golden" / "dashboards"
JSONDict = dict[str, Any]

# Values Grafana would put in place of the template variables the queries use.
VARIABLES = {
    "model": "iris-classifier",
    "version": "1",
    "__rate_interval": "1m",
    "__interval": "30s",
    "__range": "1h",
}
_VARIABLE_RE = re.compile(r"\$\{?(\w+)\}?")
_LABEL_VALUES_RE = re.compile(r"^label_values\((?P<selector>.+),\s*\w+\)$", re.DOTALL)


@pytest.fixture(scope="module", autouse=True)
def _decoders() -> None:
    """Let `Dashboard.from_json` decode panel options and queries into their typed models."""
    register_default_plugins()


@cache
def _spec(stack: str) -> PlatformSpec:
    return stack_spec(stack)


@cache
def _texts(stack: str) -> dict[str, str]:
    return {uid: to_json(board) for uid, board in build_all(_spec(stack)).items()}


def _boards(stack: str) -> dict[str, JSONDict]:
    return {uid: json.loads(text) for uid, text in _texts(stack).items()}


def _panels(board: JSONDict) -> Iterator[JSONDict]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def _promql(board: JSONDict) -> Iterator[str]:
    """Every PromQL expression of a dashboard: panel queries and the variables' selectors."""
    for panel in _panels(board):
        for target in panel.get("targets", []):
            source = target.get("datasource") or panel.get("datasource") or {}
            if source.get("type") == "prometheus":
                yield target["expr"]
    for variable in board["templating"].get("list", []):
        if variable.get("datasource", {}).get("type") == "prometheus":
            match = _LABEL_VALUES_RE.match(variable["query"])
            if match:
                yield match["selector"]


def _substituted(expr: str) -> str:
    return _VARIABLE_RE.sub(lambda m: VARIABLES[m[1]], expr)


def _recorded(spec: PlatformSpec) -> set[str]:
    files = render_all(spec, ep.for_spec(spec))
    return {
        rule["record"]
        for name in (cv.PLATFORM_RULES, cv.SLO_RULES)
        for group in yaml.safe_load(files[name])["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def _unknown_metrics(board: JSONDict, spec: PlatformSpec) -> set[str]:
    """Metrics a dashboard queries that no catalog entry, known component or rule provides."""
    exported = {s for m in catalog.CATALOG for s in m.series()} | set(KNOWN_METRICS)
    selected = {name for expr in _promql(board) for name in selectors(_substituted(expr))}
    return selected - exported - _recorded(spec)


def _datasources(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from _datasources(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasources(item)


@pytest.mark.parametrize("stack", STACKS)
def test_every_dashboard_builds_encodes_and_reads_back_unchanged(stack: str) -> None:
    texts = _texts(stack)
    assert set(texts) == set(FOLDERS)
    for uid, text in texts.items():
        back = Dashboard.from_json(json.loads(text))
        assert back.uid == uid
        assert to_json(back) == text, f"{uid} changes when read back"
        assert text.endswith("}\n")


@pytest.mark.parametrize("stack", STACKS)
def test_dashboards_match_the_golden_copies(stack: str) -> None:
    """Refresh with UPDATE_GOLDEN=1 and review the diff before committing."""
    got = {f"{uid}.json": text for uid, text in _texts(stack).items()}
    golden = GOLDEN / stack
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.mkdir(parents=True, exist_ok=True)
        for name, text in got.items():
            (golden / name).write_text(text)
        for stale in {f.name for f in golden.glob("*.json")} - set(got):
            (golden / stale).unlink()
    assert sorted(got) == sorted(f.name for f in golden.glob("*.json"))
    for name, text in got.items():
        assert text == (golden / name).read_text(), f"{stack}/{name} differs from its golden copy"


def test_every_dashboard_has_a_stable_identity_time_range_and_refresh() -> None:
    for uid, board in _boards("dev").items():
        assert board["uid"] == uid
        assert uid.startswith("mlops-")
        assert board["title"]
        assert board["tags"][0] == "mlops"
        assert board["time"]["from"].startswith("now-")
        assert board["time"]["to"] == "now"
        assert board["refresh"]


def test_panels_have_unique_ids_and_fit_the_grid() -> None:
    for uid, board in _boards("prod").items():
        panels = list(_panels(board))
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), uid
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] >= 0, (uid, panel["title"])
            assert grid["x"] + grid["w"] <= 24, (uid, panel["title"])
            assert panel["type"] == "row" or panel.get("description"), (uid, panel["title"])


@pytest.mark.parametrize("stack", STACKS)
def test_every_promql_query_parses_and_names_only_metrics_something_exports_or_records(
    stack: str,
) -> None:
    boards = _boards(stack)
    expressions = [expr for board in boards.values() for expr in _promql(board)]
    assert len(expressions) > 60
    for expr in expressions:
        selectors(_substituted(expr))
    for uid, board in boards.items():
        assert _unknown_metrics(board, _spec(stack)) == set(), uid


def test_a_query_naming_a_metric_outside_the_catalog_fails_the_metric_check() -> None:
    panel = p.timeseries_panel("Typo", "A metric nobody exports.", p.COUNT).with_target(
        p.prom('sum(rate(mlops_predictionz_total{model="$model"}[$__rate_interval]))')
    )
    tiny = p.base("t", "T", "d", [], time_from="now-1h", refresh="1m").with_panel(panel)
    board = json.loads(to_json(tiny.build()))
    assert _unknown_metrics(board, _spec("dev")) == {"mlops_predictionz_total"}
    with pytest.raises(ValueError, match=r".+"):
        selectors(_substituted("sum(rate(mlops_predictions_total[$__rate_interval])"))


def test_a_query_using_an_unknown_template_variable_fails_the_check() -> None:
    with pytest.raises(KeyError, match="modle"):
        _substituted('mlops_model_info{model="$modle"}')


@pytest.mark.parametrize("stack", STACKS)
def test_every_datasource_is_one_the_platform_provisions_and_every_folder_exists(
    stack: str,
) -> None:
    uids = set(cv.DATASOURCE_UID.values())
    for uid, board in _boards(stack).items():
        refs = list(_datasources(board))
        assert refs, uid
        for ref in refs:
            assert isinstance(ref, dict), (uid, ref)
            assert ref["uid"] in uids, (uid, ref)
            assert cv.DATASOURCE_UID[ref["type"]] == ref["uid"], (uid, ref)
        for panel in _panels(board):
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] in uids, (uid, panel["title"])
                assert panel["targets"], (uid, panel["title"])
                for target in panel["targets"]:
                    assert target["datasource"]["uid"] in uids, (uid, panel["title"])
        assert FOLDERS[uid] in cv.FOLDER_UID.values()
    variables = _boards(stack)[MODEL_HEALTH]["templating"]["list"]
    assert [v["name"] for v in variables] == ["model", "version"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_slo_dashboard_has_a_row_per_slo_of_the_stack(stack: str) -> None:
    spec = _spec(stack)
    board = _boards(stack)[slo_dashboard.UID]
    rows = [panel["title"] for panel in board["panels"] if panel["type"] == "row"]
    assert rows == [slo_dashboard.row_title(s) for s in spec.slos]
    exprs = "\n".join(_promql(board))
    for s in spec.slos:
        assert f'sloth_id="{s.service}-{s.name}"' in exprs


def test_adding_an_slo_to_the_spec_adds_its_row_reading_only_recorded_series() -> None:
    third = {
        "name": "serving-latency-fast",
        "description": "99% of prediction requests are answered within 100 ms.",
        "objective": 99.0,
        "period": "28d",
        "sli": {"latency": {"thresholdSeconds": 0.1, "selector": 'job="serving"'}},
    }
    slos = [*profile("dev")["slos"], third]
    spec = load_spec(StackConfig("t", {"mlops:environment": "dev", "mlops:slos": slos}))
    board = json.loads(to_json(build_all(spec)[slo_dashboard.UID]))
    rows = [panel["title"] for panel in board["panels"] if panel["type"] == "row"]
    assert rows == [slo_dashboard.row_title(s) for s in spec.slos]
    assert rows[2] == "serving-latency-fast: 99% over 28d"
    assert rows[3] == "iris-classifier-accuracy: 80% over 30d"
    assert 'sloth_slo="serving-latency-fast"' in "\n".join(_promql(board))
    assert _unknown_metrics(board, spec) == set()


def test_alert_thresholds_of_the_spec_are_drawn_on_the_panels() -> None:
    values = {"mlops:environment": "dev", "mlops:alerts": {"driftPsi": 0.3}}
    board = json.loads(to_json(build_all(load_spec(StackConfig("t", values)))[MODEL_HEALTH]))
    drift = next(panel for panel in _panels(board) if panel["title"].startswith("Feature drift"))
    steps = drift["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.3]
    assert drift["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def _spec_with(environment: str, **model: Any) -> PlatformSpec:
    """An environment's spec whose served models all get `model`'s settings (gpus, resources)."""
    models = [m | model for m in profile(environment)["serving"]["models"]]
    values = {"mlops:environment": environment, "mlops:serving": {"models": models}}
    return load_spec(StackConfig("t", values))


def _board(spec: PlatformSpec, uid: str) -> JSONDict:
    board: JSONDict = json.loads(to_json(build_all(spec)[uid]))
    return board


def _rows(board: JSONDict) -> list[str]:
    return [panel["title"] for panel in board["panels"] if panel["type"] == "row"]


def _titled(board: JSONDict, title: str) -> JSONDict:
    return next(panel for panel in _panels(board) if panel["title"] == title)


def _metrics(spec: PlatformSpec) -> set[str]:
    exprs = [e for board in build_all(spec).values() for e in _promql(json.loads(to_json(board)))]
    return {name for expr in exprs for name in selectors(_substituted(expr))}


@pytest.mark.parametrize("environment", ["dev", "staging"])
def test_the_gpu_row_is_there_only_when_a_served_model_requests_gpus(environment: str) -> None:
    without, with_gpus = _spec(environment), _spec_with(environment, gpus=1)
    assert not without.gpus
    assert "GPUs" not in _rows(_boards(environment)[resources.UID])
    assert not {m for m in _metrics(without) if m.startswith("DCGM_")}
    board = _board(with_gpus, resources.UID)
    assert _rows(board)[-1] == "GPUs"
    assert {"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_GPU_UTIL"} <= _metrics(
        with_gpus
    )
    assert _unknown_metrics(board, with_gpus) == set()


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_panels_are_only_on_the_stacks_that_scrape_kubernetes(stack: str) -> None:
    """kube-state-metrics and the kubelet run only on Kubernetes; dev has cAdvisor instead."""
    spec, metrics = _spec(stack), _metrics(_spec(stack))
    kubernetes = spec.target == "kubernetes"
    assert bool({m for m in metrics if m.startswith("kube_")}) == kubernetes
    assert bool({m for m in metrics if m.startswith("kubelet_")}) == kubernetes
    assert ("Kubernetes workloads" in _rows(_boards(stack)[resources.UID])) == kubernetes
    assert "container_memory_working_set_bytes" in metrics


@pytest.mark.parametrize("stack", STACKS)
def test_saturation_panels_read_only_jobs_the_stack_scrapes(stack: str) -> None:
    """A panel on a collector the stack does not run is left out, not drawn empty (the live
    tier asks every dev query for data)."""
    spec = _spec(stack)
    config = yaml.safe_load(render_all(spec, ep.for_spec(spec))[cv.PROMETHEUS_CONFIG])
    scraped = {job["job_name"] for job in config["scrape_configs"]}
    for uid in (resources.UID, serving_dashboard.UID):
        read = {
            job for e in _promql(_boards(stack)[uid]) for job in re.findall(r'job="([^"]+)"', e)
        }
        assert read, uid
        assert read <= scraped, (uid, read - scraped)


def test_the_resources_dashboard_is_in_the_platform_folder_and_linked_from_serving_and_platform() -> (
    None
):
    assert FOLDERS[resources.UID] == cv.FOLDER_UID["platform"]
    boards = _boards("dev")
    for uid in (serving_dashboard.UID, platform_dashboard.UID):
        links = [link for link in boards[uid]["links"] if link["type"] == "link"]
        assert [link["url"] for link in links] == [f"/d/{resources.UID}"], uid
        assert links[0]["keepTime"]


def test_cpu_limits_bring_the_throttling_panels_where_the_target_applies_them() -> None:
    """Kubernetes sets cpuLimit (cAdvisor then reports CFS quota and throttling); the docker
    target sets memory limits only, so dev never draws them."""
    for uid, title in ((resources.UID, "CPU throttled"), (serving_dashboard.UID, "CPU throttled")):
        limited = _board(_spec_with("staging", resources=_cpu_limited("staging")), uid)
        assert _titled(limited, title)["targets"], uid
        assert title not in [panel["title"] for panel in _panels(_boards("staging")[uid])]
        dev = _board(_spec_with("dev", resources=_cpu_limited("dev")), uid)
        assert title not in [panel["title"] for panel in _panels(dev)], uid
    serving = _board(
        _spec_with("staging", resources=_cpu_limited("staging")), serving_dashboard.UID
    )
    steps = _titled(serving, "Serving CPU per replica (cores)")["fieldConfig"]["defaults"]
    assert [s["value"] for s in steps["thresholds"]["steps"]] == [None, 0.25, 0.5]


def _cpu_limited(environment: str) -> dict[str, str]:
    requests: dict[str, str] = profile(environment)["serving"]["models"][0]["resources"]
    return requests | {"cpuLimit": "500m"}


def test_saturation_thresholds_of_the_spec_are_drawn_on_the_panels() -> None:
    values = {"mlops:environment": "dev", "mlops:alerts": {"containerMemoryRatio": 0.8}}
    spec = load_spec(StackConfig("t", values))
    for uid, title in (
        (resources.UID, "Memory working set / limit"),
        (serving_dashboard.UID, "Serving memory / limit"),
    ):
        steps = _titled(_board(spec, uid), title)["fieldConfig"]["defaults"]["thresholds"]
        assert [s["value"] for s in steps["steps"]] == [None, 0.8], uid


def test_the_logs_panel_links_a_line_to_its_trace_in_tempo() -> None:
    board = _boards("dev")["mlops-logs-traces"]
    logs = next(panel for panel in _panels(board) if panel["type"] == "logs")
    assert logs["targets"][0]["expr"] == '{service_name="mlops-serving"} | json'
    (link,) = logs["fieldConfig"]["defaults"]["links"]
    assert "${__data.fields.trace_id}" in link["url"]
    assert cv.DATASOURCE_UID["tempo"] in link["url"]
    tempo = [
        panel for panel in _panels(board) if panel.get("datasource", {}).get("type") == "tempo"
    ]
    assert tempo
    assert all(t["queryType"] == "traceql" for panel in tempo for t in panel["targets"])


def test_dashboard_command_writes_one_json_file_per_dashboard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dashboards_main(["--stack", "dev", "--out", str(tmp_path), "--dir", str(ROOT)]) == 0
    written = {f.name: f.read_text() for f in tmp_path.iterdir()}
    assert written == {f"{uid}.json": text for uid, text in _texts("dev").items()}
    assert str(tmp_path / "mlops-slo.json") in capsys.readouterr().out


def test_dashboards_import_no_pulumi() -> None:
    code = (
        "import sys, dashboards, dashboards.__main__; "
        "print(sorted(m for m in sys.modules if m.startswith('pulumi')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
