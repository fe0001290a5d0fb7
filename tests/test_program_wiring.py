"""The whole Pulumi program of every shipped stack under mocks: is it wired, safe and valid?

These tests judge what the program declared (resource inputs as the engine
would receive them), not counts: a scrape target must be an address where a
declared container or Service really listens, a datasource must point at a
declared component, a secret value must appear only where secrets belong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml

from infra import conventions as cv
from infra import endpoints as ep
from infra import layout
from infra.components.kubernetes import pod_template
from infra.components.services import Inputs, prometheus
from infra.config import ROOT
from infra.render import render_all
from tests.conftest import stack_spec
from tests.program import (
    KUBERNETES_VERSION,
    SECRET_MARK,
    Program,
    manifest_of,
    run_program,
    walk,
)
from tests.pulumi_mocks import Registered, strings

C = cv.Component
ALERTMANAGER_SECRETS = str(layout.of(C.ALERTMANAGER).secrets_dir)
CONTAINER = "docker:index/container:Container"
DATASOURCE = "grafana:oss/dataSource:DataSource"
WORKLOAD_KINDS = {
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:DaemonSet",
}
PINNED = re.compile(
    r"^[a-z0-9./_-]+(:[0-9]+)?(/[a-z0-9._-]+)*:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]*(@sha256:[0-9a-f]{64})?$"
)


@pytest.fixture(scope="module", params=["dev", "staging", "prod"])
def program(request: pytest.FixtureRequest) -> Program:
    return run_program(str(request.param))


@pytest.fixture(scope="module", params=["staging", "prod"])
def kube(request: pytest.FixtureRequest) -> Program:
    return run_program(str(request.param))


@pytest.fixture(scope="module")
def dev() -> Program:
    return run_program("dev")


def _kubernetes(program: Program) -> list[Registered]:
    return [r for r in program.mocks.resources if r.typ.startswith("kubernetes:")]


def _workloads(program: Program) -> list[dict[str, Any]]:
    return [manifest_of(r) for r in program.mocks.resources if r.typ in WORKLOAD_KINDS]


def _containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(workload["spec"]["template"]["spec"]["containers"])


def _config_file(program: Program, component: C, filename: str) -> str:
    """A rendered file as the program handed it to the component's runtime."""
    name = f"{program.spec.name}-{component.value}"
    if program.spec.target == "docker":
        container = program.mocks.named(f"{name}-container")
        files = {u["file"]: u["content"] for u in container.inputs["uploads"]}
        return str(next(content for path, content in files.items() if path.endswith(filename)))
    configmap = program.mocks.named(f"{name}-configmap-config")
    return str(configmap.inputs["data"][filename.replace("/", "_")])


# --- where things really are -------------------------------------------------------------


def _docker_listening(container: Mapping[str, Any]) -> set[int]:
    """Ports the container's process listens on, read from its own flags, or from the
    serving image's CMD (service/Dockerfile) when it has none."""
    args = [str(a) for a in container.get("command") or []]
    ports = {int(m.group(1)) for a in args if (m := re.search(r"listen-address=[^:]*:(\d+)$", a))}
    ports |= {int(args[i + 1]) for i, a in enumerate(args[:-1]) if a == "--port"}
    ports |= {int(m.group(1)) for a in args if (m := re.search(r"^--port=(\d+)$", a))}
    envs = dict(e.split("=", 1) for e in container.get("envs") or [])
    if "GF_SERVER_HTTP_PORT" in envs:
        ports.add(int(envs["GF_SERVER_HTTP_PORT"]))
    if not args and not ports:
        cmd = re.search(r"^CMD \[(.*)\]$", (ROOT / "service" / "Dockerfile").read_text(), re.M)
        assert cmd, "service/Dockerfile has no exec-form CMD"
        words = json.loads(f"[{cmd.group(1)}]")
        ports.add(int(words[words.index("--port") + 1]))
    for upload in container.get("uploads") or []:  # Loki, Tempo, the collector: their config
        content = str(upload["content"])
        ports |= {
            int(p) for p in re.findall(r"(?:listen_port|endpoint): .*?(\d{4,5})$", content, re.M)
        }
        ports |= {int(p) for p in re.findall(r"^\s+port: (\d{4,5})$", content, re.M)}
    return ports


