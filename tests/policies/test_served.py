"""The pack as the CLI talks to it: Configure with a stack's config file, then Analyze.

`PolicyPack` builds an analyzer servicer and serves it over gRPC; these tests
build the same servicer (without starting a server) and send it the
protobuf requests the CLI sends, so the stack config files, the policies'
config schemas and the enforcement levels are checked through the SDK's own
plumbing: JSON numbers arrive as floats, properties as protobuf Structs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policies.registry import PACK_NAME, POLICIES
from tests.policies.harness import Resource, from_mocks, level_of, load_config, properties_of
from tests.program import run_program

LEVELS = {
    EnforcementLevel.ADVISORY: proto.ADVISORY,
    EnforcementLevel.MANDATORY: proto.MANDATORY,
    EnforcementLevel.DISABLED: proto.DISABLED,
    EnforcementLevel.REMEDIATE: proto.REMEDIATE,
}


def served(stack: str) -> Any:
    """The pack's servicer, configured as the CLI does from policies/config/<stack>.json."""
    # The SDK's servicer is untyped: handled as Any.
    servicer: Any = _PolicyAnalyzerServicer(
        PACK_NAME, "0.0.1", list(POLICIES), EnforcementLevel.ADVISORY
    )
    config = load_config(stack)
    request = proto.ConfigureAnalyzerRequest()
    for policy in POLICIES:
        entry = request.policyConfig[policy.name]
        entry.enforcementLevel = LEVELS[level_of(policy, config)]
        entry.properties.update(copy.deepcopy(properties_of(policy, config)))
    servicer.Configure(request, None)
    return servicer


def analyze(servicer: Any, resource: Resource) -> list[Any]:
    request = proto.AnalyzeRequest(type=resource.typ, urn=resource.urn, name=resource.name)
    request.properties.update(copy.deepcopy(dict(resource.inputs)))
    return list(servicer.Analyze(request, None).diagnostics)


def analyze_stack(servicer: Any, resources: Sequence[Resource]) -> list[Any]:
    request = proto.AnalyzeStackRequest()
    for r in resources:
        entry = request.resources.add(type=r.typ, urn=r.urn, name=r.name)
        entry.properties.update(copy.deepcopy(dict(r.inputs)))
    return list(servicer.AnalyzeStack(request, None).diagnostics)


@pytest.fixture(scope="module")
def stacks() -> dict[str, list[Resource]]:
    return {s: from_mocks(run_program(s).mocks.resources, s) for s in ("dev", "prod")}


def _named(resources: Sequence[Resource], name: str) -> Resource:
    (found,) = [r for r in resources if r.name == name]
    return found


def test_the_served_pack_blocks_a_latest_image_in_prod(stacks: dict[str, list[Resource]]) -> None:
    workload = _named(stacks["prod"], "mlops-prod-prometheus-statefulset")
    inputs = copy.deepcopy(dict(workload.inputs))
    inputs["spec"]["template"]["spec"]["containers"][0]["image"] = "prom/prometheus:latest"
    diagnostics = analyze(served("prod"), Resource(workload.typ, workload.name, inputs, "prod"))
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [
        ("images-pinned", proto.MANDATORY)
    ]
    assert "`latest`" in diagnostics[0].message


def test_the_served_pack_only_advises_in_dev_and_honours_dev_exemptions(
    stacks: dict[str, list[Resource]],
) -> None:
    collector = _named(stacks["dev"], "mlops-dev-otel-collector-container")
    assert analyze(served("dev"), collector) == []  # exempt from health-probes in dev.json
    tempo = _named(stacks["dev"], "mlops-dev-tempo-container")
    writable = Resource(tempo.typ, tempo.name, {**tempo.inputs, "readOnly": False}, "dev")
    diagnostics = analyze(served("dev"), writable)
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [
        ("read-only-root-filesystem", proto.ADVISORY)
    ]


def test_the_served_pack_reads_min_replicas_from_the_prod_config(
    stacks: dict[str, list[Resource]],
) -> None:
    alertmanager = _named(stacks["prod"], "mlops-prod-alertmanager-statefulset")
    inputs = copy.deepcopy(dict(alertmanager.inputs))
    inputs["spec"]["replicas"] = 1.0
    single = Resource(alertmanager.typ, alertmanager.name, inputs, "prod")
    resources = [single if r.name == single.name else r for r in stacks["prod"]]
    diagnostics = analyze_stack(served("prod"), resources)
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [
        ("alertmanager-highly-available", proto.MANDATORY)
    ]
    assert diagnostics[0].urn.endswith("::mlops-prod-alertmanager-statefulset")


def test_the_served_pack_passes_the_shipped_prod_stack(stacks: dict[str, list[Resource]]) -> None:
    servicer = served("prod")
    assert [d for r in stacks["prod"] for d in analyze(servicer, r)] == []
    assert analyze_stack(servicer, stacks["prod"]) == []
