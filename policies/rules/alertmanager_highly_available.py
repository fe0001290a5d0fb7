"""Alertmanager is highly available: enough replicas, and replicas that gossip.

One Alertmanager is a single point of failure for every page. Each
Alertmanager workload of the stack (a StatefulSet or Deployment labelled
app.kubernetes.io/name=alertmanager; on docker, its containers) must run at
least `minReplicas` replicas (2 by default), and replicas must form one
cluster (`--cluster.peer`), or each of them sends every notification. A
stack without any Alertmanager is reported too: its alerts reach nobody.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pulumi_policy import EnforcementLevel, Severity

from infra import conventions as cv
from policies import shapes
from policies.framework import Finding, Settings, StackPolicy, StackResource

NAME = "alertmanager-highly-available"
ALERTMANAGER = cv.Component.ALERTMANAGER.value


def _peers(args: list[str]) -> int:
    return sum(1 for a in args if a.startswith("--cluster.peer=") or a == "--cluster.peer")


def check(resources: Sequence[StackResource], settings: Settings) -> list[Finding]:
    minimum = int(settings["minReplicas"])
    fix = f"set alertmanager.replicas to {minimum} or more in the stack's config"
    findings = []
    workloads = [
        r for r in resources
        if r.type in shapes.K8S_REPLICATED and shapes.component(r.type, r.props) == ALERTMANAGER
    ]  # fmt: skip
    for w in workloads:
        count = shapes.replicas(w.props)
        subject = shapes.describe(w.type, w.props)
        if count < minimum:
            findings.append(
                Finding(
                    f"{subject} runs {count} Alertmanager replica(s), fewer than {minimum}: one "
                    f"lost pod silences every notification; {fix}.",
                    w.urn,
                )
            )
        elif any(_peers(args) == 0 for args in shapes.workload_args(w.type, w.props)):
            findings.append(
                Finding(
                    f"{subject} runs {count} Alertmanager replicas that do not gossip (no "
                    "--cluster.peer), so each sends every notification; list every replica "
                    "with --cluster.peer (through a headless Service).",
                    w.urn,
                )
            )
    containers: dict[str, list[StackResource]] = defaultdict(list)
    for r in resources:
        if r.type == shapes.DOCKER_CONTAINER and shapes.component(r.type, r.props) == ALERTMANAGER:
            instance = shapes.docker_labels(r.props).get(cv.LABEL_INSTANCE)
            containers[str(instance or r.name)].append(r)
    for instance, group in sorted(containers.items()):
        if len(group) < minimum:
            findings.append(
                Finding(
                    f"Alertmanager {instance} runs {len(group)} docker container(s), fewer than "
                    f"{minimum}; {fix} (or disable this policy for a single-machine stack).",
                    group[0].urn,
                )
            )
    if not workloads and not containers:
        findings.append(
            Finding(
                "the stack declares no Alertmanager (no workload labelled "
                f"{cv.LABEL_NAME}={ALERTMANAGER}), so its alerts reach nobody; deploy one."
            )
        )
    return findings


POLICY = StackPolicy(
    name=NAME,
    description="Alertmanager runs at least two replicas that form one cluster.",
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.HIGH,
    remediation="Set alertmanager.replicas to 2 or more (Kubernetes stacks); the program adds "
    "the gossip peers and a PodDisruptionBudget.",
    config={
        "minReplicas": {
            "type": "integer",
            "minimum": 1,
            "default": 2,
            "description": "Fewest Alertmanager replicas the stack may run.",
        }
    },
    tags=["reliability", "alerting"],
)