def _docker_hosts(program: Program) -> dict[str, Mapping[str, Any]]:
    """Network alias -> container, for containers on the stack's network."""
    network = program.mocks.named(f"{program.spec.name}-network").inputs["name"]
    hosts: dict[str, Mapping[str, Any]] = {}
    for container in program.of_type(CONTAINER):
        for net in container.inputs["networksAdvanced"]:
            assert net["name"] == network
            for alias in net["aliases"]:
                hosts[alias] = container.inputs
    return hosts


def _reachable(program: Program, address: str) -> str:
    """The component listening at host:port, or a failure naming what is missing."""
    host, port = address.rsplit(":", 1)
    if program.spec.target == "docker":
        hosts = _docker_hosts(program)
        assert host in hosts, f"{address}: no container on the network is called {host}"
        assert int(port) in _docker_listening(hosts[host]), (
            f"{address}: {host} does not listen on {port}"
        )
        return host
    service_name, namespace, svc = host.split(".")
    assert (svc, namespace) == ("svc", program.spec.kubernetes.namespace), address
    services = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in program.of_type("kubernetes:core/v1:Service")
    }
    assert service_name in services, f"{address}: no Service {service_name}"
    service = services[service_name]
    assert int(port) in {int(p["port"]) for p in service["spec"]["ports"]}, address
    # ...and the Service selects pods whose container declares that port.
    selector = service["spec"]["selector"]
    target = next(p["targetPort"] for p in service["spec"]["ports"] if int(p["port"]) == int(port))
    for workload in _workloads(program):
        if selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items():
            declared = {
                p["name"]: p["containerPort"] for c in _containers(workload) for p in c["ports"]
            }
            assert declared.get(target) == int(port), f"{address}: pods do not listen on {target}"
            return service_name
    raise AssertionError(f"{address}: Service {service_name} selects no pods")


def _pod_discovery_matches(program: Program, job: Mapping[str, Any]) -> list[str]:
    """Workloads whose pods a kubernetes_sd job keeps (namespace, label selector, port)."""
    matched = []
    keep_ports = [
        r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"
        and r["source_labels"] == ["__meta_kubernetes_pod_container_port_number"]
    ]  # fmt: skip
    host_collector = job.get("job_name") in {cv.JOB[c] for c in cv.HOST_ACCESS}
    namespace = program.spec.host_namespace if host_collector else program.spec.kubernetes.namespace
    for sd in job["kubernetes_sd_configs"]:
        assert sd["namespaces"]["names"] == [namespace]
        wanted = dict(pair.split("=", 1) for pair in sd["selectors"][0]["label"].split(","))
        for workload in _workloads(program):
            labels = workload["spec"]["template"]["metadata"]["labels"]
            ports = {str(p["containerPort"]) for c in _containers(workload) for p in c["ports"]}
            if wanted.items() <= labels.items() and all(k in ports for k in keep_ports):
                matched.append(workload["metadata"]["name"])
    return matched


@pytest.mark.parametrize("job", [c.value for c in cv.Component])
def test_prometheus_scrapes_each_component_where_it_really_listens(
    program: Program, job: str
) -> None:
    config = yaml.safe_load(_config_file(program, C.PROMETHEUS, "prometheus.yml"))
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    if C(job) in cv.COLLECTORS and C(job) not in program.spec.collectors:
        # A collector the stack does not run: no job, unless the kubelet's cAdvisor is read.
        assert job not in jobs or (job == cv.JOB[C.CADVISOR] and program.spec.kubelet_scraped)
        return
    if C(job) is C.ROLLBACK and not program.spec.rollback.enabled:
        assert job not in jobs  # a stack without the rollback service has nothing to scrape
        return
    scrape = jobs[job]
    if program.spec.target == "docker":
        targets = [t for group in scrape["static_configs"] for t in group["targets"]]
        assert targets
        for target in targets:
            _reachable(program, target)
    else:
        matched = _pod_discovery_matches(program, scrape)
        expected = (
            [f"{program.spec.name}-serving-{m.name}" for m in program.spec.serving.models]
            if job == "serving"
            else [f"{program.spec.name}-{job}"]
        )
        assert sorted(matched) == sorted(expected)


