"""The Pulumi program under the engine's mocks: the spec is checked before anything else runs."""

from __future__ import annotations

import json

import pulumi
import pytest

from infra.spec import WebhookReceiver
from tests.program import Program, run_program, stack_config


def _run(config: dict[str, str], secret_keys: list[str]) -> Program:
    """Run the program under the shared mocks until everything settles."""
    return run_program("test", config, secret_keys)


def _rendered(program: Program) -> dict[str, str]:
    """Every rendered file the program declared (the ConfigMaps' data), by its key."""
    return {
        key: str(text)
        for configmap in program.of_type("kubernetes:core/v1:ConfigMap")
        for key, text in configmap.inputs["data"].items()
    }


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
        "mlops:rollbackToken": "rollback-token-value",  # staging's rollback is on
    }
    program = _run(config, ["mlops:hookUrl", "mlops:rollbackToken"])
    files = _rendered(program)
    assert program.spec.environment == "staging"
    receiver = program.spec.alertmanager.receivers[0]
    assert isinstance(receiver, WebhookReceiver)
    assert receiver.url_secret == "hookUrl"
    assert "url_file: /etc/alertmanager/secrets/hook-url" in files["alertmanager.yml"]
    assert "secret-path" not in "".join(files.values())
    assert "rollback-token-value" not in "".join(files.values())


def _grafana(program: Program) -> set[tuple[str, str]]:
    """The Grafana provider, the content component and all it declares: (type, name)."""
    return {
        (r.typ, r.name)
        for r in program.mocks.resources
        if r.typ.startswith("grafana:")
        or r.typ in {"pulumi:providers:grafana", "mlops:grafana:Content"}
        or "pulumi:providers:grafana" in (r.provider or "")
    }


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_external_grafana_content_declares_the_platform_without_the_grafana_provider(
    stack: str,
) -> None:
    """A new environment's first `up` (no Grafana to talk to yet), or content owned by another
    stack: everything else is declared as before, and the outputs say who owns the content."""
    config, secrets = stack_config(stack)
    managed = run_program(stack, config, secrets)
    grafana = json.loads(config.get("mlops:grafana", "{}"))
    config = {**config, "mlops:grafana": json.dumps({**grafana, "content": "external"})}
    external = run_program(stack, config, secrets)

    content = _grafana(managed)
    assert len(content) >= 10  # provider, component, folders, dashboards, rules, ...
    assert _grafana(external) == set()
    everything = {(r.typ, r.name) for r in managed.mocks.resources}
    assert {(r.typ, r.name) for r in external.mocks.resources} == everything - content
    assert external.export("grafanaContent") == ("external", False)
    assert managed.export("grafanaContent") == ("managed", False)
