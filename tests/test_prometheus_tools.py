"""The rendered files of every stack, checked by the real promtool and amtool of the pinned versions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from infra import conventions as cv
from infra.render.saturation import SERVICE_ACCOUNT
from tests import tools
from tests.conftest import run


def _as_in_a_pod(folder: Path, into: Path) -> Path:
    """The rendered files, with the service-account folder the kubelet mounts into every pod
    (the token and CA Prometheus reads the API server with) at a folder of the test's: promtool
    opens every file a config names."""
    account = into / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("test-token\n")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=test-ca", "-keyout", account / "ca.key", "-out", account / "ca.crt"],
        check=True, capture_output=True,
    )  # fmt: skip
    copy = into / "rendered"
    shutil.copytree(folder, copy)
    config = copy / cv.PROMETHEUS_CONFIG
    config.write_text(config.read_text().replace(SERVICE_ACCOUNT, str(account)))
    return copy


def test_promtool_accepts_the_prometheus_config_and_its_rule_files(
    stack: str, rendered: dict[str, Path], promtool: Path, tmp_path: Path
) -> None:
    folder = _as_in_a_pod(rendered[stack], tmp_path)
    result = run([promtool, "check", "config", cv.PROMETHEUS_CONFIG], cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout + result.stderr


def test_promtool_accepts_every_rule_file(
    stack: str, rendered: dict[str, Path], promtool: Path
) -> None:
    result = run([promtool, "check", "rules", cv.PLATFORM_RULES, cv.SLO_RULES], cwd=rendered[stack])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_refuses_a_broken_rule_file(tmp_path: Path, promtool: Path) -> None:
    """The check above can fail: the same call on a broken file does."""
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - alert: X\n    expr: sum(rate(x[5m])\n")
    assert run([promtool, "check", "rules", bad]).returncode != 0


def test_debian_prometheus_accepts_the_dev_config_it_runs_in_the_live_tests(
    rendered: dict[str, Path],
) -> None:
    result = run(
        [tools.debian_promtool(), "check", "config", cv.PROMETHEUS_CONFIG], cwd=rendered["dev"]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_accepts_the_alertmanager_config(
    stack: str, rendered: dict[str, Path], amtool: Path
) -> None:
    result = run([amtool, "check-config", cv.ALERTMANAGER_CONFIG], cwd=rendered[stack])
    assert result.returncode == 0, result.stdout + result.stderr


# Which receivers each severity reaches, per stack: the routing users were promised.
ROUTES = {
    "dev": dict.fromkeys(cv.Severity, "default"),
    "staging": {
        cv.Severity.CRITICAL: "incident-webhook,ml-team-slack",
        cv.Severity.PAGE: "incident-webhook,ml-team-slack",
        cv.Severity.WARNING: "ml-team-slack",
        cv.Severity.TICKET: "ml-team-slack",
        cv.Severity.INFO: "ml-team-slack",
    },
    "prod": {
        cv.Severity.CRITICAL: "ml-oncall,ml-team-slack",
        cv.Severity.PAGE: "ml-oncall,ml-team-slack",
        cv.Severity.WARNING: "ml-team-slack",
        cv.Severity.TICKET: "ml-team-slack",
        cv.Severity.INFO: "ml-team-email",
    },
}


@pytest.mark.parametrize(
    ("name", "severity", "receivers"),
    [(n, s.value, r) for n, table in ROUTES.items() for s, r in table.items()],
)
def test_each_severity_reaches_its_receivers(
    name: str, severity: str, receivers: str, rendered: dict[str, Path], amtool: Path
) -> None:
    config = rendered[name] / cv.ALERTMANAGER_CONFIG
    result = run(
        [amtool, "config", "routes", "test", f"--config.file={config}", f"--verify.receivers={receivers}",
         "alertname=AnyAlert", f"severity={severity}", "model=iris-classifier"]
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_amtool_route_test_fails_when_the_expected_receiver_is_wrong(
    rendered: dict[str, Path], amtool: Path
) -> None:
    config = rendered["prod"] / cv.ALERTMANAGER_CONFIG
    result = run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            "--verify.receivers=ml-team-email",
            "severity=critical",
        ]
    )
    assert result.returncode != 0


WATCHDOG_RECEIVER = {
    "dev": cv.WATCHDOG_DISCARD_RECEIVER,
    "staging": cv.WATCHDOG_DISCARD_RECEIVER,
    "prod": "heartbeat",  # its dead man's switch
}


def test_the_watchdog_reaches_only_the_heartbeat_receiver(
    stack: str, rendered: dict[str, Path], amtool: Path
) -> None:
    """Whatever severity routes say, the always-firing Watchdog goes to the heartbeat (or
    nowhere): it must never page anyone or fill a team channel."""
    config = rendered[stack] / cv.ALERTMANAGER_CONFIG
    result = run(
        [amtool, "config", "routes", "test", f"--config.file={config}",
         f"--verify.receivers={WATCHDOG_RECEIVER[stack]}",
         f"alertname={cv.Alert.WATCHDOG.value}", "severity=info"]
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == WATCHDOG_RECEIVER[stack]
