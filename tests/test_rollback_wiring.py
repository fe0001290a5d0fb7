"""The rollback service under mocks, on dev (turned on for the test) and staging (on as
shipped): it runs, hardened like every component, with its token only in a secret store,
and Alertmanager reaches it with the same token from its own secret file."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra import conventions as cv
from infra import layout
from infra.components.services import ROLLBACK_TOKEN_FILE
from tests.program import SECRET_MARK, Program, manifest_of, run_program, stack_config

C = cv.Component
TOKEN = f"{SECRET_MARK}rollbackToken"


@pytest.fixture(scope="module")
def dev_on() -> Program:
    config, secrets = stack_config("dev")
    config["mlops:rollback"] = json.dumps({"enabled": True, "tokenSecret": "rollbackToken"})
    config["mlops:rollbackToken"] = TOKEN
    return run_program("dev", config, [*secrets, "mlops:rollbackToken"])


@pytest.fixture(scope="module")
def staging() -> Program:
    return run_program("staging")


def _alertmanager_config(program: Program) -> dict[str, Any]:
    for resource in program.mocks.resources:
        for text in _texts(resource.inputs):
            if text.startswith("# Alertmanager configuration"):
                return dict(yaml.safe_load(text))
    raise AssertionError("no alertmanager.yml declared")


def _texts(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def _rollback_receiver(program: Program) -> dict[str, Any]:
    config = _alertmanager_config(program)
    (receiver,) = [r for r in config["receivers"] if r["name"] == cv.ROLLBACK_RECEIVER]
    first = config["route"]["routes"][0]
    assert first["receiver"] == cv.ROLLBACK_RECEIVER
    assert first["continue"] is True
    return dict(receiver["webhook_configs"][0])


def test_dev_runs_the_rollback_container_hardened_with_its_token_uploaded_owner_only(
    dev_on: Program,
) -> None:
    name = f"{dev_on.spec.name}-{C.ROLLBACK.value}"
    container = dev_on.mocks.named(f"{name}-container").inputs
    assert container["readOnly"] is True
    assert str(container["user"]).startswith(f"{layout.APP_USER}:")
    assert container["entrypoints"] == ["python", "-m", "service.rollback"]
    assert container["healthcheck"]["tests"][0] == "CMD"
    envs = container.get("envs") or []
    assert not [e for e in envs if SECRET_MARK in str(e)]
    assert f"MLOPS_ROLLBACK_TOKEN_FILE={ROLLBACK_TOKEN_FILE}" in envs
    (upload,) = [u for u in container["uploads"] if u["file"] == ROLLBACK_TOKEN_FILE]
    assert upload["permissions"] == "0400"
    assert "/secrets/" in upload["file"]
    assert not container.get("ports")  # only Alertmanager and Prometheus call it
    # The serving image, as built for the serving container.
    serving = dev_on.mocks.named(f"{dev_on.spec.name}-serving-iris-classifier-container").inputs
    assert container["image"] == serving["image"]


def test_dev_alertmanager_sends_the_token_from_its_own_secret_file(dev_on: Program) -> None:
    hook = _rollback_receiver(dev_on)
    assert hook["url"] == f"http://{dev_on.spec.name}-rollback:9097/alerts"
    assert hook["send_resolved"] is False
    token_file = hook["http_config"]["authorization"]["credentials_file"]
    assert token_file.startswith(str(layout.of(C.ALERTMANAGER).secrets_dir))
    am = dev_on.mocks.named(f"{dev_on.spec.name}-alertmanager-container").inputs
    (upload,) = [u for u in am["uploads"] if u["file"] == token_file]
    assert upload["permissions"] == "0400"


def _workload(program: Program, name: str) -> dict[str, Any]:
    kinds = {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"}
    (workload,) = [
        manifest_of(r)
        for r in program.mocks.resources
        if r.typ in kinds and manifest_of(r)["metadata"]["name"] == name
    ]
    return workload


def test_staging_runs_the_rollback_pod_hardened_with_its_token_in_a_secret(
    staging: Program,
) -> None:
    assert staging.spec.rollback.enabled
    name = f"{staging.spec.name}-{C.ROLLBACK.value}"
    pod = _workload(staging, name)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == staging.spec.images.serving.ref  # type: ignore[union-attr]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert not [e for e in container.get("env", []) if SECRET_MARK in str(e.get("value", ""))]
    secret = staging.mocks.named(f"{name}-secret-secrets").inputs
    assert any(str(v).startswith(SECRET_MARK) for v in secret["stringData"].values())
    hook = _rollback_receiver(staging)
    assert hook["url"] == f"http://{name}.{staging.spec.kubernetes.namespace}.svc:9097/alerts"


def test_prod_runs_no_rollback_service() -> None:
    prod = run_program("prod")
    assert not prod.spec.rollback.enabled
    names = {r.name for r in prod.mocks.resources}
    assert not [n for n in names if "-rollback" in n]
    assert cv.ROLLBACK_RECEIVER not in json.dumps(_alertmanager_config(prod))
