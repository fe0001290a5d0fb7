"""`pulumi up` of prod with `kubernetes.renderYamlTo`: the Kubernetes provider 4.25.0 writes
every object as YAML instead of applying it (renderYamlToDirectory), through the real engine
and the policy pack at prod's levels. The files are checked against the Kubernetes 1.37 schemas
and against what `make render` writes without the engine (python -m infra.manifests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from infra.manifests import main as manifests_main
from tests.cluster import ControlPlane
from tests.engine.conftest import Engine, external_stack, fake_secret, shipped_secrets
from tests.program import KUBERNETES_VERSION

RENDER_TO = "rendered/prod"
NAMESPACE = "mlops-rendered"


def _objects(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for path in sorted(folder.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                objects[(document["kind"], document["metadata"]["name"])] = document
    return objects


def test_up_renders_every_object_as_make_render_does_and_touches_no_cluster(
    kube: Engine, plane: ControlPlane, tmp_path: Path
) -> None:
    name = "prod-rendered"
    external_stack(
        kube,
        "prod",
        name,
        {"kubernetes.renderYamlTo": RENDER_TO, "kubernetes.namespace": NAMESPACE},
    )
    result = kube.up(name)
    assert result.returncode == 0, str(result)

    folder = kube.project / RENDER_TO
    files = sorted(folder.rglob("*.yaml"))
    assert len(files) >= 40, files
    for path in files:
        for document in yaml.safe_load_all(path.read_text()):
            try:
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as err:
                raise AssertionError(f"{path.name}: {err.message}") from None
    rendered = _objects(folder)
    print(f"prod rendered: {len(files)} files, {len(rendered)} objects")

    # No Secret and no secret value: the provider would have written them in plain text.
    assert not [key for key in rendered if key[0] == "Secret"]
    text = "".join(p.read_text() for p in files)
    for key in shipped_secrets("prod"):
        assert fake_secret(key) not in text, key

    # The engine's rendering and `make render`'s are the same objects.
    out = tmp_path / "manifests"
    assert manifests_main(["--stack", name, "--out", str(out), "--dir", str(kube.project)]) == 0
    assert _objects(out) == rendered

    # Nothing reached the API server the kubeconfig names.
    assert plane.status(f"/api/v1/namespaces/{NAMESPACE}") == 404
