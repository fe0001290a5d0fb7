"""`make images` (`python -m infra.build_images`): the images a stack runs that come from this
repository, under the names the stack runs them by."""

from __future__ import annotations

import pytest

from infra.build_images import MLFLOW_DOCKERFILE, SERVING_DOCKERFILE, image_builds, main
from infra.manifests import workloads
from tests.conftest import stack_spec


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_kubernetes_stack_builds_its_images_under_the_names_it_pulls(stack: str) -> None:
    spec = stack_spec(stack)
    assert spec.images.serving is not None
    assert spec.images.mlflow_server is not None
    builds = {b.dockerfile: b for b in image_builds(spec)}
    assert set(builds) == {SERVING_DOCKERFILE, MLFLOW_DOCKERFILE}
    serving, mlflow = builds[SERVING_DOCKERFILE], builds[MLFLOW_DOCKERFILE]
    assert serving.reference == f"{spec.images.serving.repository}:{spec.images.serving.tag}"
    assert serving.base == spec.images.serving_base.ref
    assert mlflow.reference == (
        f"{spec.images.mlflow_server.repository}:{spec.images.mlflow_server.tag}"
    )
    assert mlflow.base == spec.images.mlflow.ref
    running = {w.image for w in workloads(spec)}
    assert {serving.reference, mlflow.reference} <= running


def test_the_docker_stack_builds_the_content_tagged_images_its_containers_run() -> None:
    spec = stack_spec("dev")
    plan = {w.build.dockerfile: w for w in workloads(spec) if w.build is not None}
    builds = image_builds(spec)
    assert {b.dockerfile for b in builds} == set(plan) == {SERVING_DOCKERFILE, MLFLOW_DOCKERFILE}
    for build in builds:
        workload = plan[build.dockerfile]
        assert workload.build is not None
        assert build.reference == workload.image
        assert ":src-" in build.reference
        assert build.base == workload.build.args["BASE_IMAGE"]


def test_the_command_prints_one_line_per_image_for_make(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "prod"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == [SERVING_DOCKERFILE, MLFLOW_DOCKERFILE]
    assert all(len(line.split()) == 3 for line in lines)


def test_an_unknown_stack_stops_the_command_with_the_spec_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--stack", "nope"]) == 2
    assert "Pulumi.nope.yaml not found" in capsys.readouterr().err
