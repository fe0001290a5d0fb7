"""`python -m infra.build_images --stack prod`: the images a stack needs built from this repository.

Two images come from here rather than from a public registry: the serving API
(`service/Dockerfile`) and the MLflow server (`infra/images/mlflow.Dockerfile`),
each on a pinned base image of the spec. A kubernetes stack pulls them by the
names it gives them (`images.serving`, `images.mlflowServer`); the docker
target builds them itself under a content tag when they are unset. This prints
one line per image, `<reference> <Dockerfile> <base image>`, for `make images`,
which builds (and with PUSH=1 pushes) them under the reference the stack runs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from infra.cli import load, stack_parser
from infra.spec import Image, PlatformSpec

SERVING_DOCKERFILE = "service/Dockerfile"
MLFLOW_DOCKERFILE = "infra/images/mlflow.Dockerfile"


@dataclass(frozen=True)
class ImageBuild:
    reference: str  # repository:tag, as the stack runs it
    dockerfile: str  # relative to the repository root, the build context
    base: str  # the Dockerfile's BASE_IMAGE

    def line(self) -> str:
        return f"{self.reference} {self.dockerfile} {self.base}"


def _named(image: Image) -> str:
    """A spec image's repository:tag (a digest names a pushed image; a build cannot make it)."""
    return f"{image.repository}:{image.tag}"


def image_builds(spec: PlatformSpec) -> list[ImageBuild]:
    """The serving and MLflow server images of the stack: by the spec's names where it gives
    them, else under the content tags the docker target builds (read from the program's plan)."""
    built: dict[str, str] = {}
    if spec.images.serving is None or spec.images.mlflow_server is None:
        from infra.manifests import workloads  # noqa: PLC0415  (imports Pulumi's SDK, no engine)

        built = {w.build.dockerfile: w.image for w in workloads(spec) if w.build is not None}
    builds = []
    for image, dockerfile, base in (
        (spec.images.serving, SERVING_DOCKERFILE, spec.images.serving_base),
        (spec.images.mlflow_server, MLFLOW_DOCKERFILE, spec.images.mlflow),
    ):
        reference = _named(image) if image is not None else built[dockerfile]
        builds.append(ImageBuild(reference, dockerfile, base.ref))
    return builds


def main(argv: list[str] | None = None) -> int:
    args = stack_parser("python -m infra.build_images", __doc__).parse_args(argv)
    spec = load(args)
    if spec is None:
        return 2
    for build in image_builds(spec):
        print(build.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
