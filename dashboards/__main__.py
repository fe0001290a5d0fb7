"""`python -m dashboards --stack dev --out build/dev/dashboards`: write a stack's dashboards as JSON.

One `<uid>.json` per dashboard, the JSON model Grafana imports or provisions.
Reads `Pulumi.<stack>.yaml` without the Pulumi engine, like `python -m infra.render`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dashboards import FOLDERS, build_all, to_json
from infra import cli
from infra.spec import PlatformSpec


def _write_dashboards(spec: PlatformSpec, out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for uid, dashboard in sorted(build_all(spec).items()):
        path = out / f"{uid}.json"
        path.write_text(to_json(dashboard))
        lines.append(f"{path}\t(folder {FOLDERS[uid]})")
    return lines


def main(argv: list[str] | None = None) -> int:
    return cli.run("python -m dashboards", __doc__, "dashboards", _write_dashboards, argv)


if __name__ == "__main__":
    sys.exit(main())
