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


def stack_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A command's arguments: --stack (required) and --dir (where the stack files are)."""
    parser = argparse.ArgumentParser(prog=prog, description=(doc or "").splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--dir", type=Path, default=Path.cwd(), help="folder holding the stack files"
    )
    return parser


def load(args: argparse.Namespace) -> PlatformSpec | None:
    """The stack's spec, or None after printing its errors on stderr."""
    try:
        return load_spec(from_stack_file(args.stack, args.dir))
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return None


def run(prog: str, doc: str | None, subfolder: str, write: Writer, argv: list[str] | None) -> int:
    """Parse ARGV, load the stack, WRITE to --out (default build/<stack>/SUBFOLDER); 2 on a bad
    stack, with the spec's message on stderr."""
    default = f"build/<stack>/{subfolder}".rstrip("/")
    parser = stack_parser(prog, doc)
    parser.add_argument("--out", type=Path, help=f"output folder (default: {default})")
    args = parser.parse_args(argv)
    spec = load(args)
    if spec is None:
        return 2
    out: Path = args.out or Path("build") / args.stack / subfolder
    for line in write(spec, out):
        print(line)
    return 0
