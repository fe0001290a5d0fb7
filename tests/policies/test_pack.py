"""The pack itself: what it holds, how each stack configures it, and what it may import."""

from __future__ import annotations

import ast
import json
import pkgutil
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from pulumi_policy import EnforcementLevel

import policies.rules
from infra.config import ROOT
from policies.framework import ResourcePolicy, StackPolicy
from policies.registry import POLICIES, by_name
from tests.policies.harness import config_path, level_of, load_config, properties_of
from tests.program import run_program

PACK = ROOT / "policies"
# What the issue asks the pack to check, each by the policy that does.
REQUIRED = {
    "images-pinned",
    "no-privileged-containers",
    "no-host-access",
    "run-as-non-root",
    "read-only-root-filesystem",
    "no-privilege-escalation",
    "capabilities-dropped",
    "resources-requested-and-limited",
    "health-probes",
    "persistent-storage",
    "retention-configured",
    "grafana-secure-auth",
    "no-plaintext-secrets",
    "host-ports-on-localhost",
    "network-policies",
    "alertmanager-highly-available",
    "disruption-budgets",
    "alert-rules-annotated",
    "slo-alerts-complete",
    "dashboards-in-folders",
    "dashboards-use-declared-datasources",
}
SECURITY = {
    "images-pinned",
    "no-privileged-containers",
    "no-host-access",
    "host-access-isolated",
    "run-as-non-root",
    "read-only-root-filesystem",
    "no-privilege-escalation",
    "capabilities-dropped",
    "no-plaintext-secrets",
    "grafana-secure-auth",
    "host-ports-on-localhost",
}


def test_the_pack_holds_at_least_twelve_uniquely_named_policies_covering_the_issue() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) >= 12
    assert len(set(names)) == len(names)
    assert set(names) >= REQUIRED
    for policy in POLICIES:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", policy.name), policy.name
        assert policy.description
        assert policy.remediation_steps
        assert policy.severity


def test_every_policy_module_is_registered_once() -> None:
    modules = {f"policies.rules.{m.name}" for m in pkgutil.iter_modules(policies.rules.__path__)}
    checks = [p.check.__module__ for p in POLICIES]
    assert sorted(checks) == sorted(modules)


def test_the_alertmanager_ha_and_disruption_checks_are_stack_policies() -> None:
    kinds = {p.name: type(p) for p in POLICIES}
    assert kinds["alertmanager-highly-available"] is StackPolicy
    assert kinds["disruption-budgets"] is StackPolicy
    assert kinds["images-pinned"] is ResourcePolicy


def test_without_a_config_security_blocks_and_the_rest_advises() -> None:
    for policy in POLICIES:
        expected = (
            EnforcementLevel.MANDATORY if policy.name in SECURITY else EnforcementLevel.ADVISORY
        )
        assert policy.enforcement_level == expected, policy.name


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_stack_config_names_every_policy_and_nothing_else(stack: str) -> None:
    config = load_config(stack)
    assert set(config) - {"all"} == set(by_name())


def test_dev_advises_except_that_its_ports_stay_on_localhost_and_ha_is_off() -> None:
    config = load_config("dev")
    levels = {p.name: level_of(p, config) for p in POLICIES}
    assert levels.pop("host-ports-on-localhost") == EnforcementLevel.MANDATORY
    assert levels.pop("alertmanager-highly-available") == EnforcementLevel.DISABLED
    assert set(levels.values()) == {EnforcementLevel.ADVISORY}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_make_every_policy_mandatory(stack: str) -> None:
    config = load_config(stack)
    assert {level_of(p, config) for p in POLICIES} == {EnforcementLevel.MANDATORY}
    assert properties_of(by_name()["alertmanager-highly-available"], config)["minReplicas"] >= 2


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_stack_config_is_valid_against_the_policies_schemas(stack: str) -> None:
    """The CLI validates a config file against each policy's schema before a preview starts."""
    config = load_config(stack)
    for name, entry in config.items():
        if isinstance(entry, str):
            assert entry in {level.value for level in EnforcementLevel}, (name, entry)
            continue
        policy = by_name()[name]
        schema = {
            "type": "object",
            "properties": {
                "enforcementLevel": {"enum": [level.value for level in EnforcementLevel]},
                **policy.schema,
            },
            "additionalProperties": False,
        }
        jsonschema.validate(entry, schema)


def test_exemptions_name_resources_of_the_stack_and_give_a_reason() -> None:
    names = {r.name for r in run_program("dev").mocks.resources}
    for entry in load_config("dev").values():
        if isinstance(entry, dict):
            for resource, reason in entry.get("exemptions", {}).items():
                assert resource in names
                assert len(reason.split()) >= 5


def test_the_schema_defaults_are_what_a_policy_reads_without_config() -> None:
    for policy in POLICIES:
        settings = policy.settings()
        assert settings["exemptions"] == {}
        assert set(settings) == set(policy.schema)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def test_the_entry_point_only_builds_the_pack_from_the_registry() -> None:
    tree = _tree(PACK / "__main__.py")
    calls = [
        node.value for node in tree.body
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
    ]  # fmt: skip
    others = [
        node for node in tree.body
        if not isinstance(node, ast.Import | ast.ImportFrom | ast.Expr)
    ]  # fmt: skip
    assert others == []
    assert [ast.unparse(c.func) for c in calls] == ["sys.path.insert", "PolicyPack"]
    assert "POLICIES" in ast.unparse(calls[-1])
    imported = {
        node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "policies.registry" in imported


def test_policies_judge_resources_and_never_import_the_program() -> None:
    for path in PACK.rglob("*.py"):
        for node in ast.walk(_tree(path)):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            for module in modules:
                root = module.split(".")[0]
                assert root not in {"tests", "stacks", "dashboards", "service"}, (path, module)
                if root == "infra":
                    assert module == "infra", (path, module)
                    names = (
                        {a.name for a in node.names} if isinstance(node, ast.ImportFrom) else set()
                    )
                    assert names == {"conventions"}, (path, module)


def test_the_pack_project_file_runs_python_in_the_project_environment() -> None:
    project: dict[str, Any] = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["toolchain"] == "uv"
    assert (PACK / "__init__.py").is_file()


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_config_files_are_plain_json(stack: str) -> None:
    text = config_path(stack).read_text()
    assert json.loads(text)
    assert text.endswith("\n")


def test_the_readme_lists_every_policy_with_its_levels() -> None:
    table = {
        cells[0].strip("`"): cells[1:]
        for line in (PACK / "README.md").read_text().splitlines()
        if line.startswith("| `")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert list(table) == [p.name for p in POLICIES]
    for policy in POLICIES:
        kind = "stack" if isinstance(policy, StackPolicy) else "resource"
        assert policy.enforcement_level is not None
        levels = [level_of(policy, load_config(s)).value for s in ("dev", "staging", "prod")]
        assert table[policy.name] == [kind, policy.enforcement_level.value, *levels]


def test_the_entry_point_serves_the_pack_on_loopback_as_the_cli_starts_it() -> None:
    """The CLI runs the pack directory with Python from inside it; the pack prints the port it
    serves gRPC on (127.0.0.1 only). Started here the same way, then stopped."""
    process = subprocess.Popen(
        [sys.executable, "-u", "."],
        cwd=PACK,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        line = process.stdout.readline().strip()
        assert line.isdigit(), (line, process.stderr.read() if process.poll() is not None else "")
        with socket.create_connection(("127.0.0.1", int(line)), timeout=5):
            pass
    finally:
        process.terminate()
        process.wait(timeout=10)
