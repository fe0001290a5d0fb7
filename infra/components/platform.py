"""One ComponentResource per platform service, and the admin password of a self-run Grafana.

Each service is its own component type (`mlops:platform:Prometheus`,
`mlops:platform:Serving`, ...), so `pulumi preview` groups every container,
volume, ConfigMap or StatefulSet under the service it belongs to. What a
service runs comes from its `Workload` plan; how it runs, from the target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import pulumi
import pulumi_random as random

from infra import conventions as cv
from infra.components.workload import Workload, secret
from infra.spec import PlatformSpec


class Target(Protocol):
    def deploy(self, w: Workload, parent: pulumi.Resource) -> list[pulumi.CustomResource]: ...


def type_token(component: cv.Component) -> str:
    return f"mlops:platform:{cv.camel(component.value)}"


class PlatformService(pulumi.ComponentResource):
    """One platform service (MLflow, Prometheus, a served model, ...) on the stack's target."""

    def __init__(
        self,
        name: str,
        workload: Workload,
        target: Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token(workload.component), name, None, opts)
        self.workload = workload
        self.children = target.deploy(workload, self)
        self.image = pulumi.Output.from_input(workload.image)
        self.register_outputs({"image": self.image, "replicas": workload.replicas})


def grafana_admin_password(
    spec: PlatformSpec,
    secrets: Mapping[str, pulumi.Output[str]],
    opts: pulumi.ResourceOptions | None = None,
) -> pulumi.Output[str] | None:
    """The admin password of a self-run Grafana: the stack's secret, or a generated one
    (kept in the state, encrypted). Grafana Cloud has none: the provider uses a token."""
    if not spec.grafana.deployed:
        return None
    if spec.grafana.admin_password_secret:
        return secret(secrets[spec.grafana.admin_password_secret])
    generated = random.RandomPassword(
        f"{spec.name}-grafana-admin-password", length=32, special=False, opts=opts
    )
    return secret(generated.result)
