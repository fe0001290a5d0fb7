"""Every Grafana dashboard lives in a folder the stack declares.

A dashboard without a folder lands in General, where nobody owns it and
folder permissions do not apply; a folder uid the stack does not declare
fails at deploy time or drifts with hand-made folders. Each
`grafana:oss/dashboard:Dashboard` must name, in `folder`, the uid of a
`grafana:oss/folder:Folder` of the same stack.
"""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import EnforcementLevel, Severity

from policies import dashboards, shapes
from policies.framework import Finding, Settings, StackPolicy, StackResource, is_unknown

NAME = "dashboards-in-folders"
GENERAL = {"", "0", "general"}


def check(resources: Sequence[StackResource], settings: Settings) -> list[Finding]:
    folders = [r for r in resources if r.type == shapes.GRAFANA_FOLDER]
    uids = {r.props.get("uid") for r in folders}
    folders_unknown = any(is_unknown(uid) or uid is None for uid in uids)
    findings = []
    for board in (r for r in resources if r.type == shapes.GRAFANA_DASHBOARD):
        folder = board.props.get("folder")
        if is_unknown(folder):
            continue
        subject = dashboards.title(board.props)
        if not isinstance(folder, str) or folder.strip().lower() in GENERAL:
            findings.append(
                Finding(
                    f"{subject} has no folder and lands in General; put it in one of the stack's "
                    "folders (dashboards.FOLDERS maps each dashboard to a folder uid).",
                    board.urn,
                )
            )
        elif folder not in uids and not folders_unknown:
            declared = ", ".join(sorted(str(u) for u in uids)) or "none"
            findings.append(
                Finding(
                    f"{subject} is placed in folder {folder!r}, which the stack does not declare "
                    f"(declared: {declared}); declare that folder or use a declared uid.",
                    board.urn,
                )
            )
    return findings


POLICY = StackPolicy(
    name=NAME,
    description="Every Grafana dashboard is in a folder the stack declares.",
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.LOW,
    remediation="Give every dashboard the uid of a declared grafana Folder.",
    tags=["grafana"],
)
