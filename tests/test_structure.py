"""The structure a new engineer relies on: short named functions and a thin program entry point
(issue 15; docs/architecture.md says where each concern lives)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from infra.config import ROOT


def _long_functions() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "long_functions", ROOT / "tools" / "long_functions.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_no_production_function_is_longer_than_sixty_lines() -> None:
    listed = _long_functions().too_long()
    assert [str(f) for f in listed] == []


def test_the_length_check_counts_a_function_from_def_to_its_last_line(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    (tmp_path / "m.py").write_text(f"@decorated\ndef long():\n{body}\n\ndef short():\n    pass\n")
    lengths = {f.name: f.lines for f in _long_functions().functions("m.py", tmp_path)}
    assert lengths == {"long": 61, "short": 2}


def test_the_program_entry_point_only_reads_the_stack_declares_it_and_exports() -> None:
    main = ROOT / "infra" / "__main__.py"
    lines = main.read_text().splitlines()
    assert len(lines) < 15
    calls = {
        node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        for node in ast.walk(ast.parse(main.read_text()))
        if isinstance(node, ast.Call)
    }
    assert {"stack_inputs", "declare", "pulumi.export"} <= calls
    imported = {
        (node.module, alias.name)
        for node in ast.walk(ast.parse(main.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("infra")
        for alias in node.names
    }
    assert imported == {("infra.program", "declare"), ("infra.program", "stack_inputs")}
