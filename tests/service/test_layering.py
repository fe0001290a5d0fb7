"""Dependencies point down the pipeline: the service never imports the Pulumi side."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "service"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_service_modules_import_neither_infra_nor_pulumi() -> None:
    modules = sorted(SERVICE.glob("*.py"))
    assert len(modules) > 8
    offenders = {
        p.name: sorted(
            _imports(p) & {"infra", "stacks", "pulumi", "pulumi_docker", "pulumi_kubernetes"}
        )
        for p in modules
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_metric_catalog_imports_no_instrumentation_library() -> None:
    assert _imports(SERVICE / "catalog.py") <= {"__future__", "dataclasses", "enum"}
