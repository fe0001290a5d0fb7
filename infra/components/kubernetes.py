"""The kubernetes target: a `Workload` as manifests, then as Pulumi resources.

`manifests` is a pure function from a workload to Kubernetes objects (plain
dicts in API shape), one small function per object (configmap, service,
statefulset, pod_disruption_budget, ...), so the tests can validate them with
kubernetes-validate and the policy pack can judge the same shapes. Every pod runs under the
restricted Pod Security profile: non-root, read-only root filesystem, no
privilege escalation, all capabilities dropped, seccomp RuntimeDefault.
Stateful services are StatefulSets with a PVC each; rendered files come from
a ConfigMap and secrets from a Secret, projected into one directory; a change
of a rendered file changes a pod annotation, which rolls the pods.
"""

from __future__ import annotations

import copy
import os
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import conventions as cv
from infra import layout
from infra.components import network_policy
from infra.components.workload import Check, Workload, secret
from infra.config import ROOT
from infra.render._yaml import dump
from infra.spec import PlatformSpec

MANAGED_BY = "pulumi"
CONFIG_DIGEST_ANNOTATION = "mlops.dev/config-digest"
PSS_LEVEL = "restricted"


def selector_labels(w: Workload) -> dict[str, str]:
    return layout.identity_labels(w.component, w.name)


def labels(w: Workload) -> dict[str, str]:
    return {
        **selector_labels(w),
        cv.LABEL_COMPONENT: w.component.value,
        cv.LABEL_PART_OF: cv.PART_OF,
        cv.LABEL_MANAGED_BY: MANAGED_BY,
        **w.labels,
    }


HOST_PSS_LEVEL = "privileged"  # host PID, network and paths: what node-exporter is for


def namespace_manifest(spec: PlatformSpec, host: bool = False) -> dict[str, Any]:
    """The platform's namespace (restricted), or the host collectors' own (privileged)."""
    level = HOST_PSS_LEVEL if host else PSS_LEVEL
    pss = {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": spec.host_namespace if host else spec.kubernetes.namespace,
            "labels": {cv.LABEL_PART_OF: cv.PART_OF, cv.LABEL_MANAGED_BY: MANAGED_BY, **pss},
        },
    }


def has_host_namespace(spec: PlatformSpec) -> bool:
    """Whether a collector with host access runs (in its own namespace)."""
    return bool(spec.collectors & set(cv.HOST_ACCESS))


def namespace_of(w: Workload, spec: PlatformSpec) -> str:
    return w.namespace or spec.kubernetes.namespace


def _key(relative: str) -> str:
    """A ConfigMap or Secret key for a file path (keys cannot hold `/`)."""
    return relative.replace("/", "_")


def files_root(w: Workload) -> str | None:
    """The one directory all of a workload's files (rendered and secret) are projected into."""
    paths = [*w.files, *w.secret_files]
    if not paths:
        return None
    return posixpath.commonpath([posixpath.dirname(p) for p in paths])


def _metadata(w: Workload, namespace: str, name: str | None = None) -> dict[str, Any]:
    return {"name": name or w.name, "namespace": namespace, "labels": labels(w)}


def _advertise(w: Workload) -> list[str]:
    """Alertmanager's gossip address: the pod's IP, which it may not find alone (a pod IP
    outside the private ranges); its peers and timings are the plan's flags."""
    if w.cluster_port is None:
        return []
    return [f"--cluster.advertise-address=$(POD_IP):{w.ports[w.cluster_port]}"]