def test_served_pods_carry_the_model_label_the_serving_job_copies(kube: Program) -> None:
    for model in kube.spec.serving.models:
        workload = next(
            w
            for w in _workloads(kube)
            if w["metadata"]["name"] == f"{kube.spec.name}-serving-{model.name}"
        )
        assert workload["spec"]["template"]["metadata"]["labels"][cv.LABEL_MODEL] == model.name


def test_prometheus_sends_alerts_to_the_alertmanager_that_is_declared(program: Program) -> None:
    config = yaml.safe_load(_config_file(program, C.PROMETHEUS, "prometheus.yml"))
    for am in config["alerting"]["alertmanagers"]:
        if program.spec.target == "docker":
            for group in am["static_configs"]:
                for target in group["targets"]:
                    _reachable(program, target)
        else:
            assert _pod_discovery_matches(program, am) == [f"{program.spec.name}-alertmanager"]


def test_prometheus_gets_each_served_models_accuracy_slo_rules(program: Program) -> None:
    """The SLO rule file the program hands Prometheus holds, per served model, the accuracy
    SLO's recordings over its profile's windows and its page and ticket alerts."""
    config = yaml.safe_load(_config_file(program, C.PROMETHEUS, "prometheus.yml"))
    assert any(f.endswith(cv.SLO_RULES) for f in config["rule_files"])
    groups = {
        g["name"]: g["rules"]
        for g in yaml.safe_load(_config_file(program, C.PROMETHEUS, cv.SLO_RULES))["groups"]
    }
    for model in program.spec.serving.models:
        slo = f"serving-{model.name}-accuracy"
        recorded = {
            r["labels"][cv.SLO_WINDOW_LABEL] for r in groups[f"sloth-slo-sli-recordings-{slo}"]
        }
        assert recorded == {"5m", "30m", "1h30m", "4h", "6h", "18h", "2d", "3d", "30d"}
        assert all(
            r["labels"]["model"] == model.name for r in groups[f"sloth-slo-sli-recordings-{slo}"]
        )
        alerts = {r["alert"]: r for r in groups[f"sloth-slo-alerts-{slo}"]}
        assert set(alerts) == set(cv.slo_alert_names(f"{model.name}-accuracy"))
        assert all(a["labels"]["model"] == model.name for a in alerts.values())


def test_every_grafana_datasource_points_at_a_declared_component(program: Program) -> None:
    datasources = program.of_type(DATASOURCE)
    assert {d.inputs["uid"] for d in datasources} == set(cv.DATASOURCE_UID.values())
    for datasource in datasources:
        url = urlparse(datasource.inputs["url"])
        _reachable(program, f"{url.hostname}:{url.port}")


def _datasource_uids(node: Any) -> Iterator[str]:
    for value in walk(node):
        if isinstance(value, Mapping) and isinstance(value.get("datasource"), Mapping):
            uid = value["datasource"].get("uid")
            if uid and not str(uid).startswith("$") and uid != "-- Grafana --":
                yield str(uid)


def test_every_dashboard_is_in_a_declared_folder_and_uses_declared_datasources(
    program: Program,
) -> None:
    folders = {f.inputs["uid"] for f in program.of_type("grafana:oss/folder:Folder")}
    datasources = {d.inputs["uid"] for d in program.of_type(DATASOURCE)}
    dashboards = program.of_type("grafana:oss/dashboard:Dashboard")
    assert dashboards
    for dashboard in dashboards:
        assert dashboard.inputs["folder"] in folders, dashboard.name
        used = set(_datasource_uids(json.loads(dashboard.inputs["configJson"])))
        assert used, f"{dashboard.name} references no datasource"
        assert used <= datasources, f"{dashboard.name}: unknown datasources {used - datasources}"


