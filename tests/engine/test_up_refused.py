"""What the engine tier refuses, and where: a stack the policy pack forbids never reaches the
cluster, and a Pod the pack only warns about is still refused by the API server's Pod Security
admission (defence in depth: the pack in CI, the namespace's `restricted` level in the cluster).

Each stack here runs in a namespace of its own on the tier's plane, beside test_up.py's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, wait_for
from tests.conftest import stack_spec
from tests.engine.conftest import Engine, external_stack

# The shipped program with one Pod template weakened, the harness's stand-in for a hand edit
# (or a user's own transform) that the spec cannot express. The harness alone sets the
# provider's skipAwait on that Deployment: its Pods can never be admitted, so the provider's
# readiness wait would only run out its ten minutes.
WEAKENED_MAIN = '''\
"""The platform program, its {target} Deployment's container made privileged."""

import runpy
from pathlib import Path

import pulumi

TARGET = "{target}"


def weaken(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    if args.type_ != "kubernetes:apps/v1:Deployment" or args.name != TARGET:
        return None
    props = dict(args.props)
    metadata = {{**props["metadata"], "annotations": {{"pulumi.com/skipAwait": "true"}}}}
    spec = dict(props["spec"])
    template = dict(spec["template"])
    pod = dict(template["spec"])
    container = dict(pod["containers"][0])
    container["securityContext"] = {{
        **container["securityContext"],
        "privileged": True,
        "allowPrivilegeEscalation": True,
    }}
    pod["containers"] = [container, *pod["containers"][1:]]
    template["spec"] = pod
    spec["template"] = template
    props.update(metadata=metadata, spec=spec)
    return pulumi.ResourceTransformResult(props, args.opts)


pulumi.runtime.register_resource_transform(weaken)
runpy.run_path(str(Path(__file__).resolve().parent.parent / "infra" / "__main__.py"), run_name="__main__")
'''


def _stack_file(engine: Engine, name: str) -> dict[str, Any]:
    exported = engine.run("stack", "export", "--stack", name, check=True)
    document: dict[str, Any] = json.loads(exported.output)
    return document


def test_a_stack_below_the_ha_minimum_is_stopped_by_a_mandatory_policy_and_nothing_is_created(
    kube: Engine, plane: ControlPlane
) -> None:
    name, namespace = "prod-single", "mlops-single"
    external_stack(
        kube, "prod", name, {"alertmanager.replicas": "1", "kubernetes.namespace": namespace}
    )
    result = kube.up(name)
    output = result.output
    assert result.returncode != 0, str(result)
    assert "alertmanager-highly-available" in output, output
    assert "mandatory" in output, output
    message = "runs 1 Alertmanager replica(s), fewer than 2: one lost pod silences every"
    assert message in output, output
    print(f"the bad stack's policy message: {message} ...")
    # The preview `up` runs first was refused, so the update never started.
    assert plane.status(f"/api/v1/namespaces/{namespace}") == 404
    assert _stack_file(kube, name)["deployment"].get("resources") in (None, [])


def _advisory(engine: Engine, stack: str) -> Path:
    """The stack's policy config with every policy advisory, its other settings kept."""
    levels = json.loads((engine.project / f"policies/config/{stack}.json").read_text())
    advisory = {
        policy: {**level, "enforcementLevel": "advisory"} if isinstance(level, dict) else "advisory"
        for policy, level in levels.items()
    }
    path = engine.project / f"policies/config/{stack}-advisory.json"
    path.write_text(json.dumps(advisory, indent=2))
    return path


@pytest.fixture(scope="module")
def weakened(kube: Engine, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A copy of the project whose main is the shipped program with one Pod weakened."""
    spec = stack_spec("staging")
    project = tmp_path_factory.mktemp("weakened") / "project"
    shutil.copytree(kube.project, project, ignore=shutil.ignore_patterns("Pulumi.*-*.yaml"))
    pulumi_yaml = project / "Pulumi.yaml"
    pulumi_yaml.write_text(pulumi_yaml.read_text().replace("main: infra/", "main: weakened/"))
    (project / "weakened").mkdir()
    target = f"{spec.name}-otel-collector-deployment"
    (project / "weakened" / "__main__.py").write_text(WEAKENED_MAIN.format(target=target))
    return Engine(kube.pulumi, project, kube.env)


def test_with_the_pack_advisory_a_weakened_pod_passes_up_and_pod_security_refuses_it(
    weakened: Engine, plane: ControlPlane
) -> None:
    name, namespace = "staging-weakened", "mlops-weakened"
    external_stack(weakened, "staging", name, {"kubernetes.namespace": namespace})
    result = weakened.up(name, "--skip-preview", policy_config=str(_advisory(weakened, "staging")))
    output = result.output
    assert result.returncode == 0, str(result)
    # The pack saw it and said so, but only advised.
    for policy in ("no-privileged-containers", "no-privilege-escalation"):
        assert policy in output, output
    assert "advisory" in output, output

    spec = stack_spec("staging")
    collector = f"{spec.name}-otel-collector"
    messages = wait_for(lambda: plane.failed_creates(namespace), "a FailedCreate event", 120)
    refused = [m for m in messages if collector in m]
    assert refused, messages
    assert 'violates PodSecurity "restricted:latest"' in refused[0], refused
    assert "privileged" in refused[0], refused
    assert "allowPrivilegeEscalation != false" in refused[0], refused
    print(f"Pod Security admission: {refused[0]}")
    pods = plane.items(f"/api/v1/namespaces/{namespace}/pods")
    assert not [p for p in pods if p["metadata"]["name"].startswith(collector)]
    # Only that Pod: every other controller's Pods were admitted.
    assert all(collector in m for m in messages), messages
    deployment = plane.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{collector}")
    assert deployment["status"].get("readyReplicas") is None
