"""Every policy of the pack, in the order a report lists them.

Tests import this (never `__main__`, whose PolicyPack constructor serves gRPC).
Default enforcement levels, used when no `--policy-pack-config` is given:
mandatory for security, advisory for reliability and content; the config
files under `config/` set the level of each policy per stack.
"""

from __future__ import annotations

from typing import Final

from policies.framework import Policy
from policies.rules import (
    alert_rules_annotated,
    alertmanager_highly_available,
    capabilities_dropped,
    dashboards_in_folders,
    dashboards_use_declared_datasources,
    disruption_budgets,
    grafana_secure_auth,
    health_probes,
    host_access_isolated,
    host_ports_on_localhost,
    images_pinned,
    network_policies,
    no_host_access,
    no_plaintext_secrets,
    no_privilege_escalation,
    no_privileged_containers,
    persistent_storage,
    prometheus_highly_available,
    read_only_root_filesystem,
    replicas_spread,
    resources_requested_and_limited,
    retention_configured,
    run_as_non_root,
    slo_alerts_complete,
)

PACK_NAME: Final = "mlops-observability"

POLICIES: Final[list[Policy]] = [
    # security
    images_pinned.POLICY,
    no_privileged_containers.POLICY,
    no_host_access.POLICY,
    host_access_isolated.POLICY,
    run_as_non_root.POLICY,
    read_only_root_filesystem.POLICY,
    no_privilege_escalation.POLICY,
    capabilities_dropped.POLICY,
    no_plaintext_secrets.POLICY,
    grafana_secure_auth.POLICY,
    host_ports_on_localhost.POLICY,
    network_policies.POLICY,
    # reliability
    resources_requested_and_limited.POLICY,
    health_probes.POLICY,
    persistent_storage.POLICY,
    retention_configured.POLICY,
    alertmanager_highly_available.POLICY,
    prometheus_highly_available.POLICY,
    disruption_budgets.POLICY,
    replicas_spread.POLICY,
    # alerting and dashboards
    alert_rules_annotated.POLICY,
    slo_alerts_complete.POLICY,
    dashboards_in_folders.POLICY,
    dashboards_use_declared_datasources.POLICY,
]


def by_name() -> dict[str, Policy]:
    return {p.name: p for p in POLICIES}
