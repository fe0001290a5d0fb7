"""The local control plane the engine tier deploys to (tests/cluster.py): a real API server whose
Pod Security admission judges the Pods a real controller manager creates. The tier's one plane
(the session fixture of conftest.py); each test works in a namespace of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cluster import NODE_NAME, ControlPlane, is_ready, wait_for


def _deployment(name: str, security: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "main",
                            "image": "registry.invalid/app:1.0",
                            "securityContext": security,
                        }
                    ],
                },
            },
        },
    }


RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsUser": 10001,
}


def _namespace(plane: ControlPlane, name: str) -> str:
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    with plane.client() as client:
        client.post("/api/v1/namespaces", json=body).raise_for_status()
    return name


def _create(plane: ControlPlane, namespace: str, kind: str, body: dict[str, Any]) -> None:
    with plane.client() as client:
        response = client.post(f"/apis/apps/v1/namespaces/{namespace}/{kind}", json=body)
        assert response.status_code == 201, response.text


def test_the_api_server_reports_the_built_version(plane: ControlPlane) -> None:
    version = plane.get("/version")
    assert version["gitVersion"].startswith("v1.37.")
    assert (version["major"], version["minor"]) == ("1", "37")


def _ready_pods(plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    return [p for p in plane.items(f"/api/v1/namespaces/{namespace}/pods") if is_ready(p)]


def test_a_compliant_pod_is_created_scheduled_and_reported_ready(plane: ControlPlane) -> None:
    namespace = _namespace(plane, "compliant")
    _create(plane, namespace, "deployments", _deployment("ok", RESTRICTED))
    pods = wait_for(lambda: _ready_pods(plane, namespace), "a Ready Pod of the Deployment")
    assert [p["metadata"]["labels"]["app"] for p in pods] == ["ok"]
    assert pods[0]["spec"]["nodeName"] == NODE_NAME  # placed by the real scheduler
    # The ServiceAccount admission gave it the account the controller manager made.
    assert pods[0]["spec"]["serviceAccountName"] == "default"
    deployment = plane.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/ok")
    assert (
        wait_for(
            lambda: plane.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/ok")["status"].get(
                "readyReplicas"
            ),
            "the Deployment's readyReplicas",
        )
        == deployment["spec"]["replicas"]
    )


def test_a_stateful_set_gets_its_claim_bound_and_its_pod_ready(plane: ControlPlane) -> None:
    namespace = _namespace(plane, "stateful")
    body = _deployment("db", RESTRICTED)
    body["kind"] = "StatefulSet"
    body["spec"]["serviceName"] = "db"
    body["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    ]
    _create(plane, namespace, "statefulsets", body)
    pods = wait_for(lambda: _ready_pods(plane, namespace), "a Ready Pod of the StatefulSet")
    assert [p["metadata"]["name"] for p in pods] == ["db-0"]
    claim = plane.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/data-db-0")
    assert claim["status"]["phase"] == "Bound"
    assert claim["status"]["capacity"]["storage"] == "1Gi"


def test_a_pod_adding_a_capability_is_refused_by_pod_security_admission(
    plane: ControlPlane,
) -> None:
    namespace = _namespace(plane, "refusing")
    _create(
        plane,
        namespace,
        "deployments",
        _deployment("bad", {**RESTRICTED, "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}),
    )

    messages = wait_for(lambda: plane.failed_creates(namespace), "a FailedCreate event")
    assert any('violates PodSecurity "restricted:latest"' in m for m in messages), messages
    assert any("NET_ADMIN" in m for m in messages), messages
    assert plane.items(f"/api/v1/namespaces/{namespace}/pods") == []


def _listening() -> set[str]:
    """Every listening TCP socket's local address, as /proc/net/tcp{,6} spell it."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                found.add(fields[1])
    return found


def test_every_server_listens_on_loopback_only(plane: ControlPlane) -> None:
    listening = _listening()
    for port in plane.ports:
        assert f"0100007F:{port:04X}" in listening, port
        assert not {
            a for a in listening if a.endswith(f":{port:04X}") and not a.startswith("0100007F")
        }
