"""Images are pinned: a version tag (never `latest`, never none), a well-formed digest when one
is given, and a digest on every pulled image when the stack's config asks for it.

A tag can be moved to other content; a digest cannot. An image without a tag
is `latest`. Locally built images (`docker:index/image:Image`) are tagged by
the content of their sources, so they need a tag but can have no digest yet.
"""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown

NAME = "images-pinned"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def judge_reference(
    subject: str, reference: Any, *, built: bool, require_digest: bool
) -> list[str]:
    if is_unknown(reference):
        return []  # resolved at deploy time (e.g. a pulled image's digest): judged where it is named
    if not isinstance(reference, str) or not reference:
        return [f"{subject}: names no image; set a pinned `repository:tag` reference."]
    image = shapes.parse_image(reference)
    problems = []
    if image.tag is None and image.digest is None:
        problems.append(
            f"{subject}: image {reference} has no tag, so it pulls whatever `latest` is today; "
            "name a version tag (images.<component>.tag in the stack's config)."
        )
    if image.tag is not None and image.tag.lower() == "latest":
        problems.append(
            f"{subject}: image {reference} uses the moving tag `latest`; pin a version tag "
            "such as v3.5.0 (images.<component>.tag), and its digest where you know it."
        )
    if image.digest is not None and not DIGEST.match(image.digest):
        problems.append(
            f"{subject}: image {reference} has a malformed digest {image.digest!r}; "
            "use sha256: followed by 64 lowercase hex digits, as `docker buildx imagetools "
            "inspect` prints it."
        )
    if require_digest and not built and image.digest is None:
        problems.append(
            f"{subject}: image {reference} is not pinned by digest, which this stack's policy "
            "config requires (requireDigest); add images.<component>.digest (sha256:...)."
        )
    return problems


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    require_digest = bool(settings["requireDigest"])
    subject = shapes.describe(resource_type, props)
    if resource_type == shapes.DOCKER_REMOTE_IMAGE:
        return judge_reference(
            subject, props.get("name"), built=False, require_digest=require_digest
        )
    if resource_type == shapes.DOCKER_IMAGE:
        return judge_reference(
            subject, props.get("imageName"), built=True, require_digest=require_digest
        )
    if resource_type == shapes.DOCKER_CONTAINER:
        return judge_reference(subject, props.get("image"), built=False, require_digest=False)
    pod = shapes.pod_spec(resource_type, props)
    return [
        problem
        for container in shapes.containers(pod)
        for problem in judge_reference(
            shapes.container_label(resource_type, props, container),
            container.get("image"),
            built=False,
            require_digest=require_digest,
        )
    ]


POLICY = ResourcePolicy(
    name=NAME,
    description="Every image is pinned: a version tag, never `latest` or none; digests well-formed "
    "(and required where the policy config says so).",
    resource_types=shapes.K8S_WORKLOADS
    | {shapes.DOCKER_CONTAINER, shapes.DOCKER_REMOTE_IMAGE, shapes.DOCKER_IMAGE},
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation="Pin images in the stack's `images` config (repository, tag, digest); they are "
    "listed in one place, stacks/base.py.",
    config={
        "requireDigest": {
            "type": "boolean",
            "default": False,
            "description": "Pulled images must carry a sha256 digest, not only a tag.",
        }
    },
    tags=["supply-chain"],
)
