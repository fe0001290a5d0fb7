"""Every Grafana dashboard queries only datasources the stack declares.

A panel whose datasource uid does not exist shows "datasource not found"
instead of data, and nothing fails at deploy time. Every datasource a
dashboard's JSON names (by uid, or by name in legacy string form) must be a
`grafana:oss/dataSource:DataSource` of the same stack, a template variable
(`$datasource`), or one of Grafana's built-ins (`-- Grafana --`,
`-- Mixed --`, `-- Dashboard --`, `__expr__`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import EnforcementLevel, Severity

from policies import dashboards, shapes
from policies.framework import Finding, Settings, StackPolicy, StackResource, is_unknown

NAME = "dashboards-use-declared-datasources"


def check(resources: Sequence[StackResource], settings: Settings) -> list[Finding]:
    sources = [r for r in resources if r.type == shapes.GRAFANA_DATASOURCE]
    if any(is_unknown(r.props.get("uid")) for r in sources):
        return []  # cannot tell yet which uids exist
    declared = {str(r.props.get(k)) for r in sources for k in ("uid", "name") if r.props.get(k)}
    builtin = {str(b) for b in settings["builtinDatasources"]}
    findings = []
    for board in (r for r in resources if r.type == shapes.GRAFANA_DASHBOARD):
        text = board.props.get("configJson")
        if is_unknown(text):
            continue
        found = dashboards.model(board.props)
        subject = dashboards.title(board.props)
        if found is None:
            findings.append(
                Finding(
                    f"{subject}: configJson is missing or not a JSON object; build it with the "
                    "dashboards package (dashboards.to_json).",
                    board.urn,
                )
            )
            continue
        unknown = sorted(
            {
                ref for ref in dashboards.datasource_refs(found)
                if ref and not ref.startswith("$") and ref not in builtin and ref not in declared
            }
        )  # fmt: skip
        if unknown:
            findings.append(
                Finding(
                    f"{subject} queries datasources the stack does not declare: "
                    f"{', '.join(unknown)} (declared uids: "
                    f"{', '.join(sorted(str(r.props.get('uid')) for r in sources)) or 'none'}); "
                    "use the uids of infra.conventions.DATASOURCE_UID or declare the datasource.",
                    board.urn,
                )
            )
    return findings


POLICY = StackPolicy(
    name=NAME,
    description="Every Grafana dashboard queries only datasources the stack declares.",
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    remediation="Reference datasources by the uids the stack declares "
    "(infra.conventions.DATASOURCE_UID).",
    config={
        "builtinDatasources": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["-- Grafana --", "-- Mixed --", "-- Dashboard --", "__expr__", "grafana"],
            "description": "Datasource uids Grafana provides itself.",
        }
    },
    tags=["grafana"],
)
