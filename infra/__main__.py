"""The Pulumi program: check the stack's spec first, then declare the platform.

The spec is loaded before anything is registered, so a bad config stops
`pulumi preview` with one message naming every bad key. The platform's
components attach below as they are built; today the program renders every
component's files and exports their digests, so a PR's preview shows which
rendered configs a change touches.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

# `main: infra/` runs this file as a script: make the project root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra import endpoints as ep
from infra.config import SpecError, from_pulumi, load_spec
from infra.render import render_all

try:
    spec = load_spec(from_pulumi(), require_secrets=True)
except SpecError as err:
    raise pulumi.RunError(str(err)) from None

files = render_all(spec, ep.for_spec(spec))
pulumi.export("environment", spec.environment)
pulumi.export("target", spec.target)
pulumi.export(
    "renderedFiles",
    {name: hashlib.sha256(text.encode()).hexdigest()[:16] for name, text in sorted(files.items())},
)