def test_grafana_notifies_the_receivers_alertmanager_routes_to(program: Program) -> None:
    rendered = yaml.safe_load(_config_file(program, C.ALERTMANAGER, "alertmanager.yml"))

    watchdog = [f'alertname="{cv.Alert.WATCHDOG.value}"']

    def receivers(route: Mapping[str, Any]) -> Iterator[str]:
        if route.get("matchers") == watchdog or route.get("receiver") == cv.ROLLBACK_RECEIVER:
            return  # Prometheus alerts only: Grafana's own alerts never carry their names
        if "receiver" in route:
            yield route["receiver"]
        for child in route.get("routes", []):
            yield from receivers(child)

    def contact_points(policy: Mapping[str, Any]) -> Iterator[str]:
        if policy.get("contactPoint"):
            yield policy["contactPoint"]
        for child in policy.get("policies", []):
            yield from contact_points(child)

    (policy,) = program.of_type("grafana:alerting/notificationPolicy:NotificationPolicy")
    discard = {r["name"] for r in rendered["receivers"] if set(r) == {"name"}}
    routed = set(receivers(rendered["route"]))
    assert set(contact_points(dict(policy.inputs))) - discard == routed - discard
    declared = {
        c.inputs["name"] for c in program.of_type("grafana:alerting/contactPoint:ContactPoint")
    }
    assert routed - discard <= declared


# --- secrets -------------------------------------------------------------------------------


def _secret_strings(program: Program) -> list[str]:
    generated = [
        str(v) for r in program.of_type("random:index/randomPassword:RandomPassword")
        for k, v in r.inputs.items() if k == "result"
    ]  # fmt: skip
    password, _ = program.export("grafanaAdminPassword")
    return [SECRET_MARK, str(password), *generated]


def _leaks(node: Any, secrets: list[str]) -> list[str]:
    return [s for value in walk(node) if isinstance(value, str) for s in secrets if s in value]


def test_secret_outputs_are_secret_and_no_other_output_holds_a_secret(program: Program) -> None:
    secrets = _secret_strings(program)
    for name in program.exports:
        value, is_secret = program.export(name)
        if name == "grafanaAdminPassword":
            assert is_secret
        else:
            assert not _leaks(value, secrets), f"output {name} holds a secret"


def test_secret_values_appear_only_inside_secret_inputs(program: Program) -> None:
    """A secret value may reach a resource only as a secret input (encrypted in the state,
    hidden in previews): a Kubernetes Secret, an uploaded file, the provider's auth, a
    contact point's key. Anywhere else, and so in any ConfigMap, env var, dashboard or
    datasource, it is a leak."""
    secrets = _secret_strings(program)
    stores = {
        CONTAINER,  # uploaded files only (checked below)
        "kubernetes:core/v1:Secret",
        "pulumi:providers:grafana",
        "grafana:alerting/contactPoint:ContactPoint",
    }
    carried = set()
    for resource in program.mocks.resources:
        for text, is_secret in strings(resource.raw):
            leaked = [s for s in secrets if s in text]
            assert is_secret or not leaked, (
                f"{resource.typ} {resource.name} holds a secret in plain text"
            )
            if leaked:
                assert resource.typ in stores, f"{resource.typ} {resource.name} holds a secret"
                carried.add(resource.typ)
        if resource.typ == CONTAINER:
            assert not _leaks(resource.inputs.get("envs"), secrets), f"{resource.name}: env"
            for upload in resource.inputs.get("uploads") or []:
                if _leaks(upload["content"], secrets):
                    assert upload["permissions"] == "0400", upload["file"]
                    assert "/secrets/" in upload["file"], upload["file"]
    # The check looked at the values it should: each stack hands secrets to its runtime.
    assert carried & {CONTAINER, "kubernetes:core/v1:Secret"}
    assert "pulumi:providers:grafana" in carried


