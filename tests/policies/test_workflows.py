"""The GitHub workflows: valid for actionlint, and doing what the project needs of them."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import ROOT
from tests.policies import tools

WORKFLOWS = ROOT / ".github" / "workflows"
STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def _load(name: str) -> dict[str, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in document:  # YAML 1.1 reads the `on:` key as a boolean
        document["on"] = document.pop(True)
    return document


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _steps(job) if str(s.get("uses", "")).startswith("pulumi/actions@")]


def _uses(document: dict[str, Any]) -> Iterator[str]:
    for job in document["jobs"].values():
        for step in _steps(job):
            if "uses" in step:
                yield str(step["uses"])


def test_the_workflows_pass_actionlint_with_shellcheck() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["deploy.yml", "pr.yml"]
    path = tools.tool_path()
    assert (
        subprocess.run(
            ["shellcheck", "--version"], env={"PATH": path}, capture_output=True, check=False
        ).returncode
        == 0
    )
    result = subprocess.run(
        [str(tools.actionlint()), "-no-color", "-oneline", *map(str, files)],
        cwd=ROOT,
        env={"PATH": path, "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_every_action_is_pinned_to_a_major_version_or_a_commit(name: str) -> None:
    for uses in _uses(_load(name)):
        assert PINNED.match(uses), uses


def test_pull_requests_run_lint_types_and_the_tests() -> None:
    jobs = _load("pr.yml")["jobs"]
    runs = [str(s.get("run", "")) for job in jobs.values() for s in _steps(job)]
    assert any("pre-commit run --all-files" in r for r in runs)
    assert any(r.strip() == "make test" for r in runs)


def test_pull_requests_preview_every_stack_under_the_pack_with_that_stacks_config() -> None:
    workflow = _load("pr.yml")
    assert workflow["on"]["pull_request"]["branches"] == ["main"]
    preview = workflow["jobs"]["preview"]
    assert set(preview["needs"]) == {"lint", "test"}
    assert sorted(preview["strategy"]["matrix"]["stack"]) == STACKS == ["dev", "prod", "staging"]
    (step,) = _pulumi_steps(preview)
    assert step["uses"] == "pulumi/actions@v6"
    arguments = step["with"]
    assert arguments["command"] == "preview"
    assert arguments["stack-name"] == "${{ matrix.stack }}"
    assert arguments["policyPacks"] == "policies"
    assert arguments["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    for stack in STACKS:
        assert (ROOT / "policies" / "config" / f"{stack}.json").is_file()


def test_deploys_run_staging_on_push_to_main_then_prod_behind_its_protected_environment() -> None:
    workflow = _load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    staging, prod = jobs["staging"], jobs["prod"]
    assert prod["needs"] == "staging"
    assert prod["environment"]["name"] == "prod"
    for stack, job in (("staging", staging), ("prod", prod)):
        (step,) = _pulumi_steps(job)
        assert step["with"]["command"] == "up"
        assert step["with"]["stack-name"] == stack
        assert step["with"]["policyPacks"] == "policies"
        assert step["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"


def test_two_updates_of_one_stack_never_overlap_nor_cancel_each_other() -> None:
    jobs = _load("deploy.yml")["jobs"]
    groups = {name: job["concurrency"] for name, job in jobs.items()}
    assert groups["staging"]["group"] != groups["prod"]["group"]
    for group in groups.values():
        assert (
            group["cancel-in-progress"] is False
        )  # a cancelled `pulumi up` leaves pending operations


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_credentials_come_from_secrets_only(name: str) -> None:
    workflow = _load(name)
    for job in workflow["jobs"].values():
        for step in _steps(job):
            for key, value in dict(step.get("env", {})).items():
                if re.search(r"TOKEN|PASSPHRASE|KUBECONFIG", key):
                    assert re.fullmatch(r"\$\{\{ secrets[.\[].+ \}\}", str(value)), (key, value)
    assert workflow["permissions"] == {"contents": "read"}


def test_actionlint_would_catch_a_misspelt_input_of_the_pulumi_action(tmp_path: Path) -> None:
    broken = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())
    step = _pulumi_steps(broken["jobs"]["staging"])[0]
    step["with"]["policy-packs"] = step["with"].pop("policyPacks")
    (tmp_path / "deploy.yml").write_text(yaml.safe_dump(broken, sort_keys=False))
    result = subprocess.run(
        [str(tools.actionlint()), "-no-color", "-oneline", str(tmp_path / "deploy.yml")],
        env={"PATH": tools.tool_path(), "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert 'input "policy-packs" is not defined' in result.stdout
