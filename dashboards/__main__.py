"""`python -m dashboards --stack dev --out build/dev/dashboards`: write a stack's dashboards as JSON.

One `<uid>.json` per dashboard, the JSON model Grafana imports or provisions.
Reads `Pulumi.<stack>.yaml` without the Pulumi engine, like `python -m infra.render`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboards import FOLDERS, build_all, to_json
from infra.config import SpecError, from_stack_file, load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashboards", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--out", type=Path, help="output folder (default: build/<stack>/dashboards)"
    )
    parser.add_argument(
        "--dir", type=Path, default=Path.cwd(), help="folder holding the stack files"
    )
    args = parser.parse_args(argv)
    try:
        spec = load_spec(from_stack_file(args.stack, args.dir))
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out: Path = args.out or Path("build") / args.stack / "dashboards"
    out.mkdir(parents=True, exist_ok=True)
    for uid, dashboard in sorted(build_all(spec).items()):
        path = out / f"{uid}.json"
        path.write_text(to_json(dashboard))
        print(f"{path}\t(folder {FOLDERS[uid]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
