"""`pulumi up` of the Kubernetes stacks through the real engine, the Kubernetes provider plugin
4.25.0 built by tools/engine/build.sh and the policy pack at the stack's levels, against the local
control plane of tests/cluster.py; then everything read back from its API server.

The Grafana content goes through a provider the proxy refuses (pulumiverse grafana), so these
stacks set `grafana.content: external`, the setting users take for a new environment's first
`up` (or content owned by another stack), and set the Grafana admin password as a secret so no
random provider is needed.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from infra import conventions as cv
from infra.components.kubernetes import manifest_files
from infra.manifests import workloads
from tests.cluster import ControlPlane
from tests.conftest import stack_spec
from tests.engine.conftest import Engine, Result, external_stack

SHIPPED = ("staging", "prod")


@dataclass
class Up:
    """One shipped stack brought up on the plane: the `up` and what the API server holds."""

    stack: str
    name: str
    result: Result
    seconds: float


@pytest.fixture(scope="module")
def ups(kube: Engine) -> dict[str, Up]:
    """Each shipped stack's `up`, run once for the module."""
    done = {}
    for stack in SHIPPED:
        name = f"{stack}-up"
        external_stack(kube, stack, name)
        start = time.monotonic()
        result = kube.up(name, "--skip-preview")
        done[stack] = Up(stack, name, result, time.monotonic() - start)
    return done


@pytest.fixture(params=SHIPPED)
def up(request: pytest.FixtureRequest, ups: dict[str, Up]) -> Up:
    """One stack's successful `up` (a failed one fails every test that reads its result)."""
    done = ups[request.param]
    assert done.result.returncode == 0, str(done.result)
    return done


def _namespaced(plane: ControlPlane, stack: str, group: str, kind: str) -> list[dict[str, Any]]:
    namespace = stack_spec(stack).kubernetes.namespace
    prefix = "/api/v1" if group == "" else f"/apis/{group}"
    return plane.items(f"{prefix}/namespaces/{namespace}/{kind}")


def test_up_creates_the_platform_through_the_engine_and_the_policy_pack(up: Up) -> None:
    stack = up.stack
    assert "mlops-observability@v0.1.0 (local: policies)" in up.result.output
    created = re.search(r"\+ (\d+) created", up.result.output)
    assert created, up.result.output
    print(f"{stack} up: {up.seconds:.0f}s, {created.group(1)} resources created")


def test_every_pod_controller_is_ready_with_the_replicas_the_spec_asks(
    up: Up, plane: ControlPlane
) -> None:
    stack = up.stack
    spec = stack_spec(stack)
    controllers = _namespaced(plane, stack, "apps/v1", "deployments") + _namespaced(
        plane, stack, "apps/v1", "statefulsets"
    )
    names = {c["metadata"]["name"] for c in controllers}
    assert {f"{spec.name}-prometheus", f"{spec.name}-alertmanager", f"{spec.name}-mlflow"} <= names
    for c in controllers:
        assert c["status"].get("readyReplicas") == c["spec"]["replicas"], c["metadata"]["name"]
    alertmanager = next(c for c in controllers if c["metadata"]["name"].endswith("-alertmanager"))
    assert alertmanager["spec"]["replicas"] == spec.alertmanager.replicas
    pods = _namespaced(plane, stack, "", "pods")
    assert len(pods) == sum(c["spec"]["replicas"] for c in controllers)
    assert plane.failed_creates(stack_spec(stack).kubernetes.namespace) == []
    print(f"{stack}: {len(controllers)} controllers, {len(pods)} Pods admitted under restricted")


def test_the_pods_run_as_the_spec_and_the_restricted_profile_say(
    up: Up, plane: ControlPlane
) -> None:
    stack = up.stack
    namespace = plane.get(f"/api/v1/namespaces/{stack_spec(stack).kubernetes.namespace}")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for pod in _namespaced(plane, stack, "", "pods"):
        name = pod["metadata"]["name"]
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True, name
        assert pod["metadata"]["labels"]["app.kubernetes.io/part-of"], name
        for container in pod["spec"]["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert "memory" in container["resources"]["limits"], name
            assert "readinessProbe" in container, name


def test_every_claim_of_the_stateful_sets_is_bound_at_its_spec_size(
    up: Up, plane: ControlPlane
) -> None:
    stack = up.stack
    spec = stack_spec(stack)
    claims = {
        c["metadata"]["name"]: c for c in _namespaced(plane, stack, "", "persistentvolumeclaims")
    }
    prometheus = claims[f"data-{spec.name}-prometheus-0"]
    assert prometheus["status"]["phase"] == "Bound"
    assert prometheus["spec"]["resources"]["requests"]["storage"] == spec.prometheus.storage_size
    assert all(c["status"]["phase"] == "Bound" for c in claims.values())


def test_node_exporter_runs_where_opted_in_and_admission_refuses_its_host_access_elsewhere(
    up: Up, plane: ControlPlane
) -> None:
    """The one exception to the restricted profile, as the API server judges it: the host
    collectors' namespace admits node-exporter's host PID, network and paths; the platform's
    namespace refuses the very same Pod (a dry run: nothing is created)."""
    spec = stack_spec(up.stack)
    name = f"{spec.name}-node-exporter"
    daemonsets = [
        d for d in plane.items("/apis/apps/v1/daemonsets") if d["metadata"]["name"] == name
    ]
    if cv.Component.NODE_EXPORTER not in spec.collectors:
        assert daemonsets == [], "node-exporter runs only where a stack opts in"
        assert plane.status(f"/api/v1/namespaces/{spec.host_namespace}") == 404
        return
    (daemonset,) = daemonsets
    host = spec.host_namespace
    assert daemonset["metadata"]["namespace"] == host
    status = daemonset["status"]
    assert status["desiredNumberScheduled"] >= 1
    assert status["numberReady"] == status["desiredNumberScheduled"]
    labels = plane.get(f"/api/v1/namespaces/{host}")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    template = daemonset["spec"]["template"]
    assert template["spec"]["hostPID"] is True
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "node-exporter-elsewhere", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }
    platform = spec.kubernetes.namespace
    # There, under an account that namespace has (the ServiceAccount check comes first).
    elsewhere = {**pod, "spec": {**pod["spec"], "serviceAccountName": f"{spec.name}-prometheus"}}
    with plane.client() as client:
        refused = client.post(f"/api/v1/namespaces/{platform}/pods?dryRun=All", json=elsewhere)
        admitted = client.post(f"/api/v1/namespaces/{host}/pods?dryRun=All", json=pod)
    assert refused.status_code == 403, refused.text
    assert "violates PodSecurity" in refused.text
    assert "restricted:latest" in refused.text
    assert admitted.status_code == 201, admitted.text


