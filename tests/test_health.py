"""The health command without a stack: what it says when nothing answers or the outputs are bad.
(The live tier runs it against a real stack.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import health
from tests.servers import free_port


def test_components_that_do_not_answer_are_named_unhealthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"urls": {"prometheus": nowhere, "mlflow": nowhere},
                                   "servingUrls": {"iris-classifier": nowhere}}))  # fmt: skip
    assert health.main(["--stack", "dev", "--outputs", str(outputs), "--timeout", "1"]) == 1
    rows = capsys.readouterr().out.splitlines()
    for name in ("prometheus", "mlflow", "serving iris-classifier", "scrape targets", "alerts"):
        (row,) = [r for r in rows if r.startswith(f"{name} ")]
        assert "UNHEALTHY" in row, row


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "Expecting value"),
        ('{"grafanaUrl": "http://x"}', "the outputs name no component URLs"),
    ],
)
def test_unreadable_outputs_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(content)
    assert health.main(["--stack", "dev", "--outputs", str(outputs)]) == 2
    assert message in capsys.readouterr().err


def test_without_outputs_or_a_pulumi_cli_it_says_what_to_pass(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert health.main(["--stack", "dev"]) == 2
    assert "pass the stack's outputs with --outputs" in capsys.readouterr().err
