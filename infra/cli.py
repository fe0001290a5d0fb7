"""The one shape of the project's stack commands (`python -m infra.render`, `python -m
dashboards`, `python -m infra.manifests`): read `Pulumi.<stack>.yaml` without the engine, stop
a bad stack with its spec errors before writing anything, write, list what was written."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from infra.config import SpecError, from_stack_file, load_spec
from infra.spec import PlatformSpec

# What a command writes for a stack's spec into a folder: one line per file written.
Writer = Callable[[PlatformSpec, Path], Iterable[str]]


def run(prog: str, doc: str | None, subfolder: str, write: Writer, argv: list[str] | None) -> int:
    """Parse ARGV, load the stack, WRITE to --out (default build/<stack>/SUBFOLDER); 2 on a bad
    stack, with the spec's message on stderr."""
    default = f"build/<stack>/{subfolder}".rstrip("/")
    parser = argparse.ArgumentParser(prog=prog, description=(doc or "").splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, help=f"output folder (default: {default})")
    parser.add_argument(
        "--dir", type=Path, default=Path.cwd(), help="folder holding the stack files"
    )
    args = parser.parse_args(argv)
    try:
        spec = load_spec(from_stack_file(args.stack, args.dir))
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out: Path = args.out or Path("build") / args.stack / subfolder
    for line in write(spec, out):
        print(line)
    return 0
