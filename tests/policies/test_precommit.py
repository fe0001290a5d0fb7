"""The pre-commit hooks: offline by construction, and clean on the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from infra.config import ROOT

CONFIG = ROOT / ".pre-commit-config.yaml"


def _hooks() -> list[dict[str, Any]]:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def test_every_hook_runs_a_tool_of_the_project_environment_without_network() -> None:
    """pre-commit would clone hook repositories from GitHub; local system hooks need nothing."""
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    assert {repo["repo"] for repo in config["repos"]} == {"local"}
    hooks = _hooks()
    assert {h["id"] for h in hooks} >= {"ruff-format", "ruff", "mypy", "yamllint", "detect-secrets"}
    for hook in hooks:
        assert hook["language"] == "system", hook["id"]
        assert hook["entry"].startswith("uv run "), hook["id"]
        assert "additional_dependencies" not in hook


def test_no_hook_rewrites_files() -> None:
    entries = {h["id"]: h["entry"] for h in _hooks()}
    assert "--check" in entries["ruff-format"]
    assert "--fix" not in entries["ruff"]


def test_the_secret_baseline_holds_only_audited_false_positives_without_line_numbers() -> None:
    """Without line numbers the baseline never needs rewriting when code moves."""
    baseline = json.loads((ROOT / ".secrets.baseline").read_text())
    findings = [f for found in baseline["results"].values() for f in found]
    assert findings
    for finding in findings:
        assert finding["is_secret"] is False
        assert "line_number" not in finding


def _worktree_files() -> list[str]:
    """Every file `git add -A` would commit: tracked files and new files git does not ignore.
    On a fresh clone (CI) this is exactly what `pre-commit run --all-files` checks."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({f for f in listed.split("\0") if f and (ROOT / f).is_file()})


def test_pre_commit_runs_clean_on_the_repository(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH (make setup installs it)"
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"), "NO_COLOR": "1"}
    result = subprocess.run(
        [uv, "run", "pre-commit", "run", "--color", "never", "--files", *_worktree_files()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