def _env(w: Workload) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(w.env.items())]
    env += [
        {
            "name": k,
            "valueFrom": {"secretKeyRef": {"name": secret_name(w), "key": f"env-{k}"}},
        }
        for k in sorted(w.secret_env)
    ]
    if w.cluster_port:
        env.append({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
    if w.pod_name_env:
        env.append(
            {"name": w.pod_name_env, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        )
    return env


def _mounts(w: Workload) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = []
    root = files_root(w)
    if root:
        mounts.append({"name": "files", "mountPath": root, "readOnly": True})
    if w.data_path:
        mounts.append({"name": "data", "mountPath": w.data_path})
    mounts += [
        {"name": f"host-{i}", "mountPath": target, "readOnly": True}
        for i, (_, target) in enumerate(w.host.paths if w.host else ())
    ]
    return mounts + [
        {"name": f"scratch-{i}", "mountPath": path} for i, path in enumerate(w.scratch_paths)
    ]


def _probe(check: Check, failures: int) -> dict[str, Any]:
    handler: dict[str, Any] = (
        {"httpGet": {"path": check.path, "port": check.port}}
        if check.path is not None
        else {"tcpSocket": {"port": check.port}}
    )
    return {
        **handler,
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


# Each scratch folder is an emptyDir of at most this size (the kubelet evicts a pod past it).
SCRATCH_MIB = 256
# A container's logs count in its ephemeral storage: the kubelet keeps 5 files of 10Mi
# (containerLogMaxFiles and containerLogMaxSize defaults), with room to rotate.
LOGS_MIB = 64


def _ephemeral(w: Workload) -> tuple[str, str]:
    """Ephemeral storage (request, limit) of a container that writes scratch space: its logs
    are what it uses steadily; the limit adds every scratch folder full."""
    return f"{LOGS_MIB}Mi", f"{LOGS_MIB + SCRATCH_MIB * len(w.scratch_paths)}Mi"


def _resources(w: Workload) -> dict[str, Any]:
    r = w.resources
    requests = {"cpu": r.cpu_request, "memory": r.memory_request}
    limits = {"memory": r.memory_limit} | ({"cpu": r.cpu_limit} if r.cpu_limit else {})
    if w.scratch_paths:
        requests["ephemeral-storage"], limits["ephemeral-storage"] = _ephemeral(w)
    if w.gpus:
        limits[cv.GPU_RESOURCE] = str(w.gpus)  # extended resources: the limit is the request
    return {"requests": requests, "limits": limits}


RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _container_security(w: Workload) -> dict[str, Any]:
    """Restricted, except the root user a host collector needs (cv.HOST_ACCESS)."""
    context = copy.deepcopy(RESTRICTED_CONTAINER)
    if w.host is not None and w.host.root:
        context["runAsNonRoot"] = False
    return context


def _container(w: Workload) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": w.component.value,
        "image": w.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": name, "containerPort": port} for name, port in w.ports.items()],
        "resources": _resources(w),
        # A slow first start (a model download, a WAL replay) gets 5 minutes before liveness counts.
        "startupProbe": _probe(w.liveness, 30),
        "readinessProbe": _probe(w.readiness, 3),
        "livenessProbe": _probe(w.liveness, 6),
        "securityContext": _container_security(w),
        "volumeMounts": _mounts(w),
    }
    # Fields at their API default are left out, as the API server and the provider's rendering
    # leave them out: what the program declares is what a cluster reads back.
    args = [*w.args, *_advertise(w)]
    env = _env(w)
    if w.command:
        container["command"] = list(w.command)
    if args:
        container["args"] = args
    if env:
        container["env"] = env
    return container


def _volumes(w: Workload) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = []
    root = files_root(w)
    if root:
        sources: list[dict[str, Any]] = []
        if w.files:
            sources.append(
                {
                    "configMap": {
                        "name": f"{w.name}-config",
                        "items": [
                            {
                                "key": _key(posixpath.relpath(p, root)),
                                "path": posixpath.relpath(p, root),
                            }
                            for p in sorted(w.files)
                        ],
                    }
                }
            )
        if w.secret_files:
            sources.append(
                {
                    "secret": {
                        "name": f"{w.name}-secrets",
                        "items": [
                            {
                                "key": _key(posixpath.relpath(p, root)),
                                "path": posixpath.relpath(p, root),
                                "mode": 0o440,
                            }
                            for p in sorted(w.secret_files)
                        ],
                    }
                }
            )
        volumes.append({"name": "files", "projected": {"sources": sources, "defaultMode": 0o444}})
    volumes += [
        {"name": f"host-{i}", "hostPath": {"path": source, "type": "Directory"}}
        for i, (source, _) in enumerate(w.host.paths if w.host else ())
    ]
    volumes += [
        {"name": f"scratch-{i}", "emptyDir": {"sizeLimit": f"{SCRATCH_MIB}Mi"}}
        for i, _ in enumerate(w.scratch_paths)
    ]
    return volumes


def _host_namespaces(w: Workload) -> dict[str, Any]:
    """The host namespaces a collector shares (cv.HOST_ACCESS), and the pod settings they need:
    it runs on every node, tainted ones too."""
    if w.host is None:
        return {}
    spec: dict[str, Any] = {"tolerations": [{"operator": "Exists"}]}
    if w.host.pid:
        spec["hostPID"] = True
    if w.host.network:
        spec |= {"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}
    return spec


def spread(w: Workload) -> list[dict[str, Any]]:
    """Replicas on different nodes, so that one node's loss takes one replica: a hard rule
    (a replica waits rather than join another on its node; with a single node there is one
    domain and nothing waits), counting only nodes it may run on (tainted ones are not
    domains); across zones where the cluster has them, as far as the zones allow."""
    select = {"labelSelector": {"matchLabels": selector_labels(w)}, "maxSkew": 1}
    return [
        {
            **select,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "nodeTaintsPolicy": "Honor",
        },
        {
            **select,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
        },
    ]


def pod_template(w: Workload, namespace: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": w.name,
        "automountServiceAccountToken": w.uses_api,
        "securityContext": {
            "runAsNonRoot": w.user != 0,
            "runAsUser": w.user,
            "runAsGroup": w.user,
            "fsGroup": w.user,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(w)],
        "volumes": _volumes(w),
        "terminationGracePeriodSeconds": 60,
        **_host_namespaces(w),
    }
    if w.replicas > 1:
        spec["topologySpreadConstraints"] = spread(w)
    return {
        "metadata": {
            "labels": labels(w),
            "annotations": {CONFIG_DIGEST_ANNOTATION: w.config_digest()},
        },
        "spec": spec,
    }


def configmap(w: Workload, ns: str) -> list[dict[str, Any]]:
    root = files_root(w)
    if not (w.files and root):
        return []
    data = {_key(posixpath.relpath(p, root)): c for p, c in sorted(w.files.items())}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(w, ns, f"{w.name}-config"),
            "data": data,
        }
    ]


def secret_object(
    w: Workload, ns: str, data: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    if not (w.secret_files or w.secret_env):
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _metadata(w, ns, secret_name(w)),
            "type": "Opaque",
            "stringData": dict(data) if data is not None else dict.fromkeys(secret_keys(w), ""),
        }
    ]


def service_account(w: Workload, ns: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _metadata(w, ns),
            "automountServiceAccountToken": w.uses_api,
        }
    ]