def test_alertmanager_receives_every_receiver_secret_as_a_file(kube: Program) -> None:
    config = yaml.safe_load(_config_file(kube, C.ALERTMANAGER, "alertmanager.yml"))
    paths = [
        str(v) for v in walk(config["receivers"])
        if isinstance(v, str) and v.startswith(ALERTMANAGER_SECRETS)
    ]  # fmt: skip
    assert paths
    secret = kube.mocks.named(f"{kube.spec.name}-alertmanager-secret-secrets").inputs
    workload = next(
        w for w in _workloads(kube) if w["metadata"]["name"] == f"{kube.spec.name}-alertmanager"
    )
    (files,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "files"]
    (mount,) = [m for m in _containers(workload)[0]["volumeMounts"] if m["name"] == "files"]
    projected = {
        f"{mount['mountPath']}/{item['path']}": (source, item["key"])
        for source in files["projected"]["sources"]
        for kind in ("secret", "configMap")
        if kind in source
        for item in source[kind]["items"]
    }
    for path in paths:
        source, key = projected[path]
        assert "secret" in source, f"{path} is not mounted from the Secret"
        assert str(secret["stringData"][key]).startswith(SECRET_MARK)


# --- images, ports, hardening -----------------------------------------------------------


def test_no_image_is_unpinned_or_latest(program: Program) -> None:
    images = [c["image"] for w in _workloads(program) for c in _containers(w)]
    images += [r.inputs["name"] for r in program.of_type("docker:index/remoteImage:RemoteImage")]
    built = [r.inputs["imageName"] for r in program.of_type("docker:index/image:Image")]
    assert images or built
    for image in images:
        assert PINNED.match(image), image
    for image in built:  # built locally, tagged by the content of their sources
        assert re.match(r"^mlops/[a-z-]+:src-[0-9a-f]{12}$", image), image


def test_dev_publishes_every_port_on_127_0_0_1_only(dev: Program) -> None:
    published = [p for c in dev.of_type(CONTAINER) for p in c.inputs.get("ports") or []]
    assert {int(p["external"]) for p in published} >= {9090, 9093, 5000, 8000, 3000}
    assert {p["ip"] for p in published} == {"127.0.0.1"}
    assert len({int(p["external"]) for p in published}) == len(published), (
        "a host port is used twice"
    )


def test_dev_containers_are_hardened_and_checked(dev: Program) -> None:
    for container in dev.of_type(CONTAINER):
        inputs = container.inputs
        assert inputs["readOnly"] is True, container.name
        assert inputs["privileged"] is False, container.name
        assert inputs["capabilities"]["drops"] == ["ALL"]
        assert "no-new-privileges:true" in inputs["securityOpts"]
        # Root only for a collector that reads root's files (cv.HOST_ACCESS says which).
        root = {f"{dev.spec.name}-{c.value}" for c, a in cv.HOST_ACCESS.items() if a.root}
        assert str(inputs["user"]).startswith("0:") is (inputs["name"] in root), container.name
        if "otel-collector" not in container.name:  # its image is FROM scratch: nothing to run
            assert inputs["healthcheck"]["tests"][0] == "CMD", container.name


def test_dev_keeps_every_stateful_component_in_a_named_volume(dev: Program) -> None:
    volumes = {v.inputs["name"] for v in dev.of_type("docker:index/volume:Volume")}
    for component in (
        C.PROMETHEUS,
        C.PUSHGATEWAY,
        C.ALERTMANAGER,
        C.LOKI,
        C.TEMPO,
        C.MLFLOW,
        C.GRAFANA,
    ):
        container = dev.mocks.named(f"{dev.spec.name}-{component.value}-container").inputs
        mounted = {v["volumeName"] for v in container["volumes"]}
        assert mounted, component
        assert mounted <= volumes, component


def test_kubernetes_objects_are_valid_for_a_current_kubernetes(kube: Program) -> None:
    objects = _kubernetes(kube)
    assert objects
    for resource in objects:
        manifest = manifest_of(resource)
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            raise AssertionError(f"{resource.typ} {resource.name}: {err.message}") from None


def test_every_pod_meets_the_restricted_pod_security_profile(kube: Program) -> None:
    """Every pod in the platform's namespace; the host collectors' namespace is checked by
    tests/test_saturation.py."""
    namespace = kube.mocks.named(kube.spec.kubernetes.namespace).inputs
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload in _workloads(kube):
        if workload["metadata"]["namespace"] != kube.spec.kubernetes.namespace:
            continue
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert not any("hostPath" in v for v in pod.get("volumes", []))
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys()
            assert "memory" in resources["limits"]
            assert container["readinessProbe"]["httpGet"]
            assert container["livenessProbe"].keys() & {"httpGet", "tcpSocket"}
            labels = workload["metadata"]["labels"]
            assert {
                cv.LABEL_NAME,
                cv.LABEL_INSTANCE,
                cv.LABEL_PART_OF,
                cv.LABEL_MANAGED_BY,
            } <= labels.keys()


