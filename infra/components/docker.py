"""The docker target (dev): a `Workload` as containers on one network, on this machine.

Every container gets the same files, flags and probes as on Kubernetes, and
the same hardening where Docker has it (non-root user, read-only root
filesystem, no new privileges, all capabilities dropped). Rendered files and
secrets are uploaded into the container (secrets with owner-only modes, and
stored encrypted in the stack's state); data lives in named volumes, which
`pulumi destroy` keeps unless asked. Published ports bind to the spec's bind
address, 127.0.0.1 unless a user says otherwise. It needs no counterpart of the
Kubernetes target's NetworkPolicies (`infra.network`): the stack's network holds its
containers alone, and nothing else on the machine reaches them but through those ports.
"""

from __future__ import annotations

from decimal import Decimal

import pulumi
import pulumi_docker as docker

from infra import conventions as cv
from infra import layout
from infra.components.workload import Workload, secret
from infra.config import ROOT
from infra.spec import PlatformSpec
from infra.units import quantity


def container_names(w: Workload) -> list[str]:
    """One container per replica; replicas are `<name>-<i>`, as `endpoints.for_spec` expects."""
    return [w.name] if w.replicas == 1 else [f"{w.name}-{i}" for i in range(w.replicas)]


def memory_mb(text: str) -> int:
    return int(quantity(text) / Decimal(2**20))


def uploads(w: Workload) -> list[docker.ContainerUploadArgs]:
    """Rendered files world-readable, secret files readable by the workload's user alone."""
    rendered = [
        docker.ContainerUploadArgs(file=path, content=content, permissions="0444")
        for path, content in sorted(w.files.items())
    ]
    secrets = [
        docker.ContainerUploadArgs(
            file=path,
            content=secret(value),
            owner=str(w.user),
            group=str(w.user),
            permissions="0400",
        )
        for path, value in sorted(w.secret_files.items())
    ]
    return rendered + secrets


def volumes(w: Workload, data: docker.Volume | None) -> list[docker.ContainerVolumeArgs]:
    """Its data volume, and the host paths a collector reads (cv.HOST_ACCESS), read-only.
    node-exporter stays on the stack's network rather than the host's, so Prometheus reaches
    it by name and nothing listens beyond 127.0.0.1: its network figures are its own."""
    mounts = [
        docker.ContainerVolumeArgs(host_path=source, container_path=target, read_only=True)
        for source, target in (w.host.paths if w.host else ())
    ]
    if data is not None:
        mounts.insert(
            0, docker.ContainerVolumeArgs(container_path=w.data_path, volume_name=data.name)
        )
    return mounts


def envs(w: Workload) -> list[pulumi.Input[str]]:
    plain: list[pulumi.Input[str]] = [f"{k}={v}" for k, v in sorted(w.env.items())]
    return plain + [
        pulumi.Output.concat(k, "=", secret(v)) for k, v in sorted(w.secret_env.items())
    ]


def healthcheck(w: Workload) -> docker.ContainerHealthcheckArgs | None:
    if not w.health_command:
        return None
    return docker.ContainerHealthcheckArgs(
        tests=list(w.health_command), interval="10s", timeout="3s", retries=5, start_period="60s"
    )


class DockerTarget:
    """Runs workloads on the local Docker engine, on one bridge network of the stack."""

    def __init__(self, spec: PlatformSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        self.spec = spec
        self.network = docker.Network(
            f"{spec.name}-network",
            name=spec.name,
            driver="bridge",
            labels=[docker.NetworkLabelArgs(label=cv.LABEL_PART_OF, value=spec.name)],
            opts=opts,
        )

    def _image(self, w: Workload, parent: pulumi.Resource) -> pulumi.Output[str]:
        opts = pulumi.ResourceOptions(parent=parent)
        if w.build is not None:
            built = docker.Image(
                f"{w.name}-image",
                image_name=w.image,
                build=docker.DockerBuildArgs(
                    context=str(ROOT),
                    dockerfile=str(ROOT / w.build.dockerfile),
                    args=dict(w.build.args),
                    platform="linux/amd64",
                ),
                skip_push=True,
                opts=opts,
            )
            return built.image_name
        pulled = docker.RemoteImage(f"{w.name}-image", name=w.image, keep_locally=True, opts=opts)
        return pulled.repo_digest.apply(lambda digest: digest or w.image)

    def deploy(self, w: Workload, parent: pulumi.Resource) -> list[pulumi.CustomResource]:
        image = self._image(w, parent)
        volumes: list[pulumi.CustomResource] = []
        containers: list[pulumi.CustomResource] = []
        for index, name in enumerate(container_names(w)):
            volume = self._volume(w, name, parent) if w.data_path else None
            volumes += [volume] if volume else []
            containers.append(
                self._container(w, name, index=index, image=image, volume=volume, parent=parent)
            )
        return [*volumes, *containers]

    def _volume(self, w: Workload, name: str, parent: pulumi.Resource) -> docker.Volume:
        return docker.Volume(
            f"{name}-data",
            name=f"{name}-data",
            labels=[docker.VolumeLabelArgs(label=cv.LABEL_INSTANCE, value=w.name)],
            opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True),
        )

    def _ports(self, w: Workload, index: int) -> list[docker.ContainerPortArgs]:
        """Only the first replica is published; the others are reached on the network."""
        if index != 0:
            return []
        bind = self.spec.docker.bind_address
        return [
            docker.ContainerPortArgs(internal=w.ports[port], external=host, ip=bind)
            for port, host in sorted(w.publish.items())
        ]

    def _labels(self, w: Workload) -> list[docker.ContainerLabelArgs]:
        labels = {
            **layout.identity_labels(w.component, w.name),
            cv.LABEL_PART_OF: self.spec.name,
            **w.labels,
        }
        return [docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())]

    def _container(
        self,
        w: Workload,
        name: str,
        *,
        index: int,
        image: pulumi.Output[str],
        volume: docker.Volume | None,
        parent: pulumi.Resource,
    ) -> docker.Container:
        return docker.Container(
            f"{name}-container",
            name=name,
            hostname=name,
            image=image,
            entrypoints=list(w.command) or None,
            command=list(w.args) or None,
            envs=envs(w),
            user=f"{w.user}:{w.user}",
            uploads=uploads(w),
            volumes=volumes(w, volume),
            pid_mode="host" if w.host and w.host.pid else None,
            gpus="all" if w.gpus or (w.host and w.host.gpus) else None,
            tmpfs=dict.fromkeys(w.scratch_paths, f"rw,noexec,nosuid,size=256m,uid={w.user}"),
            read_only=True,
            privileged=False,
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            security_opts=["no-new-privileges:true"],
            memory=memory_mb(w.resources.memory_limit),
            memory_reservation=memory_mb(w.resources.memory_request),
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(
                    name=self.network.name, aliases=sorted({w.name, name})
                )
            ],
            ports=self._ports(w, index),
            healthcheck=healthcheck(w),
            restart="unless-stopped",
            labels=self._labels(w),
            log_driver="json-file",
            log_opts={"max-size": "10m", "max-file": "3"},
            wait=w.health_command is not None,
            wait_timeout=300,
            opts=pulumi.ResourceOptions(parent=parent),
        )