RBAC = "rbac.authorization.k8s.io"


def pod_reader_rbac(w: Workload, ns: str) -> list[dict[str, Any]]:
    """A Role to list pods in each namespace the workload discovers them in, bound to its
    account (Prometheus: the platform's namespace, and the host collectors')."""
    objects: list[dict[str, Any]] = []
    for where in w.discovers_pods_in:
        role = {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": _metadata(w, where),
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}],
        }
        binding = {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": _metadata(w, where),
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": w.name},
            "subjects": [{"kind": "ServiceAccount", "name": w.name, "namespace": ns}],
        }
        objects += [role, binding]
    return objects


def cluster_reader_rbac(w: Workload, ns: str) -> list[dict[str, Any]]:
    """A ClusterRole with exactly the workload's reads (read verbs only), bound to its account:
    kube-state-metrics' objects, Prometheus' nodes and their proxy."""
    if not w.cluster_reads:
        return []
    metadata = {"name": w.name, "labels": labels(w)}
    role = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": metadata,
        "rules": [
            {"apiGroups": [r.group], "resources": list(r.resources), "verbs": list(r.verbs)}
            for r in w.cluster_reads
        ],
    }
    binding = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": copy.deepcopy(metadata),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": w.name},
        "subjects": [{"kind": "ServiceAccount", "name": w.name, "namespace": ns}],
    }
    return [role, binding]


