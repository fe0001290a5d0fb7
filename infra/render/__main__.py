"""`python -m infra.render --stack dev --out build/dev`: write a stack's rendered files, like `helm template`.

Reads `Pulumi.<stack>.yaml` without the Pulumi engine. Secret values are not
needed: rendered files only name the paths where secrets are mounted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra import endpoints as ep
from infra.config import SpecError, from_stack_file, load_spec
from infra.render import render_all


def write(files: dict[str, str], out: Path) -> list[Path]:
    written = []
    for name, text in sorted(files.items()):
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.render", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, help="output folder (default: build/<stack>)")
    parser.add_argument(
        "--dir", type=Path, default=Path.cwd(), help="folder holding the stack files"
    )
    args = parser.parse_args(argv)
    try:
        spec = load_spec(from_stack_file(args.stack, args.dir))
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or Path("build") / args.stack
    for path in write(render_all(spec, ep.for_spec(spec)), out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
