"""`python -m infra.render --stack dev --out build/dev`: write a stack's rendered files, like `helm template`.

Reads `Pulumi.<stack>.yaml` without the Pulumi engine. Secret values are not
needed: rendered files only name the paths where secrets are mounted.
"""

from __future__ import annotations

import sys
from pathlib import Path

from infra import cli
from infra import endpoints as ep
from infra.render import render_all
from infra.spec import PlatformSpec


def write(files: dict[str, str], out: Path) -> list[Path]:
    written = []
    for name, text in sorted(files.items()):
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def _write_rendered(spec: PlatformSpec, out: Path) -> list[str]:
    return [str(p) for p in write(render_all(spec, ep.for_spec(spec)), out)]


def main(argv: list[str] | None = None) -> int:
    return cli.run("python -m infra.render", __doc__, "", _write_rendered, argv)


if __name__ == "__main__":
    sys.exit(main())
