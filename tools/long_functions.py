"""Lists the production functions longer than a limit (default 60 lines), longest first.

Production code is every Python file git tracks outside `tests/`. A function's length runs from
its `def` (decorators excluded) to its last line, nested functions included. Exits 1 when any
is listed, so CI and `tests/test_structure.py` hold the limit.

    python tools/long_functions.py [--limit N] [--tests]
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 60


@dataclass(frozen=True)
class Function:
    path: str
    line: int
    name: str
    lines: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} {self.lines} lines"


def python_files(include_tests: bool) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [p for p in listed if include_tests or not p.startswith("tests/")]


def functions(path: str, root: Path = ROOT) -> list[Function]:
    tree = ast.parse((root / path).read_text(), filename=path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            end = node.end_lineno or node.lineno
            found.append(Function(path, node.lineno, node.name, end - node.lineno + 1))
    return found


def too_long(limit: int = LIMIT, include_tests: bool = False) -> list[Function]:
    every = (f for path in python_files(include_tests) for f in functions(path))
    return sorted((f for f in every if f.lines > limit), key=lambda f: -f.lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=LIMIT)
    parser.add_argument("--tests", action="store_true", help="include tests/")
    args = parser.parse_args()
    listed = too_long(args.limit, args.tests)
    for function in listed:
        print(function)
    return 1 if listed else 0


if __name__ == "__main__":
    sys.exit(main())
