"""Shared fixtures: every shipped stack's spec and rendered files, and the Prometheus tools."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from infra import endpoints as ep
from infra.config import ROOT, StackConfig, from_stack_file, load_spec
from infra.render import render_all
from infra.render.__main__ import write
from infra.spec import PlatformSpec
from stacks import profile
from tests import tools

STACKS = ("dev", "staging", "prod")
# Not a shipped stack: staging with a served model on one GPU, the only way the DCGM exporter
# and the GPU alerts are rendered. Tests of "every alert the platform can raise" add it.
GPU_STACK = "staging"
GPU_VARIANT = f"{GPU_STACK}+gpu"
# The shipped stacks and the GPU variant: between them, every alert the platform can raise.
ALERT_STACKS = (*STACKS, GPU_VARIANT)


def stack_spec(stack: str) -> PlatformSpec:
    return load_spec(from_stack_file(stack, ROOT))


def spec_with(stack: str, **values: object) -> PlatformSpec:
    """A shipped stack's spec with top-level settings replaced (`serving={...}`)."""
    base = from_stack_file(stack, ROOT)
    overrides = {f"mlops:{key}": value for key, value in values.items()}
    return load_spec(StackConfig(stack, {**base.values, **overrides}, base.secret_keys))


def gpu_spec(gpus: int = 1, **values: object) -> PlatformSpec:
    """GPU_STACK with each served model requesting `gpus` GPUs (and other settings replaced)."""
    models = [model | {"gpus": gpus} for model in profile(GPU_STACK)["serving"]["models"]]
    return spec_with(GPU_STACK, serving={"models": models}, **values)


def variant_spec(stack: str) -> PlatformSpec:
    """A shipped stack's spec, or the GPU variant's."""
    return gpu_spec() if stack == GPU_VARIANT else stack_spec(stack)


def run(cmd: Sequence[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool; the assertion message carries its whole output."""
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The engine tier runs last: `make test` builds the engine beside the tiers before it."""
    engine = Path(__file__).parent / "engine"
    items.sort(key=lambda item: engine in item.path.parents)


@pytest.fixture(scope="session", params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each shipped stack rendered into its own folder, as `python -m infra.render` writes it."""
    out = {}
    for name in STACKS:
        spec = stack_spec(name)
        folder = tmp_path_factory.mktemp(f"render-{name}")
        write(render_all(spec, ep.for_spec(spec)), folder)
        out[name] = folder
    return out


@pytest.fixture(scope="session")
def promtool() -> Path:
    return tools.promtool()


@pytest.fixture(scope="session")
def amtool() -> Path:
    return tools.amtool()