def test_the_network_policies_are_accepted_by_the_api_server_as_rendered(
    up: Up, plane: ControlPlane
) -> None:
    """A default deny in each namespace and one allow policy per workload, stored as declared
    (the plane has no network plugin: they are accepted, not enforced)."""
    spec = stack_spec(up.stack)
    rendered = [yaml.safe_load(text) for text in manifest_files(workloads(spec), spec).values()]
    declared = {
        (p["metadata"]["namespace"], p["metadata"]["name"]): p["spec"]
        for p in rendered
        if p["kind"] == "NetworkPolicy"
    }
    stored = {
        (p["metadata"]["namespace"], p["metadata"]["name"]): p["spec"]
        for namespace in sorted({key[0] for key in declared})
        for p in plane.items(f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies")
    }
    assert stored == declared
    assert stored[(spec.kubernetes.namespace, "default-deny")]["podSelector"] == {}
    print(f"{up.stack}: {len(stored)} NetworkPolicies stored")


def test_a_second_preview_of_the_same_program_changes_nothing(up: Up, kube: Engine) -> None:
    """The program is idempotent: no perpetual diff on any resource."""
    result = kube.run("preview", "--stack", up.name, "--diff", "--expect-no-changes", timeout=600)
    assert result.returncode == 0, str(result)


def test_a_refresh_reads_back_what_up_wrote_and_finds_no_drift(up: Up, kube: Engine) -> None:
    """What the API server holds is what the state says `up` wrote: the defaults the server
    fills in and the status its controllers write are not drift."""
    result = kube.run(
        "refresh", "--preview-only", "--stack", up.name, "--expect-no-changes", timeout=600
    )
    assert result.returncode == 0, str(result)


def _steps(output: str) -> set[tuple[str, str]]:
    """(operation, resource name) of every step `pulumi preview --json` plans to take."""
    document = json.loads(output[output.index("{") :])
    return {
        (step["op"], step["urn"].rsplit("::", 1)[1])
        for step in document.get("steps", [])
        if step["op"] != "same"
    }


def test_one_setting_changed_previews_as_exactly_the_update_it_means(
    ups: dict[str, Up], kube: Engine
) -> None:
    up = ups["staging"]
    assert up.result.returncode == 0
    spec = stack_spec("staging")

    def retention(value: str) -> None:
        path = "mlops:prometheus.retentionTime"
        kube.run("config", "set", "--stack", up.name, "--path", path, value, check=True)

    retention("9d")
    try:
        result = kube.run("preview", "--stack", up.name, "--json", timeout=600)
        assert result.returncode == 0, str(result)
        assert _steps(result.output) == {("update", f"{spec.name}-prometheus-statefulset")}
    finally:
        retention(spec.prometheus.retention_time)


def test_destroy_removes_what_up_created_and_keeps_the_data_claims(
    up: Up, kube: Engine, plane: ControlPlane
) -> None:
    stack = up.stack
    claims = {
        c["metadata"]["name"] for c in _namespaced(plane, stack, "", "persistentvolumeclaims")
    }
    assert claims
    result = kube.run("destroy", "--yes", "--stack", up.name, timeout=900)
    assert result.returncode == 0, str(result)
    for group, kind in (
        ("apps/v1", "statefulsets"),
        ("apps/v1", "deployments"),
        ("", "services"),
        ("", "secrets"),
        ("policy/v1", "poddisruptionbudgets"),
        ("networking.k8s.io/v1", "networkpolicies"),
    ):
        assert _namespaced(plane, stack, group, kind) == [], kind
    config_maps = {c["metadata"]["name"] for c in _namespaced(plane, stack, "", "configmaps")}
    assert config_maps <= {"kube-root-ca.crt"}  # the controller manager's, in every namespace
    after = {c["metadata"]["name"] for c in _namespaced(plane, stack, "", "persistentvolumeclaims")}
    assert after == claims
