"""Every deployed image has its licence in the README, and the repository's own build, tests and
CI never name an AGPL module: the stacks deploy Loki, Tempo and Grafana, nothing here builds
or runs them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from infra.config import ROOT
from stacks.base import PROFILE

AGPL_IMAGES = {"loki", "tempo", "grafana"}
# Where the build, the tests and CI live.
BUILD_AND_TEST = ("tools", "tests", ".ci", "Makefile", ".github", "pyproject.toml")
_ROW = re.compile(
    r"^\| `(?P<key>\w+)` \| (?P<component>[^|]+) \| (?P<licence>[^|]+) \| (?P<stand_in>[^|]+) \|$"
)


def _licence_rows() -> dict[str, tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## What gets deployed, and under which licence", 1)[1].split("\n## ", 1)[
        0
    ]
    return {
        m["key"]: (m["licence"].strip(), m["stand_in"].strip())
        for m in map(_ROW.match, section.splitlines())
        if m
    }


def test_the_readme_gives_every_pinned_image_its_licence() -> None:
    rows = _licence_rows()
    assert set(rows) == set(PROFILE["images"])
    for key, (licence, stand_in) in rows.items():
        assert re.search(r"(Apache|MIT|BSD|AGPL|GPL|MPL|PSF)-?[\d.]*", licence), key
        assert stand_in, key
    assert {k for k, (licence, _) in rows.items() if "AGPL" in licence} == AGPL_IMAGES


def _files() -> list[Path]:
    """The repository's own files there (git's, so not installed packages such as node_modules)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", *BUILD_AND_TEST],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def test_no_build_script_module_or_test_names_an_agpl_module() -> None:
    """The Go module of each AGPL image's source (`github.com/<image repository>`, with any
    major-version suffix) appears in no go.mod, go.sum, script, workflow or test."""
    agpl = [k for k, (licence, _) in _licence_rows().items() if "AGPL" in licence]
    modules = [f"github.com/{PROFILE['images'][k]['repository']}" for k in agpl]
    assert len(modules) == len(AGPL_IMAGES)
    me = Path(__file__).resolve()
    named = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in _files()
        if path.resolve() != me
        for module in modules
        if module in path.read_text(errors="replace")
    ]
    assert named == []
    assert len(_files()) > 50  # the walk saw the tree