def _service_ports(w: Workload, with_cluster: bool) -> list[dict[str, Any]]:
    return [
        {"name": name, "port": port, "targetPort": name}
        for name, port in w.ports.items()
        if with_cluster or name != w.cluster_port
    ]


def service(w: Workload, ns: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(w, ns),
            "spec": {
                "selector": selector_labels(w),
                "ports": _service_ports(w, False),
                **({"sessionAffinity": "ClientIP"} if w.sticky else {}),
            },
        }
    ]


def headless_service(w: Workload, ns: str) -> list[dict[str, Any]]:
    """The stable pod names a StatefulSet's pods (and gossip peers) are reached by."""
    if not w.stateful:
        return []
    spec: dict[str, Any] = {"clusterIP": "None", "selector": selector_labels(w)}
    if w.cluster_port is not None:
        # Gossip peers must resolve before they are ready, or the cluster never forms.
        spec["publishNotReadyAddresses"] = True
    spec["ports"] = _service_ports(w, True)
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(w, ns, f"{w.name}-headless"),
            "spec": spec,
        }
    ]


def _claim(w: Workload, spec: PlatformSpec) -> dict[str, Any]:
    claim: dict[str, Any] = {
        "metadata": {"name": "data", "labels": selector_labels(w)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": w.storage_size}},
        },
    }
    if spec.kubernetes.storage_class:
        claim["spec"]["storageClassName"] = spec.kubernetes.storage_class
    return claim


def statefulset(w: Workload, spec: PlatformSpec) -> list[dict[str, Any]]:
    if not w.stateful:
        return []
    ns = namespace_of(w, spec)
    retain = {"whenDeleted": "Retain", "whenScaled": "Retain"}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": _metadata(w, ns),
            "spec": {
                "serviceName": f"{w.name}-headless",
                "replicas": w.replicas,
                "selector": {"matchLabels": selector_labels(w)},
                "podManagementPolicy": "Parallel" if w.cluster_port else "OrderedReady",
                "template": pod_template(w, ns),
                "volumeClaimTemplates": [_claim(w, spec)],
                "persistentVolumeClaimRetentionPolicy": retain,
            },
        }
    ]


def daemonset(w: Workload, ns: str) -> list[dict[str, Any]]:
    """One pod per node: the host collectors."""
    if not w.per_node:
        return []
    rolling = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": _metadata(w, ns),
            "spec": {
                "selector": {"matchLabels": selector_labels(w)},
                "updateStrategy": rolling,
                "template": pod_template(w, ns),
            },
        }
    ]


def deployment(w: Workload, ns: str) -> list[dict[str, Any]]:
    if w.stateful or w.per_node:
        return []
    rolling = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _metadata(w, ns),
            "spec": {
                "replicas": w.replicas,
                "selector": {"matchLabels": selector_labels(w)},
                "strategy": rolling,
                "template": pod_template(w, ns),
            },
        }
    ]


def pod_disruption_budget(w: Workload, ns: str) -> list[dict[str, Any]]:
    if w.replicas <= 1 or w.per_node:
        return []
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _metadata(w, ns),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(w)}},
        }
    ]