def test_stateful_components_are_statefulsets_with_a_volume_claim(kube: Program) -> None:
    sizes = {
        C.PROMETHEUS: kube.spec.prometheus.storage_size,
        C.PUSHGATEWAY: kube.spec.pushgateway.storage_size,
        C.ALERTMANAGER: kube.spec.alertmanager.storage_size,
        C.LOKI: kube.spec.loki.storage.size,
        C.TEMPO: kube.spec.tempo.storage.size,
        C.MLFLOW: kube.spec.mlflow.storage_size,
    }
    sets = {w["metadata"]["name"]: w for w in _workloads(kube) if w["kind"] == "StatefulSet"}
    for component, size in sizes.items():
        workload = sets[f"{kube.spec.name}-{component.value}"]
        (claim,) = workload["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["resources"]["requests"]["storage"] == size
        mounts = {m["name"] for m in _containers(workload)[0]["volumeMounts"]}
        assert claim["metadata"]["name"] in mounts


def test_every_multi_replica_workload_has_a_disruption_budget(kube: Program) -> None:
    budgets = [
        r.inputs["spec"]["selector"]["matchLabels"]
        for r in kube.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    ]
    for workload in _workloads(kube):
        if workload["spec"].get("replicas", 1) > 1:  # a DaemonSet has none: one per node
            assert workload["spec"]["selector"]["matchLabels"] in budgets, workload["metadata"][
                "name"
            ]


def test_alertmanager_replicas_form_one_cluster(kube: Program) -> None:
    name = f"{kube.spec.name}-alertmanager"
    replicas = kube.spec.alertmanager.replicas
    assert replicas > 1
    workload = next(w for w in _workloads(kube) if w["metadata"]["name"] == name)
    assert workload["spec"]["replicas"] == replicas
    args = _containers(workload)[0]["args"]
    ns = kube.spec.kubernetes.namespace
    peers = sorted(
        a.removeprefix("--cluster.peer=") for a in args if a.startswith("--cluster.peer=")
    )
    assert peers == [f"{name}-{i}.{name}-headless.{ns}.svc:9094" for i in range(replicas)]
    headless = kube.mocks.named(f"{name}-service-headless").inputs["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True
    assert workload["spec"]["serviceName"] == f"{name}-headless"


def test_only_prometheus_and_kube_state_metrics_may_read_the_kubernetes_api(
    kube: Program,
) -> None:
    roles = kube.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
    # Prometheus lists pods where it discovers them: the platform's namespace, and the host
    # collectors' when one runs.
    assert {r.inputs["metadata"]["namespace"] for r in roles} == {
        kube.spec.kubernetes.namespace,
        *([kube.spec.host_namespace] if C.NODE_EXPORTER in kube.spec.collectors else []),
    }
    for role in roles:
        assert role.inputs["metadata"]["name"] == f"{kube.spec.name}-prometheus"
        assert role.inputs["rules"] == [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}
        ]
    readers = {f"{kube.spec.name}-prometheus", f"{kube.spec.name}-kube-state-metrics"}
    for workload in _workloads(kube):
        mounts_token = workload["spec"]["template"]["spec"]["automountServiceAccountToken"]
        assert mounts_token is (workload["metadata"]["name"] in readers)


def test_a_changed_rendered_file_rolls_the_pods() -> None:

    spec = stack_spec("prod")
    endpoints = ep.for_spec(spec)
    files = render_all(spec, endpoints)
    workload = prometheus(Inputs(spec, endpoints, files, {}, ROOT))
    changed = replace(workload, files={**workload.files, "/etc/prometheus/prometheus.yml": "x"})
    digest = "mlops.dev/config-digest"
    ns = spec.kubernetes.namespace
    assert (
        pod_template(workload, ns)["metadata"]["annotations"][digest]
        != pod_template(changed, ns)["metadata"]["annotations"][digest]
    )
