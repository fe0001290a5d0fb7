"""One module per policy: a pure check and the CrossGuard policy built from it.

`per_container` is the walk the container policies share: a docker container
is judged whole, a Kubernetes workload container by container, so each policy
writes only what it asks of one container.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policies import shapes
from policies.framework import Props

DockerJudge = Callable[[str, Props], list[str]]
ContainerJudge = Callable[[str, dict[str, Any], dict[str, Any]], list[str]]


def per_container(
    resource_type: str,
    props: Props,
    docker: DockerJudge,
    container: ContainerJudge,
    *,
    init: bool = True,
) -> list[str]:
    """Problems of a workload: `docker(subject, props)` for a docker container, else
    `container(subject, container, pod)` for each container (init ones too, with `init`)."""
    if resource_type == shapes.DOCKER_CONTAINER:
        return docker(shapes.describe(resource_type, props), props)
    pod = shapes.pod_spec(resource_type, props)
    return [
        problem
        for c in shapes.containers(pod, init=init)
        for problem in container(shapes.container_label(resource_type, props, c), c, pod)
    ]
