"""The engine tier: the real Pulumi CLI, built from the Go module proxy by
`tools/engine/build.sh`, runs the program and the policy pack.

Everything runs offline in a temporary folder: a copy of the project (the CLI
writes the stacks' encryption salts and secrets into `Pulumi.<stack>.yaml`),
`PULUMI_HOME`, and a `file://` state backend with a passphrase secrets
provider. The program runs in the project's own environment: the language
host resolves the `uv` toolchain of `Pulumi.yaml`, and `UV_PROJECT_ENVIRONMENT`
points it at the repo's `.venv` with `UV_OFFLINE=1`.

A missing engine fails these tests (run `tools/engine/build.sh`, or set
PULUMI_ENGINE_DIR to a folder holding `pulumi` and `pulumi-language-python`):
it is never a silent skip.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from infra.config import ROOT, secret_keys
from tests.cluster import ControlPlane, control_plane
from tests.conftest import stack_spec
from tests.tools import cache_dir, required, wait_for_engine_build

ENGINE_MODULE = ROOT / "tools" / "engine" / "go.mod"
# What the project copy needs to run the program and the policy pack.
PROJECT_PARTS = (
    "Pulumi.yaml",
    "pyproject.toml",
    "uv.lock",
    "infra",
    "stacks",
    "dashboards",
    "service",
    "policies",
)
PASSPHRASE = "engine-tier-passphrase"
# The plugin tools/engine/build.sh builds must be the Python SDK's version: they agree on one
# schema, and the SDK asks the engine for a plugin of its own version.
PLUGIN_VERSION = importlib.metadata.version("pulumi_kubernetes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "engine: runs the real Pulumi CLI built by tools/engine/build.sh"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.engine)


def engine_version() -> str:
    """The pkg/v3 tag that tools/engine/go.mod requires (the one build.sh builds)."""
    return required(ENGINE_MODULE, "github.com/pulumi/pulumi/pkg/v3")


def engine_dir() -> Path:
    if "PULUMI_ENGINE_DIR" in os.environ:
        return Path(os.environ["PULUMI_ENGINE_DIR"])
    return cache_dir() / f"pulumi-{engine_version()}"


@dataclass
class Result:
    args: list[str]
    returncode: int
    output: str

    def __str__(self) -> str:
        return f"$ pulumi {' '.join(self.args)}\n(exit {self.returncode})\n{self.output}"


@dataclass
class Engine:
    """The CLI with its own home, backend and project copy; `run` returns the whole output."""

    pulumi: Path
    project: Path
    env: dict[str, str]
    stacks: set[str] = field(default_factory=set)

    def run(self, *args: str, check: bool = False, timeout: float = 600) -> Result:
        proc = subprocess.run(
            [str(self.pulumi), *args, "--non-interactive", "--color", "never"],
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = Result(list(args), proc.returncode, proc.stdout)
        if check:
            assert proc.returncode == 0, str(result)
        return result

    def new_stack(self, name: str, config_from: str, secrets: Sequence[str] = ()) -> None:
        """Stack NAME from the repo's Pulumi.<config_from>.yaml, its SECRETS set encrypted."""
        (self.project / f"Pulumi.{name}.yaml").write_text(
            (ROOT / f"Pulumi.{config_from}.yaml").read_text()
        )
        self.run("stack", "init", name, "--secrets-provider", "passphrase", check=True)
        for key in secrets:
            self.run(
                "config", "set", "--stack", name, "--secret", key, fake_secret(key), check=True
            )
        self.stacks.add(name)

    def preview(self, stack: str, policy_config: str | None = None) -> Result:
        """`pulumi preview` with the policy pack and the stack's enforcement levels."""
        return self.run("preview", "--stack", stack, *_policy(stack, policy_config))

    def up(
        self, stack: str, *flags: str, policy_config: str | None = None, timeout: float = 1200
    ) -> Result:
        """`pulumi up --yes` with the policy pack and the stack's enforcement levels."""
        return self.run(
            "up", "--yes", *flags, "--stack", stack, *_policy(stack, policy_config), timeout=timeout
        )


def _policy(stack: str, config: str | None) -> tuple[str, ...]:
    """The policy pack's flags: the shipped stack's enforcement levels unless CONFIG is named."""
    return (
        "--policy-pack",
        "policies",
        "--policy-pack-config",
        config or f"policies/config/{stack_config(stack)}.json",
    )


def stack_config(stack: str) -> str:
    """Which shipped stack's policy config a test stack uses (`staging-...` -> staging)."""
    return stack.split("-", 1)[0]


def fake_secret(key: str) -> str:
    if "url" in key.lower():
        return f"https://hooks.example.invalid/{key}"
    return f"fake-{key}-value"


def shipped_secrets(stack: str) -> list[str]:
    """The secret config keys the shipped stack's receivers and settings name."""
    return secret_keys(stack_spec(stack))


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    wait_for_engine_build()
    folder = engine_dir()
    pulumi = folder / "pulumi"
    host = folder / "pulumi-language-python"
    for path in (pulumi, host, folder / "pulumi-language-python-exec"):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run tools/engine/build.sh")
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH: the language host runs the program with the uv toolchain"

    base = tmp_path_factory.mktemp("engine")
    project = base / "project"
    project.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, project / part, ignore=ignore)
        else:
            shutil.copy2(source, project / part)

    home = base / "pulumi-home"
    state = base / "state"
    state.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PULUMI_", "VIRTUAL_ENV", "UV_PROJECT"))
    }
    env.update(
        PATH=os.pathsep.join([str(folder), str(Path(uv).parent), env.get("PATH", "")]),
        PULUMI_HOME=str(home),
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="true",
        PULUMI_DIY_BACKEND_NO_LEGACY_WARNING="true",
        UV_PROJECT_ENVIRONMENT=str(ROOT / ".venv"),
        UV_OFFLINE="1",
        UV_NO_PROGRESS="1",
    )
    eng = Engine(pulumi, project, env)
    eng.run("login", f"file://{state}", check=True)
    return eng


def plugin() -> Path:
    wait_for_engine_build()
    path = (
        cache_dir() / f"pulumi-resource-kubernetes-{PLUGIN_VERSION}" / "pulumi-resource-kubernetes"
    )
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run tools/engine/build.sh")
    return path


@pytest.fixture(scope="session")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """One local control plane for the engine tier (tests/cluster.py)."""
    with control_plane(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="session")
def kube(engine: Engine, plane: ControlPlane) -> Engine:
    """The engine with the Kubernetes plugin registered and the plane's kubeconfig."""
    engine.run(
        "plugin",
        "install",
        "resource",
        "kubernetes",
        PLUGIN_VERSION,
        "--file",
        str(plugin()),
        check=True,
    )
    engine.env["KUBECONFIG"] = str(plane.kubeconfig)
    return engine


ADMIN_CONFIG_KEY = "grafanaAdminPassword"


def external_stack(
    engine: Engine, stack: str, name: str, settings: Mapping[str, str] | None = None
) -> None:
    """Stack NAME from the shipped STACK with its secrets set, Grafana content external, the
    Grafana admin password a secret (the proxy refuses the grafana and random providers'
    modules) and SETTINGS (config paths under `mlops:`) on top."""
    engine.new_stack(name, stack, [*shipped_secrets(stack), ADMIN_CONFIG_KEY])
    overrides = {
        "grafana.content": "external",
        "grafana.adminPasswordSecret": ADMIN_CONFIG_KEY,
        **(settings or {}),
    }
    for path, value in overrides.items():
        engine.run("config", "set", "--stack", name, "--path", f"mlops:{path}", value, check=True)