def manifests(
    w: Workload, spec: PlatformSpec, secret_data: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every object of one workload, in the order to apply them. `secret_data` holds the
    Secret's values (Outputs in the program); when None, the keys alone are listed (for checks
    that never see secrets). Each object function gives [] when the workload has no such object."""
    ns = namespace_of(w, spec)
    return [
        *configmap(w, ns),
        *secret_object(w, ns, secret_data),
        *service_account(w, ns),
        *pod_reader_rbac(w, ns),
        *cluster_reader_rbac(w, ns),
        *service(w, ns),
        *headless_service(w, ns),
        *statefulset(w, spec),
        *deployment(w, ns),
        *daemonset(w, ns),
        *pod_disruption_budget(w, ns),
    ]


def secret_name(w: Workload) -> str:
    return f"{w.name}-secrets"


def secret_keys(w: Workload) -> list[str]:
    root = files_root(w) or "/"
    return sorted(
        [_key(posixpath.relpath(p, root)) for p in w.secret_files]
        + [f"env-{k}" for k in w.secret_env]
    )


def secrets_to_provide(workloads: Sequence[Workload]) -> dict[str, list[str]]:
    """The Secrets a rendered platform needs from the user's secret manager: name -> keys."""
    return {secret_name(w): secret_keys(w) for w in workloads if w.secret_files or w.secret_env}


def applied(manifest: Mapping[str, Any], rendering: bool) -> bool:
    """Whether an object is declared: rendering leaves the Secrets out, since the provider
    (and any YAML file) would hold their values in plain text."""
    return not (rendering and manifest["kind"] == "Secret")


def manifest_files(workloads: Sequence[Workload], spec: PlatformSpec) -> dict[str, str]:
    """Every object a rendering stack declares, as YAML files numbered in the order to apply
    them (`kubectl apply -f` takes a folder's files in name order), like `helm template`."""
    objects = [namespace_manifest(spec)]
    if has_host_namespace(spec):
        objects.append(namespace_manifest(spec, host=True))
    objects += default_denies(spec)
    fences = network_policy.allow_policies(spec, workloads, labels)
    objects += [
        m
        for w in workloads
        for m in [*fences[w.name], *manifests(w, spec)]
        if applied(m, rendering=True)
    ]
    header = f"{spec.name}: written by `make render` (python -m infra.manifests); do not edit"
    return {
        f"{i:03d}-{m['kind'].lower()}-{m['metadata']['name']}.yaml": dump(m, header)
        for i, m in enumerate(objects)
    }


def default_denies(spec: PlatformSpec) -> list[dict[str, Any]]:
    """A default-deny NetworkPolicy in the platform's namespace and the host collectors'."""
    common = {cv.LABEL_PART_OF: cv.PART_OF, cv.LABEL_MANAGED_BY: MANAGED_BY}
    found = [spec.kubernetes.namespace] + (
        [spec.host_namespace] if has_host_namespace(spec) else []
    )
    return [network_policy.default_deny(namespace, common) for namespace in found]


def secret_data(w: Workload) -> dict[str, pulumi.Output[str]]:
    """The Secret's values, still secret Outputs."""
    root = files_root(w) or "/"
    data = {_key(posixpath.relpath(p, root)): secret(v) for p, v in w.secret_files.items()}
    data |= {f"env-{k}": secret(v) for k, v in w.secret_env.items()}
    return data


_RESOURCES: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "Service"): k8s.core.v1.Service,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
}
POD_CONTROLLERS = frozenset({"StatefulSet", "Deployment", "DaemonSet"})
_SNAKE = {
    "stringData": "string_data",
    "automountServiceAccountToken": "automount_service_account_token",
    "roleRef": "role_ref",
}


