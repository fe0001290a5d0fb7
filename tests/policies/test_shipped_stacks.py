"""Every shipped stack, run through the real program under the mocks, passes the pack.

Each stack's resources go through every policy at the level its
`policies/config/<stack>.json` gives, as `pulumi preview --policy-pack
policies --policy-pack-config ...` would run them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel

from policies.framework import SENTINELS, ResourcePolicy
from policies.registry import POLICIES
from tests.policies.harness import Resource, evaluate, from_mocks, load_config
from tests.program import run_program

STACKS = ("dev", "staging", "prod")
UNKNOWN = next(iter(sorted(SENTINELS)))


@pytest.fixture(scope="module")
def shipped() -> dict[str, list[Resource]]:
    return {stack: from_mocks(run_program(stack).mocks.resources, stack) for stack in STACKS}


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_passes_every_mandatory_policy(
    shipped: dict[str, list[Resource]], stack: str
) -> None:
    violations = evaluate(shipped[stack], load_config(stack))
    blocking = [v for v in violations if v.level == EnforcementLevel.MANDATORY]
    assert not blocking, "\n".join(str(v) for v in blocking)


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_raises_no_advisory_either(
    shipped: dict[str, list[Resource]], stack: str
) -> None:
    """Warnings nobody acts on teach people to ignore warnings: a shipped stack raises none."""
    violations = evaluate(shipped[stack], load_config(stack))
    assert not violations, "\n".join(str(v) for v in violations)


def test_without_its_config_dev_reports_exactly_what_its_config_waives(
    shipped: dict[str, list[Resource]],
) -> None:
    """dev's config disables the HA policy (one machine) and exempts the collector's container
    from health checks (its image has nothing to run one): without the config, those two and
    nothing else are reported."""
    violations = evaluate(shipped["dev"], {})
    assert sorted((v.policy, v.urn.rsplit("::", 1)[-1] if v.urn else "") for v in violations) == [
        ("alertmanager-highly-available", "mlops-dev-alertmanager-container"),
        ("health-probes", "mlops-dev-otel-collector-container"),
    ]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_kubernetes_stacks_pass_with_the_default_levels_too(
    shipped: dict[str, list[Resource]], stack: str
) -> None:
    assert evaluate(shipped[stack], {}) == []


def test_every_resource_policy_judges_some_resource_of_the_shipped_stacks(
    shipped: dict[str, list[Resource]],
) -> None:
    """A policy whose types match nothing the program declares (a typo in a type token) would
    pass forever without judging anything."""
    declared = {r.typ for resources in shipped.values() for r in resources}
    for policy in POLICIES:
        if isinstance(policy, ResourcePolicy):
            assert policy.resource_types & declared, policy.name


def _unknown_container_outputs(inputs: dict[str, Any]) -> None:
    inputs["image"] = UNKNOWN  # the pulled image's digest
    for volume in inputs.get("volumes", []):
        volume["volumeName"] = UNKNOWN
    for network in inputs.get("networksAdvanced", []):
        network["name"] = UNKNOWN
    for upload in inputs.get("uploads", []):
        if upload["permissions"] == "0400":  # secrets, some generated
            upload["content"] = UNKNOWN


def _unknown_secret_data(inputs: dict[str, Any]) -> None:
    inputs["stringData"] = dict.fromkeys(inputs["stringData"], UNKNOWN)


# What a first `pulumi preview` cannot know: values other resources compute.
PREVIEW_UNKNOWNS: dict[str, Callable[[dict[str, Any]], None]] = {
    "docker:index/container:Container": _unknown_container_outputs,
    "grafana:oss/dashboard:Dashboard": lambda inputs: inputs.update(folder=UNKNOWN),
    "kubernetes:core/v1:Secret": _unknown_secret_data,
    "pulumi:providers:grafana": lambda inputs: inputs.update(auth=UNKNOWN),
}


@pytest.mark.parametrize("stack", STACKS)
def test_a_first_preview_with_unknown_values_passes_without_errors(
    shipped: dict[str, list[Resource]], stack: str
) -> None:
    previewed = []
    for resource in shipped[stack]:
        inputs = copy.deepcopy(dict(resource.inputs))
        if resource.typ in PREVIEW_UNKNOWNS:
            PREVIEW_UNKNOWNS[resource.typ](inputs)
        previewed.append(Resource(resource.typ, resource.name, inputs, stack))
    assert evaluate(previewed, load_config(stack)) == []
