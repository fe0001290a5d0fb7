"""The rendered collector config of every stack, checked by the real OpenTelemetry Collector of
the pinned image's version (tools/telemetry/build.sh): `otelcol validate` builds every
component from the config and checks the pipelines.

Loki's config is checked without Loki (AGPL-3.0, never run here): tests/test_loki_config.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra import conventions as cv
from tests import jaeger, tools
from tests.conftest import run


@pytest.fixture(scope="session")
def otelcol() -> Path:
    return tools.otelcol()


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


def test_jaeger_accepts_the_live_tests_config_and_listens_on_loopback_only(
    tmp_path: Path,
) -> None:
    """The trace store that stands where the stacks run Tempo (tests/jaeger.py)."""
    ports = jaeger.Ports(otlp_grpc=1, metrics=2, query_http=3, query_grpc=4, health=5)
    config = jaeger.config(ports)
    path = tmp_path / "jaeger.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run([tools.jaeger(), "validate", f"--config={path}"])
    assert result.returncode == 0, result.stdout + result.stderr
    text = yaml.safe_dump(config)
    assert text.count("127.0.0.1") == 5
    assert "0.0.0.0" not in text
    config["extensions"]["jaeger_query"]["storage"]["trace"] = jaeger.STORE  # a typo of traces
    path.write_text(yaml.safe_dump(config))
    result = run([tools.jaeger(), "validate", f"--config={path}"])
    assert result.returncode != 0
    assert "trace" in result.stdout + result.stderr
