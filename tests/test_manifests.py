"""`make render` for a kubernetes stack (`python -m infra.manifests`), and the program's
`kubernetes.renderYamlTo`: every object the program declares, as YAML a cluster accepts, the
Secrets left out and named for the user's secret manager."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra.config import ROOT
from infra.manifests import PROVIDE
from infra.manifests import main as manifests_main
from tests.program import (
    KUBERNETES_VERSION,
    SECRET_MARK,
    Program,
    manifest_of,
    run_program,
    stack_config,
)

KUBERNETES_STACKS = ("staging", "prod")
RENDER_TO = "rendered/manifests"


def _written(out: Path) -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))}


@pytest.fixture(scope="module", params=KUBERNETES_STACKS)
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(request.param) / "manifests"
    code = manifests_main(["--stack", request.param, "--out", str(out), "--dir", str(ROOT)])
    assert code == 0
    return out


def _identity(manifest: dict[str, Any]) -> tuple[str, str, str]:
    return manifest["kind"], manifest["metadata"].get("namespace", ""), manifest["metadata"]["name"]


def test_every_written_object_is_valid_for_the_cluster_release(written: Path) -> None:
    objects = _written(written)
    assert len(objects) >= 40
    for name, manifest in objects.items():
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            raise AssertionError(f"{name}: {err.message}") from None


def test_the_files_are_numbered_in_the_order_to_apply_them(written: Path) -> None:
    objects = list(_written(written).values())
    assert objects[0]["kind"] == "Namespace"
    seen: set[tuple[str, str]] = set()
    for manifest in objects:
        pod = manifest.get("spec", {}).get("template", {}).get("spec")
        if pod:  # a Pod controller comes after the account and files its Pods use
            assert ("ServiceAccount", pod["serviceAccountName"]) in seen, _identity(manifest)
            for volume in pod["volumes"]:
                if "configMap" in volume:
                    assert ("ConfigMap", volume["configMap"]["name"]) in seen
        seen.add((manifest["kind"], manifest["metadata"]["name"]))


def _declared(program: Program) -> dict[tuple[str, str, str], dict[str, Any]]:
    objects = (manifest_of(r) for r in program.mocks.resources if r.typ.startswith("kubernetes:"))
    return {_identity(m): m for m in objects if m["kind"] != "Provider"}


def _secret_keys(declared: dict[tuple[str, str, str], dict[str, Any]]) -> dict[str, list[str]]:
    """Each declared Secret's name and keys."""
    return {
        name: sorted(manifest["stringData"])
        for (kind, _, name), manifest in declared.items()
        if kind == "Secret"
    }


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_the_files_hold_exactly_the_objects_the_program_declares_but_its_secrets(
    stack: str, tmp_path: Path
) -> None:
    out = tmp_path / "manifests"
    assert manifests_main(["--stack", stack, "--out", str(out), "--dir", str(ROOT)]) == 0
    files = {_identity(m): m for m in _written(out).values()}
    declared = _declared(run_program(stack))
    secrets = {key for key in declared if key[0] == "Secret"}
    assert secrets  # the receivers' URLs and keys, the Grafana admin password, ...
    assert set(files) == set(declared) - secrets
    for key, manifest in files.items():
        assert manifest == declared[key], key
    # What the user's secret manager must create instead: every Secret, with its keys.
    assert yaml.safe_load((out / PROVIDE).read_text()) == _secret_keys(declared)


def test_a_docker_stack_has_no_manifests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert manifests_main(["--stack", "dev", "--out", str(tmp_path / "m"), "--dir", str(ROOT)]) == 0
    assert not (tmp_path / "m").exists()
    assert "runs on docker: it has no Kubernetes manifests" in capsys.readouterr().err


def _rendering(stack: str, **kubernetes: str) -> Program:
    config, secrets = stack_config(stack)
    grafana = json.loads(config.get("mlops:grafana", "{}"))
    base = json.loads(config.get("mlops:kubernetes", "{}"))
    config = {
        **config,
        "mlops:grafana": json.dumps({**grafana, "content": "external"}),
        "mlops:kubernetes": json.dumps({**base, "renderYamlTo": RENDER_TO, **kubernetes}),
    }
    return run_program(stack, config, secrets)


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_render_yaml_to_sends_every_object_to_a_rendering_provider_and_no_secret(
    stack: str,
) -> None:
    program = _rendering(stack)
    providers = program.of_type("pulumi:providers:kubernetes")
    assert [p.inputs.get("renderYamlToDirectory") for p in providers] == [RENDER_TO]
    # Not $KUBECONFIG: the provider refuses a kubeconfig beside renderYamlToDirectory.
    assert [p.inputs.get("kubeconfig") for p in providers] == [""]
    render = f"pulumi:providers:kubernetes::{program.spec.name}-render::"
    objects = [
        r for r in program.mocks.resources
        if r.typ.startswith("kubernetes:") and r.typ != "pulumi:providers:kubernetes"
    ]  # fmt: skip
    assert len(objects) >= 40
    for r in objects:
        assert render in (r.provider or ""), (r.typ, r.name, r.provider)
    assert program.of_type("kubernetes:core/v1:Secret") == []
    assert SECRET_MARK not in json.dumps([r.raw for r in objects], default=str)
    assert program.export("renderedTo") == (RENDER_TO, False)
    provide, secret = program.export("secretsToProvide")
    assert not secret
    assert provide == _secret_keys(_declared(run_program(stack)))
