"""The rendered collector and Loki configs of every stack, checked by the real OpenTelemetry
Collector and Loki of the pinned images' versions (tools/telemetry/build.sh).

`otelcol validate` builds every component from the config and checks the pipelines; Loki's
`-verify-config` parses the file strictly (an unknown field fails) and validates it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from infra import conventions as cv
from infra.render.telemetry import S3_ACCESS_KEY_ENV, S3_SECRET_KEY_ENV
from tests import tools
from tests.conftest import run


@pytest.fixture(scope="session")
def otelcol() -> Path:
    return tools.otelcol()


@pytest.fixture(scope="session")
def loki() -> Path:
    return tools.loki()


def _loki_check(loki: Path, config: Path) -> tuple[int, str]:
    # The stacks start Loki with -config.expand-env=true when its S3 keys come from Secrets.
    env = {
        **os.environ,
        S3_ACCESS_KEY_ENV: os.urandom(8).hex(),
        S3_SECRET_KEY_ENV: os.urandom(8).hex(),
    }
    import subprocess  # noqa: PLC0415

    result = subprocess.run(
        [str(loki), f"-config.file={config}", "-config.expand-env=true", "-verify-config"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def test_the_collector_accepts_the_config(
    stack: str, rendered: dict[str, Path], otelcol: Path
) -> None:
    result = run([otelcol, "validate", f"--config={rendered[stack] / cv.OTEL_COLLECTOR_CONFIG}"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_collector_refuses_a_pipeline_with_an_undeclared_exporter(
    rendered: dict[str, Path], otelcol: Path, tmp_path: Path
) -> None:
    """The check above can fail: the same call on a broken config does."""
    config = yaml.safe_load((rendered["prod"] / cv.OTEL_COLLECTOR_CONFIG).read_text())
    config["service"]["pipelines"]["logs"]["exporters"] = ["loki"]
    bad = tmp_path / "otel-collector.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = run([otelcol, "validate", f"--config={bad}"])
    assert result.returncode != 0
    assert "loki" in result.stdout + result.stderr


def test_the_collector_build_holds_exactly_the_components_the_configs_name(
    rendered: dict[str, Path], otelcol: Path
) -> None:
    """A component the config names but the build lacks fails validation (above); one the
    build holds and no config names is attack surface and build time for nothing."""
    result = run([otelcol, "components"])
    assert result.returncode == 0, result.stderr
    built = yaml.safe_load(result.stdout)
    kinds = ("receivers", "processors", "exporters", "extensions")
    have = {(k, c["name"]) for k in kinds for c in built.get(k) or []}
    named = set()
    for folder in rendered.values():
        config = yaml.safe_load((folder / cv.OTEL_COLLECTOR_CONFIG).read_text())
        named |= {(k, name.split("/")[0]) for k in kinds for name in config.get(k) or {}}
    assert have == named


def test_loki_accepts_the_config(stack: str, rendered: dict[str, Path], loki: Path) -> None:
    code, output = _loki_check(loki, rendered[stack] / cv.LOKI_CONFIG)
    assert code == 0, output
    assert "config is valid" in output


def test_loki_refuses_an_unknown_field(
    rendered: dict[str, Path], loki: Path, tmp_path: Path
) -> None:
    config = yaml.safe_load((rendered["prod"] / cv.LOKI_CONFIG).read_text())
    config["compactor"]["retention_enable"] = True  # a typo of retention_enabled
    bad = tmp_path / "loki.yaml"
    bad.write_text(yaml.safe_dump(config))
    code, output = _loki_check(loki, bad)
    assert code != 0
    assert "retention_enable not found" in output
