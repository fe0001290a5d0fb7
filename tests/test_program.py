"""The Pulumi program under the engine's mocks: the spec is checked before anything else runs."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from tests.program import run_program


def _run(config: dict[str, str], secret_keys: list[str]) -> dict[str, Any]:
    """Run the program under the shared mocks until everything settles; its globals come back."""
    return run_program("test", config, secret_keys).namespace


def test_a_bad_stack_config_stops_the_program_before_any_resource_is_registered() -> None:
    with pytest.raises(
        pulumi.RunError, match=r"mlops:prometheus.retentionTime: '-3d' is not a duration"
    ) as info:
        _run({"mlops:environment": "dev", "mlops:prometheus": '{"retentionTime": "-3d"}'}, [])
    assert "invalid config" in str(info.value)


def test_the_program_refuses_a_receiver_secret_that_is_not_set() -> None:
    config = {
        "mlops:environment": "staging",
        "mlops:alertmanager": '{"receivers": [{"name": "hook", "kind": "webhook", "urlSecret": "hookUrl"}],'
        ' "route": {"receiver": "hook"}}',
    }
    with pytest.raises(
        pulumi.RunError,
        match=r"mlops:hookUrl is not set; set it with `pulumi config set --secret hookUrl",
    ):
        _run(config, [])


def test_a_good_config_runs_the_program() -> None:
    config = {
        "mlops:environment": "staging",
        "mlops:alertmanager": '{"receivers": [{"name": "hook", "kind": "webhook", "urlSecret": "hookUrl"}],'
        ' "route": {"receiver": "hook"}}',
        "mlops:hookUrl": "https://hooks.example.com/secret-path",
    }
    program = _run(config, ["mlops:hookUrl"])
    assert program["spec"].environment == "staging"
    assert program["spec"].alertmanager.receivers[0].url_secret == "hookUrl"
    assert "url_file: /etc/alertmanager/secrets/hook-url" in program["files"]["alertmanager.yml"]
    assert "secret-path" not in "".join(program["files"].values())
