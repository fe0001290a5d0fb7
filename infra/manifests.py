"""`python -m infra.manifests --stack prod --out build/prod/manifests`: write a kubernetes stack's objects as YAML, like `helm template`.

Every object the program declares, numbered in the order to apply them
(`kubectl apply -f build/prod/manifests/`), but the Secrets, whose values would
be plain text: `secrets-to-provide.txt` in the folder names each Secret and its
keys (YAML), for the user's secret manager. These are the objects that
`kubernetes.renderYamlTo` has the provider write through the engine. Reads
`Pulumi.<stack>.yaml` without the engine and needs no secret values; a docker
stack has no manifests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pulumi

from infra import cli
from infra import endpoints as ep
from infra.components.kubernetes import manifest_files, secrets_to_provide
from infra.components.services import Inputs, plan
from infra.components.workload import Workload
from infra.config import ROOT, secret_keys
from infra.render import _yaml, render_all
from infra.render.__main__ import write
from infra.spec import PlatformSpec

# In the folder, but not a YAML file: `kubectl apply -f` takes only .json, .yaml and .yml.
PROVIDE = "secrets-to-provide.txt"


def workloads(spec: PlatformSpec) -> list[Workload]:
    """The program's plan, every secret value a blank stand-in that nothing written reads."""
    blank = pulumi.Output.secret("")
    endpoints = ep.for_spec(spec)
    inputs = Inputs(
        spec,
        endpoints,
        render_all(spec, endpoints),
        dict.fromkeys(secret_keys(spec), blank),
        ROOT,
        blank if spec.grafana.deployed else None,
    )
    return plan(inputs)


def _write_manifests(spec: PlatformSpec, out: Path) -> list[str]:
    if spec.target != "kubernetes":
        print(f"{spec.name} runs on {spec.target}: it has no Kubernetes manifests", file=sys.stderr)
        return []
    planned = workloads(spec)
    provide = _yaml.dump(
        secrets_to_provide(planned),
        f"{spec.name}: the Secrets (name: keys) to create in namespace "
        f"{spec.kubernetes.namespace} before applying this folder",
    )
    return [str(p) for p in write({**manifest_files(planned, spec), PROVIDE: provide}, out)]


def main(argv: list[str] | None = None) -> int:
    return cli.run("python -m infra.manifests", __doc__, "manifests", _write_manifests, argv)


if __name__ == "__main__":
    sys.exit(main())