def create(
    manifest: Mapping[str, Any], resource_name: str, opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """One Pulumi resource from one manifest (the same dict the tests validate)."""
    cls = _RESOURCES[(manifest["apiVersion"], manifest["kind"])]
    kwargs = {_SNAKE.get(k, k): v for k, v in manifest.items() if k not in {"apiVersion", "kind"}}
    resource: pulumi.CustomResource = cls(resource_name, opts=opts, **kwargs)
    return resource


def render_directory(render_to: str) -> str:
    """`kubernetes.renderYamlTo` (a folder of the project) as the provider resolves paths: from
    the program's working directory, which is `infra/` under the engine (`main: infra/`).
    Relative, so the stack's state does not change with the checkout's location."""
    return os.path.relpath(ROOT / render_to)


class KubernetesTarget:
    """Runs workloads in the stack's namespace, which it creates with the restricted profile.

    The namespace outlives `pulumi destroy` (retain on delete): deleting it would delete the
    data PersistentVolumeClaims that the StatefulSets retain, as the docker target keeps its
    volumes. Dropping the data is a deliberate `kubectl delete namespace`.

    Each namespace gets a default-deny NetworkPolicy, and each workload's objects start with
    the policy allowing its flows (`network_policy.allow_policies` of `workloads`)."""

    def __init__(
        self,
        spec: PlatformSpec,
        opts: pulumi.ResourceOptions | None = None,
        workloads: Sequence[Workload] = (),
    ) -> None:
        self.spec = spec
        self.fences = network_policy.allow_policies(spec, workloads, labels)
        render_to = spec.kubernetes.render_yaml_to
        self.provider = (
            k8s.Provider(
                f"{spec.name}-render",
                render_yaml_to_directory=render_directory(render_to),
                # Left unset, the SDK fills it from $KUBECONFIG, which the provider refuses
                # beside renderYamlToDirectory: rendering must not depend on the shell.
                kubeconfig="",
                opts=opts,
            )
            if render_to is not None
            else None
        )
        keep = pulumi.ResourceOptions.merge(
            opts or pulumi.ResourceOptions(),
            pulumi.ResourceOptions(retain_on_delete=True, provider=self.provider),
        )
        self.namespace = create(namespace_manifest(spec), spec.kubernetes.namespace, keep)
        # Nothing of the platform's data lives there, but it is kept like the platform's.
        self.host_namespace = (
            create(namespace_manifest(spec, host=True), spec.host_namespace, keep)
            if has_host_namespace(spec)
            else None
        )
        fenced = [n for n in (self.namespace, self.host_namespace) if n is not None]
        self.default_denies = [
            create(
                deny,
                f"{deny['metadata']['namespace']}-{deny['metadata']['name']}",
                pulumi.ResourceOptions.merge(
                    opts or pulumi.ResourceOptions(),
                    pulumi.ResourceOptions(depends_on=fenced, provider=self.provider),
                ),
            )
            for deny in default_denies(spec)
        ]

    def deploy(self, w: Workload, parent: pulumi.Resource) -> list[pulumi.CustomResource]:
        """The workload's objects; its Pod controller only once the fence, account, files and
        rights its Pods use exist, so the controller's first Pod is admitted and starts (without this,
        a StatefulSet created before its ServiceAccount logs FailedCreate until it appears)."""
        created: list[pulumi.CustomResource] = []
        home = namespace_of(w, self.spec)
        namespaces = [n for n in (self.namespace, self.host_namespace) if n is not None]
        for manifest in [*self.fences.get(w.name, []), *manifests(w, self.spec, secret_data(w))]:
            if not applied(manifest, rendering=self.provider is not None):
                continue
            kind = manifest["kind"]
            meta = manifest["metadata"]
            suffix = (
                kind.lower()
                if meta["name"] == w.name
                else (f"{kind.lower()}-{meta['name'].removeprefix(w.name + '-')}")
            )
            if meta.get("namespace", home) != home:
                suffix += f"-{meta['namespace']}"  # a Role in another namespace (Prometheus)
            needs = [*namespaces, *created] if kind in POD_CONTROLLERS else namespaces
            opts = pulumi.ResourceOptions(parent=parent, depends_on=needs, provider=self.provider)
            created.append(create(manifest, f"{w.name}-{suffix}", opts))
        return created
